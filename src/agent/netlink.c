#include "netlink.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/if_addr.h>

size_t pv_inet_len(int family)
{
	return family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
}

int pv_parse_inet(const char *s, struct pv_inet_prefix *out)
{
	memset(out, 0, sizeof(*out));
	/* An IPv4 address never has a ':', an IPv6 one always does. */
	out->family = strchr(s, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(out->family, s, out->addr) != 1)
		return -EINVAL;
	out->prefix_len = (unsigned)pv_inet_len(out->family) * 8;
	return 0;
}

/* A prefix length: decimal digits only (strtoul alone would take " +5" and "-1"). */
static int parse_prefix_len(const char *s, unsigned max, unsigned *out)
{
	if (!isdigit((unsigned char)s[0]) || strlen(s) > 3)
		return -EINVAL;
	char *end;
	unsigned long v = strtoul(s, &end, 10);
	if (*end != '\0' || v > max)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

int pv_parse_cidr(const char *s, struct pv_inet_prefix *out)
{
	char addr[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	if (slash == NULL || (size_t)(slash - s) >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = '\0';
	if (pv_parse_inet(addr, out) < 0)
		return -EINVAL;
	return parse_prefix_len(slash + 1, out->prefix_len, &out->prefix_len);
}

void pv_nlmsg_init(struct pv_nlmsg *m, uint16_t type, uint16_t flags)
{
	memset(m, 0, sizeof(*m));
	m->hdr.nlmsg_len = NLMSG_HDRLEN;
	m->hdr.nlmsg_type = type;
	m->hdr.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
}

/* Reserves len bytes at the aligned end of the message (padding included), or NULL. */
static void *reserve(struct pv_nlmsg *m, size_t len)
{
	size_t off = NLMSG_ALIGN(m->hdr.nlmsg_len);
	if (m->overflow || len > sizeof(m->buf) - off || NLMSG_ALIGN(len) > sizeof(m->buf) - off) {
		m->overflow = true;
		return NULL;
	}
	m->hdr.nlmsg_len = (uint32_t)(off + NLMSG_ALIGN(len));
	return m->buf + off;
}

void *pv_nlmsg_put(struct pv_nlmsg *m, size_t len)
{
	return reserve(m, len);   /* the buffer was zeroed by pv_nlmsg_init */
}

int pv_nlmsg_attr(struct pv_nlmsg *m, uint16_t type, const void *data, size_t len)
{
	if (len > UINT16_MAX - RTA_LENGTH(0))
		m->overflow = true;
	struct rtattr *rta = reserve(m, RTA_LENGTH(len));
	if (rta == NULL)
		return -ENOBUFS;
	rta->rta_type = type;
	rta->rta_len = (uint16_t)RTA_LENGTH(len);
	if (len)
		memcpy(RTA_DATA(rta), data, len);
	return 0;
}

int pv_nlmsg_attr_u32(struct pv_nlmsg *m, uint16_t type, uint32_t v)
{
	return pv_nlmsg_attr(m, type, &v, sizeof(v));
}

int pv_nlmsg_attr_str(struct pv_nlmsg *m, uint16_t type, const char *s)
{
	return pv_nlmsg_attr(m, type, s, strlen(s) + 1);
}

/* Changes the link ifindex: the ifflags bits selected by ifchange, then the MTU and name
 * when given (mtu 0 and name NULL leave them). */
int pv_nlmsg_link(struct pv_nlmsg *m, int ifindex, unsigned ifflags, unsigned ifchange,
		  uint32_t mtu, const char *name)
{
	pv_nlmsg_init(m, RTM_NEWLINK, 0);
	struct ifinfomsg *ifi = pv_nlmsg_put(m, sizeof(*ifi));
	if (ifi == NULL)
		return -ENOBUFS;
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	ifi->ifi_flags = ifflags;
	ifi->ifi_change = ifchange;
	if (mtu && pv_nlmsg_attr_u32(m, IFLA_MTU, mtu) < 0)
		return -ENOBUFS;
	if (name && pv_nlmsg_attr_str(m, IFLA_IFNAME, name) < 0)
		return -ENOBUFS;
	return 0;
}

int pv_nlmsg_addr(struct pv_nlmsg *m, uint16_t type, int ifindex, const struct pv_inet_prefix *addr)
{
	size_t alen = pv_inet_len(addr->family);
	if (alen == 0)
		return -EAFNOSUPPORT;
	pv_nlmsg_init(m, type, type == RTM_NEWADDR ? NLM_F_CREATE | NLM_F_EXCL : 0);
	struct ifaddrmsg *ifa = pv_nlmsg_put(m, sizeof(*ifa));
	if (ifa == NULL)
		return -ENOBUFS;
	ifa->ifa_family = (uint8_t)addr->family;
	ifa->ifa_prefixlen = (uint8_t)addr->prefix_len;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = (uint32_t)ifindex;
	/* Skip duplicate address detection: the address is the pod's own, handed out by the
	 * host's IPAM, and the container must be able to bind it the moment it starts. */
	if (addr->family == AF_INET6)
		ifa->ifa_flags = IFA_F_NODAD;
	/* IFA_LOCAL is the address itself; IFA_ADDRESS the peer, the same on broadcast links. */
	pv_nlmsg_attr(m, IFA_LOCAL, addr->addr, alen);
	return pv_nlmsg_attr(m, IFA_ADDRESS, addr->addr, alen);
}

int pv_nlmsg_route(struct pv_nlmsg *m, const struct pv_route *r)
{
	size_t alen = pv_inet_len(r->dst.family);
	if (alen == 0 || (r->gateway && r->gateway->family != r->dst.family))
		return -EAFNOSUPPORT;
	pv_nlmsg_init(m, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
	struct rtmsg *rtm = pv_nlmsg_put(m, sizeof(*rtm));
	if (rtm == NULL)
		return -ENOBUFS;
	rtm->rtm_family = (uint8_t)r->dst.family;
	rtm->rtm_dst_len = (uint8_t)r->dst.prefix_len;
	rtm->rtm_table = RT_TABLE_MAIN;
	rtm->rtm_protocol = RTPROT_BOOT;
	rtm->rtm_scope = r->scope;
	rtm->rtm_type = RTN_UNICAST;
	if (r->dst.prefix_len)
		pv_nlmsg_attr(m, RTA_DST, r->dst.addr, alen);
	if (r->gateway)
		pv_nlmsg_attr(m, RTA_GATEWAY, r->gateway->addr, alen);
	if (r->ifindex)
		pv_nlmsg_attr_u32(m, RTA_OIF, (uint32_t)r->ifindex);
	return m->overflow ? -ENOBUFS : 0;
}

int pv_nl_open(pv_error *err)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return pv_error_set(err, errno, "netlink socket");
	/* Acks need not echo the request back: keeps every answer small. */
	int one = 1;
	setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	return fd;
}

/* NLMSG_OK without its comparison of the unsigned nlmsg_len with the signed n (which clang
 * warns about); n goes negative when NLMSG_NEXT steps past the end. */
static bool nlmsg_ok(const struct nlmsghdr *h, int n)
{
	return n >= (int)sizeof(*h) && h->nlmsg_len >= sizeof(*h) && h->nlmsg_len <= (unsigned)n;
}

/* The answer to seq in the len bytes of buf: 1 (not in this datagram), 0, or -errno. */
static int find_ack(const uint8_t *buf, size_t len, uint32_t seq)
{
	int n = (int)len;
	for (const struct nlmsghdr *h = (const void *)buf; nlmsg_ok(h, n); h = NLMSG_NEXT(h, n)) {
		if (h->nlmsg_seq != seq)
			continue;   /* a late answer to an earlier request */
		if (h->nlmsg_type != NLMSG_ERROR)
			continue;
		if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr)))
			return -EBADMSG;
		const struct nlmsgerr *e = NLMSG_DATA(h);
		return e->error <= 0 ? e->error : -EBADMSG;
	}
	return 1;
}

int pv_nl_request(int fd, struct pv_nlmsg *m)
{
	static atomic_uint next_seq = 1;
	if (m->overflow)
		return -ENOBUFS;
	m->hdr.nlmsg_seq = atomic_fetch_add(&next_seq, 1);
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	ssize_t n;
	do
		n = sendto(fd, m->buf, m->hdr.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (;;) {
		_Alignas(struct nlmsghdr) uint8_t buf[8192];
		n = recv(fd, buf, sizeof(buf), MSG_TRUNC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if ((size_t)n > sizeof(buf))
			return -EMSGSIZE;
		int r = find_ack(buf, (size_t)n, m->hdr.nlmsg_seq);
		if (r <= 0)
			return r;
	}
}
