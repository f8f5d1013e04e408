/* ttrpc framing: header layout, whole-frame reads over partial reads, EOF and oversize
 * frames, the errno <-> code mapping. */
#include "tap.h"
#include "ttrpc-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Writes buf to fd chunk bytes at a time from a thread of its own, pausing between chunks
 * so that the reader sees partial reads; closes fd at the end. */
struct feeder {
	int fd;
	const uint8_t *buf;
	size_t len;
	size_t chunk;
	useconds_t pause_us;
	pthread_t thread;
};

static void *feed(void *arg)
{
	struct feeder *f = arg;
	for (size_t off = 0; off < f->len;) {
		size_t n = f->len - off < f->chunk ? f->len - off : f->chunk;
		if (write(f->fd, f->buf + off, n) != (ssize_t)n)
			break;
		off += n;
		if (f->pause_us)
			usleep(f->pause_us);
	}
	close(f->fd);
	return NULL;
}

/* Returns the read end of a pipe fed with buf. */
static int start_feeder(struct feeder *f, const uint8_t *buf, size_t len, size_t chunk,
			useconds_t pause_us)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		abort();
	*f = (struct feeder){ .fd = p[1], .buf = buf, .len = len, .chunk = chunk,
			      .pause_us = pause_us };
	pthread_create(&f->thread, NULL, feed, f);
	return p[0];
}

/* Appends one frame (header + payload) to buf at *off. */
static void put_frame(uint8_t *buf, size_t *off, uint32_t len, uint32_t id, uint8_t type,
		      const void *payload, size_t payload_len)
{
	struct ttrpc_frame_header h = { .length = len, .stream_id = id, .type = type };
	ttrpc_header_encode(&h, buf + *off);
	*off += TTRPC_HEADER_SIZE;
	if (payload)
		memcpy(buf + *off, payload, payload_len);
	*off += payload_len;
}

static void test_header(void)
{
	struct ttrpc_frame_header h = { 0x01020304, 0x05060708, TTRPC_TYPE_RESPONSE, 0x01 };
	const uint8_t want[TTRPC_HEADER_SIZE] = { 1, 2, 3, 4, 5, 6, 7, 8, 2, 1 };
	uint8_t raw[TTRPC_HEADER_SIZE];
	ttrpc_header_encode(&h, raw);
	ok(memcmp(raw, want, sizeof(raw)) == 0, "header encodes big-endian length and stream id");
	struct ttrpc_frame_header back;
	ttrpc_header_decode(raw, &back);
	ok(back.length == h.length && back.stream_id == h.stream_id && back.type == h.type &&
	   back.flags == h.flags, "header decodes to what was encoded");
}

static void test_roundtrip(void)
{
	int p[2];
	pipe2(p, O_CLOEXEC);
	int r = ttrpc_write_frame(p[1], 7, TTRPC_TYPE_REQUEST, 2, (const uint8_t *)"hello", 5, NULL);
	r |= ttrpc_write_frame(p[1], 9, TTRPC_TYPE_DATA, 0, NULL, 0, NULL);
	close(p[1]);
	ok(r == 0, "write_frame on a pipe");
	struct ttrpc_frame_header h;
	uint8_t *payload = NULL;
	r = ttrpc_read_frame(p[0], &h, &payload, NULL);
	ok(r == 0 && h.length == 5 && h.stream_id == 7 && h.type == TTRPC_TYPE_REQUEST &&
	   h.flags == 2 && payload && memcmp(payload, "hello", 5) == 0,
	   "read_frame returns header and payload");
	free(payload);
	r = ttrpc_read_frame(p[0], &h, &payload, NULL);
	ok(r == 0 && h.length == 0 && h.stream_id == 9 && payload == NULL,
	   "an empty payload reads as NULL");
	r = ttrpc_read_frame(p[0], &h, &payload, NULL);
	ok(r == 1 && payload == NULL, "clean EOF between frames returns 1");
	close(p[0]);
}

