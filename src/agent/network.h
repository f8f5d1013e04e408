/* The pod network part of the AdoptIdentity RPC: gives the guest's NICs the names, MTUs
 * and addresses the host chose for the pod, then adds its routes, all over rtnetlink
 * (netlink.c). */
#pragma once
#include <stdbool.h>
#include "agent.pb-c.h"
#include "error.h"

/* Each interface is found by its MAC address, renamed (when cfg names it differently), given
 * its MTU, brought up and given its addresses; then the routes are added, directly connected
 * ones first so that every gateway is reachable by the time a route names it. Addresses and
 * routes that already exist are kept, so a repeated call succeeds. */
int network_configure(const Podvm__Agent__V1__NetworkConfig *cfg, pv_error *err);
/* Undoes network_configure as far as a pool VM's rehearsal needs (identity.h): each
 * interface's addresses go and its link goes down, taking its routes with it. A rename
 * stays. */
int network_unconfigure(const Podvm__Agent__V1__NetworkConfig *cfg, pv_error *err);
/* What network_configure would refuse before it changes anything: MACs, interface names,
 * addresses, routes (an interface it cannot find is not known here). */
int network_check(const Podvm__Agent__V1__NetworkConfig *cfg, pv_error *err);
/* "aa:bb:cc:dd:ee:ff", either case. */
bool network_mac_valid(const char *s);

/* Gives the NIC whose MAC is from_mac the address to_mac (a VM restored from a template
 * starts with the template's). */
int network_set_mac(const char *from_mac, const char *to_mac, pv_error *err);
