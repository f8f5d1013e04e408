#include "child.h"
#include "caps.h"
#include "rootfs.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int sync_fd = -1;

static void report(int type, int errnum, int pid, const char *fmt, ...)
{
	struct child_msg m = { .type = type, .errnum = errnum, .pid = pid };
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(m.msg, sizeof(m.msg), fmt, ap);
		va_end(ap);
	}
	(void)!write(sync_fd, &m, sizeof(m));
}

static void __attribute__((noreturn)) fail(int errnum, const char *fmt, const char *arg)
{
	char buf[400];
	snprintf(buf, sizeof(buf), fmt, arg);
	if (errnum > 0)
		report(CHILD_ERROR, errnum, 0, "%s: %s", buf, strerror(errnum));
	else
		report(CHILD_ERROR, -errnum, 0, "%s", buf);
	_exit(127);
}

/* Moves the fds we keep above the ones we assign, then installs them: 0-2 stdio, 3 sync,
 * 4 start gate, 5 console. Everything else is closed so no agent fd leaks in. */
static void install_fds(const struct child_fds *in, int *start_fd, int *console_fd)
{
	int src[6] = { in->stdin_fd, in->stdout_fd, in->stderr_fd, in->sync_fd, in->start_fd, in->console_fd };
	int tmp[6];
	for (int i = 0; i < 6; i++)
		tmp[i] = src[i] >= 0 ? fcntl(src[i], F_DUPFD, 1000) : -1;
	for (int i = 0; i < 6; i++)
		if (tmp[i] >= 0 && dup2(tmp[i], i) < 0)
			_exit(126);
	syscall(SYS_close_range, 6, ~0U, 0);
	fcntl(3, F_SETFD, FD_CLOEXEC);
	sync_fd = 3;
	*start_fd = in->start_fd >= 0 ? 4 : -1;
	if (*start_fd >= 0)
		fcntl(4, F_SETFD, FD_CLOEXEC);
	*console_fd = in->console_fd >= 0 ? 5 : -1;
	if (*console_fd >= 0)
		fcntl(5, F_SETFD, FD_CLOEXEC);
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

static void set_session(bool terminal)
{
	setsid();
	if (terminal && ioctl(0, TIOCSCTTY, 0) < 0)
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
	int r = caps_apply(&p->caps);
	if (r < 0)
		fail(-r, "%s", "apply capabilities");
	if (p->no_new_privileges && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		fail(errno, "%s", "no_new_privs");
}

static void setup_process(const struct spec_process *p)
{
	if (p->has_umask)
		umask(p->umask);
	apply_rlimits(p);
	if (p->has_oom_score_adj)
		write_oom_score_adj(p->oom_score_adj);
	set_identity(p);
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

static void wait_for_start(int start_fd)
{
	char c;
	ssize_t n;
	do
		n = read(start_fd, &c, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		_exit(0);  /* the agent dropped the container before starting it */
	close(start_fd);
}

void child_run_init(const struct spec *s, const struct child_fds *fds)
{
	int start_fd, console_fd;
	install_fds(fds, &start_fd, &console_fd);
	reset_signals();
	set_session(s->process.terminal);
	if ((s->clone_flags & CLONE_NEWCGROUP) && unshare(CLONE_NEWCGROUP) < 0)
		fail(errno, "%s", "unshare cgroup namespace");
	if (s->hostname && (s->clone_flags & CLONE_NEWUTS) &&
	    sethostname(s->hostname, strlen(s->hostname)) < 0)
		fail(errno, "sethostname %s", s->hostname);
	char msg[400];
	int r = rootfs_setup(s, fds->console_path, msg, sizeof(msg));
	if (r < 0)
		fail(-r, "%s", msg);
	setup_process(&s->process);
	report(CHILD_READY, 0, 0, NULL);
	wait_for_start(start_fd);
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
		    const struct child_fds *fds)
{
	int start_fd, console_fd;
	install_fds(fds, &start_fd, &console_fd);
	reset_signals();
	join_namespaces(init_pid, ns_flags);
	/* CLONE_PARENT: the process becomes the agent's child, so the agent reaps it. */
	pid_t pid = (pid_t)syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0);
	if (pid < 0)
		fail(errno, "%s", "clone exec process");
	if (pid > 0) {
		report(CHILD_PID, 0, pid, NULL);
		_exit(0);
	}
	set_session(p->terminal);
	setup_process(p);
	exec_process(p);
}
