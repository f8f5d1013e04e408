/* podvm's settings: /etc/podvm/podvm.conf (PODVM_CONFIG names another file), lines of
 * `key = value`, `#` comments. Environment variables override the file (for tests). */
#pragma once
#include <stdbool.h>
#include "error.h"

#define PV_DEFAULT_CONFIG "/etc/podvm/podvm.conf"
#define PV_POOL_MAX 16
#define PV_DEFAULT_POOL_MAX 2
#define PV_DEFAULT_POOL_IDLE 120
#define PV_POOL_IDLE_MAX 86400
#define PV_DEFAULT_AGENT_TIMEOUT 60
#define PV_AGENT_TIMEOUT_MAX 86400

/* Which accelerator runs VMs. auto: KVM only where a probe VM proved it runs the guest
 * (accel.h), else TCG. */
enum pv_accel_mode { PV_ACCEL_AUTO, PV_ACCEL_KVM, PV_ACCEL_TCG };

enum pv_attestation_mode { PV_ATTEST_OFF, PV_ATTEST_VERIFY, PV_ATTEST_ENFORCE };
#define PV_DEFAULT_ATTESTATION_PERIOD 60
#define PV_ATTESTATION_PERIOD_MAX 86400
const char *pv_attestation_mode_name(enum pv_attestation_mode m);

struct pv_config {
	enum pv_accel_mode accel;  /* `accel` / PODVM_ACCEL: auto | kvm | tcg (default auto) */
	bool templates;  /* `templates` / PODVM_TEMPLATES: restore VMs from templates (default on) */
	/* `pool` / PODVM_POOL: VMs of each pod shape kept restored and paused (needs templates):
	 * auto (the default) sizes each shape's pool by its demand (pool.h), N keeps N, 0 none. */
	bool pool_auto;
	unsigned pool;
	unsigned pool_max;   /* `pool_max` / PODVM_POOL_MAX: auto's cap per shape (default 2) */
	unsigned pool_idle;  /* `pool_idle` / PODVM_POOL_IDLE: seconds without a start of a shape
			      * after which auto empties its pool (default 120) */
	/* `ksm` / PODVM_KSM: let the host's KSM (/sys/kernel/mm/ksm/run = 1) merge the equal
	 * pages of VMs: their whole VMM process (guest RAM, QEMU's heap and translation cache),
	 * not only guest RAM (default on: it does nothing while the host's KSM is off). off
	 * keeps every page of a VM its own, guest RAM included (merged pages are a timing side
	 * channel between VMs). */
	bool ksm;
	/* `jail` / PODVM_JAIL: confine each VMM (default on; vmm/jail.h): its own mount
	 * namespace holding only the VM's files, its own uid/gid, the capabilities 9p needs,
	 * no_new_privs and QEMU's seccomp filter. off: QEMU runs as its caller, unconfined. */
	bool jail;
	unsigned agent_timeout;  /* `agent_timeout` / PODVM_AGENT_TIMEOUT: seconds without an answer
				  * from a running guest's agent after which its VM is killed
				  * (default 60; 0: never) */
	/* `qemu` / PODVM_QEMU: the VMM, a path or a name looked up in PATH ("": PODVM_QEMU,
	 * else qemu-system-x86_64; paths.h): a RuntimeClass may run a QEMU of its own. */
	char qemu[256];
	/* `tpm` / PODVM_TPM: give every VM a TPM 2.0 of its own, emulated by an swtpm process
	 * per VM (vmm/swtpm.h; default off). A VM restored from a template gets a fresh TPM,
	 * never a copy of the template's. */
	bool tpm;
	/* `swtpm` / PODVM_SWTPM: the TPM emulator, a path or a name looked up in PATH ("":
	 * swtpm). */
	char swtpm[256];
	/* `attestation` / PODVM_ATTESTATION: off (default) | verify | enforce (attest/verifier.h;
	 * needs tpm, which it turns on). verify: a pod is attested before its containers start
	 * and every attestation_period seconds, a failure is reported (log line, containerd
	 * event); enforce: a failure stops the pod, and a container's secrets are released
	 * only after attestation passed. */
	enum pv_attestation_mode attestation;
	unsigned attestation_period;  /* `attestation_period` / PODVM_ATTESTATION_PERIOD:
				       * seconds (default 60; 0: at start only) */
	/* `secrets_dir` / PODVM_SECRETS_DIR: an absolute path ("": none). Each regular file
	 * DIR/NAME (names starting with "." left out) reaches every container of a pod the shim
	 * runs, the CRI sandbox (pause) container excepted, at /run/secrets/NAME, read when the
	 * container starts and only after its VM's attestation passed; so it needs attestation
	 * (pv_config_check). */
	char secrets_dir[256];
};
/* The TPM emulator a config names. */
#define PV_DEFAULT_SWTPM "swtpm"

/* Whether sandboxes take VMs from pools (and refill them). */
bool pv_config_pool_on(const struct pv_config *c);
/* Defaults, then the file if it exists, then the environment; then pv_config_check. */
int pv_config_load(struct pv_config *c, pv_error *err);
/* What no single setting can say wrong: a combination. `origin` (the file, or "config")
 * names where in errors. */
int pv_config_check(const struct pv_config *c, const char *origin, pv_error *err);
/* Parses the text of a config file into c; `origin` names it in errors. */
int pv_config_parse(struct pv_config *c, const char *text, const char *origin, pv_error *err);
/* "auto", "kvm", "tcg" (any case) -> mode; -EINVAL otherwise. */
int pv_accel_mode_parse(const char *s, enum pv_accel_mode *out);
const char *pv_accel_mode_name(enum pv_accel_mode m);
