/* ttrpc server: one reader per connection, one thread per request, whole responses written
 * under a per-connection lock. */
#include "ttrpc-internal.h"
#include "ttrpc.pb-c.h"
#include "cleanup.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* How long serve_listener backs off when it is out of fds, so as not to spin. */
#define ACCEPT_BACKOFF_MS 100

struct ttrpc_server {
	const struct ttrpc_method *methods;
	size_t n_methods;
	void *ctx;
	int wake_fd;            /* signalled once by ttrpc_server_shutdown, never drained */
	pthread_mutex_t lock;
	pthread_cond_t idle;
	unsigned n_conns;       /* connection threads started by serve_listener */
	unsigned max_requests;  /* in flight per connection */
	ttrpc_check_fn check;   /* NULL: none */
};

/* One connection being served; lives on serve_fd's stack until its requests are done. */
struct conn {
	struct ttrpc_server *s;
	int fd;
	pthread_mutex_t write_lock;
	pthread_mutex_t lock;
	pthread_cond_t idle;
	unsigned n_requests;    /* handler threads still running */
	size_t request_bytes;   /* their payloads */
};

struct request_job {
	struct conn *conn;
	uint32_t stream_id;
	uint8_t *payload;
	size_t len;
};

struct ttrpc_reply {
	uint8_t *data;
	size_t len;
};

int ttrpc_reply_set(struct ttrpc_reply *reply, const ProtobufCMessage *resp)
{
	size_t n = protobuf_c_message_get_packed_size(resp);
	if (n > TTRPC_MAX_MESSAGE)
		return -EMSGSIZE;
	uint8_t *buf = malloc(n ? n : 1);
	if (buf == NULL)
		return -ENOMEM;
	protobuf_c_message_pack(resp, buf);
	free(reply->data);
	reply->data = buf;
	reply->len = n;
	return 0;
}

/* ---- responses ---- */

static uint8_t *pack_response(Ttrpc__Response *resp, size_t *len)
{
	*len = ttrpc__response__get_packed_size(resp);
	uint8_t *buf = malloc(*len ? *len : 1);
	if (buf)
		ttrpc__response__pack(resp, buf);
	return buf;
}

/* Writes a Response frame; code != OK sends message instead of the payload. A write error
 * means the peer is gone, which the reader notices on its own, so it is dropped. */
static void send_response(struct conn *c, uint32_t stream_id, int code, const char *message,
			  const uint8_t *payload, size_t len)
{
	Ttrpc__Status status = TTRPC__STATUS__INIT;
	Ttrpc__Response resp = TTRPC__RESPONSE__INIT;
	status.code = code;
	status.message = (char *)(message ? message : "");
	resp.status = &status;
	if (code == TTRPC_OK) {
		resp.payload.data = (uint8_t *)payload;
		resp.payload.len = len;
	}
	size_t n;
	_cleanup_free_ uint8_t *buf = pack_response(&resp, &n);
	if (buf == NULL)
		return;
	if (n > TTRPC_MAX_MESSAGE) {
		send_response(c, stream_id, TTRPC_RESOURCE_EXHAUSTED,
			      "ttrpc: response exceeds the message size limit", NULL, 0);
		return;
	}
	pthread_mutex_lock(&c->write_lock);
	int r = ttrpc_write_frame(c->fd, stream_id, TTRPC_TYPE_RESPONSE, 0, buf, n, NULL);
	pthread_mutex_unlock(&c->write_lock);
	(void)r;
}

static void send_error(struct conn *c, uint32_t stream_id, pv_error e)
{
	int errnum = e ? e->errnum : 0;
	const char *msg = e && e->msg ? e->msg : strerror(errnum ? errnum : EIO);
	send_response(c, stream_id, ttrpc_code_from_errno(errnum), msg, NULL, 0);
}

/* ---- dispatch ---- */

static const struct ttrpc_method *find_method(struct ttrpc_server *s, const char *service,
					      const char *method)
{
	for (size_t i = 0; i < s->n_methods; i++)
		if (strcmp(s->methods[i].service, service) == 0 &&
		    strcmp(s->methods[i].method, method) == 0)
			return &s->methods[i];
	return NULL;
}

static int call_method(struct ttrpc_server *s, const Ttrpc__Request *req,
		       struct ttrpc_reply *reply, pv_error *err)
{
	const struct ttrpc_method *m = find_method(s, req->service, req->method);
	if (m == NULL)
		return pv_error_set_plain(err, ENOSYS, "unknown method %s/%s", req->service,
					  req->method);
	ProtobufCMessage *in = protobuf_c_message_unpack(m->request, NULL, req->payload.len,
							 req->payload.data);
	if (in == NULL)
		return pv_error_set_plain(err, EINVAL, "%s/%s: malformed %s", req->service,
					  req->method, m->request->name);
	int r = s->check ? s->check(in, err) : 0;
	if (r >= 0)
		r = m->handler(s->ctx, in, reply, err);
	protobuf_c_message_free_unpacked(in, NULL);
	if (r < 0 && *err == NULL)  /* a handler that forgot to say why */
		pv_error_set(err, -r, "%s/%s", req->service, req->method);
	return r < 0 ? r : 0;
}

