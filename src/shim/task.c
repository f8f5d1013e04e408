#include "task.h"
#include "agent_client.h"
#include "events.h"
#include "util.h"
#include "containerd_containerd_api_events_task.pb-c.h"
#include "google_protobuf_timestamp.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static struct task *tasks;

void tasks_lock(void) { pthread_mutex_lock(&lock); }
void tasks_unlock(void) { pthread_mutex_unlock(&lock); }
void tasks_broadcast_locked(void) { pthread_cond_broadcast(&changed); }
bool tasks_empty_locked(void) { return tasks == NULL; }

struct task *tasks_find_locked(const char *id)
{
	for (struct task *t = tasks; t; t = t->next)
		if (strcmp(t->id, id) == 0)
			return t;
	return NULL;
}

struct proc *task_proc_locked(struct task *t, const char *exec_id)
{
	if (exec_id == NULL || *exec_id == '\0')
		return &t->init;
	for (struct proc *p = t->execs; p; p = p->next)
		if (strcmp(p->exec_id, exec_id) == 0)
			return p;
	return NULL;
}

void tasks_add_locked(struct task *t)
{
	t->next = tasks;
	tasks = t;
}

void tasks_remove_locked(struct task *t)
{
	for (struct task **pp = &tasks; *pp; pp = &(*pp)->next)
		if (*pp == t) {
			*pp = t->next;
			return;
		}
}

#define FIFO_OPEN_TIMEOUT_MS 10000

/* stdin: O_RDWR opens without waiting for containerd's writer; its end arrives as CloseIO,
 * not as EOF. */
static int open_input_fifo(const char *path, pv_error *err)
{
	if (path == NULL || *path == '\0')
		return -1;
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return pv_error_set(err, errno, "open %s", path);
	return fd;
}

/* stdout/stderr: write-only, once containerd's reader is there (ENXIO until then), so that
 * nothing written can be dropped by a pipe that no reader holds open yet. */
static int open_output_fifo(const char *path, pv_error *err)
{
	if (path == NULL || *path == '\0')
		return -1;
	long long deadline = pv_now_ms() + FIFO_OPEN_TIMEOUT_MS;
	for (;;) {
		int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd >= 0) {
			fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
			return fd;
		}
		if (errno != ENXIO || pv_now_ms() > deadline)
			return pv_error_set(err, errno, "open %s", path);
		usleep(2000);
	}
}

int proc_open_io(struct proc *p, struct ttrpc_client *agent, const char *container_id, pv_error *err)
{
	int in = open_input_fifo(p->stdin_path, err);
	int out = in < 0 && *err ? -1 : open_output_fifo(p->stdout_path, err);
	int errfd = *err || p->terminal ? -1 : open_output_fifo(p->stderr_path, err);
	if (*err == NULL && out < 0)
		out = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (*err == NULL && errfd < 0 && !p->terminal)
		errfd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (*err) {
		if (in >= 0) close(in);
		if (out >= 0) close(out);
		return -1;
	}
	p->io = (struct pv_io){ .agent = agent, .container_id = container_id, .exec_id = p->exec_id,
				.in_fd = in, .out_fd = out, .err_fd = errfd };
	if (pv_io_start(&p->io, err) < 0)
		return -1;
	p->io_started = true;
	return 0;
}

