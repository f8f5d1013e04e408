#include "image_cache.h"
#include "cleanup.h"
#include "digest_set.h"
#include "owner.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TMP_MARK ".tmp-"

/* 1 with *rootfs and cfg when entry holds the image of this key, 0 when not. */
static int read_entry(const char *entry, const char *key, char **rootfs, struct pv_image_config *cfg)
{
	_cleanup_free_ char *key_path = NULL, *conf_path = NULL, *have = NULL, *dir = NULL;
	struct stat st;
	if (asprintf(&key_path, "%s/key", entry) < 0 || asprintf(&conf_path, "%s/config.json", entry) < 0 ||
	    asprintf(&dir, "%s/rootfs", entry) < 0)
		return 0;
	if (pv_read_file(key_path, 1 << 16, &have, NULL, NULL) < 0 || strcmp(have, key) != 0 ||
	    stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return 0;
	json_auto_t *doc = json_load_file(conf_path, 0, NULL);
	pv_error err = NULL;
	if (doc == NULL || pv_image_config_parse(doc, cfg, &err) < 0) {
		pv_error_release(&err);
		return 0;
	}
	*rootfs = steal_pointer(&dir);
	return 1;
}

static int write_config(const char *tmp, const struct pv_image_config *cfg, pv_error *err)
{
	_cleanup_free_ char *path = NULL;
	json_auto_t *doc = pv_image_config_to_json(cfg);
	if (doc == NULL || asprintf(&path, "%s/config.json", tmp) < 0)
		return pv_error_set(err, ENOMEM, "image cache");
	if (json_dump_file(doc, path, JSON_COMPACT) < 0)
		return pv_error_set_plain(err, EIO, "write %s", path);
	return 0;
}

/* The image as unpacked: its rootfs, config, and the digests of its files, hashed as the
 * layers were written. */
static int unpack_into(const char *tmp, const char *ref, pv_error *err)
{
	_cleanup_free_ char *dest = NULL, *scratch = NULL, *rootfs = NULL, *digests_path = NULL;
	_cleanup_digest_set_ struct pv_digest_set *digests = NULL;
	struct pv_image_config cfg;
	if (asprintf(&dest, "%s/rootfs", tmp) < 0 || asprintf(&scratch, "%s/scratch", tmp) < 0 ||
	    asprintf(&digests_path, "%s/" PV_IMAGE_DIGESTS, tmp) < 0)
		return pv_error_set(err, ENOMEM, "image cache");
	if (pv_digest_set_new(&digests, err) < 0 ||
	    pv_image_prepare_digests(ref, dest, scratch, digests, &rootfs, &cfg, err) < 0)
		return -1;
	int r = write_config(tmp, &cfg, err);
	pv_image_config_clear(&cfg);
	return r < 0 ? r : pv_digest_set_save(digests, digests_path, err);
}

/* Unpacks ref into a directory of our own next to entry, then renames it into place. */
static int unpack_entry(const char *cache_dir, const char *hash, const char *ref, const char *key, pv_error *err)
{
	char rnd[9];
	_cleanup_free_ char *tmp = NULL, *key_path = NULL, *entry = NULL;
	int r = pv_random_hex(rnd, 4);
	if (r < 0)
		return pv_error_set(err, -r, "random");
	if (asprintf(&tmp, "%s/%s" TMP_MARK "%s", cache_dir, hash, rnd) < 0 || asprintf(&key_path, "%s/key", tmp) < 0 ||
	    asprintf(&entry, "%s/%s", cache_dir, hash) < 0)
		return pv_error_set(err, ENOMEM, "image cache");
	if (pv_mkdir_p(tmp, 0700, err) < 0 || pv_owner_write(tmp, err) < 0) {
		(void)pv_rm_rf(tmp, NULL);
		return -1;
	}
	r = unpack_into(tmp, ref, err);
	if (r == 0)
		r = pv_write_file(key_path, key, strlen(key), 0644, err);
	_cleanup_free_ char *owner = NULL;
	if (r == 0 && asprintf(&owner, "%s/owner", tmp) >= 0)
		(void)unlink(owner);  /* kept: nobody's any more */
	/* Another run of the same image may have won: its copy is as good as ours. */
	if (r == 0 && rename(tmp, entry) < 0 && errno != EEXIST && errno != ENOTEMPTY)
		r = pv_error_set(err, errno, "image cache %s", entry);
	(void)pv_rm_rf(tmp, NULL);
	return r;
}

static bool in_use(const char *entry)
{
	_cleanup_free_ char *mounts = NULL, *needle = NULL;
	if (asprintf(&needle, "lowerdir=%s/", entry) < 0 || pv_read_file("/proc/self/mounts", 1 << 22, &mounts, NULL, NULL) < 0)
		return true;
	return strstr(mounts, needle) != NULL;
}

/* The first two lines of a key: the image's path and tag. */
static size_t source_len(const char *key)
{
	const char *nl = strchr(key, '\n');
	nl = nl ? strchr(nl + 1, '\n') : NULL;
	return nl ? (size_t)(nl - key) : strlen(key);
}

/* Copies of an older version of this image (same path and tag) that no overlay uses, and
 * half-made copies of runs that died. */
static void prune_entry(const char *cache_dir, const char *name, const char *key, const char *keep)
{
	_cleanup_free_ char *entry = NULL, *key_path = NULL, *have = NULL;
	if (asprintf(&entry, "%s/%s", cache_dir, name) < 0 || asprintf(&key_path, "%s/key", entry) < 0)
		return;
	if (strstr(name, TMP_MARK)) {
		if (!pv_owner_alive(entry))
			(void)pv_rm_rf(entry, NULL);
		return;
	}
	size_t n = source_len(key);
	if (strcmp(name, keep) == 0 || pv_read_file(key_path, 1 << 16, &have, NULL, NULL) < 0 ||
	    source_len(have) != n || strncmp(have, key, n) != 0 || in_use(entry))
		return;
	(void)pv_rm_rf(entry, NULL);
}

static void prune(const char *cache_dir, const char *key, const char *keep)
{
	DIR *d = opendir(cache_dir);
	if (d == NULL)
		return;
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			prune_entry(cache_dir, de->d_name, key, keep);
	closedir(d);
}

int pv_image_cache_get(const char *cache_dir, const char *ref, char **rootfs, struct pv_image_config *cfg,
		       bool *cached, pv_error *err)
{
	_cleanup_free_ char *key = NULL, *entry = NULL;
	char hash[17];
	*rootfs = NULL;
	*cached = false;
	memset(cfg, 0, sizeof(*cfg));
	if (pv_image_identity(ref, &key, err) < 0)
		return -1;
	if (key == NULL)  /* a plain rootfs directory */
		return pv_image_prepare(ref, NULL, NULL, rootfs, cfg, err);
	pv_hash_hex(key, hash);
	if (asprintf(&entry, "%s/%s", cache_dir, hash) < 0)
		return pv_error_set(err, ENOMEM, "image cache");
	if (read_entry(entry, key, rootfs, cfg) == 0) {
		if (pv_mkdir_p(cache_dir, 0700, err) < 0 || unpack_entry(cache_dir, hash, ref, key, err) < 0)
			return -1;
		if (read_entry(entry, key, rootfs, cfg) == 0)
			return pv_error_set_plain(err, EIO, "image %s: image cache %s: unreadable", ref, entry);
	}
	prune(cache_dir, key, hash);  /* also after a hit: an old copy's last user may be gone */
	*cached = true;
	return 0;
}
