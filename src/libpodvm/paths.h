/* Where podvm keeps things: per-sandbox run state, unpacked rootfs, the guest image, the VMM
 * binary. Each has a default and an environment override (used by the tests). */
#pragma once
#include "error.h"

#define PV_DEFAULT_STATE_ROOT "/run/podvm"
#define PV_DEFAULT_DATA_ROOT "/var/lib/podvm"
#define PV_DEFAULT_GUEST_DIR "/usr/local/share/podvm"
#define PV_DEFAULT_QEMU "qemu-system-x86_64"

struct pv_paths {
	char *state_root;  /* PODVM_STATE_DIR: sockets, logs, VM state per sandbox */
	char *data_root;   /* PODVM_DATA_DIR: unpacked container rootfs per sandbox */
	char *guest_dir;   /* PODVM_GUEST_DIR: vmlinux + initramfs.cpio.gz */
	char *qemu;        /* PODVM_QEMU: the VMM binary (name on PATH or path) */
};

int pv_paths_init(struct pv_paths *p, pv_error *err);
void pv_paths_clear(struct pv_paths *p);
