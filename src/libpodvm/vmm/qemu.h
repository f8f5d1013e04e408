/* The VMM: a QEMU `microvm` machine spawned directly (its own process group, killed with its
 * parent), KVM where /dev/kvm is usable and TCG otherwise, stopped over QMP. */
#pragma once
#include <stdbool.h>
#include <sys/types.h>
#include "error.h"
#include "jail.h"
#include "swtpm.h"
#include "tpm_manufacture.h"
#include "tpm_ctrl.h"

struct pv_vm_share {
	const char *tag;        /* mount tag seen by the guest */
	const char *host_path;  /* directory exported */
	bool readonly;
};

struct pv_vm_config {
	const char *qemu;       /* path of qemu-system-x86_64 */
	const char *kernel;
	const char *initrd;
	const char *state_dir;  /* the VM's sockets and logs go here */
	unsigned vcpus;
	unsigned mem_mib;
	bool kvm;
	unsigned vsock_cid;     /* 0: agent over virtio-serial; else vhost-vsock with this CID */
	const struct pv_vm_share *shares;
	size_t n_shares;
	bool debug;             /* verbose guest console, agent debug logging */
	/* The host's KSM may merge the VM's pages: all of QEMU's memory (PR_SET_MEMORY_MERGE),
	 * not only guest RAM; false: none of it (mem-merge=off). */
	bool ksm;
	/* Keep QEMU alive when the thread that started it ends (the shim starts VMs from
	 * short-lived request threads); else it gets SIGKILL with that thread, so that a
	 * killed `podvm run` never leaves a VM behind. */
	bool outlive_thread;
	/* A NIC backed by a tap the caller opened (the pod's network), when has_net; with
	 * tap_fd < 0 the NIC has no backend (a template's: the restored VM gets the tap). */
	bool has_net;
	int tap_fd;
	const char *mac;
	/* Guest RAM in this file rather than anonymous memory: shared (MAP_SHARED, written
	 * through: a template being made) or private (copy-on-write: restored from one). */
	const char *mem_path;
	bool mem_shared;
	bool incoming;          /* wait for a migration stream (pv_vm_restore) instead of booting */
	/* Confine QEMU: jail.h (an own mount namespace with only what the VM needs, an own
	 * uid/gid with the capabilities 9p needs, no_new_privs) and QEMU's seccomp filter. */
	bool jail;
	/* A TPM 2.0 for the guest (tpm-tis), emulated by an swtpm of the VM's own (swtpm.h) run
	 * from this path; NULL: none. An incoming VM's swtpm gives its fresh state blobs for
	 * pv_vm_restore to put in place of the template's. */
	const char *swtpm;
	/* With swtpm: how its TPM is made (tpm_manufacture.h) before swtpm serves QEMU; NULL:
	 * a bare TPM (no EK certificate, nothing measured). Its kernel, initrd and cmdline are
	 * filled in here, from this config. */
	const struct pv_tpm_birth *tpm_birth;
};

struct pv_vm {
	pid_t pid;
	int wait_status;        /* of the QEMU process, once it exited and was reaped */
	char *state_dir;        /* where its files are (a pooled VM's: the taker's <state>/vm) */
	char *qmp_path;
	char *agent_path;       /* unix socket of the virtio-serial agent port */
	char *console_path;     /* guest serial console output */
	char *log_path;         /* QEMU's own stdout/stderr */
	char *pid_path;         /* QEMU's pid, for cleanup after a crash of its owner */
	bool adopted;           /* not our child (pv_vm_adopt): watched through pidfd */
	int pidfd;
	struct pv_swtpm tpm;    /* the VM's swtpm, while we started it and it runs */
	/* An incoming VM's fresh TPM state (pv_vm_config.swtpm), until pv_vm_restore uses it. */
	struct pv_tpm_blob tpm_permanent, tpm_volatile;
};

/* Whether the VM's unix sockets fit under dir (sun_path holds 107 bytes): else an error
 * naming the directory. */
int pv_vm_check_state_dir(const char *dir, pv_error *err);
/* The jail of a VM: its root is <state_dir>/root (qemu_jail.c). */
int pv_vm_jail_plan(const struct pv_vm_config *cfg, struct pv_jail *j, pv_error *err);
/* The guest kernel's command line for cfg (malloc'd; -ENOMEM): what -append passes, and
 * what the host measures and the guest reference lists (attest/reference.h). It depends on
 * debug, kvm, swtpm (set or not) and vsock_cid (set or not) alone. */
int pv_vm_kernel_cmdline(const struct pv_vm_config *cfg, char **cmdline);
/* Builds the QEMU command line (NULL-terminated, free with pv_strv_free). */
char **pv_vm_argv(const struct pv_vm_config *cfg, const struct pv_vm *vm);
/* Spawns QEMU and waits until its QMP and agent sockets exist. On failure nothing keeps
 * running, and the error says why (QEMU's last log line when it exited). */
int pv_vm_start(const struct pv_vm_config *cfg, struct pv_vm *vm, int timeout_ms, pv_error *err);
/* True while the QEMU process has not exited. */
bool pv_vm_alive(struct pv_vm *vm);
/* Waits up to timeout_ms for QEMU to exit; true once it has. */
bool pv_vm_wait_exit(struct pv_vm *vm, int timeout_ms);
/* How QEMU ended, for messages: "killed by signal 9", "exited with status 1". */
void pv_vm_describe_exit(const struct pv_vm *vm, char *out, size_t len);
/* Asks QEMU to quit over QMP; kills it if it does not within a grace period; reaps it, and
 * its swtpm (which ends with it). */
void pv_vm_stop(struct pv_vm *vm);
/* SIGKILL, no waiting (safe from a signal-handling thread). */
void pv_vm_kill(struct pv_vm *vm);
/* The last non-empty line of a log file, for error messages ("" if none); control
 * characters made harmless (pv_one_line: the guest writes its console). */
void pv_vm_last_line(const char *path, char *out, size_t len);
/* The first line of a log file that contains needle, else its last line: what QEMU's log
 * says went wrong ("error": a failed assertion that follows says less), why a guest
 * console ended ("Kernel panic": the lines after it say less). */
void pv_vm_log_find(const char *path, const char *needle, char *out, size_t len);
void pv_vm_clear(struct pv_vm *vm);
/* Takes over a running QEMU that another process started with its files in state_dir (a
 * pooled VM): its pid from the pid file, checked to be a QEMU whose command line names
 * `name` (the pid may have been reused). */
int pv_vm_adopt(const char *state_dir, const char *name, struct pv_vm *vm, pv_error *err);
/* For cleanup after the VMM's owner crashed: SIGKILLs the process pid_path names if it is
 * a QEMU that started before the file was written (a pid the kernel gave to a process
 * started later is another's). 0 when one was killed, -ESRCH when none runs. */
int pv_vm_kill_pidfile(const char *pid_path);
/* Resumes (running) or pauses the guest's vCPUs. */
int pv_vm_set_running(struct pv_vm *vm, bool running, pv_error *err);
