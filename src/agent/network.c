#include "network.h"
#include "cleanup.h"
#include "netlink.h"

#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/if_arp.h>

#define MAC_LEN 6

/* A guest NIC: its index and its name at the time it was found. */
struct nic {
	int ifindex;
	char name[IF_NAMESIZE];
};

static int parse_mac(const char *s, unsigned char mac[MAC_LEN])
{
	int end = 0;
	/* %hhx takes either case, so "AA:bb:..." matches the kernel's lower-case form. */
	if (sscanf(s, "%2hhx:%2hhx:%2hhx:%2hhx:%2hhx:%2hhx%n", &mac[0], &mac[1], &mac[2], &mac[3],
		   &mac[4], &mac[5], &end) != MAC_LEN || end != 17 || s[end] != '\0')
		return -EINVAL;
	return 0;
}

/* Whether the link named name has the hardware address mac. ioctl rather than
 * /sys/class/net, which shows the interfaces of the namespace sysfs was mounted in. */
static bool has_mac(int fd, const char *name, const unsigned char mac[MAC_LEN])
{
	struct ifreq ifr = { 0 };
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0)
		return false;   /* gone since it was listed, or no hardware address */
	return memcmp(ifr.ifr_hwaddr.sa_data, mac, MAC_LEN) == 0;
}

static void free_nameindex(struct if_nameindex **p)
{
	if (*p)
		if_freenameindex(*p);
}

/* Finds the NIC whose MAC is mac_str; fd is any socket, for the ioctl. */
static int nic_by_mac(int fd, const char *mac_str, struct nic *out, pv_error *err)
{
	unsigned char mac[MAC_LEN];
	if (parse_mac(mac_str, mac) < 0)
		return pv_error_set_plain(err, EINVAL, "MAC \"%s\": not a MAC address", mac_str);
	_cleanup_(free_nameindex) struct if_nameindex *links = if_nameindex();
	if (links == NULL)
		return pv_error_set(err, errno, "list network interfaces");
	for (struct if_nameindex *l = links; l->if_index; l++) {
		if (has_mac(fd, l->if_name, mac)) {
			out->ifindex = (int)l->if_index;
			snprintf(out->name, sizeof(out->name), "%s", l->if_name);
			return 0;
		}
	}
	return pv_error_set_plain(err, ENODEV, "NIC %s: not found", mac_str);
}

static int set_link(int fd, const struct nic *nic, unsigned flags, unsigned change,
		    uint32_t mtu, const char *name, const char *what, pv_error *err)
{
	struct pv_nlmsg m;
	int r = pv_nlmsg_link(&m, nic->ifindex, flags, change, mtu, name);
	if (r == 0)
		r = pv_nl_request(fd, &m);
	return r < 0 ? pv_error_set(err, -r, "%s: %s", nic->name, what) : 0;
}

static int rename_nic(int fd, struct nic *nic, const char *name, pv_error *err)
{
	if (strlen(name) >= IF_NAMESIZE)
		return pv_error_set_plain(err, EINVAL, "%s: rename to \"%s\": name too long", nic->name, name);
	/* The kernel renames only links that are down. */
	if (set_link(fd, nic, 0, IFF_UP, 0, NULL, "down", err) < 0)
		return -1;
	char what[IF_NAMESIZE + 16];
	snprintf(what, sizeof(what), "rename to %s", name);
	if (set_link(fd, nic, 0, 0, 0, name, what, err) < 0)
		return -1;
	snprintf(nic->name, sizeof(nic->name), "%s", name);
	return 0;
}

static int add_address(int fd, const struct nic *nic, const char *cidr, pv_error *err)
{
	struct pv_inet_prefix a;
	if (pv_parse_cidr(cidr, &a) < 0)
		return pv_error_set_plain(err, EINVAL, "%s: address \"%s\": not a CIDR", nic->name, cidr);
	struct pv_nlmsg m;
	int r = pv_nlmsg_addr(&m, RTM_NEWADDR, nic->ifindex, &a);
	if (r == 0)
		r = pv_nl_request(fd, &m);
	if (r < 0 && r != -EEXIST)
		return pv_error_set(err, -r, "%s: add %s", nic->name, cidr);
	return 0;
}

