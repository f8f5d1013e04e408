/* An AdoptIdentity request as the host sends one: a seed, a clock, a hostname, one MAC
 * change, and a network of one NIC with an IPv4 and an IPv6 address, a link route and a
 * default route via a gateway. Its parts point into the fixture: init it where it stays.
 * Used by test_agent_request.c (which spoils its fields one by one) and
 * tests/fuzz/make_seeds.c. */
#pragma once
#include "agent.pb-c.h"

struct identity_fixture {
	uint8_t seed[16];
	char *addresses[2];
	Podvm__Agent__V1__MacChange nic, *nics[1];
	Podvm__Agent__V1__NetInterface ifc, *ifcs[1];
	Podvm__Agent__V1__NetRoute link, deflt, *routes[2];
	Podvm__Agent__V1__NetworkConfig net;
	Podvm__Agent__V1__IdentityRequest req;
};

static inline void identity_fixture_init(struct identity_fixture *f)
{
	*f = (struct identity_fixture){
		.seed = { 1, 2, 3, 4 },
		.addresses = { "10.88.0.5/16", "fd00::5/64" },
		.nic = PODVM__AGENT__V1__MAC_CHANGE__INIT,
		.ifc = PODVM__AGENT__V1__NET_INTERFACE__INIT,
		.link = PODVM__AGENT__V1__NET_ROUTE__INIT,
		.deflt = PODVM__AGENT__V1__NET_ROUTE__INIT,
		.net = PODVM__AGENT__V1__NETWORK_CONFIG__INIT,
		.req = PODVM__AGENT__V1__IDENTITY_REQUEST__INIT,
	};
	f->nic.from_mac = "52:54:00:12:34:56";
	f->nic.to_mac = "52:54:00:AB:CD:EF";
	f->nics[0] = &f->nic;
	f->ifc.mac = "52:54:00:ab:cd:ef";
	f->ifc.name = "eth0";
	f->ifc.mtu = 1500;
	f->ifc.n_addresses = 2;
	f->ifc.addresses = f->addresses;
	f->ifcs[0] = &f->ifc;
	f->link.destination = "10.88.0.0/16";
	f->link.interface_mac = f->ifc.mac;
	f->link.scope = 253;
	f->deflt.gateway = "10.88.0.1";
	f->deflt.interface_mac = f->ifc.mac;
	f->routes[0] = &f->link;
	f->routes[1] = &f->deflt;
	f->net.n_interfaces = 1;
	f->net.interfaces = f->ifcs;
	f->net.n_routes = 2;
	f->net.routes = f->routes;
	f->req.random_seed.data = f->seed;
	f->req.random_seed.len = sizeof(f->seed);
	f->req.realtime_ns = 1700000000000000000;
	f->req.hostname = "pod";
	f->req.n_nics = 1;
	f->req.nics = f->nics;
	f->req.network = &f->net;
}
