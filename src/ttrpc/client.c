/* ttrpc client: callers write their request frame and sleep on a condition variable of
 * their own; one reader thread hands each response to the call with its stream id.
 *
 * The peer is not trusted (a guest's agent: the guest owns its kernel). A frame the client
 * did not ask for (over the size limit, not a response, on a stream no call waits for)
 * ends the connection, and every call in flight or made later fails with why; decoding
 * an answer has a memory budget; the peer's error messages are made one line. */
#include "ttrpc-internal.h"
#include "ttrpc.pb-c.h"
#include "cleanup.h"
#include "util.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct pending_call {
	uint32_t stream_id;
	bool done;
	int rc;                  /* < 0: failed locally (connection lost or broken) */
	uint8_t *payload;        /* the ttrpc.Response envelope */
	size_t len;
	pthread_cond_t cond;
	struct pending_call *next;
};

struct ttrpc_client {
	int fd;
	int wake_fd;             /* stops the reader where shutdown(2) cannot */
	pthread_t reader;
	pthread_mutex_t write_lock;   /* one frame at a time on fd */
	pthread_mutex_t lock;         /* guards what follows */
	pthread_cond_t idle;          /* users dropped to 0 */
	struct pending_call *pending;
	uint32_t next_id;
	bool closed;                  /* connection lost, or client being freed */
	pv_error broken;              /* why the reader gave up on the peer (set once), or NULL */
	unsigned users;               /* threads inside ttrpc_client_call */
	unsigned abandoned;           /* calls that timed out: late answers the peer may still send */
};

/* ---- the pending list (all under c->lock) ---- */

static bool unlink_call(struct ttrpc_client *c, struct pending_call *call)
{
	for (struct pending_call **p = &c->pending; *p; p = &(*p)->next) {
		if (*p == call) {
			*p = call->next;
			return true;
		}
	}
	return false;
}

static struct pending_call *find_call(struct ttrpc_client *c, uint32_t stream_id)
{
	struct pending_call *call = c->pending;
	while (call && call->stream_id != stream_id)
		call = call->next;
	return call;
}

static struct pending_call *take_call(struct ttrpc_client *c, uint32_t stream_id)
{
	struct pending_call *call = find_call(c, stream_id);
	if (call)
		unlink_call(c, call);
	return call;
}

static void finish_call(struct pending_call *call, int rc, uint8_t *payload, size_t len)
{
	call->rc = rc;
	call->payload = payload;
	call->len = len;
	call->done = true;
	pthread_cond_signal(&call->cond);
}

/* ---- reader thread ---- */

/* Takes ownership of payload; an answer nobody waits for any more (timed out) is dropped. */
static void deliver(struct ttrpc_client *c, uint32_t stream_id, uint8_t *payload, size_t len)
{
	pthread_mutex_lock(&c->lock);
	struct pending_call *call = take_call(c, stream_id);
	if (call)
		finish_call(call, 0, payload, len);
	else
		free(payload);
	pthread_mutex_unlock(&c->lock);
}

/* Whether a response on stream_id may come: a call waits for it, or it may be the late
 * answer of one that timed out. */
static bool expected(struct ttrpc_client *c, uint32_t stream_id)
{
	pthread_mutex_lock(&c->lock);
	bool ok = find_call(c, stream_id) != NULL;
	if (!ok && c->abandoned > 0) {
		c->abandoned--;
		ok = true;
	}
	pthread_mutex_unlock(&c->lock);
	return ok;
}

/* Judged by the header alone, so that the payload of a frame not asked for is never read:
 * podvm opens no streams, so the peer only ever answers. */
static int check_header(struct ttrpc_client *c, const struct ttrpc_frame_header *h, pv_error *err)
{
	if (h->length > TTRPC_MAX_MESSAGE)
		return pv_error_set_plain(err, EPROTO, "ttrpc: frame of %u bytes on stream %u exceeds the %u-byte limit",
					  h->length, h->stream_id, TTRPC_MAX_MESSAGE);
	if (h->type != TTRPC_TYPE_RESPONSE)
		return pv_error_set_plain(err, EPROTO, "ttrpc: unexpected frame of type %u on stream %u",
					  h->type, h->stream_id);
	if (!expected(c, h->stream_id))
		return pv_error_set_plain(err, EPROTO, "ttrpc: response on stream %u, which no call waits for",
					  h->stream_id);
	return 0;
}

