/* ttrpc framing: the 10-byte header, whole-frame reads and writes, and the mapping between
 * google.rpc codes and errno values. */
#include "ttrpc-internal.h"
#include "util.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

/* Big enough that discarding an oversize payload takes few reads, small enough for the
 * stack of a handler thread. */
#define DISCARD_CHUNK 16384

void ttrpc_header_encode(const struct ttrpc_frame_header *h, uint8_t out[TTRPC_HEADER_SIZE])
{
	pv_put_be32(out, h->length);
	pv_put_be32(out + 4, h->stream_id);
	out[8] = h->type;
	out[9] = h->flags;
}

void ttrpc_header_decode(const uint8_t in[TTRPC_HEADER_SIZE], struct ttrpc_frame_header *h)
{
	h->length = pv_get_be32(in);
	h->stream_id = pv_get_be32(in + 4);
	h->type = in[8];
	h->flags = in[9];
}

int ttrpc_wake_new(void)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return fd < 0 ? -errno : fd;
}

void ttrpc_wake(int wake_fd)
{
	uint64_t one = 1;
	/* Can only fail if the counter would overflow, and then it is readable already. */
	ssize_t n = write(wake_fd, &one, sizeof(one));
	(void)n;
}

/* Waits until fd has data (or EOF/error, which read() then reports) or wake_fd fires.
 * Returns 0, -ECANCELED, or -errno. Polling also makes a non-blocking fd behave. */
static int wait_readable(int fd, int wake_fd)
{
	struct pollfd p[2] = {
		{ .fd = fd, .events = POLLIN },
		{ .fd = wake_fd, .events = POLLIN },  /* poll ignores a negative fd */
	};
	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (p[1].revents)
			return -ECANCELED;
		if (p[0].revents & POLLNVAL)
			return -EBADF;
		return 0;
	}
}

