#include "portfwd.h"
#include "cleanup.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_SLICE_MS 250
#define MAX_READ (256 * 1024)

struct conn {
	uint32_t id;
	int fd;
	int refs;
	bool closing;
	struct conn *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct conn *conns;
static uint32_t next_id = 1;

static int dial(unsigned port, bool ipv6)
{
	int fd = socket(ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct sockaddr_in in4 = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port),
				    .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	int r = ipv6 ? connect(fd, (struct sockaddr *)&in6, sizeof(in6)) : connect(fd, (struct sockaddr *)&in4, sizeof(in4));
	if (r < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

int portfwd_connect(unsigned port, bool ipv6, uint32_t *id, pv_error *err)
{
	if (port == 0 || port > 65535)
		return pv_error_set_plain(err, EINVAL, "port %u: out of range", port);
	int fd = dial(port, ipv6);
	if (fd == -ECONNREFUSED || fd == -EADDRNOTAVAIL || fd == -EAFNOSUPPORT)
		fd = dial(port, !ipv6);  /* a dialer of "localhost" tries both */
	if (fd < 0)
		return pv_error_set(err, -fd, "port %u of the pod", port);
	struct conn *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		close(fd);
		return pv_error_set(err, ENOMEM, "port %u", port);
	}
	pthread_mutex_lock(&lock);
	*c = (struct conn){ .id = next_id++, .fd = fd, .refs = 1, .next = conns };
	conns = c;
	*id = c->id;
	pthread_mutex_unlock(&lock);
	return 0;
}

static struct conn *get(uint32_t id, pv_error *err)
{
	pthread_mutex_lock(&lock);
	struct conn *c = conns;
	while (c && c->id != id)
		c = c->next;
	if (c)
		c->refs++;
	pthread_mutex_unlock(&lock);
	if (c == NULL)
		pv_error_set_plain(err, ENOENT, "port connection %u: not found", id);
	return c;
}

static void put(struct conn *c)
{
	pthread_mutex_lock(&lock);
	bool last = --c->refs == 0;
	pthread_mutex_unlock(&lock);
	if (last) {
		close(c->fd);
		free(c);
	}
}

static bool closing(struct conn *c)
{
	pthread_mutex_lock(&lock);
	bool r = c->closing;
	pthread_mutex_unlock(&lock);
	return r;
}

int portfwd_write(uint32_t id, const void *data, size_t len, pv_error *err)
{
	struct conn *c = get(id, err);
	if (c == NULL)
		return -1;
	ssize_t n = pv_write_all(c->fd, data, len);
	put(c);
	return n < 0 ? pv_error_set(err, (int)-n, "port connection %u: write", id) : 0;
}

int portfwd_read(uint32_t id, size_t max, char **data, size_t *len, bool *eof, pv_error *err)
{
	*data = NULL;
	*len = 0;
	*eof = false;
	if (max == 0 || max > MAX_READ)
		max = 64 * 1024;
	struct conn *c = get(id, err);
	if (c == NULL)
		return -1;
	_cleanup_free_ char *buf = malloc(max);
	ssize_t n = buf ? 0 : -ENOMEM;
	/* In slices, so that a close ends a read that waits. */
	while (n == 0 && !closing(c)) {
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		int r = poll(&p, 1, READ_SLICE_MS);
		if (r < 0 && errno != EINTR)
			n = -errno;
		if (r <= 0)
			continue;
		n = read(c->fd, buf, max);
		if (n == 0)
			break;
		if (n < 0)
			n = errno == EINTR || errno == EAGAIN ? 0 : -errno;
	}
	put(c);
	if (n < 0 && n != -ECONNRESET)
		return pv_error_set(err, (int)-n, "port connection %u: read", id);
	if (n <= 0) {
		*eof = true;
		return 0;
	}
	*data = steal_pointer(&buf);
	*len = (size_t)n;
	return 0;
}

int portfwd_shutdown(uint32_t id, pv_error *err)
{
	struct conn *c = get(id, err);
	if (c == NULL)
		return -1;
	int r = shutdown(c->fd, SHUT_WR) < 0 ? pv_error_set(err, errno, "port connection %u: shutdown", id) : 0;
	put(c);
	return r;
}

int portfwd_close(uint32_t id, pv_error *err)
{
	pthread_mutex_lock(&lock);
	struct conn **pp = &conns;
	while (*pp && (*pp)->id != id)
		pp = &(*pp)->next;
	struct conn *c = *pp;
	if (c) {
		*pp = c->next;
		c->closing = true;
	}
	pthread_mutex_unlock(&lock);
	if (c == NULL)
		return pv_error_set_plain(err, ENOENT, "port connection %u: not found", id);
	put(c);
	return 0;
}

size_t portfwd_count(void)
{
	size_t n = 0;
	pthread_mutex_lock(&lock);
	for (struct conn *c = conns; c; c = c->next)
		n++;
	pthread_mutex_unlock(&lock);
	return n;
}
