/* ttrpc client and server end to end, over socketpairs, a listening socket and a pty (a
 * character device like virtio-serial, where shutdown(2) does not work). The messages are
 * the agent's; the handlers are test doubles. */
#include "tap.h"
#include "ttrpc.h"
#include "ttrpc.pb-c.h"
#include "agent.pb-c.h"
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#define SVC "podvm.agent.v1.Agent"
#define WORKERS 4
#define CALLS_PER_WORKER 100

static const char *msg_of(pv_error e)
{
	return e && e->msg ? e->msg : "(no message)";
}

/* ---- a gate that WaitProcess handlers block on until it opens ---- */

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int waiting;
	bool open;
	uint32_t value;
} gate = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, false, 0 };

static void gate_open(uint32_t value)
{
	pthread_mutex_lock(&gate.lock);
	gate.open = true;
	gate.value = value;
	pthread_cond_broadcast(&gate.cond);
	pthread_mutex_unlock(&gate.lock);
}

/* Waits until exactly n handlers are blocked on the gate. */
static void gate_wait_for(int n)
{
	pthread_mutex_lock(&gate.lock);
	while (gate.waiting != n)
		pthread_cond_wait(&gate.cond, &gate.lock);
	pthread_mutex_unlock(&gate.lock);
}

static void gate_close(void)
{
	gate_wait_for(0);
	pthread_mutex_lock(&gate.lock);
	gate.open = false;
	pthread_mutex_unlock(&gate.lock);
}

/* ---- handlers ---- */

struct rig;
static void rig_shutdown_server(struct rig *r);

static int h_ping(void *ctx, const ProtobufCMessage *req, struct ttrpc_reply *reply,
		  pv_error *err)
{
	(void)ctx, (void)req, (void)err;
	Podvm__Agent__V1__PingResponse resp = PODVM__AGENT__V1__PING_RESPONSE__INIT;
	resp.agent_version = "test-agent";
	resp.kernel_release = "6.1-test";
	return ttrpc_reply_set(reply, &resp.base);
}

/* Echoes "container/exec"; max_bytes of one over the limit asks for an answer that big. */
static int h_read_output(void *ctx, const ProtobufCMessage *msg, struct ttrpc_reply *reply,
			 pv_error *err)
{
	(void)ctx, (void)err;
	const Podvm__Agent__V1__ReadOutputRequest *req = (const void *)msg;
	Podvm__Agent__V1__ReadOutputResponse resp = PODVM__AGENT__V1__READ_OUTPUT_RESPONSE__INIT;
	char echo[256];
	int n = snprintf(echo, sizeof(echo), "%s/%s", req->container_id, req->exec_id);
	resp.data.data = (uint8_t *)echo;
	resp.data.len = n < (int)sizeof(echo) ? (size_t)n : sizeof(echo) - 1;
	uint8_t *big = NULL;
	if (req->max_bytes == TTRPC_MAX_MESSAGE + 1) {
		big = calloc(1, req->max_bytes);
		resp.data.data = big;
		resp.data.len = req->max_bytes;
	}
	int r = ttrpc_reply_set(reply, &resp.base);
	free(big);
	return r;
}

static int h_wait_process(void *ctx, const ProtobufCMessage *req, struct ttrpc_reply *reply,
			  pv_error *err)
{
	(void)ctx, (void)req, (void)err;
	Podvm__Agent__V1__WaitResponse resp = PODVM__AGENT__V1__WAIT_RESPONSE__INIT;
	pthread_mutex_lock(&gate.lock);
	gate.waiting++;
	pthread_cond_broadcast(&gate.cond);
	while (!gate.open)
		pthread_cond_wait(&gate.cond, &gate.lock);
	resp.exit_status = gate.value;
	gate.waiting--;
	pthread_cond_broadcast(&gate.cond);
	pthread_mutex_unlock(&gate.lock);
	return ttrpc_reply_set(reply, &resp.base);
}

static int h_signal_process(void *ctx, const ProtobufCMessage *msg, struct ttrpc_reply *reply,
			    pv_error *err)
{
	(void)ctx, (void)reply, (void)err;
	const Podvm__Agent__V1__SignalRequest *req = (const void *)msg;
	gate_open(req->signal);
	return 0;
}

static int h_remove_container(void *ctx, const ProtobufCMessage *msg, struct ttrpc_reply *reply,
			      pv_error *err)
{
	(void)ctx, (void)reply;
	const Podvm__Agent__V1__ContainerRequest *req = (const void *)msg;
	return pv_error_set_plain(err, ENOENT, "container \"%s\" not found", req->container_id);
}

/* A handler that fails without filling err. */
static int h_create_container(void *ctx, const ProtobufCMessage *req, struct ttrpc_reply *reply,
			      pv_error *err)
{
	(void)ctx, (void)req, (void)reply, (void)err;
	return -EEXIST;
}

static int h_shutdown(void *ctx, const ProtobufCMessage *req, struct ttrpc_reply *reply,
		      pv_error *err)
{
	(void)req, (void)reply, (void)err;
	rig_shutdown_server(ctx);
	return 0;
}

