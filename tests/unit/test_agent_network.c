/* The agent's pod network setup, part of AdoptIdentity (src/agent/netlink.c, network.c), on
 * the host: CIDR parsing, the rtnetlink message builder (lengths, alignment, attributes
 * walked back with RTA_OK/RTA_NEXT), and, where this process may unshare its network
 * namespace (root), all of it against the new namespace's loopback device, and a pool VM's
 * rehearsal (AdoptIdentity's rehearse_network, src/agent/identity.c) on a veth made there.
 * The host's own namespace is never touched: unshare(CLONE_NEWNET) moves only this process
 * (and the `ip` it runs). */
#include "tap.h"
#include "netlink.h"
#include "network.h"
#include "identity.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/if_addr.h>

static const char *msg_of(pv_error e)
{
	return e && e->msg ? e->msg : "(no message)";
}

static bool cidr_is(const char *s, int family, const char *addr, unsigned len)
{
	struct pv_inet_prefix p;
	uint8_t want[16] = { 0 };
	if (pv_parse_cidr(s, &p) < 0 || inet_pton(family, addr, want) != 1)
		return false;
	return p.family == family && p.prefix_len == len && memcmp(p.addr, want, pv_inet_len(family)) == 0;
}

static void test_cidr(void)
{
	ok(cidr_is("10.88.0.5/16", AF_INET, "10.88.0.5", 16), "cidr: 10.88.0.5/16");
	ok(cidr_is("0.0.0.0/0", AF_INET, "0.0.0.0", 0), "cidr: 0.0.0.0/0");
	ok(cidr_is("192.168.1.1/32", AF_INET, "192.168.1.1", 32), "cidr: /32");
	ok(cidr_is("fd00::5/64", AF_INET6, "fd00::5", 64), "cidr: fd00::5/64");
	ok(cidr_is("::/0", AF_INET6, "::", 0), "cidr: ::/0");
	ok(cidr_is("2001:db8:0:0:1:2:3:4/128", AF_INET6, "2001:db8::1:2:3:4", 128), "cidr: /128");
	ok(cidr_is("::ffff:10.0.0.1/96", AF_INET6, "::ffff:10.0.0.1", 96), "cidr: v4-mapped v6");
	static const char *const bad[] = {
		"", "/", "10.88.0.5", "10.88.0.5/", "/16", "10.88.0.5/33", "fd00::5/129",
		"10.88.0.5/-1", "10.88.0.5/+8", "10.88.0.5/ 8", "10.88.0.5/8x", "10.88.0.5/8/8",
		"10.88.0.256/8", "10.88.0/8", "fd00::5%eth0/64", "fd00:::5/64", "10.88.0.5/4294967304",
		"1111:2222:3333:4444:5555:6666:7777:8888:9999/64", "eth0", "10.88.0.5 /16",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		struct pv_inet_prefix p;
		ok(pv_parse_cidr(bad[i], &p) == -EINVAL, "cidr: \"%s\" rejected", bad[i]);
	}
	struct pv_inet_prefix p;
	ok(pv_parse_inet("10.0.0.1", &p) == 0 && p.family == AF_INET && p.prefix_len == 32,
	   "inet: 10.0.0.1 is a /32");
	ok(pv_parse_inet("fe80::1", &p) == 0 && p.family == AF_INET6 && p.prefix_len == 128,
	   "inet: fe80::1 is a /128");
	ok(pv_parse_inet("10.0.0.1/8", &p) == -EINVAL && pv_parse_inet("", &p) == -EINVAL,
	   "inet: CIDR and empty rejected");
}

