#include "container.h"
#include "late_signal.h"
#include "cgroup.h"
#include "child.h"
#include "log.h"
#include "cleanup.h"
#include "process.h"
#include "shares.h"
#include "spec.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

struct container {
	char *id;
	struct spec spec;
	struct agent_proc *init;
	int sync_fd;      /* read end: READY/ERROR from the child, EOF once it has exec'd */
	int start_fd;     /* write end of the start gate */
	bool started;
	long long exec_ms;  /* when its init exec'd (pv_now_ms) */
	int refs;           /* the table's, and each call's using it (find) */
	char **share_tags;
	struct container *next;
};

static pthread_mutex_t containers_lock = PTHREAD_MUTEX_INITIALIZER;
static struct container *containers;

/* The child's and the agent's ends of a process's stdio. A process with a terminal gets
 * /dev/null until it opens its pty inside the container and sends the master back. */
struct stdio_set {
	int child_in, child_out, child_err;
	int parent_in, parent_out, parent_err;
};

static void close_if(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void stdio_close_child(struct stdio_set *io)
{
	if (io->child_out == io->child_in)
		io->child_out = -1;
	if (io->child_err == io->child_in)
		io->child_err = -1;
	close_if(&io->child_in);
	close_if(&io->child_out);
	close_if(&io->child_err);
}

static void stdio_close_all(struct stdio_set *io)
{
	stdio_close_child(io);
	close_if(&io->parent_in);
	close_if(&io->parent_out);
	close_if(&io->parent_err);
}

static int stdio_pipes(struct stdio_set *io, bool want_stdin, pv_error *err)
{
	int out[2], errp[2], in[2] = { -1, -1 };
	if (pipe2(out, O_CLOEXEC) < 0)
		return pv_error_set(err, errno, "pipe");
	io->parent_out = out[0], io->child_out = out[1];
	if (pipe2(errp, O_CLOEXEC) < 0)
		return pv_error_set(err, errno, "pipe");
	io->parent_err = errp[0], io->child_err = errp[1];
	if (want_stdin) {
		if (pipe2(in, O_CLOEXEC) < 0)
			return pv_error_set(err, errno, "pipe");
		io->child_in = in[0], io->parent_in = in[1];
	} else if ((io->child_in = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
		return pv_error_set(err, errno, "open /dev/null");
	}
	return 0;
}

static int stdio_prepare(const struct spec_process *p, bool want_stdin, struct stdio_set *io,
			 pv_error *err)
{
	*io = (struct stdio_set){ -1, -1, -1, -1, -1, -1 };
	int r;
	if (p->terminal) {
		io->child_in = open("/dev/null", O_RDWR | O_CLOEXEC);
		io->child_out = io->child_err = io->child_in;
		r = io->child_in < 0 ? pv_error_set(err, errno, "open /dev/null") : 0;
	} else {
		r = stdio_pipes(io, want_stdin, err);
	}
	if (r < 0)
		stdio_close_all(io);
	return r;
}

static void proc_take_stdio(struct agent_proc *proc, struct stdio_set *io, bool terminal)
{
	proc->terminal = terminal;
	proc->stdin_fd = io->parent_in;
	proc->out_fd = io->parent_out;
	proc->err_fd = io->parent_err;
	io->parent_in = io->parent_out = io->parent_err = -1;
}

/* The pty master arrives from the child: it is both stdin and output of the process. */
static void proc_take_pty(struct agent_proc *proc, int master)
{
	proc->stdin_fd = proc->out_fd = master;
}

static pid_t clone_into_cgroup(int flags, int cgroup_fd)
{
	struct clone_args args = {
		.flags = (unsigned long long)flags | CLONE_INTO_CGROUP,
		.exit_signal = SIGCHLD,
		.cgroup = (unsigned long long)cgroup_fd,
	};
	return (pid_t)syscall(SYS_clone3, &args, sizeof(args));
}

/* Reads the child's messages up to `until` (READY, PID) or EOF. Returns 1 on `until`, 0 at
 * EOF, or a negative value with *err set for a reported failure. */
static int read_until(int sync_fd, int until, struct agent_proc *proc, unsigned long long since, const char *id,
		      pv_error *err)
{
	for (;;) {
		struct child_msg m;
		int fd = -1;
		int r = child_read_msg(sync_fd, &m, &fd);
		if (r <= 0)
			return r == 0 ? 0 : pv_error_set(err, -r, "container %s: sync", id);
		if (m.type == CHILD_PTY && fd >= 0)
			proc_take_pty(proc, fd);
		else if (m.type == CHILD_PID)
			proc_set_pid(proc, m.pid, since);
		else if (m.type == CHILD_ERROR)
			return pv_error_set_plain(err, m.errnum ? m.errnum : EIO, "container %s: %s", id, m.msg);
		if (m.type == until)
			return 1;
	}
}

static struct container *find_locked(const char *id)
{
	for (struct container *c = containers; c; c = c->next)
		if (strcmp(c->id, id) == 0)
			return c;
	return NULL;
}

/* The container, referenced: the caller puts it (container_put). */
static struct container *find(const char *id, pv_error *err)
{
	pthread_mutex_lock(&containers_lock);
	struct container *c = find_locked(id);
	if (c)
		c->refs++;
	pthread_mutex_unlock(&containers_lock);
	if (c == NULL)
		pv_error_set_plain(err, ENOENT, "container %s: not found", id);
	return c;
}

static void release_shares(struct container *c)
{
	for (size_t i = 0; c->share_tags && c->share_tags[i]; i++)
		shares_release(c->share_tags[i]);
	pv_strv_free(c->share_tags);
	c->share_tags = NULL;
}

static int acquire_shares(struct container *c, const struct container_share *sh, size_t n,
			  pv_error *err)
{
	for (size_t i = 0; i < n; i++) {
		if (shares_acquire(sh[i].tag, sh[i].fstype, sh[i].readonly, err) < 0)
			return -1;
		if (pv_strv_push(&c->share_tags, sh[i].tag) < 0) {
			shares_release(sh[i].tag);
			return pv_error_set(err, ENOMEM, "shares");
		}
	}
	return 0;
}

static void container_free(struct container *c)
{
	if (c == NULL)
		return;
	proc_put(c->init);
	close_if(&c->sync_fd);
	close_if(&c->start_fd);
	release_shares(c);
	spec_clear(&c->spec);
	free(c->id);
	free(c);
}

/* A process is born into its PID namespace; it cannot move: to start the init in a pod's
 * shared one (shareProcessNamespace), this thread enters it for the clone (only this
 * thread's children are affected), and returns to its own after. */
static int enter_pid_ns(pid_t pid, int *own, pv_error *err)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)pid);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	*own = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || *own < 0 || setns(fd, CLONE_NEWPID) < 0) {
		int e = errno;
		close_if(own);
		return pv_error_set(err, e, "enter the PID namespace of pid %d", (int)pid);
	}
	return 0;
}

