/* A small rtnetlink client for the guest agent: a bounds-checked message builder, CIDR and
 * address parsing, and one request/acknowledge exchange. The agent is linked statically and
 * Debian ships no static libmnl, so this speaks the kernel's wire format (<linux/netlink.h>,
 * <linux/rtnetlink.h>) directly. Everything but pv_nl_open/pv_nl_request is pure and is
 * unit-tested on the host (tests/unit/test_agent_network.c). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "error.h"

/* An IPv4 or IPv6 address with a prefix length ("10.88.0.5/16", "fd00::5/64"). */
struct pv_inet_prefix {
	int family;            /* AF_INET or AF_INET6 */
	uint8_t addr[16];      /* network byte order; the first pv_inet_len(family) bytes */
	unsigned prefix_len;   /* 0..32 or 0..128 */
};

/* Bytes of an address of family (4 or 16), 0 for any other family. */
size_t pv_inet_len(int family);
/* Parses "ADDR/LEN". Returns 0, or -EINVAL for a bad address, a missing or out-of-range
 * prefix length, or trailing text. */
int pv_parse_cidr(const char *s, struct pv_inet_prefix *out);
/* Parses a plain address (no "/LEN"); prefix_len is set to the full length. */
int pv_parse_inet(const char *s, struct pv_inet_prefix *out);

/* Big enough for any request the agent sends: a header and a few short attributes. */
#define PV_NLMSG_MAX 512

/* One request being built. The message starts at buf and is hdr()->nlmsg_len long; once an
 * append does not fit, the message is marked overflowed and every later append fails too,
 * so a caller may check only the last result. */
struct pv_nlmsg {
	bool overflow;
	union {
		struct nlmsghdr hdr;
		uint8_t buf[PV_NLMSG_MAX];
	};
};

/* Starts a message of type with flags (NLM_F_REQUEST|NLM_F_ACK are always added). */
void pv_nlmsg_init(struct pv_nlmsg *m, uint16_t type, uint16_t flags);
/* Appends len zeroed bytes (the family header: ifinfomsg, ifaddrmsg, rtmsg) at the next
 * aligned offset and returns them, or NULL when they do not fit. */
void *pv_nlmsg_put(struct pv_nlmsg *m, size_t len);
/* Appends an rtattr of type carrying len bytes of data. Returns 0 or -ENOBUFS. */
int pv_nlmsg_attr(struct pv_nlmsg *m, uint16_t type, const void *data, size_t len);
int pv_nlmsg_attr_u32(struct pv_nlmsg *m, uint16_t type, uint32_t v);
/* A NUL-terminated string attribute (IFLA_IFNAME). */
int pv_nlmsg_attr_str(struct pv_nlmsg *m, uint16_t type, const char *s);

/* Requests built from parts, ready to send. flags adds NLM_F_CREATE etc. */
int pv_nlmsg_link(struct pv_nlmsg *m, int ifindex, unsigned ifflags, unsigned ifchange,
		  uint32_t mtu, const char *name);
/* RTM_NEWADDR (a new address: an existing one is EEXIST) or RTM_DELADDR. */
int pv_nlmsg_addr(struct pv_nlmsg *m, uint16_t type, int ifindex, const struct pv_inet_prefix *addr);

/* A route in the main table; dst->prefix_len 0 is the default route of dst->family. */
struct pv_route {
	struct pv_inet_prefix dst;
	const struct pv_inet_prefix *gateway;   /* NULL: directly connected */
	int ifindex;                            /* 0: let the kernel choose */
	uint8_t scope;                          /* RT_SCOPE_UNIVERSE, RT_SCOPE_LINK */
};
int pv_nlmsg_route(struct pv_nlmsg *m, const struct pv_route *r);

/* An AF_NETLINK/NETLINK_ROUTE socket, or -errno. */
int pv_nl_open(pv_error *err);
/* Sends m (with a fresh sequence number) and reads the kernel's acknowledgement. Returns 0,
 * or the -errno the kernel answered with; on a socket failure, also -errno. Does not fill an
 * error: the caller knows what the request was about and names it. */
int pv_nl_request(int fd, struct pv_nlmsg *m);
