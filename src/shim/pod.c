#include "pod.h"
#include "portfwd.h"
#include "cleanup.h"
#include "agent_client.h"
#include "owner.h"
#include "sandbox.h"
#include "sizing.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

struct pod {
	struct pv_paths paths;
	char *id;
	char *data_dir;
	char *shared_dir;
	struct pv_sandbox *sb;
	struct pv_pod_net net;
	bool has_net;
	bool booted;
	struct portfwd *fwd;  /* kubectl port-forward, for a pod with a network */
	pthread_t oom_thread;
	bool oom_watched;
	struct pod_hooks hooks;
	struct pv_config config;
	struct pv_attest_monitor *monitor;  /* with attestation on, from boot to destroy */
	pthread_mutex_t lock;
};

int pod_dirs(const char *id, char **state_dir, char **data_dir, pv_error *err)
{
	struct pv_paths paths;
	if (pv_paths_init(&paths, err) < 0)
		return -1;
	int r = 0;
	if ((state_dir && asprintf(state_dir, "%s/%s", paths.state_root, id) < 0) ||
	    (data_dir && asprintf(data_dir, "%s/%s", paths.data_root, id) < 0))
		r = pv_error_set(err, ENOMEM, "pod %s", id);
	pv_paths_clear(&paths);
	return r;
}

int pod_new(const char *id, struct pod **out, pv_error *err)
{
	struct pod *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return pv_error_set(err, ENOMEM, "pod %s", id);
	pthread_mutex_init(&p->lock, NULL);
	int r = pv_paths_init(&p->paths, err);
	if (r == 0)
		r = pv_config_load(&p->config, err);
	if (r == 0 && ((p->id = strdup(id)) == NULL ||
		       asprintf(&p->data_dir, "%s/%s", p->paths.data_root, id) < 0 ||
		       asprintf(&p->shared_dir, "%s/%s/shared", p->paths.data_root, id) < 0))
		r = pv_error_set(err, ENOMEM, "pod %s", id);
	if (r == 0)
		r = pv_mkdir_p(p->shared_dir, 0700, err);
	if (r == 0)
		r = pv_owner_write(p->data_dir, err);
	if (r == 0)
		r = pv_sandbox_new(&p->paths, id, &p->sb, err);
	if (r == 0)
		r = pv_sandbox_add_share(p->sb, POD_SHARE_TAG, p->shared_dir, false, err);
	if (r < 0) {
		pod_destroy(p);
		return pv_error_prefix(err, "pod %s", id);
	}
	*out = p;
	return 0;
}

static int pod_vm_shape(const struct pod_resources *res, unsigned *vcpus, unsigned *mem_mib, pv_error *err)
{
	const char *mem = getenv("PODVM_POD_MEMORY"), *cpus = getenv("PODVM_POD_CPUS");
	unsigned long long bytes = res->memory;
	double ncpus = res->cpus;
	if (mem && *mem && pv_parse_memory(mem, &bytes, err) < 0)
		return pv_error_prefix(err, "PODVM_POD_MEMORY");
	if (cpus && *cpus && pv_parse_cpus(cpus, &ncpus, err) < 0)
		return pv_error_prefix(err, "PODVM_POD_CPUS");
	pv_vm_size(ncpus, bytes, vcpus, mem_mib);
	if (bytes == 0)
		*mem_mib = POD_DEFAULT_MEM_MIB;  /* no limits: room for the pod, touched lazily */
	return 0;
}

static int boot_locked(struct pod *p, const char *netns_path, const char *cgroup_path,
		       const struct pod_resources *res, pv_error *err)
{
	struct pv_sandbox_config cfg = { .boot_timeout_ms = 0, .outlive_thread = true, .cgroup_path = cgroup_path };
	if (pod_vm_shape(res, &cfg.vcpus, &cfg.mem_mib, err) < 0)
		return -1;
	if (netns_path) {
		if (pv_pod_net_read(netns_path, &p->net, err) < 0)
			return -1;
		p->has_net = true;
		cfg.net = &p->net;
	}
	if (pv_sandbox_boot(p->sb, &cfg, err) < 0)
		return -1;
	pv_error fwd_err = NULL;
	if (netns_path && portfwd_start(netns_path, pod_agent(p), &p->fwd, &fwd_err) < 0) {
		pv_warning("pod %s: %s", p->id, fwd_err->msg);  /* the pod runs without it */
		pv_error_release(&fwd_err);
	}
	return 0;
}

