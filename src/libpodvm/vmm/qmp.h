/* A minimal QMP client: capabilities negotiation, then synchronous commands. */
#pragma once
#include <jansson.h>
#include "error.h"

struct pv_qmp;

/* Connects to QEMU's QMP socket and negotiates capabilities. */
int pv_qmp_connect(const char *socket_path, int timeout_ms, struct pv_qmp **out, pv_error *err);
/* Runs a command; *ret (may be NULL) receives the "return" value. Events are skipped. */
int pv_qmp_execute(struct pv_qmp *q, const char *command, json_t *args, json_t **ret, pv_error *err);
/* pv_qmp_execute with fd (none if < 0) sent along as SCM_RIGHTS, for commands that take a
 * file descriptor (getfd, add-fd). QEMU holds its own copy once the command returns; fd
 * stays the caller's to close. */
int pv_qmp_execute_fd(struct pv_qmp *q, const char *command, json_t *args, int fd, json_t **ret,
		      pv_error *err);
/* Waits for the next asynchronous event (a buffered one first) or for stop_fd to become
 * readable. 1: *event set (json_decref it); 0: stop_fd; -1: the connection failed or ended. */
int pv_qmp_wait_event(struct pv_qmp *q, int stop_fd, json_t **event, pv_error *err);
void pv_qmp_close(struct pv_qmp *q);
