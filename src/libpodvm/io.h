/* Copies a guest process's stdio to and from host file descriptors (a terminal, pipes, or
 * containerd's FIFOs) through the agent's WriteStdin / ReadOutput calls. */
#pragma once
#include <pthread.h>
#include <stdbool.h>
#include "error.h"
#include "ttrpc.h"

struct pv_io {
	struct ttrpc_client *agent;
	const char *container_id;
	const char *exec_id;
	int in_fd;    /* -1: no stdin */
	int out_fd;
	int err_fd;   /* -1 with a terminal (it all comes on out_fd) */
	/* An output whose reader went away (EPIPE: podvm ignores SIGPIPE) ends the process with
	 * SIGKILL and sets output_closed, as a pipeline's writer ends (`podvm run IMAGE yes |
	 * head`: a container's PID 1 would ignore a SIGPIPE); else the output is drained and
	 * dropped (the shim: containerd may come back). */
	bool kill_on_closed_output;
	int output_closed;  /* atomic */
	/* private */
	pthread_t out_thread, err_thread, in_thread;
	bool out_started, err_started, in_started;
	int wake[2];  /* ends the stdin thread's wait */
	int stdin_closing;  /* set by pv_io_close_stdin: drain, then close */
};

/* Starts the copying threads. */
int pv_io_start(struct pv_io *io, pv_error *err);
/* For an input that never reads EOF by itself (containerd's stdin FIFO, whose end is
 * signalled by CloseIO): forwards what is already there, then closes the process's stdin. */
void pv_io_close_stdin(struct pv_io *io);
/* Waits until stdout and stderr reached their end (the process and everything holding its
 * output are gone), then stops the stdin thread. */
void pv_io_finish(struct pv_io *io);