static const struct ttrpc_method methods[] = {
	{ SVC, "Ping", &podvm__agent__v1__ping_request__descriptor, h_ping },
	{ SVC, "ReadOutput", &podvm__agent__v1__read_output_request__descriptor, h_read_output },
	{ SVC, "WaitProcess", &podvm__agent__v1__process_request__descriptor, h_wait_process },
	{ SVC, "SignalProcess", &podvm__agent__v1__signal_request__descriptor, h_signal_process },
	{ SVC, "RemoveContainer", &podvm__agent__v1__container_request__descriptor,
	  h_remove_container },
	{ SVC, "CreateContainer", &podvm__agent__v1__create_container_request__descriptor,
	  h_create_container },
	{ SVC, "Shutdown", &podvm__agent__v1__empty__descriptor, h_shutdown },
};

/* ---- a server thread on one fd, a client (or the test itself) on the other ---- */

struct rig {
	struct ttrpc_server *s;
	struct ttrpc_client *c;   /* NULL when the test speaks raw frames on peer_fd */
	int peer_fd;
	int server_fd;
	int listen_fd;            /* >= 0: serve_listener instead of serve_fd */
	pthread_t thread;
	int serve_rc;
};

static void rig_shutdown_server(struct rig *r)
{
	ttrpc_server_shutdown(r->s);
}

static void *serve_thread(void *arg)
{
	struct rig *r = arg;
	pv_error err = NULL;
	if (r->listen_fd >= 0)
		r->serve_rc = ttrpc_server_serve_listener(r->s, r->listen_fd, &err);
	else
		r->serve_rc = ttrpc_server_serve_fd(r->s, r->server_fd, &err);
	if (err)
		diag("serve: %s", msg_of(err));
	pv_error_release(&err);
	return NULL;
}

static void rig_serve(struct rig *r)
{
	if (ttrpc_server_new(methods, sizeof(methods) / sizeof(methods[0]), r, &r->s, NULL) < 0)
		abort();
	pthread_create(&r->thread, NULL, serve_thread, r);
}

/* with_client: a ttrpc client on the other end; else the test writes raw frames there. */
static void rig_start(struct rig *r, bool with_client)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	*r = (struct rig){ .peer_fd = sv[0], .server_fd = sv[1], .listen_fd = -1 };
	rig_serve(r);
	if (with_client && ttrpc_client_new(sv[0], &r->c, NULL) < 0)
		abort();
}

/* Closes the client end, so that serve_fd sees EOF, and waits for it. */
static int rig_stop(struct rig *r)
{
	if (r->c)
		ttrpc_client_free(r->c);
	else
		close(r->peer_fd);
	pthread_join(r->thread, NULL);
	if (r->server_fd >= 0)
		close(r->server_fd);
	ttrpc_server_free(r->s);
	return r->serve_rc;
}

/* ---- calls ---- */

static int ping(struct ttrpc_client *c, int timeout_ms, pv_error *err)
{
	Podvm__Agent__V1__PingRequest req = PODVM__AGENT__V1__PING_REQUEST__INIT;
	ProtobufCMessage *out = NULL;
	int r = ttrpc_client_call(c, SVC, "Ping", &req.base,
				  &podvm__agent__v1__ping_response__descriptor, &out, timeout_ms,
				  err);
	if (r == 0) {
		Podvm__Agent__V1__PingResponse *resp = (void *)out;
		if (strcmp(resp->agent_version, "test-agent") != 0)
			r = -EBADMSG;
		protobuf_c_message_free_unpacked(out, NULL);
	}
	return r;
}

/* Calls ReadOutput and checks the echo; 1 when it matches. */
static bool echo_ok(struct ttrpc_client *c, const char *a, const char *b)
{
	Podvm__Agent__V1__ReadOutputRequest req = PODVM__AGENT__V1__READ_OUTPUT_REQUEST__INIT;
	req.container_id = (char *)a;
	req.exec_id = (char *)b;
	ProtobufCMessage *out = NULL;
	pv_error err = NULL;
	int r = ttrpc_client_call(c, SVC, "ReadOutput", &req.base,
				  &podvm__agent__v1__read_output_response__descriptor, &out, 0,
				  &err);
	if (r < 0) {
		pv_error_release(&err);
		return false;
	}
	Podvm__Agent__V1__ReadOutputResponse *resp = (void *)out;
	char want[256];
	snprintf(want, sizeof(want), "%s/%s", a, b);
	bool good = resp->data.len == strlen(want) && memcmp(resp->data.data, want,
							      resp->data.len) == 0;
	protobuf_c_message_free_unpacked(out, NULL);
	return good;
}

static int wait_process(struct ttrpc_client *c, int timeout_ms, uint32_t *status, pv_error *err)
{
	Podvm__Agent__V1__ProcessRequest req = PODVM__AGENT__V1__PROCESS_REQUEST__INIT;
	req.container_id = "c1";
	ProtobufCMessage *out = NULL;
	int r = ttrpc_client_call(c, SVC, "WaitProcess", &req.base,
				  &podvm__agent__v1__wait_response__descriptor, &out, timeout_ms,
				  err);
	if (r == 0) {
		*status = ((Podvm__Agent__V1__WaitResponse *)out)->exit_status;
		protobuf_c_message_free_unpacked(out, NULL);
	}
	return r;
}

struct waiter {
	struct ttrpc_client *c;
	pthread_t thread;
	int rc;
	uint32_t status;
	atomic_bool done;
};

