/* The pod's microVM. It boots with the first container and exports one directory,
 * <data_root>/<pod>/shared, over virtio-9p; each container's rootfs and bind mounts are
 * bound below it on the host (a VM without hotplug can still receive new containers). */
#pragma once
#include <stdbool.h>
#include "error.h"
#include "config.h"
#include "paths.h"
#include "ttrpc.h"

#define POD_SHARE_TAG "shared"
#define POD_GUEST_SHARED "/run/podvm/shares/" POD_SHARE_TAG
#define POD_DEFAULT_MEM_MIB 1024

struct pod;

int pod_new(const char *id, struct pod **out, pv_error *err);
/* The pod's resources as kubelet sent them (the sum of its containers' limits), from the
 * sandbox's io.kubernetes.cri.sandbox-* annotations; 0 where unknown. */
struct pod_resources {
	unsigned long long memory;  /* bytes */
	double cpus;
};

/* What the pod reports, from threads it owns. */
struct pod_hooks {
	void (*oom)(const char *container_id);  /* each OOM kill the guest reports */
	/* A periodic attestation of the VM failed (each distinct finding once); stopping: the
	 * config says enforce, and the VM is being stopped (every task exits with it). */
	void (*attestation_failed)(const char *pod_id, const char *mode, const char *finding, bool stopping);
};

/* Boots the VM once; later calls return at once. netns_path (may be NULL): the pod's
 * network namespace (CNI's), wired to the VM and configured in the guest. cgroup_path (may
 * be NULL): the sandbox's linux.cgroupsPath, the host cgroup the VMM joins. The VM gets
 * the pod's memory plus PV_GUEST_OVERHEAD_MIB and ceil(cpus) vCPUs; without limits,
 * POD_DEFAULT_MEM_MIB and 1 vCPU. PODVM_POD_MEMORY / PODVM_POD_CPUS override both. With
 * attestation on (the pod's config), the VM is re-attested every attestation_period
 * seconds from then on, and `podvm attest POD` served, until pod_destroy. */
int pod_boot(struct pod *p, const char *netns_path, const char *cgroup_path, const struct pod_resources *res,
	     const struct pod_hooks *hooks, pv_error *err);
bool pod_booted(struct pod *p);
/* The pod's first container has started: a pool its VM came from may refill now, and port
 * forwarding be set up. */
void pod_started(struct pod *p);
struct ttrpc_client *pod_agent(struct pod *p);
struct pv_sandbox *pod_sandbox(struct pod *p);
/* The pod's config (config.h): its RuntimeClass's file (runtime options), loaded by pod_new. */
const struct pv_config *pod_config(struct pod *p);
const struct pv_paths *pod_paths(struct pod *p);
const char *pod_id_of(struct pod *p);
const char *pod_shared_dir(struct pod *p);
/* The VMM has exited: rewrites *err to say so. */
int pod_explain_failure(struct pod *p, pv_error *err);
/* Stops the VM, ends the pod's threads and removes its state; the shared directory must
 * hold no mounts. NULL is a no-op. */
void pod_destroy(struct pod *p);
/* Paths of a pod, without a running shim (for `delete` after a crash). */
int pod_dirs(const char *id, char **state_dir, char **data_dir, pv_error *err);
