/* A named network namespace, as `ip netns add` makes one: a new namespace kept alive by a
 * bind mount of its nsfs file on a path, which CNI plugins are given and enter. */
#pragma once
#include "error.h"

/* path must not exist; its directory must. On failure nothing is left. */
int pv_netns_create(const char *path, pv_error *err);
/* Unmounts and removes path (the namespace goes when nothing else holds it). */
void pv_netns_remove(const char *path);
