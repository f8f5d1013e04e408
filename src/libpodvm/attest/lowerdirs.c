#include "lowerdirs.h"
#include "hasher.h"
#include "sha256.h"
#include "cleanup.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* <cache_dir>/<sha256 of the dir's identity>.digests */
static int cache_file(const char *dir, const char *cache_dir, char **file, pv_error *err)
{
	struct stat st;
	_cleanup_free_ char *key = NULL;
	uint8_t digest[PV_SHA256_LEN];
	char hex[PV_SHA256_HEX_LEN + 1];
	if (stat(dir, &st) < 0)
		return pv_error_set(err, errno, "lowerdir %s", dir);
	if (asprintf(&key, "%s\n%llu %llu %lld.%09ld\n", dir, (unsigned long long)st.st_dev,
		     (unsigned long long)st.st_ino, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec) < 0)
		return pv_error_set(err, ENOMEM, "lowerdir %s", dir);
	pv_sha256((const uint8_t *)key, strlen(key), digest);
	pv_sha256_hex(digest, hex);
	if (asprintf(file, "%s/%s.digests", cache_dir, hex) < 0)
		return pv_error_set(err, ENOMEM, "lowerdir %s", dir);
	return 0;
}

/* A kept set that cannot be read (a crash while it was written leaves none: it is renamed
 * into place) is made again. */
static int dir_set(const char *dir, const char *file, struct pv_digest_set **set, pv_error *err)
{
	_cleanup_digest_set_ struct pv_digest_set *s = NULL;
	pv_error ignored = NULL;
	if (pv_digest_set_load(file, set, &ignored) == 0)
		return 0;
	pv_error_release(&ignored);
	if (pv_digest_set_new(&s, err) < 0 || pv_digest_set_add_tree(s, dir, err) < 0 ||
	    pv_digest_set_save(s, file, err) < 0)
		return -1;
	*set = steal_pointer(&s);
	return 0;
}

int pv_reference_for_lowerdirs(const char *const *lowerdirs, size_t n, const char *cache_dir,
			       struct pv_digest_set **set, pv_error *err)
{
	_cleanup_digest_set_ struct pv_digest_set *all = NULL;
	*set = NULL;
	if (pv_mkdir_p(cache_dir, 0700, err) < 0 || pv_digest_set_new(&all, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *file = NULL;
		_cleanup_digest_set_ struct pv_digest_set *one = NULL;
		if (cache_file(lowerdirs[i], cache_dir, &file, err) < 0 ||
		    dir_set(lowerdirs[i], file, &one, err) < 0 || pv_digest_set_merge(all, one, err) < 0)
			return -1;
	}
	*set = steal_pointer(&all);
	return 0;
}
