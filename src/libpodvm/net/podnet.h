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
	int tap_fd;         /* for QEMU (-netdev tap,fd=); -1 when the tap was adopted */
	bool wired;         /* a tap and the redirects are in place */
	struct ns_job *wiring;  /* pv_pod_net_wire_begin's, until pv_pod_net_wire_end */
};

/* Reads the namespace's interface, addresses and routes; wires nothing. */
int pv_pod_net_read(const char *netns_path, struct pv_pod_net *net, pv_error *err);
/* Puts a tap named PV_NET_TAP_NAME next to the veth, joined to it both ways: a new one
 * (adopt NULL; net->tap_fd is its fd), or `adopt`, a tap in the caller's namespace that a
 * VMM already holds (a pooled VM's), moved in and renamed. On failure the redirects are gone. */
int pv_pod_net_wire(struct pv_pod_net *net, const char *adopt, pv_error *err);
/* pv_pod_net_wire in a thread of its own (moving a link between namespaces waits for the
 * kernel's RCU grace periods, ~20 ms), so that the VM can be readied meanwhile; _end waits
 * for it and says how it went. unwire and detach wait for it too. */
int pv_pod_net_wire_begin(struct pv_pod_net *net, const char *adopt, pv_error *err);
int pv_pod_net_wire_end(struct pv_pod_net *net, pv_error *err);
/* Undoes pv_pod_net_wire (an adopted tap goes with its VMM). */
void pv_pod_net_unwire(struct pv_pod_net *net);
/* pv_pod_net_read, then pv_pod_net_wire with a new tap. On failure nothing is left. */
int pv_pod_net_attach(const char *netns_path, struct pv_pod_net *net, pv_error *err);
/* Opens (creating) the tap device `name` in the caller's namespace; *fd holds it. */
int pv_tap_open(const char *name, int *fd, pv_error *err);
/* Removes the redirects and the tap (the veth is CNI's to delete); frees net's fields. */
void pv_pod_net_detach(struct pv_pod_net *net);
