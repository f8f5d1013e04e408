/* The ttrpc client reading responses: one call (stream 1) is in flight, and the input is the
 * byte stream the peer answers with (frames of any type, length and stream id, then EOF). The
 * answer to the call, if one comes, is decoded as a ttrpc.Response holding a PingResponse. */
#include "fuzz.h"
#include "ttrpc.h"
#include "agent.pb-c.h"

#include <pthread.h>

struct peer {
	int fd;
	const uint8_t *data;
	size_t size;
};

/* Waits for the call's request, so that the answers find it registered, then answers. */
static void *peer_thread(void *arg)
{
	struct peer *p = arg;
	struct ttrpc_frame_header h;
	uint8_t *payload = NULL;
	if (ttrpc_read_frame(p->fd, &h, &payload, NULL) == 0)
		pv_write_all(p->fd, p->data, p->size);
	free(payload);
	shutdown(p->fd, SHUT_WR);
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int sv[2];
	fuzz_socketpair(sv);
	struct peer peer = { .fd = sv[1], .data = data, .size = size };
	pthread_t t;
	pthread_create(&t, NULL, peer_thread, &peer);
	struct ttrpc_client *c = NULL;
	if (ttrpc_client_new(sv[0], &c, NULL) < 0)
		abort();
	Podvm__Agent__V1__PingRequest req = PODVM__AGENT__V1__PING_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	pv_error err = NULL;
	int r = ttrpc_client_call(c, "podvm.agent.v1.Agent", "Ping", &req.base,
				  &podvm__agent__v1__ping_response__descriptor, &resp, 0, &err);
	if (r == 0 && resp == NULL)
		abort();  /* success promises a response */
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	pv_error_release(&err);
	pthread_join(t, NULL);
	ttrpc_client_free(c);  /* closes sv[0] */
	close(sv[1]);
	return 0;
}
