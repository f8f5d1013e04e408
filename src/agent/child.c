#include "child.h"
#include "caps.h"
#include "rootfs.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#define SYNC_FD 3
#define START_FD 4

static void send_msg(const struct child_msg *m, int fd)
{
	char control[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = (void *)m, .iov_len = sizeof(*m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (fd >= 0) {
		memset(control, 0, sizeof(control));
		mh.msg_control = control;
		mh.msg_controllen = sizeof(control);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	(void)!sendmsg(SYNC_FD, &mh, MSG_NOSIGNAL);
}

static void report(int type, int errnum, int pid, int fd, const char *fmt, ...)
{
	struct child_msg m = { .type = type, .errnum = errnum, .pid = pid };
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(m.msg, sizeof(m.msg), fmt, ap);
		va_end(ap);
	}
	send_msg(&m, fd);
}

/* errnum > 0 appends strerror(errnum); errnum <= 0 reports -errnum with the text as is. */
static void __attribute__((noreturn)) fail(int errnum, const char *fmt, const char *arg)
{
	char buf[400];
	snprintf(buf, sizeof(buf), fmt, arg);
	if (errnum > 0)
		report(CHILD_ERROR, errnum, 0, -1, "%s: %s", buf, strerror(errnum));
	else
		report(CHILD_ERROR, -errnum, 0, -1, "%s", buf);
	_exit(127);
}

/* Moves the fds we keep above the ones we assign, then installs them: 0-2 stdio, 3 sync,
 * 4 start gate. Everything else is closed so no agent fd leaks in. */
static void install_fds(const struct child_fds *in)
{
	int src[5] = { in->stdin_fd, in->stdout_fd, in->stderr_fd, in->sync_fd, in->start_fd };
	int tmp[5];
	for (int i = 0; i < 5; i++)
		tmp[i] = src[i] >= 0 ? fcntl(src[i], F_DUPFD, 1000) : -1;
	for (int i = 0; i < 5; i++)
		if (tmp[i] >= 0 && dup2(tmp[i], i) < 0)
			_exit(126);
	syscall(SYS_close_range, 5, ~0U, 0);
	fcntl(SYNC_FD, F_SETFD, FD_CLOEXEC);
	if (in->start_fd >= 0)
		fcntl(START_FD, F_SETFD, FD_CLOEXEC);
}

static void reset_signals(void)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
}

/* Opens a pty in the container's own devpts (as runc does), hands the master to the agent
 * and makes the peer the process's stdio and controlling terminal. */
static void setup_terminal(const struct spec_process *p, bool bind_console)
{
	int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	int unlock = 0;
	if (master < 0)
		fail(errno, "%s", "open /dev/ptmx");
	if (ioctl(master, TIOCSPTLCK, &unlock) < 0)
		fail(errno, "%s", "unlock pty");
	int peer = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
	if (peer < 0)
		fail(errno, "%s", "open pty peer");
	if (p->rows && p->cols) {
		struct winsize ws = { .ws_row = p->rows, .ws_col = p->cols };
		ioctl(master, TIOCSWINSZ, &ws);
	}
	if (bind_console) {
		unsigned n;
		char path[32];
		if (ioctl(master, TIOCGPTN, &n) < 0)
			fail(errno, "%s", "pty number");
		snprintf(path, sizeof(path), "/dev/pts/%u", n);
		int r = rootfs_bind_console(path);
		if (r < 0)
			fail(-r, "bind %s on /dev/console", path);
	}
	report(CHILD_PTY, 0, 0, master, NULL);
	close(master);
	for (int i = 0; i < 3; i++)
		if (dup2(peer, i) < 0)
			fail(errno, "%s", "terminal stdio");
	close(peer);
	setsid();
	if (ioctl(0, TIOCSCTTY, 0) < 0)
		fail(errno, "%s", "set controlling terminal");
}

static void apply_rlimits(const struct spec_process *p)
{
	for (size_t i = 0; i < p->n_rlimits; i++) {
		struct rlimit rl = { .rlim_cur = p->rlimits[i].soft, .rlim_max = p->rlimits[i].hard };
		if (setrlimit(p->rlimits[i].resource, &rl) < 0)
			fail(errno, "%s", "setrlimit");
	}
}

static void write_oom_score_adj(int value)
{
	char buf[16];
	int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		fail(errno, "%s", "open /proc/self/oom_score_adj");
	int n = snprintf(buf, sizeof(buf), "%d", value);
	if (write(fd, buf, (size_t)n) < 0)
		fail(errno, "%s", "write oom_score_adj");
	close(fd);
}

static void set_identity(const struct spec_process *p)
{
	bool keep_caps = p->caps.set && p->uid != 0;
	int r = caps_drop_bounding(&p->caps);
	if (r < 0)
		fail(-r, "%s", "drop capabilities from the bounding set");
	if (keep_caps && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		fail(errno, "%s", "keep capabilities");
	/* Raw syscalls: glibc's wrappers would try to change the credentials of the agent's
	 * other threads too, which do not exist in this copy of it, and wait forever. */
	if (syscall(SYS_setgroups, p->n_groups, p->groups) < 0)
		fail(errno, "%s", "setgroups");
	if (syscall(SYS_setresgid, p->gid, p->gid, p->gid) < 0)
		fail(errno, "%s", "setgid");
	if (syscall(SYS_setresuid, p->uid, p->uid, p->uid) < 0)
		fail(errno, "%s", "setuid");
	r = caps_set(&p->caps);
	if (r < 0)
		fail(-r, "%s", "set capabilities");
	if (p->no_new_privileges && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		fail(errno, "%s", "no_new_privs");
}

static void install_seccomp(const struct seccomp_prog *sc)
{
	int r = seccomp_install(sc);
	if (r < 0)
		fail(-r, "%s", "install seccomp filter");
}

/* Without no_new_privs, only a process with CAP_SYS_ADMIN may install a filter: then it
 * goes in before the identity drops it (as runc does), else as late as possible. */
static void setup_process(const struct spec_process *p, const struct seccomp_prog *sc)
{
	if (p->has_umask)
		umask(p->umask);
	apply_rlimits(p);
	if (p->has_oom_score_adj)
		write_oom_score_adj(p->oom_score_adj);
	if (!p->no_new_privileges)
		install_seccomp(sc);
	set_identity(p);
	if (p->no_new_privileges)
		install_seccomp(sc);
	if (chdir(p->cwd) < 0)
		fail(errno, "chdir to cwd (\"%s\") set in config.json failed", p->cwd);
}

static void try_exec(const char *path, const struct spec_process *p, int *best_errno)
{
	execve(path, p->args, p->env);
	/* As execvp: a file found but not runnable says more than "not found" elsewhere. */
	if (errno != ENOENT && errno != ENOTDIR)
		*best_errno = errno;
}

static void __attribute__((noreturn)) exec_process(const struct spec_process *p)
{
	const char *file = p->args[0];
	int best = ENOENT;
	if (strchr(file, '/')) {
		execve(file, p->args, p->env);
		fail(errno == ENOENT ? -ENOENT : errno, "exec: \"%s\"", file);
	}
	const char *path = pv_env_get(p->env, "PATH");
	if (path == NULL)
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	char buf[4096];
	for (const char *s = path; ; ) {
		const char *e = strchrnul(s, ':');
		size_t dlen = (size_t)(e - s);
		if (dlen + strlen(file) + 2 < sizeof(buf)) {
			snprintf(buf, sizeof(buf), "%.*s/%s", (int)dlen, dlen ? s : ".", file);
			try_exec(buf, p, &best);
		}
		if (*e == '\0')
			break;
		s = e + 1;
	}
	if (best == ENOENT)
		fail(-ENOENT, "exec: \"%s\": executable file not found in $PATH", file);
	fail(best, "exec: \"%s\"", file);
}

static void wait_for_start(void)
{
	char c;
	ssize_t n;
	do
		n = read(START_FD, &c, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		_exit(0);  /* the agent dropped the container before starting it */
	close(START_FD);
}

static void join_namespaces(pid_t init_pid, int ns_flags);

void child_run_init(const struct spec *s, const struct child_fds *fds)
{
	install_fds(fds);
	reset_signals();
	if (s->join_flags)
		join_namespaces(fds->join_pid, s->join_flags);
	if (!s->process.terminal)
		setsid();
	if ((s->clone_flags & CLONE_NEWCGROUP) && unshare(CLONE_NEWCGROUP) < 0)
		fail(errno, "%s", "unshare cgroup namespace");
	if (s->hostname && (s->clone_flags & CLONE_NEWUTS) &&
	    sethostname(s->hostname, strlen(s->hostname)) < 0)
		fail(errno, "sethostname %s", s->hostname);
	char msg[400];
	int r = rootfs_setup(s, msg, sizeof(msg));
	if (r < 0)
		fail(r, "%s", msg);
	if (s->process.terminal)
		setup_terminal(&s->process, true);
	setup_process(&s->process, &s->seccomp);
	report(CHILD_READY, 0, 0, -1, NULL);
	wait_for_start();
	exec_process(&s->process);
}

static void join_namespaces(pid_t init_pid, int ns_flags)
{
	static const struct { int flag; const char *name; } order[] = {
		{ CLONE_NEWCGROUP, "cgroup" }, { CLONE_NEWIPC, "ipc" }, { CLONE_NEWUTS, "uts" },
		{ CLONE_NEWPID, "pid" }, { CLONE_NEWNS, "mnt" },
	};
	for (size_t i = 0; i < sizeof(order) / sizeof(*order); i++) {
		if (!(ns_flags & order[i].flag))
			continue;
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)init_pid, order[i].name);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || setns(fd, order[i].flag) < 0)
			fail(errno, "join %s namespace", order[i].name);
		close(fd);
	}
}

void child_run_exec(pid_t init_pid, int ns_flags, const struct spec_process *p,
		    const struct seccomp_prog *sc, const struct child_fds *fds)
{
	install_fds(fds);
	reset_signals();
	join_namespaces(init_pid, ns_flags);
	/* CLONE_PARENT: the process becomes the agent's child, so the agent reaps it. */
	pid_t pid = (pid_t)syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0);
	if (pid < 0)
		fail(errno, "%s", "clone exec process");
	if (pid > 0) {
		report(CHILD_PID, 0, pid, -1, NULL);
		_exit(0);
	}
	if (p->terminal)
		setup_terminal(p, false);
	else
		setsid();
	setup_process(p, sc);
	exec_process(p);
}

int child_read_msg(int sync_fd, struct child_msg *m, int *fd)
{
	char control[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = m, .iov_len = sizeof(*m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
			     .msg_controllen = sizeof(control) };
	ssize_t n;
	do
		n = recvmsg(sync_fd, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return 0;
	if ((size_t)n != sizeof(*m))
		return -EPROTO;
	m->msg[sizeof(m->msg) - 1] = '\0';
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	if (fd && c && c->cmsg_type == SCM_RIGHTS)
		memcpy(fd, CMSG_DATA(c), sizeof(int));
	return 1;
}