static void leave_pid_ns(int *own)
{
	if (*own >= 0 && setns(*own, CLONE_NEWPID) < 0)
		agent_log("return to the agent's PID namespace: %s", strerror(errno));
	close_if(own);
}

/* Forks the container's init into its cgroup and namespaces; returns after it reported
 * READY (or its failure). */
static int spawn_init(struct container *c, struct stdio_set *io, int cgroup_fd, pid_t join_pid,
		      pv_error *err)
{
	int sync[2], gate[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sync) < 0)
		return pv_error_set(err, errno, "socketpair");
	if (pipe2(gate, O_CLOEXEC) < 0) {
		close(sync[0]);
		close(sync[1]);
		return pv_error_set(err, errno, "pipe");
	}
	struct child_fds fds = { io->child_in, io->child_out, io->child_err, sync[1], gate[0], join_pid };
	int own_pid_ns = -1;
	if ((c->spec.join_flags & CLONE_NEWPID) && enter_pid_ns(join_pid, &own_pid_ns, err) < 0) {
		close(sync[0]), close(sync[1]), close(gate[0]), close(gate[1]);
		return -1;
	}
	debug("container %s: cloning init", c->id);
	unsigned long long since = proc_exit_seq();
	pid_t pid = clone_into_cgroup(c->spec.clone_flags & ~CLONE_NEWCGROUP, cgroup_fd);
	if (pid == 0)
		child_run_init(&c->spec, &fds);
	int saved = errno;
	leave_pid_ns(&own_pid_ns);
	close(sync[1]);
	close(gate[0]);
	c->sync_fd = sync[0];
	c->start_fd = gate[1];
	if (pid < 0)
		return pv_error_set(err, saved, "container %s: clone", c->id);
	proc_set_pid(c->init, pid, since);
	debug("container %s: init is pid %d, waiting for its setup", c->id, (int)pid);
	int r = read_until(c->sync_fd, CHILD_READY, c->init, since, c->id, err);
	if (r == 0)
		return pv_error_set_plain(err, EIO, "container %s: init exited during setup", c->id);
	return r < 0 ? -1 : 0;
}

