#include "guest_image.h"
#include "cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int file_size(const char *path, off_t *size, pv_error *err)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return pv_error_set(err, errno, "guest image: %s", path);
	if (!S_ISREG(st.st_mode) || st.st_size == 0)
		return pv_error_set_plain(err, EINVAL, "guest image: %s: not a regular, non-empty file", path);
	*size = st.st_size;
	return 0;
}

/* The x86 boot protocol's setup header: "HdrS" at 0x202, and at 0x20e the offset (from
 * 0x200) of the kernel version string, kept uncompressed for boot loaders. */
static int read_release(const char *path, off_t size, char *out, size_t len, pv_error *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return pv_error_set(err, errno, "guest image: %s", path);
	unsigned char hdr[0x210];
	char version[128];
	if (size < (off_t)sizeof(hdr) || pread(fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr) ||
	    memcmp(hdr + 0x202, "HdrS", 4) != 0)
		return pv_error_set_plain(err, EINVAL, "guest image: %s: not a bzImage", path);
	off_t at = 0x200 + (hdr[0x20e] | hdr[0x20f] << 8);
	ssize_t n = pread(fd, version, sizeof(version) - 1, at);
	if (n <= 0)
		return pv_error_set_plain(err, EINVAL, "guest image: %s: no version string", path);
	version[n] = '\0';
	size_t rl = strcspn(version, " ");
	snprintf(out, len, "%.*s", (int)(rl < len ? rl : len - 1), version);
	return 0;
}

int pv_guest_image_open(const char *dir, struct pv_guest_image *img, pv_error *err)
{
	memset(img, 0, sizeof(*img));
	if (asprintf(&img->kernel, "%s/%s", dir, PV_GUEST_KERNEL) < 0 ||
	    asprintf(&img->initrd, "%s/%s", dir, PV_GUEST_INITRD) < 0) {
		img->kernel = img->initrd = NULL;
		return pv_error_set(err, ENOMEM, "guest image");
	}
	int r = file_size(img->kernel, &img->kernel_size, err);
	if (r == 0)
		r = file_size(img->initrd, &img->initrd_size, err);
	if (r == 0)
		r = read_release(img->kernel, img->kernel_size, img->kernel_release,
				 sizeof(img->kernel_release), err);
	if (r < 0)
		pv_guest_image_clear(img);
	return r;
}

void pv_guest_image_clear(struct pv_guest_image *img)
{
	free(img->kernel);
	free(img->initrd);
	memset(img, 0, sizeof(*img));
}