static void test_byte_at_a_time(void)
{
	uint8_t buf[2 * TTRPC_HEADER_SIZE + 64];
	size_t len = 0;
	put_frame(buf, &len, 40, 1, TTRPC_TYPE_REQUEST, "0123456789012345678901234567890123456789",
		  40);
	put_frame(buf, &len, 3, 3, TTRPC_TYPE_REQUEST, "abc", 3);
	struct feeder f;
	int fd = start_feeder(&f, buf, len, 1, 300);
	struct ttrpc_frame_header h1, h2;
	uint8_t *p1 = NULL, *p2 = NULL;
	int r1 = ttrpc_read_frame(fd, &h1, &p1, NULL);
	int r2 = ttrpc_read_frame(fd, &h2, &p2, NULL);
	ok(r1 == 0 && h1.length == 40 && h1.stream_id == 1 && memcmp(p1, buf + 10, 40) == 0,
	   "frame fed one byte at a time reads whole");
	ok(r2 == 0 && h2.length == 3 && h2.stream_id == 3 && memcmp(p2, "abc", 3) == 0,
	   "the next frame follows in sync");
	pthread_join(f.thread, NULL);
	free(p1);
	free(p2);
	close(fd);
}

static int read_truncated(const uint8_t *buf, size_t len, pv_error *err)
{
	struct feeder f;
	int fd = start_feeder(&f, buf, len, 3, 100);
	struct ttrpc_frame_header h;
	uint8_t *payload = NULL;
	int r = ttrpc_read_frame(fd, &h, &payload, err);
	pthread_join(f.thread, NULL);
	close(fd);
	free(payload);
	return payload == NULL ? r : 0;
}

static void test_eof_mid_frame(void)
{
	uint8_t buf[TTRPC_HEADER_SIZE + 8];
	size_t len = 0;
	put_frame(buf, &len, 8, 1, TTRPC_TYPE_REQUEST, "12345678", 8);
	pv_error err = NULL;
	int r = read_truncated(buf, 6, &err);
	ok(r == -ECONNRESET && err && err->msg, "EOF inside the header: -ECONNRESET (%s)",
	   err && err->msg ? err->msg : "no message");
	pv_error_release(&err);
	r = read_truncated(buf, len - 1, &err);
	ok(r == -ECONNRESET && err && err->msg, "EOF inside the payload: -ECONNRESET (%s)",
	   err && err->msg ? err->msg : "no message");
	pv_error_release(&err);
}

static void test_oversize(void)
{
	size_t big = TTRPC_MAX_MESSAGE + 1;
	size_t cap = 2 * TTRPC_HEADER_SIZE + big + 4, len = 0;
	uint8_t *buf = calloc(1, cap);
	put_frame(buf, &len, (uint32_t)big, 5, TTRPC_TYPE_REQUEST, NULL, big);
	put_frame(buf, &len, 4, 7, TTRPC_TYPE_REQUEST, "next", 4);
	struct feeder f;
	int fd = start_feeder(&f, buf, len, 65536, 0);
	struct ttrpc_frame_header h;
	uint8_t *payload = NULL;
	pv_error err = NULL;
	int r = ttrpc_read_frame(fd, &h, &payload, &err);
	ok(r == -EMSGSIZE && h.length == big && h.stream_id == 5 && payload == NULL && err,
	   "oversize frame: -EMSGSIZE with the header filled (%s)",
	   err && err->msg ? err->msg : "no message");
	pv_error_release(&err);
	r = ttrpc_read_frame(fd, &h, &payload, NULL);
	ok(r == 0 && h.stream_id == 7 && h.length == 4 && memcmp(payload, "next", 4) == 0,
	   "the frame after an oversize one reads in sync");
	pthread_join(f.thread, NULL);
	free(payload);
	close(fd);

	int p[2];
	pipe2(p, O_CLOEXEC | O_NONBLOCK);
	r = ttrpc_write_frame(p[1], 1, TTRPC_TYPE_REQUEST, 0, buf, big, &err);
	uint8_t b;
	ok(r == -EMSGSIZE && err && read(p[0], &b, 1) < 0 && errno == EAGAIN,
	   "write_frame refuses an oversize payload and writes nothing");
	pv_error_release(&err);
	close(p[0]);
	close(p[1]);
	free(buf);
}

struct frame_writer {
	int fd;
	const uint8_t *buf;
	size_t len;
	int rc;
};

static void *write_frame_thread(void *arg)
{
	struct frame_writer *w = arg;
	w->rc = ttrpc_write_frame(w->fd, 11, TTRPC_TYPE_RESPONSE, 0, w->buf, w->len, NULL);
	return NULL;
}

