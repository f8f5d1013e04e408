/* Resolving a container user ("name", "uid", "name:group", "uid:gid") against the image's
 * /etc/passwd and /etc/group, as docker and containerd do: the group defaults to the
 * user's primary group, supplementary groups come from /etc/group membership. */
#pragma once
#include <sys/types.h>
#include "error.h"

struct pv_user {
	uid_t uid;
	gid_t gid;
	gid_t *groups;
	size_t n_groups;
	char *home;  /* from /etc/passwd, or "/" */
};

/* rootfs: host path of the container's root. Files are read without leaving it. */
int pv_user_resolve(const char *rootfs, const char *spec, struct pv_user *out, pv_error *err);
void pv_user_clear(struct pv_user *u);