/* Walks the attributes after a family header of hdrlen bytes into types[] and data[]. */
static int walk(const struct pv_nlmsg *m, size_t hdrlen, unsigned short *types,
		const void **data, unsigned short *lens, int max)
{
	int n = 0, left = (int)(m->hdr.nlmsg_len - NLMSG_SPACE(hdrlen));
	const struct rtattr *a = (const void *)((const char *)NLMSG_DATA(&m->hdr) + NLMSG_ALIGN(hdrlen));
	for (; RTA_OK(a, left) && n < max; a = RTA_NEXT(a, left), n++) {
		if ((uintptr_t)a % RTA_ALIGNTO)
			return -1;
		types[n] = a->rta_type;
		data[n] = RTA_DATA(a);
		lens[n] = (unsigned short)RTA_PAYLOAD(a);
	}
	return left == 0 ? n : -1;   /* the attributes must fill the message exactly */
}

static void test_addr_msg(void)
{
	struct pv_nlmsg m;
	struct pv_inet_prefix a;
	pv_parse_cidr("10.88.0.5/16", &a);
	ok(pv_nlmsg_addr(&m, RTM_NEWADDR, 7, &a) == 0, "addr v4: built");
	ok(m.hdr.nlmsg_len == NLMSG_SPACE(sizeof(struct ifaddrmsg)) + 2 * RTA_SPACE(4),
	   "addr v4: length %u", m.hdr.nlmsg_len);
	ok(m.hdr.nlmsg_type == RTM_NEWADDR && m.hdr.nlmsg_flags ==
	   (NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL), "addr v4: type and flags");
	const struct ifaddrmsg *ifa = NLMSG_DATA(&m.hdr);
	ok(ifa->ifa_family == AF_INET && ifa->ifa_prefixlen == 16 && ifa->ifa_index == 7 &&
	   ifa->ifa_flags == 0, "addr v4: ifaddrmsg");
	unsigned short t[8], l[8];
	const void *d[8];
	int n = walk(&m, sizeof(*ifa), t, d, l, 8);
	ok(n == 2 && t[0] == IFA_LOCAL && t[1] == IFA_ADDRESS && l[0] == 4 && l[1] == 4 &&
	   memcmp(d[0], a.addr, 4) == 0 && memcmp(d[1], a.addr, 4) == 0, "addr v4: attributes round-trip");

	pv_parse_cidr("fd00::5/64", &a);
	ok(pv_nlmsg_addr(&m, RTM_NEWADDR, 3, &a) == 0, "addr v6: built");
	ok(m.hdr.nlmsg_len == NLMSG_SPACE(sizeof(struct ifaddrmsg)) + 2 * RTA_SPACE(16),
	   "addr v6: length %u", m.hdr.nlmsg_len);
	ok(ifa->ifa_family == AF_INET6 && ifa->ifa_prefixlen == 64 && (ifa->ifa_flags & IFA_F_NODAD),
	   "addr v6: family, prefix, NODAD");
	n = walk(&m, sizeof(*ifa), t, d, l, 8);
	ok(n == 2 && l[0] == 16 && memcmp(d[1], a.addr, 16) == 0, "addr v6: attributes round-trip");
}

