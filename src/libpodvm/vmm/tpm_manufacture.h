/* Making a VM's TPM, before its swtpm serves QEMU: one run of swtpm on the VM's TPM state
 * directory over a data channel of podvm's own, which
 *  - creates the endorsement key and stores its certificate, issued by the node's podvm CA,
 *    in the TPM's NV index for it (the TCG's 0x01c0000a), and keeps a copy in
 *    <state_dir>/attest/ek.der, which pins the VM's TPM for the verifier;
 *  - measures the guest's boot into PCR 9: what QEMU will load (kernel, initramfs, command
 *    line), or, for a VM restored from a template, what the template booted (its
 *    boot_events, replayed), logged to <state_dir>/attest/boot_events;
 *  - for a restored VM, replays the template's IMA log into PCR 10: the restored guest's
 *    IMA list starts with those entries;
 *  - stores the TPM's volatile state (PCRs included) to its state directory and ends.
 * The VM's swtpm then resumes that state, and so does QEMU's first reset of it (CMD_INIT
 * loads the volatile state a state directory holds), so the guest starts with its boot
 * measured where firmware would have done it. */
#pragma once
#include "error.h"
#include "swtpm.h"

struct pv_tpm_birth {
	const char *ca_dir;        /* the node CA (attest/crypto.h) */
	const char *name;          /* the EK certificate's subject CN: the VM's id */
	const char *kernel, *initrd, *cmdline;  /* a cold boot's */
	const char *boot_events;   /* a template's boot_events to replay instead; NULL: cold */
	const char *ima_log;       /* a template's IMA log (binary, sha256) to replay; or NULL */
};

int pv_tpm_manufacture(const struct pv_swtpm_config *c, const struct pv_tpm_birth *b, pv_error *err);