static void test_socket_large_and_epipe(void)
{
	int sv[2];
	socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
	size_t len = 3 << 20;
	uint8_t *big = malloc(len);
	for (size_t i = 0; i < len; i++)
		big[i] = (uint8_t)(i * 7);
	/* 3 MiB does not fit in the socket buffer: both loops must cope with short counts. */
	struct frame_writer w = { .fd = sv[1], .buf = big, .len = len };
	pthread_t t;
	pthread_create(&t, NULL, write_frame_thread, &w);
	struct ttrpc_frame_header h;
	uint8_t *payload = NULL;
	int r = ttrpc_read_frame(sv[0], &h, &payload, NULL);
	pthread_join(t, NULL);
	ok(w.rc == 0 && r == 0 && h.length == len && h.stream_id == 11 &&
	   memcmp(payload, big, len) == 0, "3 MiB frame over a socket arrives whole");
	free(payload);

	/* sendmsg(MSG_NOSIGNAL): a closed peer is -EPIPE, not a SIGPIPE death. */
	close(sv[0]);
	pv_error err = NULL;
	r = ttrpc_write_frame(sv[1], 1, TTRPC_TYPE_REQUEST, 0, big, 16, &err);
	ok(r == -EPIPE && err, "writing to a closed socket returns -EPIPE (%s)",
	   err && err->msg ? err->msg : "no message");
	pv_error_release(&err);
	close(sv[1]);
	free(big);
}

static void test_wake(void)
{
	int p[2];
	pipe2(p, O_CLOEXEC);
	int wake = ttrpc_wake_new();
	ttrpc_wake(wake);
	struct ttrpc_frame_header h;
	uint8_t *payload = NULL;
	int r = ttrpc_read_frame_wake(p[0], wake, &h, &payload, NULL);
	ok(r == -ECANCELED, "a signalled wake fd stops a read that would block");
	close(wake);
	close(p[0]);
	close(p[1]);
}

static void test_codes(void)
{
	static const struct { int e, code, back; } map[] = {
		{ ENOENT, TTRPC_NOT_FOUND, ENOENT },
		{ EINVAL, TTRPC_INVALID_ARGUMENT, EINVAL },
		{ EEXIST, TTRPC_ALREADY_EXISTS, EEXIST },
		{ ESRCH, TTRPC_NOT_FOUND, ENOENT },
		{ EPERM, TTRPC_PERMISSION_DENIED, EPERM },
		{ EACCES, TTRPC_PERMISSION_DENIED, EPERM },
		{ ETIMEDOUT, TTRPC_DEADLINE_EXCEEDED, ETIMEDOUT },
		{ ENOSYS, TTRPC_UNIMPLEMENTED, ENOSYS },
		{ EOPNOTSUPP, TTRPC_UNIMPLEMENTED, ENOSYS },
		{ EMSGSIZE, TTRPC_RESOURCE_EXHAUSTED, EMSGSIZE },
		{ ENOMEM, TTRPC_RESOURCE_EXHAUSTED, EMSGSIZE },
		{ EBUSY, TTRPC_FAILED_PRECONDITION, EBUSY },
		{ ECHILD, TTRPC_FAILED_PRECONDITION, EBUSY },
		{ ECONNRESET, TTRPC_UNAVAILABLE, EAGAIN },
		{ EPIPE, TTRPC_UNAVAILABLE, EAGAIN },
		{ EAGAIN, TTRPC_UNAVAILABLE, EAGAIN },
		{ ECANCELED, TTRPC_CANCELLED, ECANCELED },
		{ E2BIG, TTRPC_INTERNAL, EIO },
		{ 0, TTRPC_UNKNOWN, EIO },
	};
	int bad = 0;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		int code = ttrpc_code_from_errno(map[i].e);
		int back = ttrpc_errno_from_code(code);
		if (code != map[i].code || back != map[i].back) {
			diag("errno %d -> code %d -> errno %d", map[i].e, code, back);
			bad++;
		}
	}
	ok(bad == 0, "errno <-> code mapping");
	ok(ttrpc_code_from_errno(-ENOENT) == TTRPC_NOT_FOUND, "negative errno values map too");
	ok(ttrpc_errno_from_code(TTRPC_OK) == 0 && ttrpc_errno_from_code(99) == EIO,
	   "OK maps to 0, unknown codes to EIO");
}

int main(void)
{
	alarm(60);  /* a hang is a failure, not a stuck CI job */
	test_header();
	test_roundtrip();
	test_byte_at_a_time();
	test_eof_mid_frame();
	test_oversize();
	test_socket_large_and_epipe();
	test_wake();
	test_codes();
	return done_testing();
}