static void test_route_msg(void)
{
	struct pv_nlmsg m;
	struct pv_inet_prefix gw;
	pv_parse_inet("10.88.0.1", &gw);
	struct pv_route r = { .dst.family = AF_INET, .gateway = &gw, .ifindex = 2 };
	ok(pv_nlmsg_route(&m, &r) == 0, "route default v4: built");
	const struct rtmsg *rtm = NLMSG_DATA(&m.hdr);
	ok(m.hdr.nlmsg_type == RTM_NEWROUTE && rtm->rtm_family == AF_INET && rtm->rtm_dst_len == 0 &&
	   rtm->rtm_table == RT_TABLE_MAIN && rtm->rtm_protocol == RTPROT_BOOT &&
	   rtm->rtm_scope == RT_SCOPE_UNIVERSE && rtm->rtm_type == RTN_UNICAST, "route default v4: rtmsg");
	unsigned short t[8], l[8];
	const void *d[8];
	int n = walk(&m, sizeof(*rtm), t, d, l, 8);
	uint32_t oif = 0;
	if (n == 2)
		memcpy(&oif, d[1], sizeof(oif));
	ok(n == 2 && t[0] == RTA_GATEWAY && memcmp(d[0], gw.addr, 4) == 0 && t[1] == RTA_OIF &&
	   oif == 2, "route default v4: no RTA_DST, gateway and oif round-trip");

	r = (struct pv_route){ .scope = RT_SCOPE_LINK, .ifindex = 5 };
	pv_parse_cidr("fd00:1::/48", &r.dst);
	ok(pv_nlmsg_route(&m, &r) == 0, "route v6 link: built");
	ok(m.hdr.nlmsg_len == NLMSG_SPACE(sizeof(*rtm)) + RTA_SPACE(16) + RTA_SPACE(4),
	   "route v6 link: length %u", m.hdr.nlmsg_len);
	n = walk(&m, sizeof(*rtm), t, d, l, 8);
	ok(rtm->rtm_scope == RT_SCOPE_LINK && rtm->rtm_dst_len == 48 && n == 2 && t[0] == RTA_DST &&
	   memcmp(d[0], r.dst.addr, 16) == 0, "route v6 link: scope, dst round-trip");

	r.gateway = &gw;   /* an IPv4 gateway for an IPv6 destination */
	ok(pv_nlmsg_route(&m, &r) == -EAFNOSUPPORT, "route: gateway of another family refused");
}

static void test_link_msg(void)
{
	struct pv_nlmsg m;
	ok(pv_nlmsg_link(&m, 4, IFF_UP, IFF_UP, 1450, "eth0") == 0, "link: built");
	const struct ifinfomsg *ifi = NLMSG_DATA(&m.hdr);
	ok(ifi->ifi_index == 4 && ifi->ifi_flags == IFF_UP && ifi->ifi_change == IFF_UP,
	   "link: ifinfomsg");
	/* "eth0\0" is 5 bytes: its attribute is padded to 12. */
	ok(m.hdr.nlmsg_len == NLMSG_SPACE(sizeof(*ifi)) + RTA_SPACE(4) + RTA_SPACE(5) &&
	   m.hdr.nlmsg_len % NLMSG_ALIGNTO == 0, "link: length %u, aligned", m.hdr.nlmsg_len);
	unsigned short t[8], l[8];
	const void *d[8];
	int n = walk(&m, sizeof(*ifi), t, d, l, 8);
	uint32_t mtu = 0;
	if (n == 2)
		memcpy(&mtu, d[0], sizeof(mtu));
	ok(n == 2 && t[0] == IFLA_MTU && mtu == 1450 && t[1] == IFLA_IFNAME && l[1] == 5 &&
	   strcmp(d[1], "eth0") == 0, "link: mtu and name round-trip");
	ok(pv_nlmsg_link(&m, 4, 0, IFF_UP, 0, NULL) == 0 && m.hdr.nlmsg_len == NLMSG_SPACE(sizeof(*ifi)),
	   "link: down alone has no attributes");
}

static void test_alignment_and_overflow(void)
{
	struct pv_nlmsg m;
	pv_nlmsg_init(&m, RTM_NEWLINK, 0);
	pv_nlmsg_put(&m, 3);
	ok(m.hdr.nlmsg_len == NLMSG_HDRLEN + 4, "put: 3 bytes padded to 4");
	pv_nlmsg_attr(&m, 1, "abcde", 5);
	pv_nlmsg_attr(&m, 2, NULL, 0);
	ok(m.hdr.nlmsg_len == NLMSG_HDRLEN + 4 + RTA_SPACE(5) + RTA_SPACE(0),
	   "attr: odd payload padded, empty attribute allowed");
	char big[100] = { 0 };
	int r = 0, added = 0;
	while ((r = pv_nlmsg_attr(&m, 3, big, sizeof(big))) == 0)
		added++;
	ok(r == -ENOBUFS && m.overflow && m.hdr.nlmsg_len <= PV_NLMSG_MAX && added > 0,
	   "attr: -ENOBUFS when full, after %d, length %u", added, m.hdr.nlmsg_len);
	ok(pv_nlmsg_attr_u32(&m, 4, 1) == -ENOBUFS && pv_nlmsg_put(&m, 0) == NULL,
	   "attr: stays overflowed");
	ok(pv_nl_request(-1, &m) == -ENOBUFS, "request: overflowed message not sent");
	pv_nlmsg_init(&m, RTM_NEWLINK, 0);
	ok(pv_nlmsg_attr(&m, 1, big, 70000) == -ENOBUFS, "attr: payload over 64 KiB refused");
}