/* Removes what configure_interface added and takes the link down, which drops its routes. */
static int unconfigure_interface(int fd, const Podvm__Agent__V1__NetInterface *ifc, pv_error *err)
{
	struct nic nic;
	if (nic_by_mac(fd, ifc->mac, &nic, err) < 0)
		return -1;
	for (size_t i = 0; i < ifc->n_addresses; i++) {
		struct pv_inet_prefix a;
		struct pv_nlmsg m;
		int r = pv_parse_cidr(ifc->addresses[i], &a) < 0 ? -EINVAL : pv_nlmsg_addr(&m, RTM_DELADDR, nic.ifindex, &a);
		if (r == 0)
			r = pv_nl_request(fd, &m);
		if (r < 0 && r != -EADDRNOTAVAIL)
			return pv_error_set(err, -r, "%s: remove %s", nic.name, ifc->addresses[i]);
	}
	return set_link(fd, &nic, 0, IFF_UP, 0, NULL, "down", err);
}

static int configure_interface(int fd, const Podvm__Agent__V1__NetInterface *ifc, pv_error *err)
{
	struct nic nic;
	if (nic_by_mac(fd, ifc->mac, &nic, err) < 0)
		return -1;
	if (ifc->name[0] && strcmp(ifc->name, nic.name) != 0 && rename_nic(fd, &nic, ifc->name, err) < 0)
		return -1;
	if (ifc->mtu) {
		char what[32];
		snprintf(what, sizeof(what), "mtu %u", ifc->mtu);
		if (set_link(fd, &nic, 0, 0, ifc->mtu, NULL, what, err) < 0)
			return -1;
	}
	if (set_link(fd, &nic, IFF_UP, IFF_UP, 0, NULL, "up", err) < 0)
		return -1;
	for (size_t i = 0; i < ifc->n_addresses; i++)
		if (add_address(fd, &nic, ifc->addresses[i], err) < 0)
			return -1;
	return 0;
}

/* The family of a route: that of its destination, else of its gateway, else as flagged. */
static int route_family(const Podvm__Agent__V1__NetRoute *rt)
{
	const char *a = rt->destination[0] ? rt->destination : rt->gateway;
	if (a[0])
		return strchr(a, ':') ? AF_INET6 : AF_INET;
	return rt->ipv6 ? AF_INET6 : AF_INET;
}

/* Turns the RPC's strings into a pv_route without its interface; gw is filled when the
 * route has a gateway. */
static int parse_route_addresses(const Podvm__Agent__V1__NetRoute *rt, const char *what,
				 struct pv_route *out, struct pv_inet_prefix *gw, pv_error *err)
{
	*out = (struct pv_route){ .dst.family = route_family(rt) };
	if (rt->destination[0] && pv_parse_cidr(rt->destination, &out->dst) < 0)
		return pv_error_set_plain(err, EINVAL, "%s: destination not a CIDR", what);
	if (rt->gateway[0]) {
		if (pv_parse_inet(rt->gateway, gw) < 0)
			return pv_error_set_plain(err, EINVAL, "%s: gateway not an address", what);
		if (gw->family != out->dst.family)
			return pv_error_set_plain(err, EINVAL, "%s: gateway of another address family", what);
		out->gateway = gw;
	}
	if (rt->scope > UINT8_MAX)
		return pv_error_set_plain(err, EINVAL, "%s: scope %u out of range", what, rt->scope);
	out->scope = (uint8_t)rt->scope;
	if (rt->interface_mac[0] && !network_mac_valid(rt->interface_mac))
		return pv_error_set_plain(err, EINVAL, "%s: MAC \"%s\": not a MAC address", what,
					  rt->interface_mac);
	return 0;
}

/* parse_route_addresses, then the interface the route leaves by. */
static int parse_route(int fd, const Podvm__Agent__V1__NetRoute *rt, const char *what,
		       struct pv_route *out, struct pv_inet_prefix *gw, pv_error *err)
{
	if (parse_route_addresses(rt, what, out, gw, err) < 0)
		return -1;
	if (rt->interface_mac[0]) {
		struct nic nic;
		if (nic_by_mac(fd, rt->interface_mac, &nic, err) < 0)
			return pv_error_prefix(err, "%s", what);
		out->ifindex = nic.ifindex;
	}
	return 0;
}

/* "route DEST via GW dev MAC", for messages. */
static void route_name(const Podvm__Agent__V1__NetRoute *rt, char *what, size_t size)
{
	snprintf(what, size, "route %s%s%s%s%s", rt->destination[0] ? rt->destination : "default",
		 rt->gateway[0] ? " via " : "", rt->gateway, rt->interface_mac[0] ? " dev " : "",
		 rt->interface_mac);
}

