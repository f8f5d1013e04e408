/* A set of SHA-256 digests, each with the path of the first file seen with it: the
 * reference values a verifier checks measured file digests against (a file of a container
 * image, of the guest's initramfs).
 *
 * File form (pv_digest_set_save, pv_digest_set_load): one line per entry, in the order they
 * were added, "<64 lower-case hex digits> <path>\n", the path with "\\" written "\\\\" and a
 * newline "\\n" (any other byte as is), so that every line ends with the only raw newline.
 * An empty file is an empty set. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "error.h"

struct pv_digest_set;

int pv_digest_set_new(struct pv_digest_set **set, pv_error *err);
void pv_digest_set_free(struct pv_digest_set *set);
/* A digest already in the set keeps its first path (and that is no error). */
int pv_digest_set_add(struct pv_digest_set *set, const uint8_t digest[32], const char *path, pv_error *err);
/* The path of digest, or NULL when it is not in the set. */
const char *pv_digest_set_find(const struct pv_digest_set *set, const uint8_t digest[32]);
size_t pv_digest_set_count(const struct pv_digest_set *set);
/* Entry i (0 <= i < count, in the order added): its path, and its digest in *digest. */
const char *pv_digest_set_entry(const struct pv_digest_set *set, size_t i, const uint8_t **digest);
/* Atomic: a temporary file beside file, renamed over it. */
int pv_digest_set_save(const struct pv_digest_set *set, const char *file, pv_error *err);
/* A malformed file fails as "digest set FILE: line N: what". */
int pv_digest_set_load(const char *file, struct pv_digest_set **set, pv_error *err);
/* Adds every entry of from (whose paths stay behind those of into's entries). */
int pv_digest_set_merge(struct pv_digest_set *into, const struct pv_digest_set *from, pv_error *err);
/* Every regular file under dir (not following symlinks, not crossing into other
 * filesystems), path relative to dir with a leading "/", in sorted order of names. */
int pv_digest_set_add_tree(struct pv_digest_set *set, const char *dir, pv_error *err);

static inline void pv_digest_set_freep(struct pv_digest_set **set)
{
	pv_digest_set_free(*set);
}
#define _cleanup_digest_set_ __attribute__((cleanup(pv_digest_set_freep)))