static void container_put(struct container *c)
{
	pthread_mutex_lock(&containers_lock);
	bool last = --c->refs == 0;
	pthread_mutex_unlock(&containers_lock);
	if (last)
		container_free(c);
}

static void discard_failed(struct container *c)
{
	(void)cgroup_destroy(c->id, NULL);
	if (c->init) {
		if (c->init->pid > 0)
			proc_wait(c->init);
		proc_remove(c->init);
	}
	container_free(c);
}

static struct container *container_new(const char *id, const char *json, size_t len, pv_error *err)
{
	struct container *c = calloc(1, sizeof(*c));
	if (c == NULL || (c->id = strdup(id)) == NULL) {
		free(c);
		pv_error_set(err, ENOMEM, "container %s", id);
		return NULL;
	}
	c->sync_fd = c->start_fd = -1;
	if (spec_parse(json, len, &c->spec, err) < 0) {
		pv_error_prefix(err, "container %s", id);
		container_free(c);
		return NULL;
	}
	return c;
}

static int register_init(struct container *c, struct stdio_set *io, pv_error *err)
{
	c->init = proc_new(c->id, "");
	if (c->init == NULL)
		return pv_error_set(err, ENOMEM, "container %s", c->id);
	proc_take_stdio(c->init, io, c->spec.process.terminal);
	if (proc_add(c->init, err) < 0) {
		proc_put(c->init);
		c->init = NULL;
		return -1;
	}
	(void)proc_get(c->id, "", NULL);  /* the container's own reference, put by container_free */
	return 0;
}

/* The init of the container whose namespaces c joins (a pod's sandbox); it must run. */
static int pid_to_join(struct container *c, pid_t *pid, pv_error *err)
{
	struct container *other = find_locked(c->spec.join_container);
	if (other == NULL || other->init == NULL || other->init->pid <= 0 || proc_exited(other->init))
		return pv_error_set_plain(err, ENOENT, "container %s: namespaces of container %s: not running",
					  c->id, c->spec.join_container);
	*pid = other->init->pid;
	return 0;
}