/* Ends the connection: why (owned; NULL: a plain EOF or ttrpc_client_free) is what every
 * call in flight and every later one fails with. */
static void fail_all(struct ttrpc_client *c, pv_error why)
{
	pthread_mutex_lock(&c->lock);
	c->closed = true;
	if (why && why->errnum != ECANCELED && c->broken == NULL)
		c->broken = steal_pointer(&why);
	int rc = c->broken ? -c->broken->errnum : -ECONNRESET;
	while (c->pending) {
		struct pending_call *call = c->pending;
		c->pending = call->next;
		finish_call(call, rc, NULL, 0);
	}
	pthread_mutex_unlock(&c->lock);
	pv_error_release(&why);
}

static void *reader_thread(void *arg)
{
	struct ttrpc_client *c = arg;
	pv_error why = NULL;
	for (;;) {
		struct ttrpc_frame_header h;
		uint8_t *payload = NULL;
		int r = ttrpc_read_header_wake(c->fd, c->wake_fd, &h, &why);
		if (r == 0)
			r = check_header(c, &h, &why);
		if (r == 0)
			r = ttrpc_read_payload_wake(c->fd, c->wake_fd, h.length, &payload, &why);
		if (r != 0)  /* EOF, a broken frame or peer, or ttrpc_client_free */
			break;
		deliver(c, h.stream_id, payload, h.length);
	}
	fail_all(c, why);
	return NULL;
}

/* ---- one call ---- */

static int pack_request(const char *service, const char *method, const ProtobufCMessage *req,
			int timeout_ms, uint8_t **out, size_t *len, pv_error *err)
{
	Ttrpc__Request r = TTRPC__REQUEST__INIT;
	_cleanup_free_ uint8_t *payload = NULL;
	r.service = (char *)service;
	r.method = (char *)method;
	r.timeout_nano = timeout_ms > 0 ? (int64_t)timeout_ms * 1000000 : 0;
	if (req) {
		r.payload.len = protobuf_c_message_get_packed_size(req);
		if (r.payload.len > TTRPC_MAX_MESSAGE)
			goto too_big;
		payload = malloc(r.payload.len ? r.payload.len : 1);
		if (payload == NULL)
			return pv_error_set(err, ENOMEM, "%s/%s: request", service, method);
		protobuf_c_message_pack(req, payload);
		r.payload.data = payload;
	}
	*len = ttrpc__request__get_packed_size(&r);
	if (*len > TTRPC_MAX_MESSAGE)
		goto too_big;
	*out = malloc(*len ? *len : 1);
	if (*out == NULL)
		return pv_error_set(err, ENOMEM, "%s/%s: request", service, method);
	ttrpc__request__pack(&r, *out);
	return 0;
too_big:
	return pv_error_set_plain(err, EMSGSIZE, "%s/%s: request exceeds the %u-byte limit",
				  service, method, TTRPC_MAX_MESSAGE);
}

/* Enters the client and queues call under a fresh stream id. */
static int register_call(struct ttrpc_client *c, struct pending_call *call)
{
	int r = 0;
	pthread_mutex_lock(&c->lock);
	c->users++;
	if (c->closed) {
		r = -ECONNRESET;
	} else {
		call->stream_id = c->next_id;
		c->next_id += 2;  /* wraps to 1 after 2^31 calls: still odd */
		call->next = c->pending;
		c->pending = call;
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

static void unregister_call(struct ttrpc_client *c, struct pending_call *call)
{
	pthread_mutex_lock(&c->lock);
	if (unlink_call(c, call))  /* not answered: timed out, or never sent */
		c->abandoned++;
	if (--c->users == 0)
		pthread_cond_broadcast(&c->idle);
	pthread_mutex_unlock(&c->lock);
}

/* A frame cut short leaves the stream out of sync: the connection is done for. */
static int send_request(struct ttrpc_client *c, const struct pending_call *call,
			const uint8_t *frame, size_t len)
{
	pthread_mutex_lock(&c->write_lock);
	int r = ttrpc_write_frame(c->fd, call->stream_id, TTRPC_TYPE_REQUEST, 0, frame, len, NULL);
	pthread_mutex_unlock(&c->write_lock);
	if (r < 0) {
		pthread_mutex_lock(&c->lock);
		c->closed = true;
		pthread_mutex_unlock(&c->lock);
		ttrpc_wake(c->wake_fd);
	}
	return r == -EPIPE ? -ECONNRESET : r;
}

static struct timespec deadline_after(int timeout_ms)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += timeout_ms / 1000;
	t.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (t.tv_nsec >= 1000000000) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000;
	}
	return t;
}

