#include "portfwd.h"
#include "agent_client.h"
#include "cleanup.h"
#include "hostcaps.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* linux/netfilter_ipv4.h SO_ORIGINAL_DST and linux/netfilter_ipv6/ip6_tables.h
 * IP6T_SO_ORIGINAL_DST: the destination a REDIRECT rewrote. */
#define ORIGINAL_DST 80

struct conn {
	struct portfwd *f;
	int fd;
	uint32_t id;     /* the guest's connection, once connected */
	bool connected;
	struct conn *next;
};

struct portfwd {
	struct ttrpc_client *agent;
	int netns_fd;
	int listen_fd[2];  /* 127.0.0.1, ::1 */
	int wake_fd;       /* eventfd: stop */
	int go_fd;         /* eventfd: the pod's start is over (portfwd_pod_started) */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t idle;
	struct conn *conns;
	int active;        /* connection threads alive */
};

/* ---- one connection ---- */

static int original_port(int fd, bool v6, unsigned *port)
{
	struct sockaddr_in6 sa6;
	struct sockaddr_in sa4;
	socklen_t len = v6 ? sizeof(sa6) : sizeof(sa4);
	if (getsockopt(fd, v6 ? SOL_IPV6 : SOL_IP, ORIGINAL_DST, v6 ? (void *)&sa6 : (void *)&sa4, &len) < 0)
		return -errno;
	*port = ntohs(v6 ? sa6.sin6_port : sa4.sin_port);
	return 0;
}

/* The guest's bytes to the client; the guest's FIN becomes the client's. */
static void *copy_down(void *arg)
{
	struct conn *c = arg;
	for (;;) {
		char *data = NULL;
		size_t len = 0;
		bool eof = false;
		if (pv_agent_port_read(c->f->agent, c->id, &data, &len, &eof, NULL) < 0)
			break;
		ssize_t w = len ? pv_write_all(c->fd, data, len) : 0;
		free(data);
		if (w < 0)
			break;
		if (eof) {
			(void)shutdown(c->fd, SHUT_WR);
			return NULL;
		}
	}
	(void)shutdown(c->fd, SHUT_RDWR);
	return NULL;
}

/* The client's bytes to the guest; the client's FIN becomes a half-close there. Returns
 * whether the client ended with a FIN (the guest may still answer). */
