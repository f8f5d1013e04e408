/* How a `podvm run` container's rootfs and volumes reach the guest (run.c).
 *
 * As root: one share, "shared" (<data>/<id>/shared), empty while the VM starts, so that the
 * VM can be one from the pool (the shape of a pod's, pool.h); once it runs, the rootfs and
 * each volume are bind-mounted into it (shared/rootfs, shared/v<i>) and the guest sees them
 * through the share. Without the right to mount: the rootfs and each volume are shares of
 * their own ("rootfs", "vol<i>"), and the VM is restored or booted, never pooled. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include "agent_client.h"
#include "error.h"
#include "run.h"
#include "sandbox.h"

struct run_volume {
	char *host_path;      /* the volume (a directory or a file), resolved */
	char *export_dir;     /* own share: the directory it exports (a file's parent) */
	char *guest_source;   /* what the container binds */
	char tag[24];         /* own share: its tag */
	const char *destination;
	bool readonly;
};

struct run_shares {
	bool attach;          /* one "shared" share, filled after the boot */
	char *data_dir;
	char *shared_dir;
	bool attached;
	struct run_volume *vols;
	size_t n_vols;
};

/* Resolves the volumes (each must exist) and chooses how they and the rootfs travel. */
int run_shares_init(struct run_shares *s, const char *data_dir, const struct pv_volume *v, size_t n,
		    pv_error *err);
/* Where the guest finds the rootfs. */
const char *run_shares_guest_root(const struct run_shares *s);
/* Adds the shares to the sandbox (before its boot). */
int run_shares_add(struct run_shares *s, struct pv_sandbox *sb, const char *rootfs, pv_error *err);
/* The shares the agent mounts for the container: *out (malloc'd array) of *n. */
int run_shares_for_agent(const struct run_shares *s, struct pv_agent_share **out, size_t *n, pv_error *err);
/* After the boot: puts the rootfs and volumes into the shared share (nothing otherwise). An
 * overlay rootfs (a kept image copy, image_cache.h) gets the run's writes in <data>/upper;
 * any other is bound as it is. */
int run_shares_attach(struct run_shares *s, const char *rootfs, bool overlay, pv_error *err);
/* Unmounts what attach bound; the VM is gone by then. */
void run_shares_detach(struct run_shares *s);
void run_shares_clear(struct run_shares *s);