/* Returns 0 once the reader finished call, or -ETIMEDOUT. */
static int wait_answer(struct ttrpc_client *c, struct pending_call *call, int timeout_ms)
{
	struct timespec deadline = deadline_after(timeout_ms > 0 ? timeout_ms : 0);
	int r = 0;
	pthread_mutex_lock(&c->lock);
	while (!call->done && r != ETIMEDOUT) {
		if (timeout_ms > 0)
			r = pthread_cond_timedwait(&call->cond, &c->lock, &deadline);
		else
			pthread_cond_wait(&call->cond, &c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	return call->done ? 0 : -ETIMEDOUT;  /* done cannot change: unregister_call is next */
}

/* ---- the answer ---- */

/* protobuf-c keeps each unknown field of a message in allocations of its own: 4 MiB of
 * two-byte fields from the peer would take some 200 MiB to decode. A decode gets a budget
 * instead: twice the bytes it decodes, each allocation counted with malloc's overhead. */
#define DECODE_ALLOC_OVERHEAD 32
#define DECODE_SLACK (64u << 10)

struct decode_budget {
	ProtobufCAllocator allocator;
	size_t left;
	bool exceeded;
};

static void *budget_alloc(void *data, size_t size)
{
	struct decode_budget *b = data;
	if (size > b->left || b->left - size < DECODE_ALLOC_OVERHEAD) {
		b->exceeded = true;
		return NULL;
	}
	b->left -= size + DECODE_ALLOC_OVERHEAD;
	return malloc(size);
}

static void budget_free(void *data, void *p)
{
	(void)data;
	free(p);  /* the budget bounds what a decode allocates in all, not what it holds */
}

/* The message (plain malloc'd memory: protobuf_c_message_free_unpacked(m, NULL) frees
 * it), or NULL with *err set. */
static ProtobufCMessage *unpack_bounded(const char *service, const char *method,
					const ProtobufCMessageDescriptor *desc, size_t len,
					const uint8_t *data, pv_error *err)
{
	struct decode_budget b = { .left = 2 * len + DECODE_SLACK };
	b.allocator = (ProtobufCAllocator){ .alloc = budget_alloc, .free = budget_free, .allocator_data = &b };
	ProtobufCMessage *m = protobuf_c_message_unpack(desc, &b.allocator, len, data);
	if (m == NULL && b.exceeded)
		pv_error_set_plain(err, EBADMSG, "%s/%s: %s of %zu bytes would take over %zu bytes to decode",
				   service, method, desc->name, len, 2 * len + DECODE_SLACK);
	else if (m == NULL)
		pv_error_set_plain(err, EBADMSG, "%s/%s: malformed %s", service, method, desc->name);
	return m;
}

/* The peer's words reach logs and terminals: one line, of a bounded length. */
#define REMOTE_MESSAGE_MAX 1024

static int remote_error(const Ttrpc__Status *st, pv_error *err)
{
	int e = ttrpc_errno_from_code(st->code);
	if (st->message && st->message[0]) {
		char line[REMOTE_MESSAGE_MAX];
		pv_one_line(st->message, line, sizeof(line));
		return pv_error_set_plain(err, e, "%s", line);
	}
	return pv_error_set(err, e, "remote error %d", st->code);
}

static int decode_response(const char *service, const char *method,
			   const struct pending_call *call,
			   const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
			   pv_error *err)
{
	ProtobufCMessage *m = unpack_bounded(service, method, &ttrpc__response__descriptor, call->len,
					     call->payload, err);
	if (m == NULL)
		return -EBADMSG;
	Ttrpc__Response *r = (Ttrpc__Response *)m;
	int ret = 0;
	if (r->status && r->status->code != TTRPC_OK)
		ret = remote_error(r->status, err);
	else if (resp && resp_desc) {
		*resp = unpack_bounded(service, method, resp_desc, r->payload.len, r->payload.data, err);
		ret = *resp ? 0 : -EBADMSG;
	}
	ttrpc__response__free_unpacked(r, NULL);
	return ret;
}

/* A call that got no answer: it timed out, or the connection is gone (and then, if the
 * reader gave up on the peer, why). */
static int call_failed(struct ttrpc_client *c, const char *service, const char *method, int r,
		       int timeout_ms, pv_error *err)
{
	if (r == -ETIMEDOUT)
		return pv_error_set_plain(err, ETIMEDOUT, "%s/%s: no answer within %d ms", service,
					  method, timeout_ms);
	pthread_mutex_lock(&c->lock);
	pv_error broken = c->broken;  /* set once, freed with the client */
	pthread_mutex_unlock(&c->lock);
	if (broken)
		return pv_error_set_plain(err, broken->errnum, "%s/%s: %s", service, method, broken->msg);
	return pv_error_set(err, -r, "%s/%s", service, method);
}

static void pending_call_init(struct pending_call *call)
{
	pthread_condattr_t attr;
	*call = (struct pending_call){ 0 };
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);  /* timeouts ignore clock steps */
	pthread_cond_init(&call->cond, &attr);
	pthread_condattr_destroy(&attr);
}

int ttrpc_client_call(struct ttrpc_client *c, const char *service, const char *method,
		      const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
		      ProtobufCMessage **resp, int timeout_ms, pv_error *err)
{
	_cleanup_free_ uint8_t *frame = NULL;
	size_t len = 0;
	if (resp)
		*resp = NULL;
	int r = pack_request(service, method, req, timeout_ms, &frame, &len, err);
	if (r < 0)
		return r;
	struct pending_call call;
	pending_call_init(&call);
	r = register_call(c, &call);
	if (r == 0)
		r = send_request(c, &call, frame, len);
	if (r == 0)
		r = wait_answer(c, &call, timeout_ms);
	if (r == 0)
		r = call.rc;
	/* Before unregistering: from then on ttrpc_client_free may free c (and its reason). */
	if (r != 0)
		r = call_failed(c, service, method, r, timeout_ms, err);
	unregister_call(c, &call);
	if (r == 0)
		r = decode_response(service, method, &call, resp_desc, resp, err);
	free(call.payload);
	pthread_cond_destroy(&call.cond);
	return r;
}

/* ---- lifetime ---- */

/* The reader takes no signals: they belong to the program's own threads. */
static int start_reader(struct ttrpc_client *c)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int r = pthread_create(&c->reader, NULL, reader_thread, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return -r;
}

int ttrpc_client_new(int fd, struct ttrpc_client **out, pv_error *err)
{
	_cleanup_close_ int owned_fd = fd;
	_cleanup_close_ int wake_fd = ttrpc_wake_new();
	if (wake_fd < 0)
		return pv_error_set(err, -wake_fd, "ttrpc: eventfd");
	struct ttrpc_client *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return pv_error_set(err, ENOMEM, "ttrpc: new client");
	*c = (struct ttrpc_client){ .fd = fd, .wake_fd = wake_fd, .next_id = 1 };
	pthread_mutex_init(&c->write_lock, NULL);
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->idle, NULL);
	int r = start_reader(c);
	if (r < 0) {
		pthread_cond_destroy(&c->idle);
		pthread_mutex_destroy(&c->lock);
		pthread_mutex_destroy(&c->write_lock);
		free(c);
		return pv_error_set(err, -r, "ttrpc: starting the client reader thread");
	}
	owned_fd = -1;
	wake_fd = -1;
	*out = c;
	return 0;
}

void ttrpc_client_free(struct ttrpc_client *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->lock);
	c->closed = true;
	pthread_mutex_unlock(&c->lock);
	ttrpc_wake(c->wake_fd);
	/* Unblocks a caller stuck writing to a socket; fails harmlessly (ENOTSOCK) elsewhere. */
	shutdown(c->fd, SHUT_RDWR);
	pthread_join(c->reader, NULL);  /* its fail_all wakes every waiting call */
	pthread_mutex_lock(&c->lock);
	while (c->users > 0)
		pthread_cond_wait(&c->idle, &c->lock);
	pthread_mutex_unlock(&c->lock);
	close(c->fd);
	close(c->wake_fd);
	pv_error_release(&c->broken);
	pthread_cond_destroy(&c->idle);
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->write_lock);
	free(c);
}
