/* The agent's process table: every container init and exec process, their stdio ends, and
 * their exit statuses. PID 1 reaps every child; exits of processes not yet registered are
 * kept briefly so a fast exit is never lost. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include "error.h"

struct agent_proc {
	char *container_id;
	char *exec_id;       /* "" for the init process */
	pid_t pid;           /* 0 until running */
	int stdin_fd;        /* write end of the stdin pipe or the pty master; -1 none */
	int out_fd;          /* stdout read end or the pty master */
	int err_fd;          /* stderr read end; -1 with a terminal */
	bool terminal;
	bool exited;
	int exit_status;     /* code, or 128 + signal */
	bool closing;        /* removed: blocked readers give up */
	int refs;
	struct agent_proc *next;
};

/* Starts the reaper thread; SIGCHLD must be blocked in every thread before (main does). */
int proc_table_init(pv_error *err);

/* A new process entry holding one reference for the table. */
struct agent_proc *proc_new(const char *container_id, const char *exec_id);
/* Adds p to the table (EEXIST if the ids are taken). */
int proc_add(struct agent_proc *p, pv_error *err);
/* Finds and references a process; NULL (ENOENT in *err) if unknown. */
struct agent_proc *proc_get(const char *container_id, const char *exec_id, pv_error *err);
void proc_put(struct agent_proc *p);
/* Removes from the table and drops the table's reference (closes its fds at the last put). */
void proc_remove(struct agent_proc *p);
/* Calls fn for every process of a container (under the table lock: fn must not block). */
void proc_foreach_of(const char *container_id, void (*fn)(struct agent_proc *, void *), void *data);

/* The reaper's count of exits so far: taken before a clone, it tells an exit of the new
 * process (counted after) from one of an earlier process with the same pid. */
unsigned long long proc_exit_seq(void);
/* Records p's pid, picking up an exit the reaper saw before registration, if counted at or
 * after since (proc_exit_seq before the process was made). */
void proc_set_pid(struct agent_proc *p, pid_t pid, unsigned long long since);
/* Entries in the table. */
size_t proc_count(void);
/* Blocks until p exits; returns its exit status. */
int proc_wait(struct agent_proc *p);
bool proc_exited(struct agent_proc *p);

/* I/O, each safe to call concurrently with the others. */
int proc_read_output(struct agent_proc *p, int stream, size_t max, char **data, size_t *len,
		     bool *eof, pv_error *err);
int proc_write_stdin(struct agent_proc *p, const void *data, size_t len, pv_error *err);
int proc_close_stdin(struct agent_proc *p, pv_error *err);
int proc_resize(struct agent_proc *p, unsigned rows, unsigned cols, pv_error *err);
