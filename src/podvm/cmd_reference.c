/* podvm reference [--write [KERNEL INITRAMFS]]: the reference values of the guest image
 * (attest/reference.h), shown, or computed when the image is built or installed. */
#include "commands.h"
#include "cleanup.h"
#include "guest_image.h"
#include "paths.h"
#include "reference.h"
#include "hasher.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

static int usage(void)
{
	fprintf(stderr, "Usage: podvm reference [--write [KERNEL INITRAMFS]]\n"
			"  (none)   show the reference values of the installed guest image\n"
			"  --write  compute them for the installed (or the given) guest image and write them\n"
			"           beside its initramfs, as " PV_GUEST_REFERENCE "\n");
	return 125;
}

/* Text from a file may hold anything: one line on the terminal. */
static void print_row(const char *label, const uint8_t digest[PV_SHA256_LEN], const char *text)
{
	char hex[PV_SHA256_HEX_LEN + 1], line[PATH_MAX];
	pv_sha256_hex(digest, hex);
	pv_one_line(text, line, sizeof(line));
	printf("%-10s sha256:%s  %s\n", label, hex, line);
}

static void print_reference(const char *file, const struct pv_guest_reference *ref)
{
	const struct pv_digest_set *files = pv_guest_reference_files(ref);
	const uint8_t *digest;
	const char *kind, *text;
	printf("reference: %s\n", file);
	for (size_t i = 0; (kind = pv_guest_reference_item(ref, i, &text, &digest)) != NULL; i++)
		print_row(kind, digest, text);
	printf("initramfs files: %zu\n", pv_digest_set_count(files));
	for (size_t i = 0; (text = pv_digest_set_entry(files, i, &digest)) != NULL; i++)
		print_row("  file", digest, text);
}

static int show(const char *guest_dir, pv_error *err)
{
	_cleanup_free_ char *file = NULL;
	_cleanup_guest_reference_ struct pv_guest_reference *ref = NULL;
	if (asprintf(&file, "%s/" PV_GUEST_REFERENCE, guest_dir) < 0)
		return pv_error_set(err, ENOMEM, "reference");
	if (pv_guest_reference_load(file, &ref, err) < 0)
		return -1;
	print_reference(file, ref);
	return 0;
}

static int write_reference(const char *kernel, const char *initramfs, pv_error *err)
{
	_cleanup_free_ char *file = NULL;
	_cleanup_guest_reference_ struct pv_guest_reference *ref = NULL;
	if (pv_guest_reference_file(initramfs, &file, err) < 0 ||
	    pv_guest_reference_compute(kernel, initramfs, &ref, err) < 0 ||
	    pv_guest_reference_save(ref, file, err) < 0)
		return -1;
	printf("%s: %zu initramfs files, %s\n", file, pv_digest_set_count(pv_guest_reference_files(ref)), kernel);
	return 0;
}

/* The installed image: the files podvm boots (pv_guest_image_open checks them). */
static int write_installed(const char *guest_dir, pv_error *err)
{
	struct pv_guest_image img;
	if (pv_guest_image_open(guest_dir, &img, err) < 0)
		return -1;
	int r = write_reference(img.kernel, img.initrd, err);
	pv_guest_image_clear(&img);
	return r;
}

static int run(int argc, char **argv, const struct pv_paths *paths, pv_error *err)
{
	if (argc == 1)
		return show(paths->guest_dir, err);
	if (argc == 2)
		return write_installed(paths->guest_dir, err);
	return write_reference(argv[2], argv[3], err);
}

int cmd_reference(int argc, char **argv)
{
	if (argc > 1 && (strcmp(argv[1], "--write") != 0 || (argc != 2 && argc != 4)))
		return usage();
	struct pv_paths paths;
	pv_error err = NULL;
	int r = pv_paths_init(&paths, &err);
	if (r == 0)
		r = run(argc, argv, &paths, &err);
	pv_paths_clear(&paths);
	if (r < 0) {
		pv_error_print("podvm", &err);
		return 1;
	}
	return 0;
}