static void handle_request(struct conn *c, uint32_t stream_id, const uint8_t *buf, size_t len)
{
	pv_error err = NULL;
	struct ttrpc_reply reply = { 0 };
	Ttrpc__Request *req = ttrpc__request__unpack(NULL, len, buf);
	int r;
	if (req == NULL) {
		r = pv_error_set_plain(&err, EINVAL, "ttrpc: malformed request envelope");
	} else {
		r = call_method(c->s, req, &reply, &err);
		ttrpc__request__free_unpacked(req, NULL);
	}
	if (r < 0)
		send_error(c, stream_id, err);
	else
		send_response(c, stream_id, TTRPC_OK, NULL, reply.data, reply.len);
	free(reply.data);
	pv_error_release(&err);
}

/* ---- per-request threads ---- */

/* Admits a request of len payload bytes, within the connection's limits. */
static bool conn_enter(struct conn *c, size_t len)
{
	pthread_mutex_lock(&c->lock);
	bool ok = c->n_requests < c->s->max_requests && c->request_bytes + len <= TTRPC_MAX_REQUEST_BYTES;
	if (ok) {
		c->n_requests++;
		c->request_bytes += len;
	}
	pthread_mutex_unlock(&c->lock);
	return ok;
}

static void conn_leave(struct conn *c, size_t len)
{
	pthread_mutex_lock(&c->lock);
	c->request_bytes -= len;
	if (--c->n_requests == 0)
		pthread_cond_broadcast(&c->idle);
	pthread_mutex_unlock(&c->lock);
}

static void *request_thread(void *arg)
{
	struct request_job *job = arg;
	struct conn *c = job->conn;
	size_t len = job->len;
	handle_request(c, job->stream_id, job->payload, job->len);
	free(job->payload);
	free(job);
	conn_leave(c, len);  /* last: serve_fd may return and drop c right after */
	return NULL;
}