static void close_io(struct proc *p)
{
	int *fds[] = { &p->io.in_fd, &p->io.out_fd, &p->io.err_fd };
	for (size_t i = 0; i < 3; i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

struct waiter_arg {
	struct proc *p;
	struct task *t;
};

static void publish_exit(struct task *t, struct proc *p)
{
	Google__Protobuf__Timestamp ts;
	shim_timestamp(&p->exited_at, &ts);
	Containerd__Events__TaskExit ev = CONTAINERD__EVENTS__TASK_EXIT__INIT;
	ev.container_id = t->id;
	ev.id = *p->exec_id ? p->exec_id : t->id;
	ev.pid = (uint32_t)p->pid;
	ev.exit_status = p->exit_status;
	ev.exited_at = &ts;
	events_publish("/tasks/exit", "containerd.events.TaskExit", &ev.base);
}

static void *waiter_main(void *arg)
{
	struct waiter_arg *w = arg;
	struct proc *p = w->p;
	struct task *t = w->t;
	free(w);
	int status = 255;  /* the agent or the VM went away: the process is gone with them */
	uint64_t oom_kills = 0;
	if (pv_agent_wait(p->io.agent, t->id, p->exec_id, &status, &oom_kills, NULL) < 0)
		status = 255;
	if (oom_kills > 0 && p == &t->init)
		task_publish_oom(t->id);  /* before the exit, so that it explains it */
	if (p->io_started)
		pv_io_finish(&p->io);
	/* EOF for containerd's readers: it waits for the output to end before it deletes. */
	close_io(p);
	tasks_lock();
	proc_set_stopped_locked(p, status);
	tasks_unlock();
	publish_exit(t, p);
	return NULL;
}

int proc_start_waiter(struct proc *p, struct task *t, pv_error *err)
{
	struct waiter_arg *w = malloc(sizeof(*w));
	if (w == NULL)
		return pv_error_set(err, ENOMEM, "waiter");
	*w = (struct waiter_arg){ p, t };
	int r = pthread_create(&p->waiter, NULL, waiter_main, w);
	if (r != 0) {
		free(w);
		return pv_error_set(err, r, "waiter thread");
	}
	p->waiter_started = true;
	return 0;
}

void proc_wait_stopped(struct proc *p)
{
	tasks_lock();
	while (p->state != PROC_STOPPED)
		pthread_cond_wait(&changed, &lock);
	tasks_unlock();
}

void proc_set_stopped_locked(struct proc *p, int status)
{
	p->state = PROC_STOPPED;
	p->exit_status = (uint32_t)status;
	clock_gettime(CLOCK_REALTIME, &p->exited_at);
	tasks_broadcast_locked();
}

void proc_wait_exit_locked(struct proc *p, uint32_t *status, struct timespec *exited_at)
{
	p->waits++;
	while (p->state != PROC_STOPPED)
		pthread_cond_wait(&changed, &lock);
	*status = p->exit_status;
	*exited_at = p->exited_at;
	p->waits--;
	tasks_broadcast_locked();
}

static bool end_waits(struct proc *p)
{
	if (p->state != PROC_STOPPED && !p->waiter_started)
		proc_set_stopped_locked(p, 255);
	return p->waits == 0;
}

void proc_drain_waits_locked(struct proc *p)
{
	while (p->waits > 0)
		pthread_cond_wait(&changed, &lock);
}

void task_end_waits_locked(struct task *t)
{
	for (;;) {
		bool idle = end_waits(&t->init);
		for (struct proc *p = t->execs; p; p = p->next)
			idle = end_waits(p) && idle;
		if (idle)
			return;
		pthread_cond_wait(&changed, &lock);
	}
}

void proc_free_fields(struct proc *p)
{
	if (p->waiter_started)
		pthread_join(p->waiter, NULL);
	close_io(p);
	free(p->exec_id);
	free(p->stdin_path);
	free(p->stdout_path);
	free(p->stderr_path);
	free(p->process_json);
}

void task_free(struct task *t)
{
	if (t == NULL)
		return;
	for (struct proc *p = t->execs, *next; p; p = next) {
		next = p->next;
		proc_free_fields(p);
		free(p);
	}
	proc_free_fields(&t->init);
	free(t->id);
	free(t->bundle);
	free(t);
}

void task_publish_oom(const char *id)
{
	tasks_lock();
	struct task *t = tasks_find_locked(id);
	bool first = t && !t->oom_reported;
	if (t)
		t->oom_reported = true;
	tasks_unlock();
	if (!first)
		return;
	Containerd__Events__TaskOOM ev = CONTAINERD__EVENTS__TASK_OOM__INIT;
	ev.container_id = (char *)id;
	events_publish("/tasks/oom", "containerd.events.TaskOOM", &ev.base);
}