/* --- the whole RPC, in a network namespace of our own --- */

typedef Podvm__Agent__V1__NetInterface NetInterface;
typedef Podvm__Agent__V1__NetRoute NetRoute;
typedef Podvm__Agent__V1__NetworkConfig NetworkConfig;

static bool has_address(const char *ifname, int family, const char *addr)
{
	struct ifaddrs *all;
	uint8_t want[16];
	bool found = false;
	if (getifaddrs(&all) < 0 || inet_pton(family, addr, want) != 1)
		return false;
	for (struct ifaddrs *a = all; a && !found; a = a->ifa_next) {
		if (!a->ifa_addr || a->ifa_addr->sa_family != family || strcmp(a->ifa_name, ifname))
			continue;
		const void *p = family == AF_INET ? (void *)&((struct sockaddr_in *)a->ifa_addr)->sin_addr
						  : (void *)&((struct sockaddr_in6 *)a->ifa_addr)->sin6_addr;
		found = memcmp(p, want, pv_inet_len(family)) == 0;
	}
	freeifaddrs(all);
	return found;
}

/* Whether /proc/net/<file> (this namespace's) has a line containing all of a and b. */
static bool proc_net_has(const char *file, const char *a, const char *b)
{
	char path[64], line[512];
	snprintf(path, sizeof(path), "/proc/net/%s", file);
	FILE *f = fopen(path, "r");
	bool found = false;
	while (f && !found && fgets(line, sizeof(line), f))
		found = strstr(line, a) && strstr(line, b);
	if (f)
		fclose(f);
	return found;
}

static int link_ioctl(const char *name, unsigned long req, struct ifreq *ifr)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	snprintf(ifr->ifr_name, sizeof(ifr->ifr_name), "%s", name);
	int r = ioctl(fd, req, ifr);
	close(fd);
	return r;
}

/* r is the result of a call that must have failed with errnum and message msg. */
static void expect_error(int r, pv_error *err, int errnum, const char *msg)
{
	ok(r < 0 && *err && (*err)->errnum == errnum && strcmp(msg_of(*err), msg) == 0,
	   "netns: error \"%s\" (got %d, \"%s\")", msg, r, msg_of(*err));
	pv_error_release(err);
}

static int configure(NetInterface *ifc, NetRoute **routes, size_t n_routes, pv_error *err)
{
	NetworkConfig cfg = PODVM__AGENT__V1__NETWORK_CONFIG__INIT;
	cfg.n_interfaces = ifc ? 1 : 0;
	cfg.interfaces = &ifc;
	cfg.n_routes = n_routes;
	cfg.routes = routes;
	return network_configure(&cfg, err);
}

