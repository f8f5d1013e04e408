/* Host-side bind mounts that carry files into a VM's share, and their removal. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include "error.h"

/* Binds source (a directory or a file; recursively) onto target, creating target as the
 * same kind. propagation is MS_PRIVATE (a later unmount of the source leaves the copy) or
 * MS_SLAVE (mounts made later under the source appear in it). readonly makes the whole
 * bound tree read-only. */
int pv_bind_into(const char *source, const char *target, unsigned long propagation, bool readonly,
		 pv_error *err);
/* Lazily unmounts every mount at or below dir, deepest first. NULL does nothing. */
void pv_unmount_below(const char *dir);
/* Mounts an overlay of lower (read-only) and upper (the writes; work is overlayfs's scratch
 * directory, on upper's filesystem) on target, creating upper, work and target. Paths with
 * ',' or ':' cannot be named in overlay options: EINVAL. */
int pv_mount_overlay(const char *lower, const char *upper, const char *work, const char *target, pv_error *err);
/* Makes sure mounts made later under dir propagate to copies of it in other mount
 * namespaces (slaves: the jailed VMMs'): if the mount dir is on is not shared, dir is
 * bound onto itself (once; under a lock) and made shared, as kubelet does for its root. */
int pv_mount_make_shared(const char *dir, pv_error *err);
/* Of the mount that holds path, in a /proc/self/mountinfo text: its mount point (into
 * mount_point) and whether it is shared. -ENOENT if none does. */
int pv_mountinfo_find(const char *mountinfo, const char *path, char *mount_point, size_t len, bool *shared);
