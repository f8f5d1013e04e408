/* ttrpc (containerd/ttrpc PROTOCOL.md): framing, a multiplexed client and a server.
 * One implementation serves both links: containerd -> shim and shim/podvm -> guest agent.
 *
 * Frame: 10-byte header (uint32 BE payload length, uint32 BE stream id, uint8 type,
 * uint8 flags) then the payload. Requests carry ttrpc.Request, responses ttrpc.Response.
 * Client stream ids are odd and increasing. Errors travel as google.rpc.Status codes,
 * mapped to and from errno values so that callers keep the pv_error convention. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>
#include "error.h"

#define TTRPC_HEADER_SIZE 10
#define TTRPC_MAX_MESSAGE (4u << 20)

enum ttrpc_type {
	TTRPC_TYPE_REQUEST = 1,
	TTRPC_TYPE_RESPONSE = 2,
	TTRPC_TYPE_DATA = 3,
};

/* google.rpc.Code values used on the wire. */
enum ttrpc_code {
	TTRPC_OK = 0,
	TTRPC_CANCELLED = 1,
	TTRPC_UNKNOWN = 2,
	TTRPC_INVALID_ARGUMENT = 3,
	TTRPC_DEADLINE_EXCEEDED = 4,
	TTRPC_NOT_FOUND = 5,
	TTRPC_ALREADY_EXISTS = 6,
	TTRPC_PERMISSION_DENIED = 7,
	TTRPC_RESOURCE_EXHAUSTED = 8,
	TTRPC_FAILED_PRECONDITION = 9,
	TTRPC_UNIMPLEMENTED = 12,
	TTRPC_INTERNAL = 13,
	TTRPC_UNAVAILABLE = 14,
};

struct ttrpc_frame_header {
	uint32_t length;
	uint32_t stream_id;
	uint8_t type;
	uint8_t flags;
};

void ttrpc_header_encode(const struct ttrpc_frame_header *h, uint8_t out[TTRPC_HEADER_SIZE]);
void ttrpc_header_decode(const uint8_t in[TTRPC_HEADER_SIZE], struct ttrpc_frame_header *h);

/* Reads one whole frame, coping with partial reads and EINTR. *payload is malloc'd (NULL
 * for an empty payload). Returns 0, or 1 on a clean EOF before any header byte, or
 * -EMSGSIZE when the length exceeds TTRPC_MAX_MESSAGE (the payload is read and discarded,
 * *h is filled, so the stream stays in sync and a server can answer with an error), or
 * another negative errno (EOF inside a frame is -ECONNRESET). */
int ttrpc_read_frame(int fd, struct ttrpc_frame_header *h, uint8_t **payload, pv_error *err);
/* Writes one frame (header and payload in one writev, retried until complete). On a socket
 * it uses MSG_NOSIGNAL, so a vanished peer is -EPIPE; on other fds (virtio-serial) the
 * program must ignore SIGPIPE. A payload over TTRPC_MAX_MESSAGE is -EMSGSIZE. */
int ttrpc_write_frame(int fd, uint32_t stream_id, uint8_t type, uint8_t flags,
		      const uint8_t *payload, size_t len, pv_error *err);

int ttrpc_code_from_errno(int errnum);
int ttrpc_errno_from_code(int code);

/* ---- server ---- */

/* A reply being built by a handler. */
struct ttrpc_reply;
/* Packs resp as the reply payload. Call at most once, before returning 0. */
int ttrpc_reply_set(struct ttrpc_reply *reply, const ProtobufCMessage *resp);

/* Handles one request, already unpacked with the method's request descriptor (a request
 * that does not unpack is answered INVALID_ARGUMENT without calling the handler). Returns 0
 * after ttrpc_reply_set, or a negative value with *err set: the client then receives a
 * Status whose code is ttrpc_code_from_errno(err->errnum) and whose message is err's. */
typedef int (*ttrpc_handler_fn)(void *ctx, const ProtobufCMessage *request,
				struct ttrpc_reply *reply, pv_error *err);

