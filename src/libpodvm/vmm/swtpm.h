/* A VM's TPM 2.0: an swtpm process of its own (`swtpm socket --tpm2`), started before QEMU
 * and joined to it by a socketpair that is swtpm's control channel (QEMU's tpm-emulator
 * backend then hands swtpm a data channel over it). swtpm keeps its state in
 * <state_dir>/tpm and logs to <state_dir>/tpm.log; it starts with a fresh TPM, manufactured
 * and started up (TPM2_Startup(CLEAR)), and it ends by itself once QEMU's end of the
 * data channel closes (--terminate), so it never outlives its VM.
 *
 * Jailed (jail.h) like the VMM: PID and mount namespaces of its own holding swtpm, its
 * libraries, its state directory and /dev/urandom; its own uid as root; no_new_privs; and
 * swtpm's own seccomp filter. */
#pragma once
#include <stdbool.h>
#include <sys/types.h>
#include "error.h"
#include "jail.h"

struct pv_swtpm_config {
	const char *swtpm;      /* path of swtpm */
	const char *state_dir;  /* the VM's */
	bool jail;
	bool outlive_thread;    /* as pv_vm_config's: else it dies with the calling thread */
	/* A data channel of podvm's own (t->data_fd) instead of QEMU's, and no --terminate:
	 * the one-off run that makes the TPM (tpm_manufacture.h). */
	bool data_channel;
};

struct pv_swtpm {
	pid_t pid;              /* 0: none (or not our child) */
	int qemu_fd;            /* QEMU's end of the control channel while it is ours; else -1 */
	int data_fd;            /* with data_channel: our end of it; else -1 */
};

/* Starts swtpm; t->qemu_fd is the channel's other end (close-on-exec). On failure nothing
 * runs, and the error names swtpm. */
int pv_swtpm_start(const struct pv_swtpm_config *c, struct pv_swtpm *t, pv_error *err);
/* Closes our ends (if still ours) and waits up to timeout_ms for swtpm to end (0: it cannot
 * end by itself, QEMU never held it), then kills it; reaps it either way. */
void pv_swtpm_reap(struct pv_swtpm *t, int timeout_ms);
/* The jail of a VM's swtpm: its root is <state_dir>/tpm-root. */
int pv_swtpm_jail_plan(const struct pv_swtpm_config *c, struct pv_jail *j, pv_error *err);