static void *waiter_thread(void *arg)
{
	struct waiter *w = arg;
	pv_error err = NULL;
	w->rc = wait_process(w->c, 0, &w->status, &err);
	pv_error_release(&err);
	atomic_store(&w->done, true);
	return NULL;
}

static void start_waiter(struct waiter *w, struct ttrpc_client *c)
{
	*w = (struct waiter){ .c = c };
	pthread_create(&w->thread, NULL, waiter_thread, w);
}

/* ---- tests ---- */

static void test_calls(struct ttrpc_client *c)
{
	pv_error err = NULL;
	int r = ping(c, 1000, &err);
	ok(r == 0, "Ping answers (%d %s)", r, msg_of(err));
	pv_error_release(&err);

	Podvm__Agent__V1__ContainerRequest creq = PODVM__AGENT__V1__CONTAINER_REQUEST__INIT;
	creq.container_id = "abc";
	ProtobufCMessage *out = NULL;
	r = ttrpc_client_call(c, SVC, "RemoveContainer", &creq.base,
			      &podvm__agent__v1__empty__descriptor, &out, 0, &err);
	ok(r == -ENOENT && out == NULL && err && strcmp(msg_of(err), "container \"abc\" not found") == 0,
	   "a handler's error arrives as its errno and its message as-is (%d \"%s\")", r,
	   msg_of(err));
	pv_error_release(&err);

	Podvm__Agent__V1__CreateContainerRequest cc = PODVM__AGENT__V1__CREATE_CONTAINER_REQUEST__INIT;
	r = ttrpc_client_call(c, SVC, "CreateContainer", &cc.base,
			      &podvm__agent__v1__empty__descriptor, &out, 0, &err);
	ok(r == -EEXIST && err && err->msg && err->msg[0],
	   "a handler failing without a message still reports its errno (%s)", msg_of(err));
	pv_error_release(&err);
}

static void test_unknown_and_malformed(struct ttrpc_client *c)
{
	pv_error err = NULL;
	Podvm__Agent__V1__PingRequest req = PODVM__AGENT__V1__PING_REQUEST__INIT;
	ProtobufCMessage *out = NULL;
	int r = ttrpc_client_call(c, SVC, "Nope", &req.base, &podvm__agent__v1__empty__descriptor,
				  &out, 0, &err);
	ok(r == -ENOSYS && err && strstr(msg_of(err), "Nope"),
	   "unknown method: -ENOSYS naming it (%s)", msg_of(err));
	pv_error_release(&err);
	r = ttrpc_client_call(c, "no.Such", "Ping", &req.base,
			      &podvm__agent__v1__empty__descriptor, &out, 0, &err);
	ok(r == -ENOSYS && strstr(msg_of(err), "no.Such"), "unknown service: -ENOSYS (%s)",
	   msg_of(err));
	pv_error_release(&err);

	/* WriteStdinRequest.data (field 3, bytes) where ReadOutputRequest has a uint32. */
	Podvm__Agent__V1__WriteStdinRequest bad = PODVM__AGENT__V1__WRITE_STDIN_REQUEST__INIT;
	bad.data.data = (uint8_t *)"xyz";
	bad.data.len = 3;
	r = ttrpc_client_call(c, SVC, "ReadOutput", &bad.base,
			      &podvm__agent__v1__read_output_response__descriptor, &out, 0, &err);
	ok(r == -EINVAL && out == NULL, "request that does not unpack: -EINVAL (%s)", msg_of(err));
	pv_error_release(&err);
}

/* A server-wide check (ttrpc_server_set_check): refuses container "bad" before any
 * handler runs. */
static int refuse_bad(const ProtobufCMessage *req, pv_error *err)
{
	const Podvm__Agent__V1__ContainerRequest *c = (const void *)req;
	if (req->descriptor == &podvm__agent__v1__container_request__descriptor &&
	    strcmp(c->container_id, "bad") == 0)
		return pv_error_set_plain(err, EPERM, "container \"bad\" refused");
	return 0;
}

static void test_check(void)
{
	struct rig r;
	rig_start(&r, true);
	ttrpc_server_set_check(r.s, refuse_bad);
	pv_error err = NULL;
	Podvm__Agent__V1__ContainerRequest req = PODVM__AGENT__V1__CONTAINER_REQUEST__INIT;
	ProtobufCMessage *out = NULL;
	req.container_id = "bad";
	int rc = ttrpc_client_call(r.c, SVC, "RemoveContainer", &req.base, &podvm__agent__v1__empty__descriptor,
				   &out, 0, &err);
	ok(rc == -EPERM && strcmp(msg_of(err), "container \"bad\" refused") == 0,
	   "a request the check refuses: its error, no handler (%s)", msg_of(err));
	pv_error_release(&err);
	req.container_id = "other";
	rc = ttrpc_client_call(r.c, SVC, "RemoveContainer", &req.base, &podvm__agent__v1__empty__descriptor,
			       &out, 0, &err);
	ok(rc == -ENOENT && strstr(msg_of(err), "other"), "one it lets through reaches its handler (%s)",
	   msg_of(err));
	pv_error_release(&err);
	ok(rig_stop(&r) == 0, "check: serve_fd returns 0");
}

