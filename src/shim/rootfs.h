/* A container's filesystem on the host side: containerd's rootfs mounts on the bundle's
 * rootfs, bound with the spec's bind mounts into the pod's shared directory, and the
 * config.json rewritten to name them as the guest sees them. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include "error.h"
#include "containerd_containerd_api_types_mount.pb-c.h"

struct container_fs {
	char *bundle_rootfs;  /* mounted by us (NULL if the bundle brought its own) */
	char *share_dir;      /* <shared>/<container id> */
};

/* Whether an OCI mount (a JSON object) lists the option name. */
bool mount_has_option(json_t *m, const char *name);
/* Mounts, binds and rewrites spec in place. Namespaces that containerd points at the
 * pod's sandbox (ipc, uts, pid) become "podvm:container/<sandbox>": the agent joins that
 * container's namespaces in the guest. On failure undoes what it did. */
int container_fs_setup(const char *id, const char *bundle, Containerd__Types__Mount **mounts,
		       size_t n_mounts, const char *shared_dir, const char *sandbox_id, json_t *spec,
		       struct container_fs *fs, pv_error *err);
/* Unmounts everything container_fs_setup mounted, removes the share directory. */
void container_fs_teardown(struct container_fs *fs);
/* For `delete` after a crash: the same, knowing only the paths. */
void container_fs_teardown_paths(const char *bundle, const char *share_dir);
