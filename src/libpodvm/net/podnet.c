#include "podnet.h"
#include "cleanup.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <net/if.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/rtnetlink.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- reading the namespace over rtnetlink (libmnl) ---- */

typedef int (*dump_cb)(const struct nlmsghdr *nlh, void *data);

static int rtnl_dump(int type, int family, dump_cb cb, void *data, pv_error *err)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct mnl_socket *nl = mnl_socket_open(NETLINK_ROUTE);
	if (nl == NULL || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		int e = errno;
		if (nl)
			mnl_socket_close(nl);
		return pv_error_set(err, e, "netlink");
	}
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = (uint16_t)type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = (uint32_t)time(NULL);
	struct rtgenmsg *g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->rtgen_family = (unsigned char)family;
	unsigned seq = nlh->nlmsg_seq, portid = mnl_socket_get_portid(nl);
	int r = mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0 ? -1 : MNL_CB_OK;
	while (r > MNL_CB_STOP) {
		ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (n <= 0) {
			r = -1;
			break;
		}
		r = mnl_cb_run(buf, (size_t)n, seq, portid, (mnl_cb_t)cb, data);
	}
	int e = errno;
	mnl_socket_close(nl);
	return r < 0 ? pv_error_set(err, e, "netlink dump") : 0;
}

struct attrs {
	const struct nlattr *tb[64];
};

static int collect_attr(const struct nlattr *a, void *data)
{
	struct attrs *at = data;
	int type = mnl_attr_get_type(a);
	if (type < 64)
		at->tb[type] = a;
	return MNL_CB_OK;
}

struct link_scan {
	struct pv_pod_net *net;
	int ifindex;
};

