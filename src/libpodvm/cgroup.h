/* The host cgroup a pod's VMM lives in, as runc's pause process would: the cgroup the
 * sandbox's OCI spec names (linux.cgroupsPath), made in every cgroup hierarchy the host
 * mounts (cgroup v2 alone, or v1 controllers with or without a cgroup2 tree beside them). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include "error.h"

/* The cgroup an OCI linux.cgroupsPath names, as a path from each hierarchy's root
 * ("/a/b/leaf", malloc'd into *out). Two forms:
 *   cgroupfs  "/parent/.../id"; a relative one is taken from the root (as crun does);
 *   systemd   "slice:prefix:name", made a path as runc does on a host without systemd: the
 *             slice expanded ("a-b.slice" is "/a.slice/a-b.slice"; "" is system.slice),
 *             then the unit "prefix-name.scope" (a name ending in .slice is the unit).
 * A "." or ".." component is refused (EINVAL, naming the path). */
int pv_cgroup_path(const char *cgroups_path, char **out, pv_error *err);

/* One mounted cgroup hierarchy. */
struct pv_cgroup_hierarchy {
	char *mount;  /* its mount point */
	bool cpuset;  /* a v1 hierarchy with the cpuset controller: a new cgroup needs cpus and mems */
};
struct pv_cgroup_hierarchies {
	struct pv_cgroup_hierarchy *v;
	size_t n;
};

/* The hierarchies a /proc/PID/mountinfo text lists (cgroup and cgroup2 mounts), each
 * once: a hierarchy mounted twice keeps the mount of its root, else the first. */
int pv_cgroup_hierarchies_parse(const char *mountinfo, struct pv_cgroup_hierarchies *out, pv_error *err);
void pv_cgroup_hierarchies_clear(struct pv_cgroup_hierarchies *h);

/* Creates the cgroup path (pv_cgroup_path's) in every hierarchy of this process's mount
 * namespace, parents included (a v1 cpuset one gets its parent's cpus and mems), and moves
 * the process pid, all its threads, into it. The error names the cgroup at fault; on
 * failure the process may already be in some of them (pv_cgroup_remove once it exits). */
int pv_cgroup_join(const char *path, pid_t pid, pv_error *err);
/* Removes the cgroup path's last component in every hierarchy, never its parents (kubelet
 * owns them); waits up to 2 s for processes that are exiting to leave it. Best effort:
 * a missing cgroup is no failure. */
void pv_cgroup_remove(const char *path);
