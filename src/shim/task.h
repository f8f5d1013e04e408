/* The shim's tasks: one per container (its init process) plus its exec processes, with
 * their state as containerd sees it, their stdio FIFOs, and a waiter thread each that
 * records the exit and publishes it. */
#pragma once
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include "io.h"
#include "rootfs.h"

enum proc_state { PROC_CREATED = 1, PROC_RUNNING = 2, PROC_STOPPED = 3, PROC_PAUSED = 4 };

struct proc {
	char *exec_id;          /* "" for the init process */
	pid_t pid;
	enum proc_state state;
	uint32_t exit_status;
	struct timespec exited_at;
	char *stdin_path, *stdout_path, *stderr_path;
	bool terminal;
	char *process_json;     /* exec: the OCI process to run at Start */
	struct pv_io io;
	bool io_started;
	pthread_t waiter;
	bool waiter_started;
	int waits;              /* Wait requests looking at it: it is freed only after them */
	struct proc *next;
};

struct task {
	char *id;
	char *bundle;
	struct proc init;
	struct proc *execs;
	struct container_fs fs;
	bool oom_reported;      /* a /tasks/oom went out for this container */
	bool cri_sandbox;       /* the pause container CRI creates for a pod */
	struct task *next;
};

/* Opens the FIFOs and starts copying (stdout/stderr to containerd, its stdin to us). */
int proc_open_io(struct proc *p, struct ttrpc_client *agent, const char *container_id, pv_error *err);
/* Starts the thread that waits for the exit, drains the output, marks the process
 * STOPPED, wakes Wait callers and publishes /tasks/exit. */
int proc_start_waiter(struct proc *p, struct task *t, pv_error *err);
/* Blocks until p is STOPPED. */
void proc_wait_stopped(struct proc *p);
/* A Wait request: blocks until p is STOPPED, then copies its exit (lock held). */
void proc_wait_exit_locked(struct proc *p, uint32_t *status, struct timespec *exited_at);
/* Marks p STOPPED with status, now, and wakes its Wait callers (lock held). */
void proc_set_stopped_locked(struct proc *p, int status);
/* Before p is freed (lock held, p out of every list): waits until no Wait request looks at
 * it (a STOPPED process's Waits return at once). */
void proc_drain_waits_locked(struct proc *p);
/* Before t is freed (lock held): its processes that will never run (never started, so
 * no waiter thread will end them) are STOPPED with 255, then it waits until no Wait
 * request looks at any of them. */
void task_end_waits_locked(struct task *t);
void proc_free_fields(struct proc *p);

/* The table (all callers hold no lock; these take the shim lock). */
void tasks_lock(void);
void tasks_unlock(void);
struct task *tasks_find_locked(const char *id);
struct proc *task_proc_locked(struct task *t, const char *exec_id);
void tasks_add_locked(struct task *t);
void tasks_remove_locked(struct task *t);
bool tasks_empty_locked(void);
void tasks_broadcast_locked(void);
void task_free(struct task *t);
/* Publishes /tasks/oom for container id, once per container (the watcher and the exit
 * path may both see the same kill). */
void task_publish_oom(const char *id);
