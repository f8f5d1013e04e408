/* Reference values of a CRI container's rootfs: containerd's snapshotter mounts it as an
 * overlay whose lowerdirs are committed snapshot directories, immutable while they exist.
 * Each one's digest set is computed once and kept, so that the next pod of the same image
 * pays nothing. */
#pragma once
#include <stddef.h>
#include "digest_set.h"
#include "error.h"

/* *set: the union of the digest sets of the n lowerdirs (pv_digest_set_add_tree), each
 * served from cache_dir (created) when it is there. A set is kept under a hash of the dir's
 * path, device, inode and mtime: a snapshot removed and made anew under the same path is
 * another. */
int pv_reference_for_lowerdirs(const char *const *lowerdirs, size_t n, const char *cache_dir,
			       struct pv_digest_set **set, pv_error *err);