static bool copy_up(struct conn *c)
{
	char buf[64 * 1024];
	for (;;) {
		ssize_t n = read(c->fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			return pv_agent_port_shutdown(c->f->agent, c->id, NULL) == 0;
		if (n < 0 || pv_agent_port_write(c->f->agent, c->id, buf, (size_t)n, NULL) < 0)
			return false;
	}
}

static void conn_forget(struct conn *c)
{
	struct portfwd *f = c->f;
	pthread_mutex_lock(&f->lock);
	for (struct conn **pp = &f->conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	f->active--;
	pthread_cond_broadcast(&f->idle);
	pthread_mutex_unlock(&f->lock);
	close(c->fd);
	free(c);
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	struct portfwd *f = c->f;
	unsigned port = 0;
	bool v6 = false;
	struct sockaddr_storage local;
	socklen_t len = sizeof(local);
	if (getsockname(c->fd, (struct sockaddr *)&local, &len) == 0)
		v6 = local.ss_family == AF_INET6;
	uint32_t id = 0;
	if (original_port(c->fd, v6, &port) == 0 && pv_agent_port_connect(f->agent, port, v6, &id, NULL) == 0) {
		pthread_mutex_lock(&f->lock);
		c->id = id;
		c->connected = true;
		pthread_mutex_unlock(&f->lock);
		pthread_t down;
		if (pthread_create(&down, NULL, copy_down, c) == 0) {
			/* After a FIN the other way runs on until the guest's FIN; else end it. */
			if (!copy_up(c))
				(void)pv_agent_port_close(f->agent, id, NULL);
			pthread_join(down, NULL);
		}
		(void)pv_agent_port_close(f->agent, id, NULL);
	}
	conn_forget(c);
	return NULL;
}

static void accept_one(struct portfwd *f, int lfd)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	struct conn *c = calloc(1, sizeof(*c));
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_t t;
	pthread_mutex_lock(&f->lock);
	if (c) {
		*c = (struct conn){ .f = f, .fd = fd, .next = f->conns };
		f->conns = c;
		f->active++;
	}
	pthread_mutex_unlock(&f->lock);
	if (c == NULL)
		close(fd);
	else if (pthread_create(&t, &attr, conn_main, c) != 0)
		conn_forget(c);
	pthread_attr_destroy(&attr);
}

/* ---- the listeners, in the pod's network namespace ---- */

static int listen_on(bool v6, unsigned *port)
{
	int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	if (v6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	struct sockaddr_in in4 = { .sin_family = AF_INET, .sin_port = htons((uint16_t)*port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)*port),
				    .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	int r = v6 ? bind(fd, (struct sockaddr *)&in6, sizeof(in6)) : bind(fd, (struct sockaddr *)&in4, sizeof(in4));
	socklen_t len = sizeof(in4);
	if (r == 0 && !v6 && getsockname(fd, (struct sockaddr *)&in4, &len) == 0)
		*port = ntohs(in4.sin_port);
	if (r < 0 || listen(fd, 64) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

/* `iptables -w -t nat -A OUTPUT -d LOOPBACK -p tcp ! --dport PORT -j REDIRECT --to-ports PORT`
 * in this thread's network namespace (a child inherits it). */
static int redirect_loopback(const char *tool, const char *loopback, unsigned port, pv_error *err)
{
	char path[256], p[16];
	if (pv_find_executable(tool, path, sizeof(path)) < 0) {
		snprintf(path, sizeof(path), "/usr/sbin/%s", tool);
		if (access(path, X_OK) < 0)
			return pv_error_set_plain(err, ENOENT, "%s: not found (apt-get install iptables)", tool);
	}
	snprintf(p, sizeof(p), "%u", port);
	char *argv[] = { path, "-w", "-t", "nat", "-A", "OUTPUT", "-d", (char *)loopback, "-p", "tcp",
			 "!", "--dport", p, "-j", "REDIRECT", "--to-ports", p, NULL };
	pid_t pid = fork();
	if (pid < 0)
		return pv_error_set(err, errno, "fork %s", tool);
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0), dup2(null, 1), dup2(null, 2);
		pv_child_reset_signals();
		execv(path, argv);
		_exit(127);
	}
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return pv_error_set_plain(err, EIO, "%s -t nat -A OUTPUT -d %s ... REDIRECT: failed", tool, loopback);
	return 0;
}

/* In the pod's network namespace (this thread only): listeners on one port of both
 * loopbacks, every other loopback TCP port redirected to it. */
static int set_up(struct portfwd *f, pv_error *err)
{
	if (setns(f->netns_fd, CLONE_NEWNET) < 0)
		return pv_error_set(err, errno, "enter the pod's network namespace");
	unsigned port = 0;
	f->listen_fd[0] = listen_on(false, &port);
	if (f->listen_fd[0] < 0)
		return pv_error_set(err, -f->listen_fd[0], "listen on 127.0.0.1");
	if (redirect_loopback("iptables", "127.0.0.1/32", port, err) < 0)
		return -1;
	f->listen_fd[1] = listen_on(true, &port);  /* a pod without IPv6 has IPv4 alone */
	if (f->listen_fd[1] >= 0 && redirect_loopback("ip6tables", "::1/128", port, err) < 0)
		return -1;
	return 0;
}

/* Setting up runs iptables twice (~20 ms of CPU): not beside the pod's own start, which
 * it would slow. Until its first container has started, a few seconds at most. */
#define SETUP_DELAY_MS 2000

static void *fwd_main(void *arg)
{
	struct portfwd *f = arg;
	pv_error err = NULL;
	struct pollfd w[2] = { { .fd = f->wake_fd, .events = POLLIN }, { .fd = f->go_fd, .events = POLLIN } };
	while (poll(w, 2, SETUP_DELAY_MS) < 0 && errno == EINTR)
		;
	if (w[0].revents)
		return NULL;  /* stopped first */
	if (set_up(f, &err) < 0) {
		pv_warning("port forwarding: %s", err->msg);
		pv_error_release(&err);
	}
	for (;;) {
		struct pollfd p[3] = { { .fd = f->wake_fd, .events = POLLIN }, { .fd = f->listen_fd[0], .events = POLLIN },
				       { .fd = f->listen_fd[1], .events = POLLIN } };
		if (poll(p, 3, -1) < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			break;
		for (int i = 1; i < 3; i++)
			if (p[i].revents & POLLIN)
				accept_one(f, p[i].fd);
	}
	return NULL;
}

static void fwd_free(struct portfwd *f)
{
	for (int i = 0; i < 2; i++)
		if (f->listen_fd[i] >= 0)
			close(f->listen_fd[i]);
	if (f->wake_fd >= 0)
		close(f->wake_fd);
	if (f->go_fd >= 0)
		close(f->go_fd);
	if (f->netns_fd >= 0)
		close(f->netns_fd);
	pthread_cond_destroy(&f->idle);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

int portfwd_start(const char *netns_path, struct ttrpc_client *agent, struct portfwd **out, pv_error *err)
{
	struct portfwd *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return pv_error_set(err, ENOMEM, "port forwarding");
	*f = (struct portfwd){ .agent = agent, .listen_fd = { -1, -1 }, .wake_fd = -1, .go_fd = -1 };
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->idle, NULL);
	f->netns_fd = open(netns_path, O_RDONLY | O_CLOEXEC);
	f->wake_fd = eventfd(0, EFD_CLOEXEC);
	f->go_fd = eventfd(0, EFD_CLOEXEC);
	int e = errno;
	if (f->netns_fd < 0 || f->wake_fd < 0 || f->go_fd < 0 || (e = pthread_create(&f->thread, NULL, fwd_main, f)) != 0) {
		fwd_free(f);
		return pv_error_set(err, e, "port forwarding for %s", netns_path);
	}
	*out = f;
	return 0;
}

void portfwd_pod_started(struct portfwd *f)
{
	uint64_t one = 1;
	if (f)
		(void)!write(f->go_fd, &one, sizeof(one));
}

void portfwd_stop(struct portfwd *f)
{
	if (f == NULL)
		return;
	uint64_t one = 1;
	(void)!write(f->wake_fd, &one, sizeof(one));
	pthread_join(f->thread, NULL);
	/* End the open connections: the client's side at once, the guest's through the agent. */
	uint32_t ids[256];
	size_t n = 0;
	pthread_mutex_lock(&f->lock);
	for (struct conn *c = f->conns; c; c = c->next) {
		(void)shutdown(c->fd, SHUT_RDWR);
		if (c->connected && n < sizeof(ids) / sizeof(*ids))
			ids[n++] = c->id;
	}
	pthread_mutex_unlock(&f->lock);
	for (size_t i = 0; i < n; i++)
		(void)pv_agent_port_close(f->agent, ids[i], NULL);
	pthread_mutex_lock(&f->lock);
	while (f->active > 0)
		pthread_cond_wait(&f->idle, &f->lock);
	pthread_mutex_unlock(&f->lock);
	fwd_free(f);
}