/* Reads len bytes unless EOF comes first. Returns the count read or -errno. */
static ssize_t read_exact(int fd, int wake_fd, void *buf, size_t len)
{
	uint8_t *p = buf;
	size_t done = 0;
	while (done < len) {
		int r = wait_readable(fd, wake_fd);
		if (r < 0)
			return r;
		ssize_t n = read(fd, p + done, len - done);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

static int read_failed(pv_error *err, ssize_t r, const char *what)
{
	if (r == -ECANCELED)
		return pv_error_set_plain(err, ECANCELED, "ttrpc: reading %s: cancelled", what);
	if (r >= 0)
		return pv_error_set_plain(err, ECONNRESET, "ttrpc: connection closed inside a %s",
					  what);
	return pv_error_set(err, (int)-r, "ttrpc: reading %s", what);
}

/* Skips an oversize payload so that the next header is read where it starts. */
static int discard_payload(int fd, int wake_fd, const struct ttrpc_frame_header *h, pv_error *err)
{
	uint8_t sink[DISCARD_CHUNK];
	size_t left = h->length;
	while (left > 0) {
		size_t want = left < sizeof(sink) ? left : sizeof(sink);
		ssize_t n = read_exact(fd, wake_fd, sink, want);
		if (n < 0 || (size_t)n < want)
			return read_failed(err, n, "frame payload");
		left -= want;
	}
	return pv_error_set_plain(err, EMSGSIZE,
				  "ttrpc: frame of %u bytes on stream %u exceeds the %u-byte limit",
				  h->length, h->stream_id, TTRPC_MAX_MESSAGE);
}

int ttrpc_read_payload_wake(int fd, int wake_fd, uint32_t len, uint8_t **payload, pv_error *err)
{
	*payload = NULL;
	if (len == 0)
		return 0;
	uint8_t *buf = malloc(len);
	if (buf == NULL)
		return pv_error_set(err, ENOMEM, "ttrpc: frame payload of %u bytes", len);
	ssize_t n = read_exact(fd, wake_fd, buf, len);
	if (n < 0 || (size_t)n < len) {
		free(buf);
		return read_failed(err, n, "frame payload");
	}
	*payload = buf;
	return 0;
}

int ttrpc_read_header_wake(int fd, int wake_fd, struct ttrpc_frame_header *h, pv_error *err)
{
	uint8_t raw[TTRPC_HEADER_SIZE];
	ssize_t n = read_exact(fd, wake_fd, raw, sizeof(raw));
	if (n == 0)
		return 1;
	if (n < 0 || (size_t)n < sizeof(raw))
		return read_failed(err, n, "frame header");
	ttrpc_header_decode(raw, h);
	return 0;
}

int ttrpc_read_frame_wake(int fd, int wake_fd, struct ttrpc_frame_header *h, uint8_t **payload,
			  pv_error *err)
{
	*payload = NULL;
	int r = ttrpc_read_header_wake(fd, wake_fd, h, err);
	if (r != 0)
		return r;
	if (h->length > TTRPC_MAX_MESSAGE)
		return discard_payload(fd, wake_fd, h, err);
	return ttrpc_read_payload_wake(fd, wake_fd, h->length, payload, err);
}

int ttrpc_read_frame(int fd, struct ttrpc_frame_header *h, uint8_t **payload, pv_error *err)
{
	return ttrpc_read_frame_wake(fd, -1, h, payload, err);
}

static int wait_writable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	while (poll(&p, 1, -1) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

/* Drops n written bytes from the front of the iovec array. */
static void iov_advance(struct iovec **iov, int *cnt, size_t n)
{
	while (*cnt > 0 && n >= (*iov)->iov_len) {
		n -= (*iov)->iov_len;
		(*iov)++;
		(*cnt)--;
	}
	if (*cnt > 0) {
		(*iov)->iov_base = (uint8_t *)(*iov)->iov_base + n;
		(*iov)->iov_len -= n;
	}
}

/* sendmsg(MSG_NOSIGNAL) so that a vanished peer is an EPIPE, not a SIGPIPE; writev on fds
 * that are not sockets (virtio-serial ports, ptys, pipes), where the programs rely on
 * SIGPIPE being ignored. Returns 0 or -errno. */
static int write_iov(int fd, struct iovec *iov, int cnt)
{
	bool is_socket = true;
	while (cnt > 0) {
		struct msghdr msg = { .msg_iov = iov, .msg_iovlen = (size_t)cnt };
		ssize_t n = is_socket ? sendmsg(fd, &msg, MSG_NOSIGNAL) : writev(fd, iov, cnt);
		if (n < 0 && errno == ENOTSOCK && is_socket) {
			is_socket = false;
			continue;
		}
		if (n < 0 && errno == EAGAIN) {
			int r = wait_writable(fd);
			if (r < 0)
				return r;
			continue;
		}
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n > 0)
			iov_advance(&iov, &cnt, (size_t)n);
	}
	return 0;
}

int ttrpc_write_frame(int fd, uint32_t stream_id, uint8_t type, uint8_t flags,
		      const uint8_t *payload, size_t len, pv_error *err)
{
	if (len > TTRPC_MAX_MESSAGE)
		return pv_error_set_plain(err, EMSGSIZE,
					  "ttrpc: message of %zu bytes exceeds the %u-byte limit",
					  len, TTRPC_MAX_MESSAGE);
	struct ttrpc_frame_header h = {
		.length = (uint32_t)len, .stream_id = stream_id, .type = type, .flags = flags,
	};
	uint8_t raw[TTRPC_HEADER_SIZE];
	ttrpc_header_encode(&h, raw);
	struct iovec iov[2] = {
		{ .iov_base = raw, .iov_len = sizeof(raw) },
		{ .iov_base = (void *)payload, .iov_len = len },
	};
	int r = write_iov(fd, iov, len > 0 ? 2 : 1);
	if (r < 0)
		return pv_error_set(err, -r, "ttrpc: writing frame on stream %u", stream_id);
	return 0;
}

int ttrpc_code_from_errno(int errnum)
{
	switch (errnum < 0 ? -errnum : errnum) {
	case 0:
		return TTRPC_UNKNOWN;  /* a failure without an errno */
	case ENOENT:
	case ESRCH:  /* a process that already ended: containerd takes NotFound as "finished" */
		return TTRPC_NOT_FOUND;
	case EINVAL:
		return TTRPC_INVALID_ARGUMENT;
	case EEXIST:
		return TTRPC_ALREADY_EXISTS;
	case EPERM:
	case EACCES:
		return TTRPC_PERMISSION_DENIED;
	case ETIMEDOUT:
		return TTRPC_DEADLINE_EXCEEDED;
	case ENOSYS:
	case EOPNOTSUPP:
		return TTRPC_UNIMPLEMENTED;
	case EMSGSIZE:
	case ENOMEM:
		return TTRPC_RESOURCE_EXHAUSTED;
	case EBUSY:
	case ECHILD:
		return TTRPC_FAILED_PRECONDITION;
	case ECONNRESET:
	case EPIPE:
	case EAGAIN:
		return TTRPC_UNAVAILABLE;
	case ECANCELED:
		return TTRPC_CANCELLED;
	default:
		return TTRPC_INTERNAL;
	}
}

int ttrpc_errno_from_code(int code)
{
	switch (code) {
	case TTRPC_OK:
		return 0;
	case TTRPC_CANCELLED:
		return ECANCELED;
	case TTRPC_INVALID_ARGUMENT:
		return EINVAL;
	case TTRPC_DEADLINE_EXCEEDED:
		return ETIMEDOUT;
	case TTRPC_NOT_FOUND:
		return ENOENT;
	case TTRPC_ALREADY_EXISTS:
		return EEXIST;
	case TTRPC_PERMISSION_DENIED:
		return EPERM;
	case TTRPC_RESOURCE_EXHAUSTED:
		return EMSGSIZE;
	case TTRPC_FAILED_PRECONDITION:
		return EBUSY;
	case TTRPC_UNIMPLEMENTED:
		return ENOSYS;
	case TTRPC_UNAVAILABLE:
		return EAGAIN;
	default:
		return EIO;  /* UNKNOWN, INTERNAL and codes podvm does not use */
	}
}
