/* Container lifecycle in the guest, the way runc does it on a host: create (namespaces,
 * mounts, identity, all done and parked before execve), start (release the gate), exec
 * (join the namespaces), signal, remove. */
#pragma once
#include <stdbool.h>
#include <sys/types.h>
#include "error.h"

struct container_share {
	const char *tag;
	const char *fstype;
	bool readonly;
};

int container_create(const char *id, const char *spec_json, size_t spec_len,
		     const struct container_share *shares, size_t n_shares, bool want_stdin,
		     pid_t *pid, pv_error *err);
int container_start(const char *id, pid_t *pid, pv_error *err);
int container_exec(const char *id, const char *exec_id, const char *process_json,
		   size_t len, bool want_stdin, pid_t *pid, pv_error *err);
int container_signal(const char *id, const char *exec_id, int sig, bool all, pv_error *err);
int container_remove(const char *id, pv_error *err);
/* Drops an exec that has exited (or never ran) from the process table: its pipes close. */
int container_remove_process(const char *id, const char *exec_id, pv_error *err);
int container_update(const char *id, const char *resources_json, size_t len, pv_error *err);
int container_pause(const char *id, bool paused, pv_error *err);
/* Writes a secret to /run/secrets/<name> of a created container that has not started (no
 * code of its own has run yet); the host gave its spec a tmpfs there. Paths resolve inside
 * the container's root, symlinks included. */
int container_put_secret(const char *id, const char *name, const void *data, size_t len, pv_error *err);
