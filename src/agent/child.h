/* What runs in a freshly cloned container process, between clone and execve. The agent is
 * multithreaded, so this code only makes syscalls and formats into stack buffers: no
 * allocation, no locks. Failures are reported to the agent over the sync pipe. */
#pragma once
#include <sys/types.h>
#include "spec.h"

enum child_msg_type {
	CHILD_READY = 1,   /* setup done, waiting for the start byte */
	CHILD_ERROR = 2,   /* setup or exec failed: errnum + message */
	CHILD_PID = 3,     /* exec path: pid of the process in the container */
};

struct child_msg {
	int type;
	int errnum;
	int pid;
	char msg[480];
};

/* Descriptors the child needs, already placed by the parent's preparation. */
struct child_fds {
	int stdin_fd, stdout_fd, stderr_fd;  /* become 0, 1, 2 */
	int sync_fd;     /* write end, close-on-exec: EOF at the agent means exec succeeded */
	int start_fd;    /* read end of the start gate; -1 for exec processes */
	int console_fd;  /* the pty slave when terminal, else -1 */
	const char *console_path;  /* its path in the agent's /dev/pts, for /dev/console */
};

/* The container's init: mounts, pivot_root, identity, then waits for the start byte and
 * execs. Never returns. */
void child_run_init(const struct spec *s, const struct child_fds *fds) __attribute__((noreturn));
/* An exec process: joins the namespaces of init_pid, then forks (CLONE_PARENT) the process
 * that runs `p`, reports its pid and exits. Never returns. */
void child_run_exec(pid_t init_pid, int ns_flags, const struct spec_process *p,
		    const struct child_fds *fds) __attribute__((noreturn));
