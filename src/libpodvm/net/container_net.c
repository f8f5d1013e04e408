#include "container_net.h"
#include "cleanup.h"
#include "net/cni.h"
#include "net/netns.h"
#include "net/net_record.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define PORT_MAPPINGS "portMappings"
#define CONTAINER_IFNAME "eth0"

struct pv_container_net {
	struct pv_cni_conflist list;
	char *container_id;
	json_t *runtime;      /* capability args: portMappings */
	char *conf_dir;
	char *dir;            /* the sandbox's state dir: the namespace and the record (net_record.h) */
	char *netns;          /* set once the namespace exists */
	json_t *result;       /* set once ADD succeeded */
	struct pv_pod_net pod;
	bool attached;
};

static bool has_port_mapper(const struct pv_cni_conflist *l)
{
	for (size_t i = 0; i < pv_cni_plugin_count(l); i++)
		if (pv_cni_plugin_has_capability(l, i, PORT_MAPPINGS))
			return true;
	return false;
}

static int load(struct pv_container_net *n, const struct pv_container_net_options *o, pv_error *err)
{
	if (pv_cni_conflist_load(pv_cni_conf_dir(o->conf_dir), o->network, &n->list, err) < 0)
		return -1;
	if (o->n_ports == 0)
		return 0;
	if (!has_port_mapper(&n->list))
		return pv_error_set_plain(err, EINVAL, "%s: no plugin with the " PORT_MAPPINGS
					  " capability (such as portmap) to publish ports", n->list.file);
	n->runtime = json_pack("{s:o}", PORT_MAPPINGS, pv_port_mappings_json(o->ports, o->n_ports));
	return n->runtime ? 0 : pv_error_set(err, ENOMEM, "port mappings");
}

int pv_container_net_new(const struct pv_container_net_options *o, const char *container_id,
			 struct pv_container_net **out, pv_error *err)
{
	*out = NULL;
	bool none = o->network == NULL || strcmp(o->network, PV_NETWORK_NONE) == 0;
	if (none && o->n_ports > 0)
		return pv_error_set_plain(err, EINVAL, "publish %u:%u: a published port needs a network (--network NAME)",
					  o->ports[0].host_port, o->ports[0].container_port);
	if (none)
		return 0;
	struct pv_container_net *n = calloc(1, sizeof(*n));
	if (n == NULL || (n->container_id = strdup(container_id)) == NULL) {
		free(n);
		return pv_error_set(err, ENOMEM, "network %s", o->network);
	}
	n->pod.tap_fd = -1;
	if ((n->conf_dir = strdup(pv_cni_conf_dir(o->conf_dir))) == NULL) {
		pv_container_net_free(n);
		return pv_error_set(err, ENOMEM, "network %s", o->network);
	}
	if (load(n, o, err) < 0) {
		pv_container_net_free(n);
		return pv_error_prefix(err, "network %s", o->network);
	}
	*out = n;
	return 0;
}

static struct pv_cni_call cni_call(const struct pv_container_net *n)
{
	return (struct pv_cni_call){ &n->list, n->container_id, n->netns, CONTAINER_IFNAME, n->runtime };
}

/* Before ADD (a run killed during it still gets its DEL) and after, with the result. */
static int write_record(const struct pv_container_net *n, pv_error *err)
{
	struct pv_net_record r = { n->conf_dir, n->list.name, n->container_id, n->netns, CONTAINER_IFNAME,
				   n->runtime, n->result };
	return pv_net_record_write(n->dir, &r, err);
}

static int up(struct pv_container_net *n, const char *dir, pv_error *err)
{
	_cleanup_free_ char *path = NULL;
	if ((n->dir = strdup(dir)) == NULL || asprintf(&path, "%s/" PV_NETNS_FILE, dir) < 0)
		return pv_error_set(err, ENOMEM, "netns");
	if (pv_netns_create(path, err) < 0)
		return -1;
	n->netns = steal_pointer(&path);
	struct pv_cni_call c = cni_call(n);
	if (write_record(n, err) < 0 || pv_cni_add(&c, &n->result, err) < 0 || write_record(n, err) < 0)
		return -1;
	if (pv_pod_net_attach(n->netns, &n->pod, err) < 0)
		return -1;
	n->attached = true;
	return 0;
}

/* Undoes up, in reverse. */
static void down(struct pv_container_net *n)
{
	if (n->attached)
		pv_pod_net_detach(&n->pod);
	n->attached = false;
	if (n->result) {
		struct pv_cni_call c = cni_call(n);
		(void)pv_cni_del(&c, n->result, NULL);
	}
	json_decref(n->result);
	n->result = NULL;
	if (n->netns)
		pv_netns_remove(n->netns);
	free(n->netns);
	n->netns = NULL;
	if (n->dir)
		pv_net_record_remove(n->dir);
}

int pv_container_net_up(struct pv_container_net *n, const char *dir, pv_error *err)
{
	if (up(n, dir, err) < 0) {
		down(n);
		return pv_error_prefix(err, "network %s", n->list.name);
	}
	return 0;
}

struct pv_pod_net *pv_container_net_pod(struct pv_container_net *n)
{
	return &n->pod;
}

void pv_container_net_free(struct pv_container_net *n)
{
	if (n == NULL)
		return;
	down(n);
	pv_cni_conflist_clear(&n->list);
	json_decref(n->runtime);
	free(n->container_id);
	free(n->conf_dir);
	free(n->dir);
	free(n);
}
