/* What the parts of the sandbox (sandbox.c: lifecycle and cold boot; sandbox_template.c:
 * restore from templates) share. Not for use outside libpodvm's sandbox files. */
#pragma once
#include "sandbox.h"
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
};

/* What a boot found on the host. */
struct sandbox_host {
	struct pv_host_caps caps;
	struct pv_config config;
	struct pv_guest_image img;
	unsigned cid;  /* 0: agent over virtio-serial */
};

/* How a VM differs from a plain cold boot. */
struct sandbox_vm_variant {
	const char *mem_path;
	bool mem_shared;
	bool incoming;
};

/* Caps, config, guest image; the agent channel for a boot from source. */
int sandbox_probe_host(const struct pv_paths *paths, enum pv_boot_source source, struct sandbox_host *h,
		       pv_error *err);
/* Whether the VM has a NIC. */
static inline bool sandbox_has_nic(const struct pv_sandbox_config *cfg)
{
	return cfg->net != NULL || cfg->template_nic;
}
/* The template key of the sandbox's shape (malloc'd into *key). */
int sandbox_template_key(struct pv_sandbox *sb, const struct pv_sandbox_config *cfg,
			 const struct sandbox_host *h, char **key, pv_error *err);
/* Frees sb but leaves its VM running and its state directory in place (a pooled VM). */
void sandbox_release(struct pv_sandbox *sb);
/* Takes a VM of the sandbox's shape from its pool, if the sandbox can use one and one is
 * there: sets sb->pooled (and sb->restored). A pooled VM that fails to start is removed with
 * a warning; 0 with sb->pooled false means "restore instead". */
int sandbox_take_from_pool(struct pv_sandbox *sb, const struct pv_sandbox_config *cfg,
			   const struct sandbox_host *h, pv_error *err);
/* Whether the sandbox could take a pooled VM (see sandbox.h). */
bool sandbox_poolable(struct pv_sandbox *sb);
/* Starts a detached process that tops the sandbox shape's pool up to `target` VMs, when
 * pv_sandbox_refill_pool says the pod has started or a few seconds have passed. */
void sandbox_schedule_pool_refill(struct pv_sandbox *sb, const struct pv_sandbox_config *cfg, unsigned target);
/* Starts a scheduled refill now if it has not started, and waits for the thread. */
void sandbox_finish_pool_refill(struct pv_sandbox *sb);
/* AdoptIdentity: host randomness, the host's clock, hostname; the NIC readdressed from
 * from_mac to to_mac unless both are NULL; then the pod's network net (if not NULL). */
int sandbox_send_identity(struct pv_sandbox *sb, const char *hostname, const char *from_mac, const char *to_mac,
			  const struct pv_pod_net *net, pv_error *err);
/* Runs a throwaway container in a pool VM (restored, not yet identified) so that the
 * pod's first one runs warm; its first share must be empty. */
int sandbox_warm_up(struct pv_sandbox *sb, pv_error *err);
int sandbox_start_vm(struct pv_sandbox *sb, const struct pv_sandbox_config *cfg,
		     const struct sandbox_host *host, const struct sandbox_vm_variant *v, pv_error *err);
int sandbox_connect_agent(struct pv_sandbox *sb, unsigned cid, int timeout_ms, pv_error *err);
/* Restores a template of the sandbox's shape (making it first when there is none) and sets
 * sb->restored. A broken template is removed and a warning issued: 0 with sb->restored false
 * means "boot cold". Fails only when the template could not be made. */
int sandbox_boot_from_template(struct pv_sandbox *sb, const struct pv_sandbox_config *cfg,
			       const struct sandbox_host *host, pv_error *err);
