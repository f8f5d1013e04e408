/* What a container's network needs to be taken down, kept in its sandbox's state directory
 * while the network is up: the network's config dir and name, the container id, the
 * namespace, the capability args and the plugins' result. A podvm killed by SIGKILL cannot
 * run the plugins' DEL itself; the next podvm's garbage collection does, from this. */
#pragma once
#include <jansson.h>
#include "error.h"

#define PV_NET_RECORD "network.json"

struct pv_net_record {
	const char *conf_dir, *network, *container_id, *netns, *ifname;
	json_t *runtime;  /* may be NULL */
	json_t *result;   /* NULL until ADD succeeded */
};

/* Writes (replaces) dir/PV_NET_RECORD. */
int pv_net_record_write(const char *dir, const struct pv_net_record *r, pv_error *err);
/* Once the network is down: removes the record. */
void pv_net_record_remove(const char *dir);
/* For a dead run's state dir: runs DEL as the record says (the config read again by name),
 * removes the namespace and the record. Nothing to do without a record. */
void pv_net_record_take_down(const char *dir);
