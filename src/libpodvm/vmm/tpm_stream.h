/* A restored VM's own TPM: QEMU's migration stream carries the template's swtpm state in its
 * "tpm-emulator" section, and loading it would make every VM restored from a template a clone
 * of the template's TPM (same seeds, same EK). So podvm rewrites that section: the
 * permanent and volatile blobs of the restored VM's fresh swtpm (tpm_ctrl.h) replace the
 * template's, and QEMU pushes those into the swtpm as it loads the stream. Replacing only the
 * permanent blob fails the load (the volatile state names the seed); dropping the section
 * leaves the guest's TPM unanswered (QEMU never re-initialises the emulator).
 *
 * The section, as QEMU 7.2 writes it: QEMU_VM_SECTION_FULL (0x04), be32 section id, u8 12,
 * "tpm-emulator", be32 instance id, be32 version id; then three times be32 flags, be32 size
 * and that many bytes (permanent, volatile, save-state blobs); then the footer 0x7e and the
 * section id again. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "error.h"
#include "tpm_ctrl.h"

/* Copies the stream in[0..len) into *out (malloc'd, *out_len bytes) with the permanent and
 * volatile blobs of its tpm-emulator section replaced; the save-state blob is kept. An
 * error when no well-formed section is found. */
int pv_tpm_stream_swap(const uint8_t *in, size_t len, const struct pv_tpm_blob *permanent,
		       const struct pv_tpm_blob *volatile_, uint8_t **out, size_t *out_len, pv_error *err);
