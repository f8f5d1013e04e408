#include "guest_image.h"
#include "cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
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

/* An uncompressed kernel carries "Linux version RELEASE (" in its rodata. */
static int read_release(const char *path, off_t size, char *out, size_t len, pv_error *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return pv_error_set(err, errno, "guest image: %s", path);
	void *map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED)
		return pv_error_set(err, errno, "guest image: mmap %s", path);
	static const char banner[] = "Linux version ";
	const char *hit = memmem(map, (size_t)size, banner, sizeof(banner) - 1);
	int r = 0;
	if (hit) {
		const char *start = hit + sizeof(banner) - 1;
		const char *end = memchr(start, ' ', (size_t)((const char *)map + size - start));
		size_t n = end ? (size_t)(end - start) : 0;
		snprintf(out, len, "%.*s", (int)(n < len ? n : len - 1), start);
	} else {
		r = pv_error_set_plain(err, EINVAL, "guest image: %s: no Linux version banner (not an uncompressed kernel?)", path);
	}
	munmap(map, (size_t)size);
	return r;
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
