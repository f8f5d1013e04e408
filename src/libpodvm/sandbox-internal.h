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
	bool nic_without_backend;
};

int sandbox_start_vm(struct pv_sandbox *sb, const struct pv_sandbox_config *cfg,
		     const struct sandbox_host *host, const struct sandbox_vm_variant *v, pv_error *err);
int sandbox_connect_agent(struct pv_sandbox *sb, unsigned cid, int timeout_ms, pv_error *err);
/* Restores a template of the sandbox's shape (making it first when there is none) and sets
 * sb->restored. A broken template is removed and a warning issued: 0 with sb->restored false
 * means "boot cold". Fails only when the template could not be made. */
int sandbox_boot_from_template(struct pv_sandbox *sb, const struct pv_sandbox_config *cfg,
			       const struct sandbox_host *host, pv_error *err);