/* The first non-loopback interface with a MAC: CNI's veth end (eth0). */
static int on_link(const struct nlmsghdr *nlh, void *data)
{
	struct link_scan *s = data;
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
	struct attrs at = { 0 };
	mnl_attr_parse(nlh, sizeof(*ifi), collect_attr, &at);
	if (s->ifindex || (ifi->ifi_flags & IFF_LOOPBACK) || !at.tb[IFLA_ADDRESS] || !at.tb[IFLA_IFNAME] ||
	    mnl_attr_get_payload_len(at.tb[IFLA_ADDRESS]) != 6)
		return MNL_CB_OK;
	const unsigned char *m = mnl_attr_get_payload(at.tb[IFLA_ADDRESS]);
	snprintf(s->net->mac, sizeof(s->net->mac), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
	snprintf(s->net->veth, sizeof(s->net->veth), "%s", mnl_attr_get_str(at.tb[IFLA_IFNAME]));
	s->net->mtu = at.tb[IFLA_MTU] ? mnl_attr_get_u32(at.tb[IFLA_MTU]) : 1500;
	s->ifindex = ifi->ifi_index;
	return MNL_CB_OK;
}

static int on_addr(const struct nlmsghdr *nlh, void *data)
{
	struct link_scan *s = data;
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	struct attrs at = { 0 };
	mnl_attr_parse(nlh, sizeof(*ifa), collect_attr, &at);
	const struct nlattr *a = at.tb[IFA_ADDRESS] ? at.tb[IFA_ADDRESS] : at.tb[IFA_LOCAL];
	if ((int)ifa->ifa_index != s->ifindex || ifa->ifa_scope != RT_SCOPE_UNIVERSE || a == NULL)
		return MNL_CB_OK;  /* link-local addresses the guest makes itself */
	char ip[INET6_ADDRSTRLEN], cidr[INET6_ADDRSTRLEN + 8];
	inet_ntop(ifa->ifa_family, mnl_attr_get_payload(a), ip, sizeof(ip));
	snprintf(cidr, sizeof(cidr), "%s/%u", ip, ifa->ifa_prefixlen);
	return pv_strv_push(&s->net->addresses, cidr) < 0 ? MNL_CB_ERROR : MNL_CB_OK;
}

static int add_route(struct pv_pod_net *net, const char *dst, const char *gw, unsigned scope, bool v6)
{
	struct pv_net_route *nr = realloc(net->routes, (net->n_routes + 1) * sizeof(*nr));
	if (nr == NULL)
		return -ENOMEM;
	net->routes = nr;
	nr[net->n_routes] = (struct pv_net_route){ strdup(dst), strdup(gw), scope, v6 };
	if (!nr[net->n_routes].destination || !nr[net->n_routes].gateway)
		return -ENOMEM;
	net->n_routes++;
	return 0;
}

static int on_route(const struct nlmsghdr *nlh, void *data)
{
	struct link_scan *s = data;
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	struct attrs at = { 0 };
	mnl_attr_parse(nlh, sizeof(*rtm), collect_attr, &at);
	if (rtm->rtm_table != RT_TABLE_MAIN || rtm->rtm_type != RTN_UNICAST || !at.tb[RTA_OIF] ||
	    (int)mnl_attr_get_u32(at.tb[RTA_OIF]) != s->ifindex)
		return MNL_CB_OK;
	char dst[INET6_ADDRSTRLEN + 8] = "", gw[INET6_ADDRSTRLEN] = "", ip[INET6_ADDRSTRLEN];
	if (at.tb[RTA_DST]) {
		inet_ntop(rtm->rtm_family, mnl_attr_get_payload(at.tb[RTA_DST]), ip, sizeof(ip));
		snprintf(dst, sizeof(dst), "%s/%u", ip, rtm->rtm_dst_len);
	}
	if (at.tb[RTA_GATEWAY])
		inet_ntop(rtm->rtm_family, mnl_attr_get_payload(at.tb[RTA_GATEWAY]), gw, sizeof(gw));
	if (rtm->rtm_family == AF_INET6 && strncmp(dst, "fe80:", 5) == 0)
		return MNL_CB_OK;  /* the guest's own link-local route */
	return add_route(s->net, dst, gw, rtm->rtm_scope, rtm->rtm_family == AF_INET6) < 0 ? MNL_CB_ERROR : MNL_CB_OK;
}

static int read_namespace(struct pv_pod_net *net, pv_error *err)
{
	struct link_scan s = { net, 0 };
	if (rtnl_dump(RTM_GETLINK, AF_UNSPEC, on_link, &s, err) < 0)
		return -1;
	if (s.ifindex == 0)
		return pv_error_set_plain(err, ENODEV, "network namespace %s: no interface besides lo", net->netns_path);
	if (rtnl_dump(RTM_GETADDR, AF_UNSPEC, on_addr, &s, err) < 0 ||
	    rtnl_dump(RTM_GETROUTE, AF_INET, on_route, &s, err) < 0 ||
	    rtnl_dump(RTM_GETROUTE, AF_INET6, on_route, &s, err) < 0)
		return -1;
	return 0;
}

/* ---- tap and redirects ---- */

static int set_up(const char *name, unsigned mtu, pv_error *err)
{
	struct ifreq ifr = { 0 };
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	_cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ifr.ifr_mtu = (int)mtu;
	if (s < 0 || (mtu && ioctl(s, SIOCSIFMTU, &ifr) < 0) || ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return pv_error_set(err, errno, "set up tap %s", name);
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		return pv_error_set(err, errno, "set up tap %s", name);
	return 0;
}

int pv_tap_open(const char *name, int *fd, pv_error *err)
{
	int tfd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (tfd < 0)
		return pv_error_set(err, errno, "open /dev/net/tun");
	struct ifreq ifr = { 0 };
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	if (ioctl(tfd, TUNSETIFF, &ifr) < 0) {
		int e = errno;
		close(tfd);
		return pv_error_set(err, e, "create tap %s", name);
	}
	*fd = tfd;
	return 0;
}

static int create_tap(struct pv_pod_net *net, pv_error *err)
{
	int fd;
	if (pv_tap_open(PV_NET_TAP_NAME, &fd, err) < 0)
		return -1;
	if (set_up(PV_NET_TAP_NAME, net->mtu, err) < 0) {
		close(fd);
		return -1;
	}
	net->tap_fd = fd;
	return 0;
}

/* RTM_NEWLINK on an existing link: into the namespace netns_fd, renamed there. */
static int move_link(const char *name, int netns_fd, const char *new_name, pv_error *err)
{
	unsigned index = if_nametoindex(name);
	if (index == 0)
		return pv_error_set(err, errno, "tap %s", name);
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_NEWLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = (uint32_t)time(NULL);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = (int)index;
	mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)netns_fd);
	mnl_attr_put_strz(nlh, IFLA_IFNAME, new_name);
	struct mnl_socket *nl = mnl_socket_open(NETLINK_ROUTE);
	int r = nl && mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) == 0 && mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) >= 0 ? 0 : -1;
	if (r == 0) {
		ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		r = n < 0 ? -1 : mnl_cb_run(buf, (size_t)n, nlh->nlmsg_seq, mnl_socket_get_portid(nl), NULL, NULL);
	}
	int e = errno;
	if (nl)
		mnl_socket_close(nl);
	return r < 0 ? pv_error_set(err, e, "move tap %s into the pod's network namespace", name) : 0;
}

