/* What the parts of the sandbox share; not for use outside libpodvm's sandbox files.
 *
 * A VM reaches a running agent by one of these straight recipes, each only calling down:
 *   pv_sandbox_boot (sandbox_boot.c)  chooses a vm_source for a pod's sandbox, in one place:
 *       source_pool.c     take a pre-restored, warmed-up VM from the pool
 *       source_template.c restore a template (making it first: a cold boot, saved)
 *       source_cold.c     boot the guest kernel
 *   pv_pool_fill_main (pool_fill.c)    restore a template for the pool, warm up, park
 *   sandbox_choose_accel (sandbox_accel.c)  boot a probe VM under KVM, once per host boot
 * over the steps of sandbox_vm.c (host, start the VMM, connect the agent, identity). No
 * source or step calls back up into a recipe. */
#pragma once
#include <stdatomic.h>
#include "sandbox.h"
#include "accel.h"
#include "config.h"
#include "guest_image.h"
#include "hostcaps.h"
#include "vmm/qemu.h"

struct share {
	char *tag;
	char *host_path;
	bool readonly;
};

struct pv_sandbox {
	char *id;
	char *state_dir;
	const struct pv_paths *paths;
	struct share *shares;
	size_t n_shares;
	struct pv_vm vm;
	struct ttrpc_client *agent;
	bool debug;  /* PODVM_DEBUG: guest console kept and shown on stderr at the end */
	bool restored;  /* the last boot restored a template */
	bool pooled;    /* ... by taking a pooled VM */
	struct pool_refill *refill;  /* sandbox_refill.c */
	char boot_failure[256];  /* why the last failed agent connection failed, in short */
	struct sandbox_watchdog *watchdog;  /* sandbox_watchdog.c */
	atomic_bool hung;        /* the watchdog killed the VM: its guest stopped answering */
	int agent_timeout_s;     /* the config's, for messages */
	char *cgroup;            /* the host cgroup the VMM joined (cgroup.h), or NULL */
	struct cgroup_join *joining;  /* sandbox_join_cgroup_begin's, until its end */
};

/* What a boot found on the host. */
struct sandbox_host {
	struct pv_host_caps caps;
	struct pv_config config;
	struct pv_guest_image img;
	struct pv_accel accel;  /* what the VMs run under, and why */
	char swtpm_path[256];   /* the resolved TPM emulator when config.tpm, else "" */
};

/* One VM start, as the sources see it. */
struct boot_request {
	const struct pv_sandbox_config *cfg;  /* shape, timeout, the pod's network (or NULL) */
	const struct sandbox_host *host;
	bool nic;    /* the VM has a NIC: cfg->net's, or one kept for a later pod (template, pool) */
	int tap_fd;  /* the NIC's tap when it is not cfg->net's (a pool VM's), else -1 */
};

/* How a VM differs from a plain cold boot. */
struct sandbox_vm_variant {
	const char *mem_path;  /* guest RAM in this file (vmm/qemu.h) */
	bool mem_shared;
	bool incoming;         /* restored from a migration stream */
	unsigned cid;          /* agent over vsock with this CID; 0: virtio-serial */
	const char *template_dir;  /* restored from this template: its TPM measurements replayed */
};

/* ---- where a VM comes from ---- */

struct vm_source {
	const char *how;  /* "booted cold": the sandbox's `boot` file, PODVM_DEBUG */
	bool new_tap;     /* the pod's network must be wired to a new tap first */
	/* Starts the VM and connects its agent. 1: started; 0: not from this source this time
	 * (nothing left running, any warning given), try the next; -1: failed. */
	int (*start)(struct pv_sandbox *sb, const struct boot_request *req, pv_error *err);
};
extern const struct vm_source sandbox_source_pool, sandbox_source_template, sandbox_source_cold;

/* ---- steps (sandbox_vm.c) ---- */

/* Caps, config, guest image, and the accelerator (which may probe: sandbox_accel.c; `warn`
 * as there). */
int sandbox_probe_host(const struct pv_paths *paths, bool warn, struct sandbox_host *h, pv_error *err);
void sandbox_host_clear(struct sandbox_host *h);
/* The agent timeout of a boot: cfg's, or the default; at most cap_ms when cap_ms > 0. */
int sandbox_boot_timeout(const struct pv_sandbox_config *cfg, int cap_ms);
/* Spawns the VMM. */
/* *dir (malloc'd): the node CA's directory, <data root>/ca. */
int sandbox_ca_dir(const struct pv_paths *paths, char **dir, pv_error *err);
int sandbox_start_vm(struct pv_sandbox *sb, const struct boot_request *req, const struct sandbox_vm_variant *v,
		     pv_error *err);