static int start_detached(void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	pthread_t t;
	int r = pthread_attr_init(&attr);
	if (r)
		return -r;
	r = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (r == 0)
		r = pthread_create(&t, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	return -r;
}

/* Takes ownership of payload. */
static void start_request(struct conn *c, uint32_t stream_id, uint8_t *payload, size_t len)
{
	struct request_job *job = malloc(sizeof(*job));
	if (job == NULL) {
		free(payload);
		send_response(c, stream_id, TTRPC_RESOURCE_EXHAUSTED, "ttrpc: out of memory", NULL, 0);
		return;
	}
	*job = (struct request_job){ c, stream_id, payload, len };
	if (!conn_enter(c, len)) {
		free(payload);
		free(job);
		send_response(c, stream_id, TTRPC_RESOURCE_EXHAUSTED, "ttrpc: too many requests in flight", NULL, 0);
		return;
	}
	int r = start_detached(request_thread, job);
	if (r == 0)
		return;
	conn_leave(c, len);
	free(payload);
	free(job);
	send_response(c, stream_id, TTRPC_RESOURCE_EXHAUSTED,
		      "ttrpc: cannot start a handler thread", NULL, 0);
}

/* ---- serving a connection ---- */

/* Hands *src to the caller's error (unless that is already set) and returns r. */
static int forward_error(pv_error *dst, pv_error *src, int r)
{
	if (dst && *dst == NULL)
		*dst = steal_pointer(src);
	pv_error_release(src);
	return r;
}

static void reject_oversize(struct conn *c, const struct ttrpc_frame_header *h, pv_error e)
{
	if (h->type == TTRPC_TYPE_REQUEST)
		send_response(c, h->stream_id, TTRPC_RESOURCE_EXHAUSTED, e ? e->msg : NULL, NULL, 0);
}

static int serve_loop(struct conn *c, pv_error *err)
{
	for (;;) {
		struct ttrpc_frame_header h;
		uint8_t *payload;
		pv_error ferr = NULL;
		int r = ttrpc_read_frame_wake(c->fd, c->s->wake_fd, &h, &payload, &ferr);
		if (r == 1 || r == -ECANCELED) {  /* EOF or ttrpc_server_shutdown */
			pv_error_release(&ferr);
			return 0;
		}
		if (r == -EMSGSIZE) {
			reject_oversize(c, &h, ferr);
			pv_error_release(&ferr);
			continue;
		}
		if (r < 0)
			return forward_error(err, &ferr, r);
		if (h.type == TTRPC_TYPE_REQUEST)
			start_request(c, h.stream_id, payload, h.length);
		else
			free(payload);  /* streaming data is not supported: ignore it */
	}
}

int ttrpc_server_serve_fd(struct ttrpc_server *s, int fd, pv_error *err)
{
	struct conn c = { .s = s, .fd = fd };
	pthread_mutex_init(&c.write_lock, NULL);
	pthread_mutex_init(&c.lock, NULL);
	pthread_cond_init(&c.idle, NULL);
	int r = serve_loop(&c, err);
	pthread_mutex_lock(&c.lock);
	while (c.n_requests > 0)
		pthread_cond_wait(&c.idle, &c.lock);
	pthread_mutex_unlock(&c.lock);
	pthread_cond_destroy(&c.idle);
	pthread_mutex_destroy(&c.lock);
	pthread_mutex_destroy(&c.write_lock);
	return r;
}

/* ---- listener ---- */

struct conn_job {
	struct ttrpc_server *s;
	int fd;
};

static void server_conn_done(struct ttrpc_server *s)
{
	pthread_mutex_lock(&s->lock);
	if (--s->n_conns == 0)
		pthread_cond_broadcast(&s->idle);
	pthread_mutex_unlock(&s->lock);
}

static void *conn_thread(void *arg)
{
	struct conn_job *job = arg;
	struct ttrpc_server *s = job->s;
	pv_error err = NULL;
	/* A broken connection concerns only its peer: nothing to report to anyone here. */
	ttrpc_server_serve_fd(s, job->fd, &err);
	pv_error_release(&err);
	close(job->fd);
	free(job);
	server_conn_done(s);
	return NULL;
}

static void start_conn(struct ttrpc_server *s, int fd)
{
	struct conn_job *job = malloc(sizeof(*job));
	if (job == NULL) {
		close(fd);
		return;
	}
	*job = (struct conn_job){ s, fd };
	pthread_mutex_lock(&s->lock);
	s->n_conns++;
	pthread_mutex_unlock(&s->lock);
	if (start_detached(conn_thread, job) == 0)
		return;
	close(fd);
	free(job);
	server_conn_done(s);
}

/* Waits for the listener or the shutdown fd. Returns 0 when a connection may be waiting,
 * 1 on shutdown, -errno on failure. */
static int wait_listener(int listen_fd, int wake_fd, int timeout_ms)
{
	struct pollfd p[2] = {
		{ .fd = listen_fd, .events = POLLIN },
		{ .fd = wake_fd, .events = POLLIN },
	};
	if (poll(p, 2, timeout_ms) < 0)
		return errno == EINTR ? 0 : -errno;
	if (p[1].revents)
		return 1;
	return p[0].revents & POLLNVAL ? -EBADF : 0;
}

static bool accept_error_is_transient(int e)
{
	return e == EINTR || e == EAGAIN || e == ECONNABORTED || e == EPROTO || e == EPERM ||
	       e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM;
}

/* Returns 0 with *fd set or -1 with none, 1 on shutdown, -errno on a listener failure. */
static int accept_one(struct ttrpc_server *s, int listen_fd, int *fd, pv_error *err)
{
	*fd = -1;
	int r = wait_listener(listen_fd, s->wake_fd, -1);
	if (r != 0)
		return r < 0 ? pv_error_set(err, -r, "ttrpc: polling listener") : 1;
	*fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (*fd >= 0)
		return 0;
	int e = errno;
	if (!accept_error_is_transient(e))
		return pv_error_set(err, e, "ttrpc: accept");
	if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM)
		return wait_listener(-1, s->wake_fd, ACCEPT_BACKOFF_MS) == 1 ? 1 : 0;
	return 0;
}

int ttrpc_server_serve_listener(struct ttrpc_server *s, int listen_fd, pv_error *err)
{
	int r;
	do {
		int fd;
		r = accept_one(s, listen_fd, &fd, err);
		if (r == 0 && fd >= 0)
			start_conn(s, fd);
	} while (r == 0);
	/* Connections see the same shutdown fd; wait so that s outlives their threads. */
	pthread_mutex_lock(&s->lock);
	while (s->n_conns > 0)
		pthread_cond_wait(&s->idle, &s->lock);
	pthread_mutex_unlock(&s->lock);
	return r < 0 ? r : 0;
}

/* ---- lifetime ---- */

int ttrpc_server_new(const struct ttrpc_method *methods, size_t n_methods, void *ctx,
		     struct ttrpc_server **out, pv_error *err)
{
	struct ttrpc_server *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return pv_error_set(err, ENOMEM, "ttrpc: new server");
	s->wake_fd = ttrpc_wake_new();
	if (s->wake_fd < 0) {
		int e = -s->wake_fd;
		free(s);
		return pv_error_set(err, e, "ttrpc: eventfd");
	}
	s->methods = methods;
	s->n_methods = n_methods;
	s->ctx = ctx;
	s->max_requests = TTRPC_DEFAULT_MAX_REQUESTS;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->idle, NULL);
	*out = s;
	return 0;
}

void ttrpc_server_set_max_requests(struct ttrpc_server *s, unsigned n)
{
	s->max_requests = n;
}

void ttrpc_server_set_check(struct ttrpc_server *s, ttrpc_check_fn check)
{
	s->check = check;
}

void ttrpc_server_shutdown(struct ttrpc_server *s)
{
	ttrpc_wake(s->wake_fd);
}

void ttrpc_server_free(struct ttrpc_server *s)
{
	if (s == NULL)
		return;
	close(s->wake_fd);
	pthread_cond_destroy(&s->idle);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