static int create_locked(const char *id, const char *json, size_t len,
			 const struct container_share *shares, size_t n_shares, bool want_stdin,
			 pv_error *err)
{
	if (find_locked(id))
		return pv_error_set_plain(err, EEXIST, "container %s: already exists", id);
	struct container *c = container_new(id, json, len, err);
	if (c == NULL)
		return -1;
	struct stdio_set io;
	_cleanup_close_ int cgfd = -1;
	debug("container %s: mounting %zu shares", id, n_shares);
	pid_t join_pid = 0;
	int r = c->spec.join_flags ? pid_to_join(c, &join_pid, err) : 0;
	if (r == 0)
		r = acquire_shares(c, shares, n_shares, err);
	if (r == 0 && (cgfd = cgroup_create(id, &c->spec.resources, err)) < 0)
		r = -1;
	if (r == 0)
		r = stdio_prepare(&c->spec.process, want_stdin, &io, err);
	if (r == 0) {
		r = register_init(c, &io, err);
		if (r == 0)
			r = spawn_init(c, &io, cgfd, join_pid, err);
		stdio_close_all(&io);
	}
	if (r < 0) {
		discard_failed(c);
		return -1;
	}
	c->refs = 1;  /* the table's */
	c->next = containers;
	containers = c;
	return 0;
}

int container_create(const char *id, const char *json, size_t len,
		     const struct container_share *shares, size_t n_shares, bool want_stdin,
		     pid_t *pid, pv_error *err)
{
	pthread_mutex_lock(&containers_lock);
	int r = create_locked(id, json, len, shares, n_shares, want_stdin, err);
	if (r == 0)
		*pid = containers->init->pid;
	pthread_mutex_unlock(&containers_lock);
	return r;
}

static int start(struct container *c, pid_t *pid, pv_error *err)
{
	pthread_mutex_lock(&containers_lock);
	bool startable = !c->started && c->start_fd >= 0;
	c->started = true;
	pthread_mutex_unlock(&containers_lock);
	if (!startable)
		return pv_error_set_plain(err, EBUSY, "container %s: already started", c->id);
	debug("container %s: start", c->id);
	if (pv_write_all(c->start_fd, "s", 1) < 0)
		return pv_error_set(err, errno, "container %s: start", c->id);
	close_if(&c->start_fd);
	/* The sync socket closes on a successful exec; a failure arrives as a message. */
	int r = read_until(c->sync_fd, 0, c->init, 0, c->id, err);
	close_if(&c->sync_fd);
	if (r < 0)
		return -1;
	pthread_mutex_lock(&containers_lock);
	c->exec_ms = pv_now_ms();
	pthread_mutex_unlock(&containers_lock);
	*pid = c->init->pid;
	return 0;
}

int container_start(const char *id, pid_t *pid, pv_error *err)
{
	struct container *c = find(id, err);
	if (c == NULL)
		return -1;
	int r = start(c, pid, err);
	container_put(c);
	return r;
}

static int spawn_exec(struct container *c, struct agent_proc *proc, const struct spec_process *p,
		      struct stdio_set *io, pv_error *err)
{
	int sync[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sync) < 0)
		return pv_error_set(err, errno, "socketpair");
	_cleanup_close_ int cgfd = cgroup_open(c->id, err);
	if (cgfd < 0) {
		close(sync[0]);
		close(sync[1]);
		return -1;
	}
	struct child_fds fds = { io->child_in, io->child_out, io->child_err, sync[1], -1, 0 };
	unsigned long long since = proc_exit_seq();
	pid_t mid = clone_into_cgroup(0, cgfd);
	if (mid == 0)
		/* All of init's namespaces, made or joined (a pod's shared ipc/uts). */
		child_run_exec(c->init->pid, c->spec.clone_flags | c->spec.join_flags, p, &c->spec.seccomp, &fds);
	int saved = errno;
	close(sync[1]);
	_cleanup_close_ int rd = sync[0];
	if (mid < 0)
		return pv_error_set(err, saved, "exec in %s: clone", c->id);
	/* PID (from the intermediate), PTY, then EOF once the process has exec'd. */
	int r = read_until(rd, 0, proc, since, c->id, err);
	if (r < 0)
		return -1;
	if (proc->pid <= 0)
		return pv_error_set_plain(err, EIO, "exec in %s: process exited during setup", c->id);
	return 0;
}