/* Connects the agent and waits until it answers; fails at once when the guest stops or the
 * VMM exits (vmm/watch.h), with a line naming why and the guest console's last line. */
int sandbox_connect_agent(struct pv_sandbox *sb, unsigned cid, int timeout_ms, pv_error *err);
/* Both: a VM with a ready agent. */
int sandbox_boot_vm(struct pv_sandbox *sb, const struct boot_request *req, const struct sandbox_vm_variant *v,
		    int timeout_ms, pv_error *err);
/* Undoes a failed start so that another source can start the VM in the same directory. */
void sandbox_abandon_vm(struct pv_sandbox *sb);
/* AdoptIdentity: host randomness, the host's clock, hostname; the NIC readdressed from
 * from_mac to to_mac unless both are NULL; then the pod's network net (if not NULL). With
 * rehearse, the NIC's address and net are undone after (a pool VM's warm-up). */
int sandbox_send_identity(struct pv_sandbox *sb, const char *hostname, const char *from_mac, const char *to_mac,
			  const struct pv_pod_net *net, bool rehearse, pv_error *err);
/* Writes how the VM started (`how` in ms) to <state>/boot; on stderr under PODVM_DEBUG. */
void sandbox_note_boot(struct pv_sandbox *sb, const char *how, long long ms);

/* ---- the pod's host cgroup (sandbox_cgroup.c) ---- */

/* Starts moving the VMM into the cgroup path (pv_cgroup_path's), which the sandbox then
 * owns, in a thread that the boot's identity step overlaps (a v1 host writes a cgroup.procs
 * per hierarchy, ~1 ms each). _end waits for it; a failure stops the VM and removes the
 * cgroup. Given a set *err (the boot failed meanwhile), _end keeps that error. */
int sandbox_join_cgroup_begin(struct pv_sandbox *sb, const char *path, pv_error *err);
int sandbox_join_cgroup_end(struct pv_sandbox *sb, pv_error *err);
/* Removes the sandbox's cgroup (its leaf only), once its VMM has exited. */
void sandbox_leave_cgroup(struct pv_sandbox *sb);

/* ---- templates and pools ---- */

/* The template key of the request's shape (malloc'd into *key). */
int sandbox_template_key(struct pv_sandbox *sb, const struct boot_request *req, char **key, pv_error *err);
/* Frees sb but leaves its VM running and its state directory in place (a pooled VM). */
void sandbox_release(struct pv_sandbox *sb);
/* Whether the sandbox could take a pooled VM (see sandbox.h). */
bool sandbox_poolable(struct pv_sandbox *sb);
/* Starts a detached process that tops the request's shape's pool up to the config's size
 * (pool_fill.c), when pv_sandbox_refill_pool says the pod has started or a few seconds
 * have passed. */
void sandbox_schedule_pool_refill(struct pv_sandbox *sb, const struct boot_request *req);
/* Starts a scheduled refill now if it has not started, and waits for the thread. */
void sandbox_finish_pool_refill(struct pv_sandbox *sb);
/* Runs a throwaway container in a pool VM (restored, not yet identified) so that the
 * pod's first one runs warm, and, for a VM with a NIC (nic), rehearses a pod network's
 * configuration on it; its first share must be empty. */
int sandbox_warm_up(struct pv_sandbox *sb, bool nic, bool attest, pv_error *err);

/* ---- a guest that stops answering (sandbox_watchdog.c) ---- */

/* Pings the agent; kills the VM (and sets sb->hung) when it has not answered for timeout_ms
 * (0: off). Started once the sandbox's boot is over. */
void sandbox_watchdog_start(struct pv_sandbox *sb, int timeout_ms);
/* Ends the watchdog (before the VM stops, and before sb goes). */
void sandbox_watchdog_stop(struct pv_sandbox *sb);

/* ---- the accelerator (sandbox_accel.c) ---- */

/* Fills h->accel from h->config.accel: for auto, the cached verdict or a probe VM's. With
 * `warn`, a fresh verdict of TCG on a host with a /dev/kvm is a warning (pv_warning). */
int sandbox_choose_accel(const struct pv_paths *paths, struct sandbox_host *h, bool warn, pv_error *err);
