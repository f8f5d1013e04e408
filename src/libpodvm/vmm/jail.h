/* A jail for a helper process of the host (the VMM): its own mount namespace whose root is
 * an empty tmpfs holding only the files it was given (bound at their host paths, so its
 * command line stays valid) and a /proc of its own PID namespace (it is that namespace's
 * PID 1), pivoted into with the host's / unmounted; no_new_privs; and
 * either a uid/gid of its own with a few capabilities (as root) or, without root, an own
 * user namespace that maps the caller to itself and no capabilities.
 *
 * The plan is made in the parent (it allocates, reads links); pv_jail_enter runs in the
 * forked child before exec and makes system calls only (the parent may have threads). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "error.h"

/* Jailed helpers run as root as uid and gid = this + their host pid: a range no distribution
 * hands out, one uid per process (pids are unique), so one cannot signal or ptrace another. */
#define PV_JAIL_UID_BASE 0x60000000u

enum pv_jail_flags {
	PV_JAIL_READONLY = 1 << 0,
	PV_JAIL_RECURSIVE = 1 << 1,  /* with the mounts below it (a share with the pod's rootfs) */
	PV_JAIL_OPTIONAL = 1 << 2,   /* skip a path that does not exist */
};

enum pv_jail_op_kind { PV_JAIL_MKDIR, PV_JAIL_SYMLINK, PV_JAIL_BIND_FILE, PV_JAIL_BIND_DIR };

struct pv_jail_op {
	enum pv_jail_op_kind kind;
	char *path;    /* as seen inside the jail */
	char *target;  /* the same under the new root, before the pivot */
	char *source;  /* host path of a bind; the text of a symlink */
	unsigned flags;
};

struct pv_jail {
	char *root;                /* an existing empty directory: the new root is mounted on it */
	struct pv_jail_op *ops;
	size_t n_ops;
	bool userns;               /* not root: an own user namespace */
	char uid_map[40], gid_map[40];
	/* As root: the jailed process runs as uid_base + its host pid (and the same gid), keeping
	 * only these capabilities (a bit mask of CAP_*), raised as ambient ones. */
	uid_t uid_base;
	uint64_t keep_caps;
	int cap_last;              /* /proc/sys/kernel/cap_last_cap */
};

/* An empty plan whose root is mounted on root_dir (created if missing). */
int pv_jail_init(struct pv_jail *j, const char *root_dir, pv_error *err);
/* Makes host_path (absolute; a file or a directory) visible at the same path inside, with
 * the links on the way recreated. A path already visible through a bound directory is
 * not added again. */
int pv_jail_add(struct pv_jail *j, const char *host_path, unsigned flags, pv_error *err);
/* Adds an ELF executable, its program interpreter and the libraries `ld.so --list` names
 * for it and for each of modules (NULL-terminated, may be NULL; a module file that is
 * missing is skipped), all read-only. The lists are kept for the process's life. */
int pv_jail_add_program(struct pv_jail *j, const char *exe, const char *const *modules, pv_error *err);
/* The namespaces the child must be cloned into (clone(2) flags, with SIGCHLD). */
unsigned long pv_jail_clone_flags(const struct pv_jail *j);
/* In the child, cloned with pv_jail_clone_flags: enters the jail. 0, or -errno with *failed_op the index of the
 * step that failed (-1: a step that is not an op: namespaces, pivot, credentials). */
int pv_jail_enter(const struct pv_jail *j, int *failed_op);
/* What a helper's child does around its jail (pv_jail_spawn); each hook returns 0 or -errno
 * and may make system calls only. */
struct pv_jail_child {
	int (*before)(void *arg);  /* before the jail: fds to keep open across exec, prctls */
	int (*after)(void *arg);   /* in the jail, before exec (a working directory) */
	void *arg;
	const char *log_path;      /* stdout and stderr go here (appended); stdin is /dev/null */
	bool die_with_thread;      /* SIGKILL when the thread that spawned it ends */
};
/* Clones a child into jail's namespaces (jail NULL: no jail) that runs c->before, gets its
 * own process group and stdio, enters the jail, runs c->after and execs argv. *pid is the
 * child once it exec'd. A failure (the child reaped) is one line: what, then the program
 * or the jail step that failed (pv_jail_describe). */
int pv_jail_spawn(const struct pv_jail *jail, char **argv, const struct pv_jail_child *c, const char *what,
		  pid_t *pid, pv_error *err);
/* One line for a failed pv_jail_enter. */
void pv_jail_describe(const struct pv_jail *j, int failed_op, int errnum, char *out, size_t len);
void pv_jail_clear(struct pv_jail *j);
