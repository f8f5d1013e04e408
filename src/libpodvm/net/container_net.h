/* A container's own network, for `podvm run --network NAME`: a named network namespace in
 * the sandbox's state directory, the network's CNI plugins run on it (ADD, and DEL on the
 * way out, as a CRI runtime does for a pod), and the veth they made there wired to the VM
 * as the shim wires a pod's (podnet.h). */
#pragma once
#include <stddef.h>
#include "error.h"
#include "net/podnet.h"
#include "net/ports.h"

#define PV_NETWORK_NONE "none"
#define PV_NETNS_FILE "netns"

struct pv_container_net_options {
	const char *network;    /* NULL or PV_NETWORK_NONE: loopback only */
	const char *conf_dir;   /* NULL: $CNI_CONF_DIR, $NETCONFPATH, else /etc/cni/net.d */
	const struct pv_port_mapping *ports;
	size_t n_ports;
};

struct pv_container_net;

/* Loads the network's configuration (nothing runs yet). *out is NULL for no network.
 * Published ports need a network with a plugin of the portMappings capability. */
int pv_container_net_new(const struct pv_container_net_options *o, const char *container_id,
			 struct pv_container_net **out, pv_error *err);
/* Creates the namespace as DIR/netns, runs the plugins' ADD, adds the tap and redirects.
 * On failure nothing of it is left (DEL run, namespace removed). */
int pv_container_net_up(struct pv_container_net *n, const char *dir, pv_error *err);
/* For the VM and the agent's network setup (in AdoptIdentity), after up. */
struct pv_pod_net *pv_container_net_pod(struct pv_container_net *n);
/* Once the VM is stopped: removes the redirects and tap, runs DEL, removes the namespace,
 * frees n. NULL is fine. */
void pv_container_net_free(struct pv_container_net *n);