static void test_oversize_calls(struct ttrpc_client *c)
{
	pv_error err = NULL;
	Podvm__Agent__V1__WriteStdinRequest big = PODVM__AGENT__V1__WRITE_STDIN_REQUEST__INIT;
	big.data.len = TTRPC_MAX_MESSAGE + 1;
	big.data.data = calloc(1, big.data.len);
	ProtobufCMessage *out = NULL;
	int r = ttrpc_client_call(c, SVC, "WriteStdin", &big.base,
				  &podvm__agent__v1__write_stdin_response__descriptor, &out, 0,
				  &err);
	ok(r == -EMSGSIZE, "oversize request refused by the client (%s)", msg_of(err));
	pv_error_release(&err);
	free(big.data.data);

	Podvm__Agent__V1__ReadOutputRequest req = PODVM__AGENT__V1__READ_OUTPUT_REQUEST__INIT;
	req.max_bytes = TTRPC_MAX_MESSAGE + 1;
	r = ttrpc_client_call(c, SVC, "ReadOutput", &req.base,
			      &podvm__agent__v1__read_output_response__descriptor, &out, 0, &err);
	ok(r == -EMSGSIZE, "oversize answer becomes RESOURCE_EXHAUSTED (%s)", msg_of(err));
	pv_error_release(&err);
	r = ping(c, 1000, &err);
	ok(r == 0, "the connection still works afterwards");
	pv_error_release(&err);
}

struct worker {
	struct ttrpc_client *c;
	int id;
	int good;
	pthread_t thread;
};

static void *worker_thread(void *arg)
{
	struct worker *w = arg;
	char a[32], b[32];
	snprintf(a, sizeof(a), "worker-%d", w->id);
	for (int i = 0; i < CALLS_PER_WORKER; i++) {
		snprintf(b, sizeof(b), "call-%d", i);
		w->good += echo_ok(w->c, a, b);
	}
	return NULL;
}

/* A WaitProcess sent first blocks in its handler while hundreds of calls from other threads
 * are answered, and is released by one of them: answers come back out of order. */
static void test_concurrency(struct ttrpc_client *c)
{
	struct waiter w;
	start_waiter(&w, c);
	gate_wait_for(1);
	struct worker workers[WORKERS];
	for (int i = 0; i < WORKERS; i++) {
		workers[i] = (struct worker){ .c = c, .id = i };
		pthread_create(&workers[i].thread, NULL, worker_thread, &workers[i]);
	}
	int good = 0;
	for (int i = 0; i < WORKERS; i++) {
		pthread_join(workers[i].thread, NULL);
		good += workers[i].good;
	}
	ok(good == WORKERS * CALLS_PER_WORKER, "%d concurrent calls from %d threads: %d right",
	   WORKERS * CALLS_PER_WORKER, WORKERS, good);
	ok(!atomic_load(&w.done), "the blocked call is still waiting meanwhile");

	Podvm__Agent__V1__SignalRequest sig = PODVM__AGENT__V1__SIGNAL_REQUEST__INIT;
	sig.signal = 42;
	ProtobufCMessage *out = NULL;
	pv_error err = NULL;
	int r = ttrpc_client_call(c, SVC, "SignalProcess", &sig.base,
				  &podvm__agent__v1__empty__descriptor, &out, 1000, &err);
	protobuf_c_message_free_unpacked(out, NULL);
	pv_error_release(&err);
	pthread_join(w.thread, NULL);
	ok(r == 0 && w.rc == 0 && w.status == 42, "another call releases it: answer %u",
	   w.status);
	gate_close();
}

static void test_timeout(struct ttrpc_client *c)
{
	pv_error err = NULL;
	uint32_t status = 0;
	long long t0 = pv_now_ms();
	int r = wait_process(c, 100, &status, &err);
	long long took = pv_now_ms() - t0;
	ok(r == -ETIMEDOUT && took >= 90 && took < 5000, "timeout: -ETIMEDOUT after %lld ms (%s)",
	   took, msg_of(err));
	pv_error_release(&err);
	gate_wait_for(1);
	gate_open(1);  /* the late answer must be dropped, not given to the next call */
	gate_close();
	ok(echo_ok(c, "after", "timeout"), "the next call gets its own answer");
}

/* Each request in flight holds a thread: past the limit, one is refused at once. */
static void test_request_limit(void)
{
	struct rig r;
	rig_start(&r, true);
	ttrpc_server_set_max_requests(r.s, 3);
	struct waiter w[3];
	for (int i = 0; i < 3; i++)
		start_waiter(&w[i], r.c);
	gate_wait_for(3);
	pv_error err = NULL;
	uint32_t status = 0;
	int rc = wait_process(r.c, 5000, &status, &err);
	ok(rc < 0 && err && strstr(err->msg, "too many requests in flight"),
	   "a request past the limit is refused at once: %s", msg_of(err));
	pv_error_release(&err);
	gate_open(5);
	for (int i = 0; i < 3; i++)
		pthread_join(w[i].thread, NULL);
	gate_close();
	ok(w[0].rc == 0 && w[1].rc == 0 && w[2].rc == 0, "the requests within it are answered");
	ok(echo_ok(r.c, "after", "limit"), "and later ones are served again");
	ok(rig_stop(&r) == 0, "serve_fd returns");
}

