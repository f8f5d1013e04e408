/* Starting a helper of the host (QEMU, swtpm) in its jail (jail.h), or unjailed: the one
 * clone-setup-exec sequence both use, with the child's failure reported to the parent. */
#include "jail.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* What the child sends back when it could not exec. */
struct child_failure {
	int errnum;
	int jail_step;  /* pv_jail_enter's failed_op; INT_MIN: not in the jail */
};

/* Runs in the child: system calls only (the parent may have threads). */
static void __attribute__((noreturn)) exec_child(const struct pv_jail *jail, char **argv,
						 const struct pv_jail_child *c, int errfd)
{
	struct child_failure f = { .jail_step = INT_MIN };
	int r = c->before ? c->before(c->arg) : 0;
	if (r < 0) {
		errno = -r;
		goto fail;
	}
	/* Own process group: a ^C at the terminal is for the container, not for the helper. */
	setpgid(0, 0);
	int null = open("/dev/null", O_RDONLY);
	int log = open(c->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (null < 0 || log < 0 || dup2(null, 0) < 0 || dup2(log, 1) < 0 || dup2(log, 2) < 0)
		goto fail;
	pv_child_reset_signals();
	if (jail && (r = pv_jail_enter(jail, &f.jail_step)) < 0) {
		errno = -r;
		goto fail;
	}
	f.jail_step = INT_MIN;
	if (c->after && (r = c->after(c->arg)) < 0) {
		errno = -r;
		goto fail;
	}
	/* After the jail: a change of uid clears it. */
	if (c->die_with_thread)
		prctl(PR_SET_PDEATHSIG, SIGKILL);
	execv(argv[0], argv);
fail:
	f.errnum = errno;
	(void)!write(errfd, &f, sizeof(f));
	_exit(127);
}

int pv_jail_spawn(const struct pv_jail *jail, char **argv, const struct pv_jail_child *c, const char *what,
		  pid_t *pid, pv_error *err)
{
	*pid = 0;
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return pv_error_set(err, errno, "%s: pipe", what);
	/* A jailed helper is PID 1 of a PID namespace of its own (and of a user namespace of
	 * its own without root). */
	unsigned long flags = SIGCHLD | (jail ? pv_jail_clone_flags(jail) : 0);
	pid_t child = (pid_t)syscall(SYS_clone, flags, NULL, NULL, NULL, NULL);
	if (child < 0) {
		int e = errno;
		close(pipefd[0]);
		close(pipefd[1]);
		return pv_error_set(err, e, "%s: clone", what);
	}
	if (child == 0)
		exec_child(jail, argv, c, pipefd[1]);
	close(pipefd[1]);
	struct child_failure f;
	ssize_t n = pv_read_full(pipefd[0], &f, sizeof(f));
	close(pipefd[0]);
	if (n != sizeof(f)) {  /* the exec closed the pipe */
		*pid = child;
		return 0;
	}
	waitpid(child, NULL, 0);
	if (f.jail_step == INT_MIN)
		return pv_error_set(err, f.errnum, "%s %s", what, argv[0]);
	char why[512];
	pv_jail_describe(jail, f.jail_step, f.errnum, why, sizeof(why));
	return pv_error_set_plain(err, f.errnum, "%s %s", what, why);
}
