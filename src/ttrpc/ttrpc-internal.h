/* Pieces shared by frame.c, server.c and client.c; not part of the public API. */
#pragma once
#include "ttrpc.h"

/* Like ttrpc_read_frame, but gives up with -ECANCELED as soon as wake_fd (an eventfd that
 * is never drained once signalled) becomes readable, even in the middle of a frame. This is
 * how a blocked reader is stopped on fds where shutdown(2) does not work (virtio-serial).
 * wake_fd < 0 means "never". */
int ttrpc_read_frame_wake(int fd, int wake_fd, struct ttrpc_frame_header *h, uint8_t **payload,
			  pv_error *err);

/* The two halves of ttrpc_read_frame_wake, for a reader that judges a header before it
 * reads its payload (or rather drops the connection). The header: 0, 1 on a clean EOF, or
 * -errno; the payload: 0 (*payload malloc'd, NULL when len is 0) or -errno. */
int ttrpc_read_header_wake(int fd, int wake_fd, struct ttrpc_frame_header *h, pv_error *err);
int ttrpc_read_payload_wake(int fd, int wake_fd, uint32_t len, uint8_t **payload, pv_error *err);

/* Signals an eventfd made by ttrpc_wake_new; safe from any thread. */
void ttrpc_wake(int wake_fd);
/* A non-blocking, close-on-exec eventfd; returns the fd or -errno. */
int ttrpc_wake_new(void);
