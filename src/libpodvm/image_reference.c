/* pv_image_reference_path: the digest set of an image's kept copy (image_cache.h). */
#include "image_cache.h"
#include "cleanup.h"
#include "digest_set.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* For a copy kept before unpacking recorded digests. Unlike the recorded ones, these are
 * of the files as they are now: the copy is only ever mounted as an overlay's lower layer. */
static int digests_of_tree(const char *rootfs, const char *path, pv_error *err)
{
	_cleanup_digest_set_ struct pv_digest_set *set = NULL;
	if (pv_digest_set_new(&set, err) < 0 || pv_digest_set_add_tree(set, rootfs, err) < 0)
		return -1;
	return pv_digest_set_save(set, path, err);
}

int pv_image_reference_path(const char *cache_dir, const char *ref, char **path, pv_error *err)
{
	_cleanup_free_ char *rootfs = NULL, *file = NULL;
	struct pv_image_config cfg;
	bool cached;
	*path = NULL;
	if (pv_image_cache_get(cache_dir, ref, &rootfs, &cfg, &cached, err) < 0)
		return -1;
	pv_image_config_clear(&cfg);
	if (!cached)
		return pv_error_set_plain(err, EINVAL, "image %s: a plain rootfs directory, no kept copy to have digests of",
					  ref);
	_cleanup_free_ char *entry = strdup(rootfs);
	if (entry == NULL || asprintf(&file, "%s/" PV_IMAGE_DIGESTS, dirname(entry)) < 0)
		return pv_error_set(err, ENOMEM, "image %s", ref);
	if (access(file, F_OK) < 0 && digests_of_tree(rootfs, file, err) < 0)
		return pv_error_prefix(err, "image %s", ref);
	*path = steal_pointer(&file);
	return 0;
}