/* Reports every OOM kill the guest sees, for the VM's life (pod_destroy joins it). */
static void *oom_main(void *arg)
{
	struct pod *p = arg;
	char *id = NULL;
	while (pv_agent_wait_oom(pod_agent(p), &id, NULL) == 0) {
		p->hooks.oom(id);
		free(id);
	}
	return NULL;  /* the VM is gone */
}

/* From the monitor's thread. Under enforce the VM is killed before anyone is told: what
 * failed runs no longer than it must. */
static bool attestation_failed(const char *finding, void *data)
{
	struct pod *p = data;
	bool enforce = p->config.attestation == PV_ATTEST_ENFORCE;
	if (enforce)
		pv_sandbox_kill(p->sb);
	pv_warning("attestation of pod VM %s failed: %s%s", p->id, finding, enforce ? "; stopped it" : "");
	p->hooks.attestation_failed(p->id, pv_attestation_mode_name(p->config.attestation), finding, enforce);
	return enforce;
}

/* A pod that should be attested and cannot be watched does not run: its VM is killed. */
static int start_monitor(struct pod *p, pv_error *err)
{
	if (p->config.attestation == PV_ATTEST_OFF)
		return 0;
	if (pv_attest_monitor_start(p->sb, p->config.attestation_period, attestation_failed, p, &p->monitor, err) < 0) {
		pv_sandbox_kill(p->sb);
		return pv_error_prefix(err, "pod %s", p->id);
	}
	return 0;
}

int pod_boot(struct pod *p, const char *netns_path, const char *cgroup_path, const struct pod_resources *res,
	     const struct pod_hooks *hooks, pv_error *err)
{
	pthread_mutex_lock(&p->lock);
	int r = 0;
	if (!p->booted) {
		p->hooks = *hooks;
		r = boot_locked(p, netns_path, cgroup_path, res, err);
		p->booted = r == 0;
		if (r == 0)
			r = start_monitor(p, err);
		p->oom_watched = r == 0 && pthread_create(&p->oom_thread, NULL, oom_main, p) == 0;
	}
	pthread_mutex_unlock(&p->lock);
	return r;
}

bool pod_booted(struct pod *p)
{
	pthread_mutex_lock(&p->lock);
	bool b = p->booted;
	pthread_mutex_unlock(&p->lock);
	return b;
}

void pod_started(struct pod *p)
{
	pv_sandbox_refill_pool(p->sb);
	portfwd_pod_started(p->fwd);
}

struct ttrpc_client *pod_agent(struct pod *p)
{
	return pv_sandbox_agent(p->sb);
}

struct pv_sandbox *pod_sandbox(struct pod *p)
{
	return p->sb;
}

const struct pv_config *pod_config(struct pod *p)
{
	return &p->config;
}

const struct pv_paths *pod_paths(struct pod *p)
{
	return &p->paths;
}

const char *pod_id_of(struct pod *p)
{
	return p->id;
}

const char *pod_shared_dir(struct pod *p)
{
	return p->shared_dir;
}

int pod_explain_failure(struct pod *p, pv_error *err)
{
	return pv_sandbox_explain_failure(p->sb, err);
}

void pod_destroy(struct pod *p)
{
	if (p == NULL)
		return;
	portfwd_stop(p->fwd);
	pv_attest_monitor_stop(p->monitor);  /* it attests through the agent: before the VM goes */
	pv_sandbox_stop(p->sb);  /* ends every agent call still waiting */
	if (p->oom_watched)
		pthread_join(p->oom_thread, NULL);
	pv_sandbox_destroy(p->sb);
	if (p->has_net)
		pv_pod_net_detach(&p->net);
	if (p->data_dir)
		(void)pv_rm_rf(p->data_dir, NULL);
	pv_paths_clear(&p->paths);
	free(p->id);
	free(p->data_dir);
	free(p->shared_dir);
	free(p);
}