static int exec_prepare(struct container *c, const char *exec_id, const struct spec_process *p,
			bool want_stdin, struct agent_proc **out, pv_error *err)
{
	if (!c->started || proc_exited(c->init))
		return pv_error_set_plain(err, EBUSY, "container %s: not running", c->id);
	struct stdio_set io;
	if (stdio_prepare(p, want_stdin, &io, err) < 0)
		return -1;
	struct agent_proc *proc = proc_new(c->id, exec_id);
	if (proc == NULL) {
		stdio_close_all(&io);
		return pv_error_set(err, ENOMEM, "exec %s", exec_id);
	}
	proc_take_stdio(proc, &io, p->terminal);
	int r = proc_add(proc, err);
	if (r == 0)
		r = spawn_exec(c, proc, p, &io, err);
	stdio_close_all(&io);
	if (r < 0) {
		proc_remove(proc);
		return -1;
	}
	*out = proc;
	return 0;
}

int container_exec(const char *id, const char *exec_id, const char *json, size_t len,
		   bool want_stdin, pid_t *pid, pv_error *err)
{
	if (exec_id == NULL || *exec_id == '\0')
		return pv_error_set_plain(err, EINVAL, "exec in %s: empty exec id", id);
	struct spec_process p;
	if (spec_parse_process_json(json, len, &p, err) < 0)
		return -1;
	struct container *c = find(id, err);
	if (c == NULL) {
		spec_process_clear(&p);
		return -1;
	}
	struct agent_proc *proc = NULL;
	int r = exec_prepare(c, exec_id, &p, want_stdin, &proc, err);
	spec_process_clear(&p);
	if (r == 0)
		*pid = proc->pid;
	container_put(c);
	return r;
}

int container_remove_process(const char *id, const char *exec_id, pv_error *err)
{
	if (exec_id == NULL || *exec_id == '\0')
		return pv_error_set_plain(err, EINVAL, "container %s: remove the container, not its init", id);
	struct agent_proc *p = proc_get(id, exec_id, err);
	if (p == NULL)
		return -1;
	int r = 0;
	if (p->pid > 0 && !proc_exited(p))
		r = pv_error_set_plain(err, EBUSY, "exec %s in %s: still running", exec_id, id);
	else
		proc_remove(p);  /* its pipes close once no reader holds it */
	proc_put(p);
	return r;
}