static void test_configure_in_netns(void)
{
	/* The loopback device of a fresh namespace: the only link there, MAC all zeroes, down. */
	char *addrs[] = { "10.77.0.2/24", "fd77::2/64" };
	NetInterface ifc = PODVM__AGENT__V1__NET_INTERFACE__INIT;
	ifc.mac = "00:00:00:00:00:00";
	ifc.name = "pvlo0";
	ifc.mtu = 1400;
	ifc.n_addresses = 2;
	ifc.addresses = addrs;
	/* The gateway route first: network_configure must put the connected one in before it. */
	NetRoute via = PODVM__AGENT__V1__NET_ROUTE__INIT, conn = PODVM__AGENT__V1__NET_ROUTE__INIT,
		 v6 = PODVM__AGENT__V1__NET_ROUTE__INIT;
	via.destination = "10.78.0.0/16", via.gateway = "10.79.0.1", via.interface_mac = ifc.mac;
	conn.destination = "10.79.0.0/24", conn.interface_mac = ifc.mac, conn.scope = RT_SCOPE_LINK;
	v6.destination = "fd78::/64", v6.interface_mac = ifc.mac, v6.ipv6 = true;
	NetRoute *routes[] = { &via, &conn, &v6 };

	pv_error err = NULL;
	int r = configure(&ifc, routes, 3, &err);
	ok(r == 0, "netns: configure: %s", r == 0 ? "ok" : msg_of(err));
	pv_error_release(&err);
	struct ifreq ifr = { 0 };
	ok(if_nametoindex("pvlo0") != 0 && if_nametoindex("lo") == 0, "netns: renamed lo to pvlo0");
	ok(link_ioctl("pvlo0", SIOCGIFMTU, &ifr) == 0 && ifr.ifr_mtu == 1400, "netns: mtu 1400");
	ok(link_ioctl("pvlo0", SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags & IFF_UP), "netns: up");
	ok(has_address("pvlo0", AF_INET, "10.77.0.2") && has_address("pvlo0", AF_INET6, "fd77::2"),
	   "netns: both addresses");
	/* /proc/net/route prints addresses as little-endian hex words. */
	ok(proc_net_has("route", "pvlo0\t00004E0A\t01004F0A", "0000FFFF"), "netns: 10.78.0.0/16 via 10.79.0.1");
	ok(proc_net_has("route", "pvlo0\t00004F0A\t00000000", "00FFFFFF"), "netns: 10.79.0.0/24 connected");
	ok(proc_net_has("ipv6_route", "fd780000000000000000000000000000 40", "pvlo0"), "netns: fd78::/64");

	r = configure(&ifc, routes, 3, &err);
	ok(r == 0, "netns: configure again (existing addresses and routes): %s", r == 0 ? "ok" : msg_of(err));
	pv_error_release(&err);

	ifc.mac = "02:00:00:00:00:99";
	expect_error(configure(&ifc, NULL, 0, &err), &err, ENODEV, "NIC 02:00:00:00:00:99: not found");
	ifc.mac = "00:00:00:00:00";
	expect_error(configure(&ifc, NULL, 0, &err), &err, EINVAL,
		     "MAC \"00:00:00:00:00\": not a MAC address");
	ifc.mac = "00:00:00:00:00:00";
	char *bad_addr[] = { "10.77.0.3" };
	ifc.addresses = bad_addr, ifc.n_addresses = 1;
	expect_error(configure(&ifc, NULL, 0, &err), &err, EINVAL, "pvlo0: address \"10.77.0.3\": not a CIDR");

	NetRoute far = PODVM__AGENT__V1__NET_ROUTE__INIT;
	far.destination = "10.99.0.0/16", far.gateway = "192.0.2.1", far.interface_mac = ifc.mac;
	NetRoute *bad_routes[] = { &far };
	r = configure(NULL, bad_routes, 1, &err);
	ok(r < 0 && strncmp(msg_of(err), "route 10.99.0.0/16 via 192.0.2.1 dev 00:00:00:00:00:00: ", 56) == 0,
	   "netns: unreachable gateway: %s", msg_of(err));
	pv_error_release(&err);
	far.gateway = "fd77::1";
	expect_error(configure(NULL, bad_routes, 1, &err), &err, EINVAL,
		     "route 10.99.0.0/16 via fd77::1 dev 00:00:00:00:00:00: gateway of another address family");
	far.gateway = "", far.interface_mac = "02:00:00:00:00:99";
	expect_error(configure(NULL, bad_routes, 1, &err), &err, ENODEV,
		     "route 10.99.0.0/16 dev 02:00:00:00:00:99: NIC 02:00:00:00:00:99: not found");
}

