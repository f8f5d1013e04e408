/* Reference values of the guest image, for a verifier of a pod VM's attestation: what the
 * host measures before the guest runs (the kernel, the initramfs, the kernel command line)
 * and what the guest's IMA measures of the initramfs (every file in it).
 *
 * They are computed when the image is built or installed (`podvm reference --write`) and
 * kept beside it in reference.json; never at verification time, or a changed initramfs
 * would be its own reference. The file:
 *
 *   {"version": 1,
 *    "kernel":    {"path": "/usr/local/share/podvm/vmlinuz", "sha256": "<hex>"},
 *    "initramfs": {"path": "...", "sha256": "<hex>"},
 *    "cmdlines":  [{"text": "console=ttyS0 quiet ...", "sha256": "<hex>"}, ...],
 *    "files":     [{"path": "/init", "sha256": "<hex>"}, ...]}
 *
 * A command line's digest is of its bytes as QEMU's -append gets them (no NUL). The
 * command lines are those of every VM podvm starts that is not a debug VM (whose guest
 * prints to its console), with a TPM: KVM and TCG, each with the agent on vsock and on
 * virtio-serial (vmm/qemu.h: pv_vm_kernel_cmdline). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "digest_set.h"
#include "error.h"

#define PV_GUEST_REFERENCE "reference.json"

struct pv_guest_reference;

int pv_guest_reference_compute(const char *kernel, const char *initramfs, struct pv_guest_reference **ref,
			       pv_error *err);
/* Atomic: a temporary file beside file, renamed over it. */
int pv_guest_reference_save(const struct pv_guest_reference *ref, const char *file, pv_error *err);
/* Fails with "reference FILE: what" on a missing or malformed file. */
int pv_guest_reference_load(const char *file, struct pv_guest_reference **ref, pv_error *err);
void pv_guest_reference_free(struct pv_guest_reference *ref);
/* *file (malloc'd): where the reference of the image with this initramfs lives. */
int pv_guest_reference_file(const char *initramfs, char **file, pv_error *err);

/* Which boot component digest is, "kernel", "initramfs" or "cmdline", or NULL. */
const char *pv_guest_reference_boot_item(const struct pv_guest_reference *ref, const uint8_t digest[32]);
/* Boot item i (kernel, initramfs, then each command line): its kind (as boot_item), its
 * text (the path of a file, or the command line) and digest; NULL past the last. */
const char *pv_guest_reference_item(const struct pv_guest_reference *ref, size_t i, const char **text,
				    const uint8_t **digest);
/* The initramfs's regular files, by digest. */
const struct pv_digest_set *pv_guest_reference_files(const struct pv_guest_reference *ref);

static inline void pv_guest_reference_freep(struct pv_guest_reference **ref)
{
	pv_guest_reference_free(*ref);
}
#define _cleanup_guest_reference_ __attribute__((cleanup(pv_guest_reference_freep)))