static int signal_all(const char *id, int sig, pv_error *err)
{
	char path[512];
	snprintf(path, sizeof(path), CGROUP_ROOT "/podvm/%s/cgroup.procs", id);
	_cleanup_free_ char *procs = NULL;
	if (pv_read_file(path, 1 << 20, &procs, NULL, err) < 0)
		return -1;
	char *save = NULL;
	for (char *line = strtok_r(procs, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		kill((pid_t)atoi(line), sig);
	return 0;
}

/* An init's own PID namespace drops a signal it has no handler for yet (late_signal.h). */
static void resend_if_early(const char *id, pid_t pid, int sig)
{
	pthread_mutex_lock(&containers_lock);
	struct container *c = find_locked(id);
	bool own_pid_ns = c && (c->spec.clone_flags & CLONE_NEWPID);
	long long exec_ms = c ? c->exec_ms : 0;
	pthread_mutex_unlock(&containers_lock);
	if (own_pid_ns && exec_ms > 0)
		late_signal_watch(pid, sig, exec_ms);
}

int container_signal(const char *id, const char *exec_id, int sig, bool all, pv_error *err)
{
	if (all)
		return signal_all(id, sig, err);
	struct agent_proc *p = proc_get(id, exec_id, err);
	if (p == NULL)
		return -1;
	int r = 0;
	if (p->pid <= 0 || proc_exited(p))
		r = pv_error_set_plain(err, ESRCH, "process %s/%s: not running", id, p->exec_id);
	else if (kill(p->pid, sig) < 0)
		r = pv_error_set(err, errno, "signal %d to %s", sig, id);
	else if (*p->exec_id == '\0')
		resend_if_early(id, p->pid, sig);
	proc_put(p);
	return r;
}

struct proc_list {
	struct agent_proc *items[256];
	size_t n;
};

static void collect(struct agent_proc *p, void *data)
{
	struct proc_list *l = data;
	if (l->n == sizeof(l->items) / sizeof(*l->items))
		return;
	p->refs++;  /* under the table lock: proc_foreach_of holds it */
	l->items[l->n++] = p;
}

/* Waits for the (already killed) processes and drops them; repeats while more remain. */
static void remove_processes(const char *id)
{
	struct proc_list l;
	do {
		l.n = 0;
		proc_foreach_of(id, collect, &l);
		for (size_t i = 0; i < l.n; i++) {
			if (l.items[i]->pid > 0)
				proc_wait(l.items[i]);
			proc_remove(l.items[i]);
			proc_put(l.items[i]);
		}
	} while (l.n > 0);
}

int container_remove(const char *id, pv_error *err)
{
	pthread_mutex_lock(&containers_lock);
	struct container **pp = &containers;
	while (*pp && strcmp((*pp)->id, id) != 0)
		pp = &(*pp)->next;
	struct container *c = *pp;
	if (c)
		*pp = c->next;
	pthread_mutex_unlock(&containers_lock);
	if (c == NULL)
		return pv_error_set_plain(err, ENOENT, "container %s: not found", id);
	int r = cgroup_destroy(id, err);
	remove_processes(id);
	container_put(c);  /* the table's reference; a call still using it puts the last */
	return r;
}

/* Whether the container exists (for calls that need nothing of it but its cgroup). */
static bool exists(const char *id, pv_error *err)
{
	struct container *c = find(id, err);
	if (c)
		container_put(c);
	return c != NULL;
}

int container_update(const char *id, const char *resources_json, size_t len, pv_error *err)
{
	if (!exists(id, err))
		return -1;
	struct spec_resources res;
	if (spec_parse_resources_json(resources_json, len, &res, err) < 0)
		return pv_error_prefix(err, "update %s", id);
	return cgroup_update(id, &res, err);
}

int container_pause(const char *id, bool paused, pv_error *err)
{
	if (!exists(id, err))
		return -1;
	return cgroup_freeze(id, paused, err);
}

/* dir (a directory fd) / path, resolved as if dir were the root. */
static int open_in_root(int dir, const char *path, int flags, mode_t mode)
{
	struct open_how how = { .flags = (uint64_t)flags, .mode = mode, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
	return (int)syscall(SYS_openat2, dir, path, &how, sizeof(how));
}

static int write_secret(struct container *c, const char *name, const void *data, size_t len, pv_error *err)
{
	char root[64];
	snprintf(root, sizeof(root), "/proc/%d/root", (int)c->init->pid);
	_cleanup_close_ int rfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rfd < 0)
		return pv_error_set(err, errno, "container %s: its root", c->id);
	_cleanup_close_ int dfd = open_in_root(rfd, "/run/secrets", O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
	if (dfd < 0)
		return pv_error_set(err, errno, "container %s: /run/secrets", c->id);
	_cleanup_close_ int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0444);
	if (fd < 0)
		return pv_error_set(err, errno, "container %s: /run/secrets/%s", c->id, name);
	if (pv_write_all(fd, data, len) < 0)
		return pv_error_set(err, errno, "container %s: /run/secrets/%s: write", c->id, name);
	return 0;
}

int container_put_secret(const char *id, const char *name, const void *data, size_t len, pv_error *err)
{
	if (name[0] == '\0' || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return pv_error_set_plain(err, EINVAL, "secret \"%s\": not a file name", name);
	struct container *c = find(id, err);
	if (c == NULL)
		return -1;
	pthread_mutex_lock(&containers_lock);
	bool started = c->started;
	pthread_mutex_unlock(&containers_lock);
	int r = started ? pv_error_set_plain(err, EBUSY, "container %s: started: secrets go before", id)
			: write_secret(c, name, data, len, err);
	container_put(c);
	return r;
}
