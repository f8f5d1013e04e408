/* The ttrpc server reading requests: the input is the byte stream a peer sends on a
 * connection (frames of any type, length and stream id, ttrpc.Request envelopes, request
 * payloads), served by ttrpc_server_serve_fd until EOF. The methods are some of the agent's,
 * with handlers that answer each request with itself repacked (unknown fields included). */
#include "fuzz.h"
#include "ttrpc.h"
#include "agent.pb-c.h"

#include <pthread.h>

#define SVC "podvm.agent.v1.Agent"

static int echo(void *ctx, const ProtobufCMessage *req, struct ttrpc_reply *reply, pv_error *err)
{
	(void)ctx, (void)err;
	return ttrpc_reply_set(reply, req);
}

static int fail(void *ctx, const ProtobufCMessage *req, struct ttrpc_reply *reply, pv_error *err)
{
	(void)ctx, (void)req, (void)reply;
	return pv_error_set_plain(err, ENOENT, "not found");
}

static const struct ttrpc_method methods[] = {
	{ SVC, "Ping", &podvm__agent__v1__ping_request__descriptor, echo },
	{ SVC, "CreateContainer", &podvm__agent__v1__create_container_request__descriptor, echo },
	{ SVC, "ReadOutput", &podvm__agent__v1__read_output_request__descriptor, echo },
	{ SVC, "AdoptIdentity", &podvm__agent__v1__identity_request__descriptor, echo },
	{ SVC, "RemoveContainer", &podvm__agent__v1__container_request__descriptor, fail },
};

struct serve {
	struct ttrpc_server *s;
	int fd;
};

static void *serve_thread(void *arg)
{
	struct serve *sv = arg;
	pv_error err = NULL;
	ttrpc_server_serve_fd(sv->s, sv->fd, &err);
	pv_error_release(&err);
	/* The peer's drain thread sees EOF once the answers are all written. */
	shutdown(sv->fd, SHUT_WR);
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int sv[2];
	fuzz_socketpair(sv);
	struct serve srv = { .fd = sv[1] };
	if (ttrpc_server_new(methods, sizeof(methods) / sizeof(*methods), NULL, &srv.s, NULL) < 0)
		abort();
	pthread_t server, drain;
	pthread_create(&server, NULL, serve_thread, &srv);
	pthread_create(&drain, NULL, fuzz_drain, &sv[0]);
	if (pv_write_all(sv[0], data, size) < 0)
		abort();
	shutdown(sv[0], SHUT_WR);
	pthread_join(server, NULL);
	pthread_join(drain, NULL);
	ttrpc_server_free(srv.s);
	close(sv[0]);
	close(sv[1]);
	return 0;
}