/* tc from iproute2, run in this thread's (the pod's) network namespace; `tc -batch` takes
 * several commands in one process. */
static int run_tc_batch(const char *commands, pv_error *err)
{
	int in[2];
	if (pipe2(in, O_CLOEXEC) < 0)
		return pv_error_set(err, errno, "pipe");
	pid_t pid = fork();
	if (pid < 0) {
		close(in[0]);
		close(in[1]);
		return pv_error_set(err, errno, "fork tc");
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(in[0], 0);
		dup2(null, 1);
		execlp("tc", "tc", "-batch", "-", (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	ssize_t w = pv_write_all(in[1], commands, strlen(commands));
	close(in[1]);
	int st;
	if (waitpid(pid, &st, 0) < 0 || w < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return pv_error_set_plain(err, EIO, "tc -batch (%.*s...): failed (status %d)", (int)strcspn(commands, "\n"),
					  commands, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	return 0;
}

/* Ingress of each end mirrored to the other's egress. */
static int redirect_both_ways(const char *veth, const char *tap, pv_error *err)
{
	_cleanup_free_ char *cmds = NULL;
	const char *fmt = "qdisc add dev %1$s ingress\n"
			  "filter add dev %1$s parent ffff: protocol all u32 match u8 0 0 action mirred egress redirect dev %2$s\n"
			  "qdisc add dev %2$s ingress\n"
			  "filter add dev %2$s parent ffff: protocol all u32 match u8 0 0 action mirred egress redirect dev %1$s\n";
	if (asprintf(&cmds, fmt, veth, tap) < 0)
		return pv_error_set(err, ENOMEM, "tc");
	return run_tc_batch(cmds, err);
}

static void remove_redirects(const char *veth)
{
	_cleanup_free_ char *cmd = NULL;
	if (asprintf(&cmd, "qdisc del dev %s ingress\n", veth) >= 0)
		(void)run_tc_batch(cmd, NULL);
}

/* ---- in the namespace ---- */

struct ns_job {
	struct pv_pod_net *net;
	enum { JOB_READ, JOB_WIRE, JOB_UNWIRE } what;
	char adopt[IF_NAMESIZE];  /* JOB_WIRE: a tap to move in first, or "" to create one */
	pthread_t thread;
	int result;
	pv_error err;
};

static int adopt_tap(struct pv_pod_net *net, const char *tap, pv_error *err)
{
	_cleanup_close_ int ns = open(net->netns_path, O_RDONLY | O_CLOEXEC);
	if (ns < 0)
		return pv_error_set(err, errno, "network namespace %s", net->netns_path);
	return move_link(tap, ns, PV_NET_TAP_NAME, err);
}

static int wire_here(struct pv_pod_net *net, bool adopted, pv_error *err)
{
	if (adopted ? set_up(PV_NET_TAP_NAME, net->mtu, err) < 0 : create_tap(net, err) < 0)
		return -1;
	if (redirect_both_ways(net->veth, PV_NET_TAP_NAME, err) < 0) {
		remove_redirects(net->veth);
		if (net->tap_fd >= 0)
			close(net->tap_fd);
		net->tap_fd = -1;
		return -1;
	}
	return 0;
}

static int do_job(struct ns_job *job)
{
	switch (job->what) {
	case JOB_READ:
		return read_namespace(job->net, &job->err);
	case JOB_WIRE:
		return wire_here(job->net, job->adopt[0] != '\0', &job->err);
	case JOB_UNWIRE:
		remove_redirects(job->net->veth);
		return 0;
	}
	return -1;
}

/* setns() moves only the calling thread: do the namespace's work in a thread of its own.
 * A tap to adopt is moved in from the caller's namespace first. */
static void *ns_thread(void *arg)
{
	struct ns_job *job = arg;
	if (job->adopt[0] && (job->result = adopt_tap(job->net, job->adopt, &job->err)) < 0)
		return NULL;
	_cleanup_close_ int fd = open(job->net->netns_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) {
		job->result = pv_error_set(&job->err, errno, "network namespace %s", job->net->netns_path);
		return NULL;
	}
	job->result = do_job(job);
	return NULL;
}

static struct ns_job *job_begin(struct pv_pod_net *net, int what, const char *adopt, pv_error *err)
{
	struct ns_job *job = calloc(1, sizeof(*job));
	if (job == NULL) {
		pv_error_set(err, ENOMEM, "network");
		return NULL;
	}
	*job = (struct ns_job){ .net = net, .what = what };
	snprintf(job->adopt, sizeof(job->adopt), "%s", adopt ? adopt : "");
	int r = pthread_create(&job->thread, NULL, ns_thread, job);
	if (r != 0) {
		free(job);
		pv_error_set(err, r, "network thread");
		return NULL;
	}
	return job;
}

static int job_end(struct ns_job *job, pv_error *err)
{
	pthread_join(job->thread, NULL);
	int r = job->result;
	if (r < 0 && err && *err == NULL)
		*err = job->err;
	else
		pv_error_release(&job->err);
	free(job);
	return r;
}

static int in_namespace(struct pv_pod_net *net, int what, const char *adopt, pv_error *err)
{
	struct ns_job *job = job_begin(net, what, adopt, err);
	return job ? job_end(job, err) : -1;
}

static void clear(struct pv_pod_net *net)
{
	free(net->netns_path);
	pv_strv_free(net->addresses);
	for (size_t i = 0; i < net->n_routes; i++) {
		free(net->routes[i].destination);
		free(net->routes[i].gateway);
	}
	free(net->routes);
	memset(net, 0, sizeof(*net));
	net->tap_fd = -1;
}

int pv_pod_net_read(const char *netns_path, struct pv_pod_net *net, pv_error *err)
{
	memset(net, 0, sizeof(*net));
	net->tap_fd = -1;
	net->netns_path = strdup(netns_path);
	if (net->netns_path == NULL)
		return pv_error_set(err, ENOMEM, "network");
	if (in_namespace(net, JOB_READ, NULL, err) < 0) {
		clear(net);
		return -1;
	}
	return 0;
}

int pv_pod_net_wire_begin(struct pv_pod_net *net, const char *adopt, pv_error *err)
{
	net->wiring = job_begin(net, JOB_WIRE, adopt, err);
	return net->wiring ? 0 : -1;
}

int pv_pod_net_wire_end(struct pv_pod_net *net, pv_error *err)
{
	if (net->wiring == NULL)
		return 0;
	int r = job_end(net->wiring, err);
	net->wiring = NULL;
	net->wired = r == 0;
	return r;
}

int pv_pod_net_wire(struct pv_pod_net *net, const char *adopt, pv_error *err)
{
	if (pv_pod_net_wire_begin(net, adopt, err) < 0)
		return -1;
	return pv_pod_net_wire_end(net, err);
}

int pv_pod_net_attach(const char *netns_path, struct pv_pod_net *net, pv_error *err)
{
	if (pv_pod_net_read(netns_path, net, err) < 0)
		return -1;
	if (pv_pod_net_wire(net, NULL, err) < 0) {
		clear(net);
		return -1;
	}
	return 0;
}

void pv_pod_net_unwire(struct pv_pod_net *net)
{
	(void)pv_pod_net_wire_end(net, NULL);
	if (net->wired)
		(void)in_namespace(net, JOB_UNWIRE, NULL, NULL);
	net->wired = false;
	if (net->tap_fd >= 0)
		close(net->tap_fd);
	net->tap_fd = -1;
}

void pv_pod_net_detach(struct pv_pod_net *net)
{
	pv_pod_net_unwire(net);  /* a new tap goes with its last fd (QEMU's too) */
	clear(net);
}
