/* Port forwarding in the guest (CRI PortForward): TCP connections to ports of the guest's
 * loopback, the network namespace every container of the pod shares, each known by an id
 * and driven by the host's PortRead/PortWrite/PortShutdown/PortClose calls. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "error.h"

/* Connects to port on ::1 (ipv6) or 127.0.0.1, then the other when refused. */
int portfwd_connect(unsigned port, bool ipv6, uint32_t *id, pv_error *err);
int portfwd_write(uint32_t id, const void *data, size_t len, pv_error *err);
/* Blocks until data (at most max bytes: *data malloc'd) or the peer's FIN (*eof). */
int portfwd_read(uint32_t id, size_t max, char **data, size_t *len, bool *eof, pv_error *err);
/* Half-close: no more data to the port. */
int portfwd_shutdown(uint32_t id, pv_error *err);
/* Ends the connection; a read blocked on it returns EOF. */
int portfwd_close(uint32_t id, pv_error *err);
/* Connections open. */
size_t portfwd_count(void);