static bool link_mac_is(const char *name, const char *mac)
{
	struct ifreq ifr = { 0 };
	char s[18];
	if (link_ioctl(name, SIOCGIFHWADDR, &ifr) < 0)
		return false;
	const unsigned char *m = (const unsigned char *)ifr.ifr_hwaddr.sa_data;
	snprintf(s, sizeof(s), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
	return strcmp(s, mac) == 0;
}

static bool link_up(const char *name)
{
	struct ifreq ifr = { 0 };
	return link_ioctl(name, SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags & IFF_UP);
}

/* AdoptIdentity with a MAC change and a network, rehearsed (applied, then undone) or not;
 * no seed, clock or hostname, which would reach beyond the namespace. */
static int adopt(bool rehearse, pv_error *err)
{
	char *addrs[] = { "192.0.2.2/24" };
	NetInterface ifc = PODVM__AGENT__V1__NET_INTERFACE__INIT, *ifcs[] = { &ifc };
	ifc.mac = "02:70:76:00:00:02", ifc.mtu = 1400, ifc.n_addresses = 1, ifc.addresses = addrs;
	NetRoute dflt = PODVM__AGENT__V1__NET_ROUTE__INIT, *routes[] = { &dflt };
	dflt.gateway = "192.0.2.1", dflt.interface_mac = ifc.mac;
	NetworkConfig cfg = PODVM__AGENT__V1__NETWORK_CONFIG__INIT;
	cfg.n_interfaces = 1, cfg.interfaces = ifcs, cfg.n_routes = 1, cfg.routes = routes;
	Podvm__Agent__V1__MacChange nic = PODVM__AGENT__V1__MAC_CHANGE__INIT, *nics[] = { &nic };
	nic.from_mac = "02:70:76:00:00:01", nic.to_mac = ifc.mac;
	Podvm__Agent__V1__IdentityRequest req = PODVM__AGENT__V1__IDENTITY_REQUEST__INIT;
	req.hostname = "", req.n_nics = 1, req.nics = nics, req.network = &cfg, req.rehearse_network = rehearse;
	return identity_adopt(&req, err);
}

static void test_rehearsal_in_netns(void)
{
	if (system("ip link add pvrh0 address 02:70:76:00:00:01 type veth peer name pvrh1 2>/dev/null") != 0) {
		printf("ok %d # SKIP rehearsal: no veth in this namespace\n", ++tap_run);
		return;
	}
	pv_error err = NULL;
	int r = adopt(true, &err);
	ok(r == 0, "rehearsal: applied and undone: %s", r == 0 ? "ok" : msg_of(err));
	pv_error_release(&err);
	ok(link_mac_is("pvrh0", "02:70:76:00:00:01"), "rehearsal: the MAC is back to the template's");
	ok(!link_up("pvrh0"), "rehearsal: the link is down again");
	ok(!has_address("pvrh0", AF_INET, "192.0.2.2"), "rehearsal: its address is gone");
	ok(!proc_net_has("route", "pvrh0", "pvrh0"), "rehearsal: no route through it left (/proc/net/route)");
	r = adopt(false, &err);
	ok(r == 0, "after a rehearsal, the same identity for real: %s", r == 0 ? "ok" : msg_of(err));
	pv_error_release(&err);
	ok(link_mac_is("pvrh0", "02:70:76:00:00:02") && link_up("pvrh0") && has_address("pvrh0", AF_INET, "192.0.2.2"),
	   "for real: the new MAC, up, its address");
	ok(proc_net_has("route", "pvrh0\t00000000\t010200C0", "00000000"), "for real: the default route via 192.0.2.1");
}

int main(void)
{
	test_cidr();
	test_addr_msg();
	test_route_msg();
	test_link_msg();
	test_alignment_and_overflow();
	if (unshare(CLONE_NEWNET) == 0) {
		test_configure_in_netns();
		test_rehearsal_in_netns();
	} else
		printf("ok %d # SKIP network namespace: unshare: %s\n", ++tap_run, strerror(errno));
	return done_testing();
}
