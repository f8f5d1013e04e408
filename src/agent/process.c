#include "process.h"
#include "cleanup.h"
#include "util.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define UNCLAIMED_MAX 64

struct unclaimed_exit {
	pid_t pid;
	int status;
	unsigned long long seq;  /* exit_seq when reaped: pids are reused */
};

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t table_changed = PTHREAD_COND_INITIALIZER;
static struct agent_proc *procs;
static struct unclaimed_exit unclaimed[UNCLAIMED_MAX];
static size_t unclaimed_next;
static unsigned long long exit_seq;  /* exits reaped so far */

static int status_from_wait(int st)
{
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return WEXITSTATUS(st);
}

static struct agent_proc *find_by_pid_locked(pid_t pid)
{
	for (struct agent_proc *p = procs; p; p = p->next)
		if (p->pid == pid && !p->exited)
			return p;
	return NULL;
}

static void record_exit_locked(pid_t pid, int status)
{
	exit_seq++;
	struct agent_proc *p = find_by_pid_locked(pid);
	if (p) {
		p->exited = true;
		p->exit_status = status;
		return;
	}
	unclaimed[unclaimed_next % UNCLAIMED_MAX] = (struct unclaimed_exit){ pid, status, exit_seq };
	unclaimed_next++;
}

unsigned long long proc_exit_seq(void)
{
	pthread_mutex_lock(&table_lock);
	unsigned long long seq = exit_seq;
	pthread_mutex_unlock(&table_lock);
	return seq;
}

static void reap_all(void)
{
	int st;
	pid_t pid;
	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		pthread_mutex_lock(&table_lock);
		record_exit_locked(pid, status_from_wait(st));
		pthread_cond_broadcast(&table_changed);
		pthread_mutex_unlock(&table_lock);
	}
}

static void *reaper_main(void *arg)
{
	int sfd = (int)(long)arg;
	struct signalfd_siginfo si;
	for (;;) {
		ssize_t n = read(sfd, &si, sizeof(si));
		if (n < 0 && errno != EINTR)
			break;
		reap_all();
	}
	return NULL;
}

int proc_table_init(pv_error *err)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	int sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sfd < 0)
		return pv_error_set(err, errno, "signalfd");
	pthread_t t;
	int r = pthread_create(&t, NULL, reaper_main, (void *)(long)sfd);
	if (r != 0) {
		close(sfd);
		return pv_error_set(err, r, "reaper thread");
	}
	pthread_detach(t);
	return 0;
}

struct agent_proc *proc_new(const char *container_id, const char *exec_id)
{
	struct agent_proc *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->container_id = strdup(container_id);
	p->exec_id = strdup(exec_id ? exec_id : "");
	p->stdin_fd = p->out_fd = p->err_fd = -1;
	p->refs = 1;
	if (p->container_id == NULL || p->exec_id == NULL) {
		free(p->container_id);
		free(p->exec_id);
		free(p);
		return NULL;
	}
	return p;
}

static struct agent_proc *find_locked(const char *cid, const char *eid)
{
	for (struct agent_proc *p = procs; p; p = p->next)
		if (strcmp(p->container_id, cid) == 0 && strcmp(p->exec_id, eid ? eid : "") == 0)
			return p;
	return NULL;
}

int proc_add(struct agent_proc *p, pv_error *err)
{
	pthread_mutex_lock(&table_lock);
	if (find_locked(p->container_id, p->exec_id)) {
		pthread_mutex_unlock(&table_lock);
		return pv_error_set_plain(err, EEXIST, "process %s/%s already exists", p->container_id, p->exec_id);
	}
	p->next = procs;
	procs = p;
	pthread_mutex_unlock(&table_lock);
	return 0;
}

struct agent_proc *proc_get(const char *cid, const char *eid, pv_error *err)
{
	pthread_mutex_lock(&table_lock);
	struct agent_proc *p = find_locked(cid, eid);
	if (p)
		p->refs++;
	pthread_mutex_unlock(&table_lock);
	if (p == NULL) {
		if (eid && *eid)
			pv_error_set_plain(err, ENOENT, "exec %s in container %s: not found", eid, cid);
		else
			pv_error_set_plain(err, ENOENT, "container %s: not found", cid);
	}
	return p;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void proc_free(struct agent_proc *p)
{
	if (p->stdin_fd != p->out_fd)
		close_fd(&p->stdin_fd);
	close_fd(&p->out_fd);
	close_fd(&p->err_fd);
	free(p->container_id);
	free(p->exec_id);
	free(p);
}

void proc_put(struct agent_proc *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&table_lock);
	bool last = --p->refs == 0;
	pthread_mutex_unlock(&table_lock);
	if (last)
		proc_free(p);
}

