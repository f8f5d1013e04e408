/* A pod sandbox: one microVM with its agent, and its state under <state_root>/<id>/. */
#pragma once
#include <stdbool.h>
#include "error.h"
#include "attest/verifier.h"
#include "paths.h"
#include "accel.h"
#include "config.h"
#include "net/podnet.h"
#include "ttrpc.h"

#define PV_DEFAULT_BOOT_TIMEOUT_MS 60000

struct pv_sandbox;

struct pv_sandbox_config {
	unsigned vcpus;
	unsigned mem_mib;
	int boot_timeout_ms;
	bool outlive_thread;  /* see pv_vm_config */
	/* The pod's network, or NULL (loopback only). Read (pv_pod_net_read) or also wired;
	 * if not wired yet, the boot wires it: to a new tap, or to a pooled VM's. */
	struct pv_pod_net *net;
	/* The host cgroup the VMM joins (cgroup.h: an OCI linux.cgroupsPath, cgroupfs or
	 * systemd form), or NULL: it stays in its starter's. The sandbox removes it at its stop. */
	const char *cgroup_path;
};

/* Removes the state (and unpacked rootfs) of sandboxes whose owning process is gone, such
 * as a podvm killed by SIGKILL: its VMM died with it (parent-death signal); and data dirs
 * (owner.h) left without a state dir by an owner that is gone. */
void pv_sandbox_gc(const struct pv_paths *paths);
/* Creates the state directory (it must not exist), owned by the calling process. */
int pv_sandbox_new(const struct pv_paths *paths, const char *id, struct pv_sandbox **out, pv_error *err);
/* Exports a host directory to the guest as `tag` (before boot). */
int pv_sandbox_add_share(struct pv_sandbox *sb, const char *tag, const char *host_path,
			 bool readonly, pv_error *err);
/* Starts the VM (from the pool, a template or a cold boot, as the config says), moves its
 * VMM into cfg->cgroup_path, waits until its agent answers and gives it its identity and,
 * with cfg->net, the pod's network (wired on the host, configured in the guest). */
int pv_sandbox_boot(struct pv_sandbox *sb, struct pv_sandbox_config *cfg, pv_error *err);
/* The accelerator this host's VMs run under and why (accel.h); for `auto`, the cached
 * verdict, or a probe VM's when there is none yet. */
int pv_sandbox_accel(const struct pv_paths *paths, struct pv_accel *out, pv_error *err);
/* The TPM emulator c names (`swtpm`), resolved into out; else an error naming it. */
int pv_sandbox_find_swtpm(const struct pv_config *c, char *out, size_t len, pv_error *err);
/* Whether the last boot restored a template. */
bool pv_sandbox_restored(struct pv_sandbox *sb);
/* Whether the last boot took a pooled VM. */
bool pv_sandbox_pooled(struct pv_sandbox *sb);

/* Pools (pool.h). A sandbox takes a pooled VM when the config sets `pool`, templates are
 * on, and its shares are empty, writable directories on the filesystem of the pool's data
 * directory: the pooled VM's share directories replace them (renamed over them). After
 * such a boot (taken or not) a detached process of the same program tops the pool up, once
 * pv_sandbox_refill_pool says the pod's containers have started (or a few seconds later):
 * the program's main() must hand argv to pv_pool_fill_main when argv[1] is PV_POOL_FILL_ARG. */
#define PV_POOL_FILL_ARG "--podvm-pool-fill"
int pv_pool_fill_main(int argc, char **argv);
/* The pod's start is over (its first container runs): refill its pool now. */
void pv_sandbox_refill_pool(struct pv_sandbox *sb);
struct ttrpc_client *pv_sandbox_agent(struct pv_sandbox *sb);
/* For failed agent calls. When the VMM has exited, replaces *err with a message saying so
 * (and how) and returns -ECHILD; when it runs on but its agent failed the call itself (hung
 * up, did not answer in time, broke the protocol), prefixes *err with the sandbox and
 * returns its code; else returns 0 and leaves *err alone. */
int pv_sandbox_explain_failure(struct pv_sandbox *sb, pv_error *err);
const char *pv_sandbox_state_dir(struct pv_sandbox *sb);
/* Its VM's own files (TPM, attestation records): the state dir, or, for a VM taken from
 * the pool, the <state dir>/vm it was moved to. */
const char *pv_sandbox_vm_dir(struct pv_sandbox *sb);

/* Attests the sandbox's VM (attest/verifier.h): 0 with res (pass, or a finding), or -1 when
 * it could not be carried out. */
int pv_sandbox_attest(struct pv_sandbox *sb, struct pv_attest_result *res, pv_error *err);
/* Called from the monitor's thread with a failed attestation's finding (each distinct one
 * once); returns true to end the monitor (the sandbox is being stopped). */
typedef bool (*pv_attest_failed_fn)(const char *finding, void *data);
struct pv_attest_monitor;
/* Re-attests sb every period_s seconds (0: never) until stopped, and serves `podvm attest`
 * on <state dir>/attest.sock (service PV_ATTEST_SERVICE, agent.proto) meanwhile. */
#define PV_ATTEST_SOCKET "attest.sock"
#define PV_ATTEST_SERVICE "podvm.agent.v1.Attestation"
int pv_attest_monitor_start(struct pv_sandbox *sb, unsigned period_s, pv_attest_failed_fn on_fail, void *data,
			    struct pv_attest_monitor **out, pv_error *err);
void pv_attest_monitor_stop(struct pv_attest_monitor *m);
/* Kills the VMM at once (for a signal handling thread); the owner still calls destroy. */
void pv_sandbox_kill(struct pv_sandbox *sb);
/* Stops the VM (the agent connection ends with it) and removes its cgroup. */
void pv_sandbox_stop(struct pv_sandbox *sb);
/* Stops the VM, removes the state directory and frees everything. */
void pv_sandbox_destroy(struct pv_sandbox *sb);
