/* The guest image: an uncompressed, PVH-bootable vmlinux and an initramfs whose /init is
 * podvm-agent. */
#pragma once
#include <sys/types.h>
#include "error.h"

#define PV_GUEST_KERNEL "vmlinux"
#define PV_GUEST_INITRD "initramfs.cpio.gz"

struct pv_guest_image {
	char *kernel;
	char *initrd;
	char kernel_release[96];  /* read from the kernel's own banner */
	off_t kernel_size;
	off_t initrd_size;
};

int pv_guest_image_open(const char *dir, struct pv_guest_image *img, pv_error *err);
void pv_guest_image_clear(struct pv_guest_image *img);
