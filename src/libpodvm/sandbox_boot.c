/* Starting a pod sandbox's VM: the one place that chooses where the VM comes from (the pool,
 * a template, a cold boot: sandbox-internal.h), then gives the guest its identity and the
 * pod's network. */
#include "sandbox-internal.h"
#include "cgroup.h"
#include "cleanup.h"
#include "template.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>

#define MAX_SOURCES 3

/* The sources to try, best first: each one that cannot start the VM this time hands over to
 * the next; a cold boot always can. */
static size_t choose_sources(const struct sandbox_host *h, bool pool, const struct vm_source **out)
{
	size_t n = 0;
	if (pool)
		out[n++] = &sandbox_source_pool;
	if (h->config.templates)
		out[n++] = &sandbox_source_template;
	out[n++] = &sandbox_source_cold;
	return n;
}

static const struct vm_source *start_vm(struct pv_sandbox *sb, const struct boot_request *req,
					const struct vm_source *const *sources, size_t n, pv_error *err)
{
	struct pv_pod_net *net = req->cfg->net;
	for (size_t i = 0; i < n; i++) {
		if (sources[i]->new_tap && net && !net->wired && pv_pod_net_wire(net, NULL, err) < 0)
			return NULL;
		int r = sources[i]->start(sb, req, err);
		if (r < 0)
			return NULL;
		if (r > 0)
			return sources[i];
	}
	pv_error_set_plain(err, EIO, "sandbox %s: no way to start its VM", sb->id);
	return NULL;
}

/* Fresh randomness, the time and a hostname for every VM; the pod's MAC for a restored one;
 * the pod's network configured in the guest. */
static int adopt_identity(struct pv_sandbox *sb, const struct pv_sandbox_config *cfg, pv_error *err)
{
	char hostname[64];
	snprintf(hostname, sizeof(hostname), "%s", sb->id);
	bool readdress = sb->restored && cfg->net;
	if (sandbox_send_identity(sb, hostname, readdress ? PV_TEMPLATE_MAC : NULL, readdress ? cfg->net->mac : NULL,
				  cfg->net, false, err) < 0)
		return pv_error_prefix(err, "sandbox %s", sb->id);
	return 0;
}

int pv_sandbox_boot(struct pv_sandbox *sb, struct pv_sandbox_config *cfg, pv_error *err)
{
	struct sandbox_host h = { 0 };
	const struct vm_source *sources[MAX_SOURCES], *used = NULL;
	_cleanup_free_ char *cgroup = NULL;
	long long t0 = pv_now_ms();
	sb->restored = sb->pooled = false;
	int r = cfg->cgroup_path ? pv_cgroup_path(cfg->cgroup_path, &cgroup, err) : 0;
	if (r == 0)
		r = sandbox_probe_host(sb->paths, true, &h, err);
	bool pool = r == 0 && pv_config_pool_on(&h.config) && sandbox_poolable(sb);
	struct boot_request req = { .cfg = cfg, .host = &h, .nic = cfg->net != NULL, .tap_fd = -1 };
	if (r == 0 && (used = start_vm(sb, &req, sources, choose_sources(&h, pool, sources), err)) == NULL)
		r = -1;
	/* The VMM joins the pod's cgroup once it runs, whatever its source: a pooled VM was
	 * started by a pool filler before the pod existed. Memory charged before the move (what
	 * a cold boot or a restore touched, a pooled VM's warm-up) stays charged where it was:
	 * cgroup v2 never moves charges, v1 only with memory.move_charge_at_immigrate. The move
	 * runs beside the identity step. */
	if (r == 0 && cgroup)
		r = sandbox_join_cgroup_begin(sb, cgroup, err);
	if (r == 0) {
		sb->pooled = used == &sandbox_source_pool;
		sb->restored = sb->pooled || used == &sandbox_source_template;
		r = adopt_identity(sb, cfg, err);
	}
	if (sandbox_join_cgroup_end(sb, err) < 0)
		r = -1;
	if (cfg->net && pv_pod_net_wire_end(cfg->net, r == 0 ? err : NULL) < 0)  /* a pooled VM's tap */
		r = -1;
	if (r == 0)
		sandbox_note_boot(sb, used->how, pv_now_ms() - t0);
	if (r == 0) {
		sb->agent_timeout_s = (int)h.config.agent_timeout;
		sandbox_watchdog_start(sb, (int)h.config.agent_timeout * 1000);
	}
	if (r == 0 && pool)
		sandbox_schedule_pool_refill(sb, &req);
	sandbox_host_clear(&h);
	return r;
}
