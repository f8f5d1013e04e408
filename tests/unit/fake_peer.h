/* A fake ttrpc peer for a client under test, on a socketpair: it reads one request frame,
 * answers it with a Response frame, then hangs up. The answer is given as bytes: the payload
 * of an OK ttrpc.Response (the method's response message), or with raw set the whole
 * envelope. Used by test_agent_client.c and tests/fuzz/fuzz_agent_response.c. */
#pragma once
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ttrpc.h"
#include "ttrpc.pb-c.h"

struct fake_peer {
	int fd;
	bool raw;
	const uint8_t *data;
	size_t size;
	pthread_t thread;
};

static inline void fake_peer_answer(struct fake_peer *p, uint32_t stream_id)
{
	if (p->raw) {
		ttrpc_write_frame(p->fd, stream_id, TTRPC_TYPE_RESPONSE, 0, p->data, p->size, NULL);
		return;
	}
	Ttrpc__Response resp = TTRPC__RESPONSE__INIT;
	resp.payload.data = (uint8_t *)p->data;
	resp.payload.len = p->size;
	uint8_t *buf = malloc(ttrpc__response__get_packed_size(&resp) + 1);
	if (buf == NULL)
		abort();
	size_t n = ttrpc__response__pack(&resp, buf);
	ttrpc_write_frame(p->fd, stream_id, TTRPC_TYPE_RESPONSE, 0, buf, n, NULL);
	free(buf);
}

static inline void *fake_peer_thread(void *arg)
{
	struct fake_peer *p = arg;
	struct ttrpc_frame_header h;
	uint8_t *payload = NULL;
	if (ttrpc_read_frame(p->fd, &h, &payload, NULL) == 0)
		fake_peer_answer(p, h.stream_id);
	free(payload);
	shutdown(p->fd, SHUT_WR);
	return NULL;
}

/* Starts the peer; returns a client connected to it. */
static inline struct ttrpc_client *fake_peer_start(struct fake_peer *p, bool raw, const void *data,
						   size_t size)
{
	int sv[2];
	struct ttrpc_client *c = NULL;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	*p = (struct fake_peer){ .fd = sv[1], .raw = raw, .data = data, .size = size };
	pthread_create(&p->thread, NULL, fake_peer_thread, p);
	if (ttrpc_client_new(sv[0], &c, NULL) < 0)
		abort();
	return c;
}

/* Frees the client (which a peer still waiting for a request sees as EOF), waits for the
 * peer. */
static inline void fake_peer_stop(struct fake_peer *p, struct ttrpc_client *c)
{
	ttrpc_client_free(c);
	pthread_join(p->thread, NULL);
	close(p->fd);
}