static void test_client_suite(void)
{
	struct rig r;
	rig_start(&r, true);
	test_calls(r.c);
	test_unknown_and_malformed(r.c);
	test_oversize_calls(r.c);
	test_concurrency(r.c);
	test_timeout(r.c);
	ok(rig_stop(&r) == 0, "serve_fd returns 0 when the client goes away");
}

/* ---- raw frames against the server ---- */

static void raw_send(int fd, uint32_t id, uint8_t type, const void *payload, size_t len)
{
	struct ttrpc_frame_header h = { .length = (uint32_t)len, .stream_id = id, .type = type };
	uint8_t raw[TTRPC_HEADER_SIZE];
	ttrpc_header_encode(&h, raw);
	if (pv_write_all(fd, raw, sizeof(raw)) < 0 || pv_write_all(fd, payload, len) < 0)
		abort();
}

static void raw_request(int fd, uint32_t id, const char *method, const uint8_t *payload,
			size_t len)
{
	Ttrpc__Request req = TTRPC__REQUEST__INIT;
	req.service = SVC;
	req.method = (char *)method;
	req.payload.data = (uint8_t *)payload;
	req.payload.len = len;
	uint8_t buf[256];
	size_t n = ttrpc__request__pack(&req, buf);
	raw_send(fd, id, TTRPC_TYPE_REQUEST, buf, n);
}

/* Reads one response; returns its status code (0 for none), or -1 on a framing failure. */
static int raw_response(int fd, uint32_t *stream_id)
{
	struct ttrpc_frame_header h;
	uint8_t *payload = NULL;
	if (ttrpc_read_frame(fd, &h, &payload, NULL) != 0 || h.type != TTRPC_TYPE_RESPONSE)
		return -1;
	Ttrpc__Response *resp = ttrpc__response__unpack(NULL, h.length, payload);
	free(payload);
	if (resp == NULL)
		return -1;
	int code = resp->status ? resp->status->code : 0;
	ttrpc__response__free_unpacked(resp, NULL);
	*stream_id = h.stream_id;
	return code;
}

static void test_raw_frames(void)
{
	struct rig r;
	rig_start(&r, false);
	int fd = r.peer_fd;
	uint32_t id = 0;

	raw_send(fd, 3, TTRPC_TYPE_REQUEST, "\xff\xff\xff\xff", 4);
	int code = raw_response(fd, &id);
	ok(code == TTRPC_INVALID_ARGUMENT && id == 3,
	   "garbage request envelope: INVALID_ARGUMENT on its stream (code %d, stream %u)", code,
	   id);

	/* The server discards the payload while we write it, so this does not block for long. */
	size_t big = TTRPC_MAX_MESSAGE + 1;
	uint8_t *zeros = calloc(1, big);
	raw_send(fd, 5, TTRPC_TYPE_REQUEST, zeros, big);
	free(zeros);
	code = raw_response(fd, &id);
	ok(code == TTRPC_RESOURCE_EXHAUSTED && id == 5,
	   "oversize request frame: RESOURCE_EXHAUSTED (code %d, stream %u)", code, id);

	raw_send(fd, 7, 0x7f, "junk", 4);
	raw_send(fd, 9, TTRPC_TYPE_DATA, "data", 4);
	raw_request(fd, 11, "Ping", NULL, 0);
	code = raw_response(fd, &id);
	ok(code == TTRPC_OK && id == 11,
	   "frames of unknown type and data frames are ignored; the next request works (stream %u)",
	   id);

	raw_request(fd, 13, "ReadOutput", (const uint8_t *)"\xff\xff", 2);
	code = raw_response(fd, &id);
	ok(code == TTRPC_INVALID_ARGUMENT && id == 13,
	   "payload that does not unpack: INVALID_ARGUMENT (code %d)", code);

	raw_send(fd, 15, TTRPC_TYPE_REQUEST, "\x0a\x05", 2);  /* truncated service string */
	code = raw_response(fd, &id);
	ok(code == TTRPC_INVALID_ARGUMENT && id == 15, "truncated envelope: INVALID_ARGUMENT");
	ok(rig_stop(&r) == 0, "serve_fd returns 0 at EOF");

	/* EOF in the middle of a frame is not a clean end. */
	rig_start(&r, false);
	raw_send(r.peer_fd, 1, TTRPC_TYPE_REQUEST, NULL, 0);
	uint32_t len_only = 0x00000100;
	if (write(r.peer_fd, &len_only, 3) != 3)
		abort();
	raw_response(r.peer_fd, &id);  /* the empty request's answer */
	ok(rig_stop(&r) == -ECONNRESET, "EOF inside a frame: serve_fd returns -ECONNRESET");
}

/* ---- raw frames against the client: a peer that sends anything (a guest's agent) ---- */

static void send_response_payload(int fd, uint32_t stream, const Ttrpc__Response *resp)
{
	size_t n = ttrpc__response__get_packed_size(resp);
	uint8_t *buf = malloc(n ? n : 1);
	ttrpc__response__pack(resp, buf);
	raw_send(fd, stream, TTRPC_TYPE_RESPONSE, buf, n);
	free(buf);
}

