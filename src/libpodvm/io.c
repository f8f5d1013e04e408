#include "io.h"
#include "agent_client.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

struct output_job {
	struct pv_io *io;
	int stream;
	int fd;
};

static void *copy_output(void *arg)
{
	struct output_job *job = arg;
	struct pv_io *io = job->io;
	bool eof = false, host_open = true;
	while (!eof) {
		char *data = NULL;
		size_t len = 0;
		if (pv_agent_read_output(io->agent, io->container_id, io->exec_id, job->stream,
					 &data, &len, &eof, NULL) < 0)
			break;
		/* Keep draining after the host side closed, so the process never blocks on us. */
		ssize_t w = host_open && len ? pv_write_all(job->fd, data, len) : 0;
		if (w < 0)
			host_open = false;
		if (w == -EPIPE && io->kill_on_closed_output && !__atomic_exchange_n(&io->output_closed, 1, __ATOMIC_ACQ_REL))
			(void)pv_agent_signal(io->agent, io->container_id, io->exec_id, SIGKILL, false, NULL);
		free(data);
	}
	free(job);
	return NULL;
}

/* Forwards what the input holds right now, without waiting for more. */
static void drain_input(struct pv_io *io, char *buf, size_t len)
{
	int flags = fcntl(io->in_fd, F_GETFL);
	fcntl(io->in_fd, F_SETFL, flags | O_NONBLOCK);
	ssize_t n;
	while ((n = read(io->in_fd, buf, len)) > 0)
		if (pv_agent_write_stdin(io->agent, io->container_id, io->exec_id, buf, (size_t)n, NULL) < 0)
			break;
	fcntl(io->in_fd, F_SETFL, flags);
}

static void *copy_input(void *arg)
{
	struct pv_io *io = arg;
	char buf[32 * 1024];
	for (;;) {
		struct pollfd p[2] = { { .fd = io->in_fd, .events = POLLIN }, { .fd = io->wake[0], .events = POLLIN } };
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents && !__atomic_load_n(&io->stdin_closing, __ATOMIC_ACQUIRE))
			return NULL;  /* the process is gone: its stdin does not matter any more */
		if (p[1].revents) {
			drain_input(io, buf, sizeof(buf));
			break;
		}
		if (!p[0].revents)
			continue;
		ssize_t n = read(io->in_fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (pv_agent_write_stdin(io->agent, io->container_id, io->exec_id, buf, (size_t)n, NULL) < 0)
			return NULL;
	}
	(void)pv_agent_close_stdin(io->agent, io->container_id, io->exec_id, NULL);
	return NULL;
}

static int start_output(struct pv_io *io, int stream, int fd, pthread_t *t, pv_error *err)
{
	struct output_job *job = malloc(sizeof(*job));
	if (job == NULL)
		return pv_error_set(err, ENOMEM, "output thread");
	*job = (struct output_job){ io, stream, fd };
	int r = pthread_create(t, NULL, copy_output, job);
	if (r != 0) {
		free(job);
		return pv_error_set(err, r, "output thread");
	}
	return 0;
}

int pv_io_start(struct pv_io *io, pv_error *err)
{
	if (start_output(io, 1, io->out_fd, &io->out_thread, err) < 0)
		return -1;
	io->out_started = true;
	if (io->err_fd >= 0) {
		if (start_output(io, 2, io->err_fd, &io->err_thread, err) < 0)
			return -1;
		io->err_started = true;
	}
	io->wake[0] = io->wake[1] = -1;
	if (io->in_fd < 0)
		return 0;
	if (pipe2(io->wake, O_CLOEXEC) < 0)
		return pv_error_set(err, errno, "pipe");
	int r = pthread_create(&io->in_thread, NULL, copy_input, io);
	if (r != 0)
		return pv_error_set(err, r, "input thread");
	io->in_started = true;
	return 0;
}

void pv_io_close_stdin(struct pv_io *io)
{
	if (!io->in_started)
		return;
	__atomic_store_n(&io->stdin_closing, 1, __ATOMIC_RELEASE);
	(void)!write(io->wake[1], "c", 1);
}

void pv_io_finish(struct pv_io *io)
{
	if (io->out_started)
		pthread_join(io->out_thread, NULL);
	if (io->err_started)
		pthread_join(io->err_thread, NULL);
	if (io->in_started) {
		(void)!write(io->wake[1], "x", 1);
		pthread_join(io->in_thread, NULL);
		close(io->wake[0]);
		close(io->wake[1]);
	}
	io->out_started = io->err_started = io->in_started = false;
}