void proc_remove(struct agent_proc *p)
{
	pthread_mutex_lock(&table_lock);
	for (struct agent_proc **pp = &procs; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	p->closing = true;
	pthread_cond_broadcast(&table_changed);
	pthread_mutex_unlock(&table_lock);
	proc_put(p);
}

void proc_foreach_of(const char *cid, void (*fn)(struct agent_proc *, void *), void *data)
{
	pthread_mutex_lock(&table_lock);
	for (struct agent_proc *p = procs; p; p = p->next)
		if (strcmp(p->container_id, cid) == 0)
			fn(p, data);
	pthread_mutex_unlock(&table_lock);
}

void proc_set_pid(struct agent_proc *p, pid_t pid, unsigned long long since)
{
	pthread_mutex_lock(&table_lock);
	p->pid = pid;
	size_t n = unclaimed_next < UNCLAIMED_MAX ? unclaimed_next : UNCLAIMED_MAX;
	for (size_t i = 0; i < n; i++) {
		if (unclaimed[i].pid != pid || unclaimed[i].seq <= since)
			continue;  /* another process's, or an earlier one with this pid */
		p->exited = true;
		p->exit_status = unclaimed[i].status;
		unclaimed[i].pid = 0;
		pthread_cond_broadcast(&table_changed);
		break;
	}
	pthread_mutex_unlock(&table_lock);
}

size_t proc_count(void)
{
	size_t n = 0;
	pthread_mutex_lock(&table_lock);
	for (struct agent_proc *p = procs; p; p = p->next)
		n++;
	pthread_mutex_unlock(&table_lock);
	return n;
}

int proc_wait(struct agent_proc *p)
{
	pthread_mutex_lock(&table_lock);
	while (!p->exited && !p->closing)
		pthread_cond_wait(&table_changed, &table_lock);
	int st = p->exited ? p->exit_status : 255;
	pthread_mutex_unlock(&table_lock);
	return st;
}

bool proc_exited(struct agent_proc *p)
{
	pthread_mutex_lock(&table_lock);
	bool e = p->exited;
	pthread_mutex_unlock(&table_lock);
	return e;
}

static bool is_closing(struct agent_proc *p)
{
	pthread_mutex_lock(&table_lock);
	bool c = p->closing;
	pthread_mutex_unlock(&table_lock);
	return c;
}

/* Polls in slices so that a reader blocked on a stream whose process is being removed
 * notices and returns EOF instead of holding the request forever. */
static int wait_readable(struct agent_proc *p, int fd)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int n = poll(&pfd, 1, 250);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n > 0)
			return 0;
		if (is_closing(p))
			return -ECANCELED;
	}
}

int proc_read_output(struct agent_proc *p, int stream, size_t max, char **data, size_t *len,
		     bool *eof, pv_error *err)
{
	int fd = stream == 2 ? p->err_fd : p->out_fd;
	*data = NULL;
	*len = 0;
	*eof = false;
	if (fd < 0) {
		*eof = true;
		return 0;
	}
	if (max == 0 || max > 256 * 1024)
		max = 64 * 1024;
	_cleanup_free_ char *buf = malloc(max);
	if (buf == NULL)
		return pv_error_set(err, ENOMEM, "read output");
	int r = wait_readable(p, fd);
	ssize_t n = r < 0 ? r : read(fd, buf, max);
	if (n < 0 && r == 0)
		n = -errno;
	/* EIO on a pty master means the terminal's last user closed it: the end of output. */
	if (n == 0 || n == -EIO || n == -ECANCELED) {
		*eof = true;
		return 0;
	}
	if (n < 0)
		return pv_error_set(err, (int)-n, "read output of %s", p->container_id);
	*data = steal_pointer(&buf);
	*len = (size_t)n;
	return 0;
}

int proc_write_stdin(struct agent_proc *p, const void *data, size_t len, pv_error *err)
{
	if (p->stdin_fd < 0)
		return pv_error_set_plain(err, EPIPE, "process %s: stdin is closed", p->container_id);
	ssize_t n = pv_write_all(p->stdin_fd, data, len);
	if (n < 0)
		return pv_error_set(err, (int)-n, "write stdin of %s", p->container_id);
	return (int)n;
}

int proc_close_stdin(struct agent_proc *p, pv_error *err)
{
	(void)err;
	pthread_mutex_lock(&table_lock);
	int fd = p->stdin_fd;
	if (p->terminal) {
		/* A terminal has no half-close: send EOF (^D) as a line discipline would. */
		if (fd >= 0)
			(void)!write(fd, "\004", 1);
	} else {
		p->stdin_fd = -1;
	}
	pthread_mutex_unlock(&table_lock);
	if (!p->terminal && fd >= 0)
		close(fd);
	return 0;
}

int proc_resize(struct agent_proc *p, unsigned rows, unsigned cols, pv_error *err)
{
	if (!p->terminal)
		return pv_error_set_plain(err, EINVAL, "process %s has no terminal", p->container_id);
	struct winsize ws = { .ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols };
	if (ioctl(p->out_fd, TIOCSWINSZ, &ws) < 0)
		return pv_error_set(err, errno, "resize terminal of %s", p->container_id);
	return 0;
}