static void answer_ping(int fd, uint32_t stream)
{
	Podvm__Agent__V1__PingResponse pr = PODVM__AGENT__V1__PING_RESPONSE__INIT;
	pr.agent_version = "test-agent";
	uint8_t buf[64];
	Ttrpc__Response resp = TTRPC__RESPONSE__INIT;
	resp.payload.data = buf;
	resp.payload.len = podvm__agent__v1__ping_response__pack(&pr, buf);
	send_response_payload(fd, stream, &resp);
}

/* A header that announces 1 GiB, and nothing more. */
static void answer_oversize(int fd, uint32_t stream)
{
	struct ttrpc_frame_header h = { .length = 1u << 30, .stream_id = stream, .type = TTRPC_TYPE_RESPONSE };
	uint8_t raw[TTRPC_HEADER_SIZE];
	ttrpc_header_encode(&h, raw);
	if (pv_write_all(fd, raw, sizeof(raw)) < 0)
		abort();
}

static void answer_unasked(int fd, uint32_t stream)
{
	answer_ping(fd, stream + 2);
}

static void answer_data(int fd, uint32_t stream)
{
	raw_send(fd, stream, TTRPC_TYPE_DATA, "data", 4);
}

/* Half a frame, then the end of the connection. */
static void answer_truncated(int fd, uint32_t stream)
{
	struct ttrpc_frame_header h = { .length = 100, .stream_id = stream, .type = TTRPC_TYPE_RESPONSE };
	uint8_t raw[TTRPC_HEADER_SIZE + 50] = { 0 };
	ttrpc_header_encode(&h, raw);
	if (pv_write_all(fd, raw, sizeof(raw)) < 0)
		abort();
	shutdown(fd, SHUT_WR);
}

static void answer_garbage(int fd, uint32_t stream)
{
	raw_send(fd, stream, TTRPC_TYPE_RESPONSE, "\xff\xff\xff\xff\xff", 5);
}

/* Within the size limit, but 2 million unknown fields, which protobuf-c would keep one by
 * one (some 200 MiB). */
static void answer_amplified(int fd, uint32_t stream)
{
	size_t n = TTRPC_MAX_MESSAGE - 16;
	uint8_t *buf = malloc(n);
	for (size_t i = 0; i + 1 < n; i += 2) {
		buf[i] = 15 << 3;  /* field 15, varint */
		buf[i + 1] = 0;
	}
	raw_send(fd, stream, TTRPC_TYPE_RESPONSE, buf, n & ~(size_t)1);
	free(buf);
}

/* An error whose message is 100 KiB of lines and terminal escapes. */
static void answer_hostile_status(int fd, uint32_t stream)
{
	static const char line[] = "agent says\n\x1b[2J\x1b]0;pwned\x07\r";
	size_t n = 100 << 10;
	char *msg = malloc(n + 1);
	for (size_t i = 0; i < n; i++)
		msg[i] = line[i % (sizeof(line) - 1)];
	msg[n] = '\0';
	Ttrpc__Status st = TTRPC__STATUS__INIT;
	st.code = TTRPC_INTERNAL;
	st.message = msg;
	Ttrpc__Response resp = TTRPC__RESPONSE__INIT;
	resp.status = &st;
	send_response_payload(fd, stream, &resp);
	free(msg);
}

struct hostile_peer {
	int fd;
	void (*answer)(int fd, uint32_t stream);
	pthread_t thread;
};

/* Answers the first request its hostile way and a second one well, if it comes. */
static void *hostile_peer_main(void *arg)
{
	struct hostile_peer *p = arg;
	for (int i = 0; i < 2; i++) {
		struct ttrpc_frame_header h;
		uint8_t *payload = NULL;
		if (ttrpc_read_frame(p->fd, &h, &payload, NULL) != 0)
			break;
		free(payload);
		(i == 0 ? p->answer : answer_ping)(p->fd, h.stream_id);
	}
	return NULL;
}

struct hostile_result {
	int rc, next_rc;        /* the first Ping's and the second's */
	long long ms;           /* how long the first took */
	char msg[2048], next_msg[2048];
};

/* Two Pings (2 s timeout each) on a fresh client whose peer answers the first with answer. */
static void hostile_pings(void (*answer)(int, uint32_t), struct hostile_result *out)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	struct hostile_peer p = { .fd = sv[1], .answer = answer };
	pthread_create(&p.thread, NULL, hostile_peer_main, &p);
	struct ttrpc_client *c = NULL;
	if (ttrpc_client_new(sv[0], &c, NULL) < 0)
		abort();
	pv_error err = NULL;
	long long t0 = pv_now_ms();
	out->rc = ping(c, 2000, &err);
	out->ms = pv_now_ms() - t0;
	snprintf(out->msg, sizeof(out->msg), "%s", msg_of(err));
	pv_error_release(&err);
	out->next_rc = ping(c, 2000, &err);
	snprintf(out->next_msg, sizeof(out->next_msg), "%s", msg_of(err));
	pv_error_release(&err);
	ttrpc_client_free(c);  /* the peer, if still reading, sees EOF */
	pthread_join(p.thread, NULL);
	close(sv[1]);
}

