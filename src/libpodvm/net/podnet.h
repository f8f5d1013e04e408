/* A pod's network namespace wired to its VM, as Kata does by default: in the namespace
 * CNI made, a tap device next to the pod's veth, joined by tc ingress qdiscs and mirred
 * redirects both ways. The guest NIC takes the veth's MAC, addresses, routes and MTU;
 * port maps and policies stay on the host side, untouched. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include "error.h"

#define PV_NET_TAP_NAME "pvtap0"

struct pv_net_route {
	char *destination;  /* CIDR, "" for a default route */
	char *gateway;      /* "" if directly connected */
	unsigned scope;
	bool ipv6;
};

struct pv_pod_net {
	char *netns_path;
	char veth[16];      /* the interface CNI put in the namespace */
	char mac[18];
	unsigned mtu;
	char **addresses;   /* CIDR strings */
	struct pv_net_route *routes;
	size_t n_routes;
	int tap_fd;         /* for QEMU (-netdev tap,fd=) */
};

/* Reads the namespace's interface, creates the tap and the redirects. On failure nothing
 * is left in the namespace. */
int pv_pod_net_attach(const char *netns_path, struct pv_pod_net *net, pv_error *err);
/* Removes the redirects and the tap (the veth is CNI's to delete); frees net's fields. */
void pv_pod_net_detach(struct pv_pod_net *net);