static int add_route(int fd, const Podvm__Agent__V1__NetRoute *rt, pv_error *err)
{
	char what[160];
	route_name(rt, what, sizeof(what));
	struct pv_route r;
	struct pv_inet_prefix gw;
	if (parse_route(fd, rt, what, &r, &gw, err) < 0)
		return -1;
	struct pv_nlmsg m;
	int ret = pv_nlmsg_route(&m, &r);
	if (ret == 0)
		ret = pv_nl_request(fd, &m);
	if (ret < 0 && ret != -EEXIST)
		return pv_error_set(err, -ret, "%s", what);
	return 0;
}

bool network_mac_valid(const char *s)
{
	unsigned char mac[MAC_LEN];
	return parse_mac(s, mac) == 0;
}

static int check_interface(const Podvm__Agent__V1__NetInterface *ifc, pv_error *err)
{
	struct pv_inet_prefix a;
	if (!network_mac_valid(ifc->mac))
		return pv_error_set_plain(err, EINVAL, "MAC \"%s\": not a MAC address", ifc->mac);
	if (strlen(ifc->name) >= IF_NAMESIZE)
		return pv_error_set_plain(err, EINVAL, "%s: name \"%s\" too long", ifc->mac, ifc->name);
	for (size_t i = 0; i < ifc->n_addresses; i++)
		if (pv_parse_cidr(ifc->addresses[i], &a) < 0)
			return pv_error_set_plain(err, EINVAL, "%s: address \"%s\": not a CIDR", ifc->mac,
						  ifc->addresses[i]);
	return 0;
}

int network_check(const Podvm__Agent__V1__NetworkConfig *cfg, pv_error *err)
{
	for (size_t i = 0; i < cfg->n_interfaces; i++)
		if (check_interface(cfg->interfaces[i], err) < 0)
			return -1;
	for (size_t i = 0; i < cfg->n_routes; i++) {
		char what[160];
		struct pv_route r;
		struct pv_inet_prefix gw;
		route_name(cfg->routes[i], what, sizeof(what));
		if (parse_route_addresses(cfg->routes[i], what, &r, &gw, err) < 0)
			return -1;
	}
	return 0;
}

int network_configure(const Podvm__Agent__V1__NetworkConfig *cfg, pv_error *err)
{
	_cleanup_close_ int fd = pv_nl_open(err);
	if (fd < 0)
		return -1;
	for (size_t i = 0; i < cfg->n_interfaces; i++)
		if (configure_interface(fd, cfg->interfaces[i], err) < 0)
			return -1;
	/* Two passes: a route via a gateway needs a route to that gateway in first. */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < cfg->n_routes; i++)
			if ((cfg->routes[i]->gateway[0] != '\0') == pass &&
			    add_route(fd, cfg->routes[i], err) < 0)
				return -1;
	return 0;
}

int network_unconfigure(const Podvm__Agent__V1__NetworkConfig *cfg, pv_error *err)
{
	_cleanup_close_ int fd = pv_nl_open(err);
	if (fd < 0)
		return -1;
	for (size_t i = 0; i < cfg->n_interfaces; i++)
		if (unconfigure_interface(fd, cfg->interfaces[i], err) < 0)
			return -1;
	return 0;
}

int network_set_mac(const char *from_mac, const char *to_mac, pv_error *err)
{
	unsigned char mac[MAC_LEN];
	if (parse_mac(to_mac, mac) < 0)
		return pv_error_set_plain(err, EINVAL, "MAC \"%s\": not a MAC address", to_mac);
	_cleanup_close_ int fd = pv_nl_open(err);
	struct nic nic;
	if (fd < 0 || nic_by_mac(fd, from_mac, &nic, err) < 0)
		return -1;
	struct pv_nlmsg m;
	int r = pv_nlmsg_link(&m, nic.ifindex, 0, 0, 0, NULL);
	if (r == 0)
		r = pv_nlmsg_attr(&m, IFLA_ADDRESS, mac, MAC_LEN);
	if (r == 0)
		r = pv_nl_request(fd, &m);
	if (r < 0)
		return pv_error_set(err, -r, "%s: set MAC %s", nic.name, to_mac);
	return 0;
}