static bool one_line_of_text(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static void test_hostile_peer(void)
{
	struct hostile_result r;
	hostile_pings(answer_ping, &r);
	ok(r.rc == 0 && r.next_rc == 0, "a peer that answers well: both calls work (%s)", r.msg);

	hostile_pings(answer_oversize, &r);
	ok(r.rc == -EPROTO && strstr(r.msg, "frame of 1073741824 bytes on stream 1 exceeds") && r.ms < 1000,
	   "a header announcing 1 GiB ends the connection at once, unread: %d in %lld ms (%s)", r.rc, r.ms, r.msg);
	ok(r.next_rc == -EPROTO && strstr(r.next_msg, "exceeds"), "later calls fail with the same reason (%s)",
	   r.next_msg);

	hostile_pings(answer_unasked, &r);
	ok(r.rc == -EPROTO && strstr(r.msg, "response on stream 3, which no call waits for") && r.ms < 1000,
	   "a response on a stream no call opened ends the connection: %d (%s)", r.rc, r.msg);

	hostile_pings(answer_data, &r);
	ok(r.rc == -EPROTO && strstr(r.msg, "unexpected frame of type 3 on stream 1"),
	   "a data frame (podvm opens no streams) ends the connection (%s)", r.msg);

	hostile_pings(answer_truncated, &r);
	ok(r.rc == -ECONNRESET && strstr(r.msg, "connection closed inside a frame payload"),
	   "half a frame, then EOF: the call says so (%s)", r.msg);

	hostile_pings(answer_garbage, &r);
	ok(r.rc == -EBADMSG && strstr(r.msg, "malformed ttrpc.Response"), "an answer that does not decode (%s)",
	   r.msg);
	ok(r.next_rc == 0, "fails only its call: the next one works (%s)", r.next_msg);

	hostile_pings(answer_amplified, &r);
	ok(r.rc == -EBADMSG && strstr(r.msg, "bytes to decode"),
	   "4 MiB of tiny unknown fields: refused within the decode budget (%s)", r.msg);
	ok(r.next_rc == 0, "and the next call works (%s)", r.next_msg);

	hostile_pings(answer_hostile_status, &r);
	ok(r.rc == -EIO && one_line_of_text(r.msg) && strlen(r.msg) < 1024 && strstr(r.msg, "agent says"),
	   "an error message of lines and escapes arrives as one bounded line (%zu bytes)", strlen(r.msg));
}

/* Random request payloads (seeded, so a failure can be replayed): each gets one answer and
 * the server stays up. The answers are drained while the requests are still being sent. */
#define FUZZ_FRAMES 2000

static void *fuzz_writer(void *arg)
{
	int fd = *(int *)arg;
	unsigned seed = 12345;
	uint8_t buf[64];
	for (int i = 0; i < FUZZ_FRAMES; i++) {
		size_t len = (size_t)rand_r(&seed) % sizeof(buf);
		for (size_t j = 0; j < len; j++)
			buf[j] = (uint8_t)rand_r(&seed);
		/* Now and then a valid envelope around junk for a real method. */
		if (i % 4 == 0)
			raw_request(fd, 2 * (uint32_t)i + 1, "ReadOutput", buf, len);
		else
			raw_send(fd, 2 * (uint32_t)i + 1, TTRPC_TYPE_REQUEST, buf, len);
	}
	return NULL;
}

static void test_fuzz(void)
{
	struct rig r;
	rig_start(&r, false);
	pthread_t t;
	pthread_create(&t, NULL, fuzz_writer, &r.peer_fd);
	int answered = 0, ok_or_error = 0;
	uint32_t id;
	for (int i = 0; i < FUZZ_FRAMES; i++) {
		int code = raw_response(r.peer_fd, &id);
		answered += code >= 0;
		/* RESOURCE_EXHAUSTED: the writer outran the server's limit of requests in flight
		 * (a loaded machine), which it answers so rather than queue without bound. */
		ok_or_error += code == TTRPC_OK || code == TTRPC_INVALID_ARGUMENT ||
			       code == TTRPC_UNIMPLEMENTED || code == TTRPC_RESOURCE_EXHAUSTED;
	}
	pthread_join(t, NULL);
	ok(answered == FUZZ_FRAMES && ok_or_error == FUZZ_FRAMES,
	   "%d random requests: %d answered with OK, INVALID_ARGUMENT, UNIMPLEMENTED or RESOURCE_EXHAUSTED",
	   FUZZ_FRAMES, ok_or_error);
	raw_request(r.peer_fd, 99999, "Ping", NULL, 0);
	int code = raw_response(r.peer_fd, &id);
	ok(code == TTRPC_OK && id == 99999, "the server still answers afterwards");
	ok(rig_stop(&r) == 0, "and ends cleanly");
}

/* ---- the connection going away ---- */

static void *close_after_one_frame(void *arg)
{
	int fd = *(int *)arg;
	struct ttrpc_frame_header h;
	uint8_t *payload = NULL;
	ttrpc_read_frame(fd, &h, &payload, NULL);
	free(payload);
	close(fd);
	return NULL;
}

static void test_server_closes(void)
{
	int sv[2];
	socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
	pthread_t t;
	pthread_create(&t, NULL, close_after_one_frame, &sv[1]);
	struct ttrpc_client *c = NULL;
	ttrpc_client_new(sv[0], &c, NULL);
	pv_error err = NULL;
	int r = ping(c, 5000, &err);
	ok(r == -ECONNRESET, "server closes during a call: -ECONNRESET (%s)", msg_of(err));
	pv_error_release(&err);
	pthread_join(t, NULL);
	r = ping(c, 5000, &err);
	ok(r == -ECONNRESET, "and so do later calls (%s)", msg_of(err));
	pv_error_release(&err);
	ttrpc_client_free(c);
}

static void test_shutdown(void)
{
	struct rig r;
	rig_start(&r, true);
	pv_error err = NULL;
	ok(ping(r.c, 1000, &err) == 0, "ping before shutdown");
	pv_error_release(&err);
	ttrpc_server_shutdown(r.s);
	pthread_join(r.thread, NULL);
	ok(r.serve_rc == 0, "ttrpc_server_shutdown makes an idle serve_fd return 0");
	close(r.server_fd);
	int rc = ping(r.c, 1000, &err);
	ok(rc == -ECONNRESET, "the client then sees the connection closed (%s)", msg_of(err));
	pv_error_release(&err);
	ttrpc_client_free(r.c);
	ttrpc_server_free(r.s);
}

static int connect_to(const struct sockaddr_un *addr, socklen_t len)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (const struct sockaddr *)addr, len) < 0)
		abort();
	return fd;
}

