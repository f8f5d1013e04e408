/* Guest cgroup v2: one cgroup per container under /sys/fs/cgroup/podvm. */
#pragma once
#include <stdbool.h>
#include <sys/types.h>
#include "error.h"
#include "spec.h"

#define CGROUP_ROOT "/sys/fs/cgroup"

/* Enables the controllers for the container cgroups (at agent start). */
int cgroup_init(pv_error *err);
/* Creates the container's cgroup and applies the spec's limits; returns an O_DIRECTORY fd
 * for clone3(CLONE_INTO_CGROUP). */
int cgroup_create(const char *container_id, const struct spec_resources *res, pv_error *err);
/* Applies new limits (an OCI "linux.resources" update). */
int cgroup_update(const char *container_id, const struct spec_resources *res, pv_error *err);
/* Freezes or thaws every process of the container, and waits until it is done. */
int cgroup_freeze(const char *container_id, bool frozen, pv_error *err);
/* Kills every process in it (cgroup.kill) and removes it. */
int cgroup_destroy(const char *container_id, pv_error *err);
int cgroup_open(const char *container_id, pv_error *err);
