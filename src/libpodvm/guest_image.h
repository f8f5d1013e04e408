/* The guest image: a compressed x86 kernel (bzImage, LZ4) and an initramfs whose /init is
 * podvm-agent. The uncompressed vmlinux would boot by PVH ~0.15 s sooner under TCG but is
 * ~14 MB with its 2 MB section alignment; VM templates take boot off the start path. */
#pragma once
#include <sys/types.h>
#include "error.h"

#define PV_GUEST_KERNEL "vmlinuz"
#define PV_GUEST_INITRD "initramfs.cpio.gz"

struct pv_guest_image {
	char *kernel;
	char *initrd;
	char kernel_release[96];  /* from the bzImage setup header */
	off_t kernel_size;
	off_t initrd_size;
};

int pv_guest_image_open(const char *dir, struct pv_guest_image *img, pv_error *err);
void pv_guest_image_clear(struct pv_guest_image *img);
