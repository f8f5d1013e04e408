/* What runs in a freshly cloned container process, between clone and execve. The agent is
 * multithreaded, so this code only makes syscalls and formats into stack buffers: no
 * allocation, no locks, no glibc wrappers that coordinate threads. It reports to the agent
 * over the sync socket, which is close-on-exec: EOF there means the exec succeeded. */
#pragma once
#include <stdbool.h>
#include <sys/types.h>
#include "spec.h"

enum child_msg_type {
	CHILD_READY = 1,   /* init: setup done, waiting for the start byte */
	CHILD_ERROR = 2,   /* setup or exec failed: errnum + message */
	CHILD_PID = 3,     /* exec: pid of the process in the container */
	CHILD_PTY = 4,     /* the terminal's master, passed along (SCM_RIGHTS) */
};

struct child_msg {
	int type;
	int errnum;
	int pid;
	char msg[480];
};

struct child_fds {
	int stdin_fd, stdout_fd, stderr_fd;  /* become 0, 1, 2 (replaced by the pty's peer
					      * when the process has a terminal) */
	int sync_fd;     /* this end of the sync socket */
	int start_fd;    /* read end of the start gate; -1 for exec processes */
	pid_t join_pid;  /* init: the process whose namespaces (spec join_flags) to join */
};

/* The container's init: mounts, pivot_root, terminal, identity, then waits for the start
 * byte and execs. Never returns. */
void child_run_init(const struct spec *s, const struct child_fds *fds) __attribute__((noreturn));
/* An exec process: joins the namespaces of init_pid, then forks (CLONE_PARENT) the process
 * that runs `p`, reports its pid and exits. Never returns. */
void child_run_exec(pid_t init_pid, int ns_flags, const struct spec_process *p,
		    const struct seccomp_prog *sc, const struct child_fds *fds) __attribute__((noreturn));
/* Agent side: receives one message and, with CHILD_PTY, the fd in *fd. Returns 1 with a
 * message, 0 at EOF, -errno. */
int child_read_msg(int sync_fd, struct child_msg *m, int *fd);