static void test_listener(void)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	/* Abstract namespace: nothing to clean up on disk. */
	int n = snprintf(addr.sun_path + 1, sizeof(addr.sun_path) - 1, "podvm-ttrpc-test-%d",
			 (int)getpid());
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
	struct rig r = { .server_fd = -1, .peer_fd = -1 };
	r.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (bind(r.listen_fd, (struct sockaddr *)&addr, len) < 0 || listen(r.listen_fd, 8) < 0)
		abort();
	rig_serve(&r);
	struct ttrpc_client *a, *b;
	ttrpc_client_new(connect_to(&addr, len), &a, NULL);
	ttrpc_client_new(connect_to(&addr, len), &b, NULL);
	pv_error err = NULL;
	int ra = ping(a, 1000, &err);
	int rb = ping(b, 1000, &err);
	ok(ra == 0 && rb == 0, "listener serves two connections (%s)", msg_of(err));
	pv_error_release(&err);

	Podvm__Agent__V1__Empty empty = PODVM__AGENT__V1__EMPTY__INIT;
	ProtobufCMessage *out = NULL;
	int r1 = ttrpc_client_call(a, SVC, "Shutdown", &empty.base,
				   &podvm__agent__v1__empty__descriptor, &out, 1000, &err);
	protobuf_c_message_free_unpacked(out, NULL);
	pv_error_release(&err);
	pthread_join(r.thread, NULL);
	ok(r1 == 0 && r.serve_rc == 0,
	   "a handler calling ttrpc_server_shutdown gets its answer and serve_listener returns");
	rb = ping(b, 1000, &err);
	ok(rb == -ECONNRESET, "the other connection was closed too (%s)", msg_of(err));
	pv_error_release(&err);
	ttrpc_client_free(a);
	ttrpc_client_free(b);
	close(r.listen_fd);
	ttrpc_server_free(r.s);
}

/* ---- a character device instead of a socket ---- */

static void open_pty(int *master, int *slave)
{
	*master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (*master < 0 || grantpt(*master) < 0 || unlockpt(*master) < 0)
		abort();
	*slave = open(ptsname(*master), O_RDWR | O_NOCTTY | O_CLOEXEC);
	struct termios t;
	if (*slave < 0 || tcgetattr(*slave, &t) < 0)
		abort();
	cfmakeraw(&t);  /* no echo, no line editing: a byte pipe like virtio-serial */
	tcsetattr(*slave, TCSANOW, &t);
}

static void test_pty(void)
{
	struct rig r = { .listen_fd = -1 };
	open_pty(&r.peer_fd, &r.server_fd);
	rig_serve(&r);
	ttrpc_client_new(r.peer_fd, &r.c, NULL);
	pv_error err = NULL;
	int rc = ping(r.c, 2000, &err);
	bool echoed = echo_ok(r.c, "over", "a pty");
	ok(rc == 0 && echoed, "calls work over a pty (%d %s)", rc, msg_of(err));
	pv_error_release(&err);

	/* shutdown(2) fails there with ENOTSOCK: freeing must still stop the reader and fail
	 * the call in flight. */
	struct waiter w;
	start_waiter(&w, r.c);
	gate_wait_for(1);
	ttrpc_client_free(r.c);
	pthread_join(w.thread, NULL);
	ok(w.rc == -ECONNRESET, "ttrpc_client_free fails the call in flight with -ECONNRESET");
	gate_open(0);
	gate_close();
	ttrpc_server_shutdown(r.s);
	pthread_join(r.thread, NULL);
	ok(1, "serve_fd on a pty returns (%d)", r.serve_rc);
	close(r.server_fd);
	ttrpc_server_free(r.s);
}

int main(void)
{
	alarm(120);  /* a hang is a failure, not a stuck CI job */
	/* As in the shim and the agent: a peer gone mid-write is EPIPE, which a check reports,
	 * not a SIGPIPE that kills the whole program. */
	signal(SIGPIPE, SIG_IGN);
	test_client_suite();
	test_request_limit();
	test_check();
	test_raw_frames();
	test_hostile_peer();
	test_fuzz();
	test_server_closes();
	test_shutdown();
	test_listener();
	test_pty();
	return done_testing();
}