struct ttrpc_method {
	const char *service;                        /* e.g. "podvm.agent.v1.Agent" */
	const char *method;                         /* e.g. "Ping" */
	const ProtobufCMessageDescriptor *request;  /* e.g. &podvm__agent__v1__ping_request__descriptor */
	ttrpc_handler_fn handler;
};

struct ttrpc_server;
/* Requests in flight on one connection, and their payload bytes, past which a request is
 * answered RESOURCE_EXHAUSTED at once: each holds a thread until it is answered. (No
 * backpressure: a peer's blocked calls may wait for a later request on the connection.) */
#define TTRPC_DEFAULT_MAX_REQUESTS 1024
#define TTRPC_MAX_REQUEST_BYTES (64u << 20)
/* methods must outlive the server. */
int ttrpc_server_new(const struct ttrpc_method *methods, size_t n_methods, void *ctx,
		     struct ttrpc_server **out, pv_error *err);
/* Another limit of requests in flight per connection than TTRPC_DEFAULT_MAX_REQUESTS. */
void ttrpc_server_set_max_requests(struct ttrpc_server *s, unsigned n);
/* A check every request passes once unpacked, before its method's handler runs: a negative
 * return answers the request with *err (as a handler's failure) without calling the handler. */
typedef int (*ttrpc_check_fn)(const ProtobufCMessage *request, pv_error *err);
void ttrpc_server_set_check(struct ttrpc_server *s, ttrpc_check_fn check);
/* Serves one connection until the peer closes it or ttrpc_server_shutdown. Every request
 * runs in a thread of its own, so a blocking handler (a Wait) never holds up the others;
 * responses are written whole under a lock. Unknown service or method: UNIMPLEMENTED.
 * Oversize frame: RESOURCE_EXHAUSTED, and the connection goes on. Returns 0 at EOF. Waits
 * for the handlers still running on this connection before it returns. Does not close fd. */
int ttrpc_server_serve_fd(struct ttrpc_server *s, int fd, pv_error *err);
/* Accepts connections on a listening socket, each served as above in its own thread, until
 * ttrpc_server_shutdown. Does not close listen_fd. */
int ttrpc_server_serve_listener(struct ttrpc_server *s, int listen_fd, pv_error *err);
/* Makes serve_fd / serve_listener return (safe from any thread or a handler). */
void ttrpc_server_shutdown(struct ttrpc_server *s);
void ttrpc_server_free(struct ttrpc_server *s);

/* ---- client ---- */

struct ttrpc_client;
/* Takes ownership of fd, a connected stream socket (or a virtio-serial port), and closes it
 * on failure too. Starts a reader thread that hands responses to the calls waiting for them. */
int ttrpc_client_new(int fd, struct ttrpc_client **out, pv_error *err);
/* Calls service/method with req and waits for the answer. Thread-safe: many calls may be in
 * flight at once on one client, answered in any order. timeout_ms <= 0 waits forever (else
 * -ETIMEDOUT, and a late answer is dropped); the timeout is also sent as timeout_nano.
 * *resp is unpacked with resp_desc; free it with protobuf_c_message_free_unpacked(*resp,
 * NULL). A remote error returns -ttrpc_errno_from_code(code) with the remote message, made
 * one line, in *err; an answer that does not decode (or would take more than twice its
 * size to) -EBADMSG. A closed connection returns -ECONNRESET, and so do all later calls; a
 * peer that broke the protocol (a frame over the limit or cut short, one that is not a
 * response, a response on a stream no call waits for) closes it, and the calls fail with
 * why (-EPROTO, or -ECONNRESET for a frame cut short). */
int ttrpc_client_call(struct ttrpc_client *c, const char *service, const char *method,
		      const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
		      ProtobufCMessage **resp, int timeout_ms, pv_error *err);
/* Fails the calls in flight with -ECONNRESET, closes fd, joins the reader, frees. */
void ttrpc_client_free(struct ttrpc_client *c);
