/* Image tarballs. An OCI archive is an OCI layout in a tar (podman save --format
 * oci-archive, skopeo copy oci-archive:); a docker archive (docker save) holds
 * manifest.json, config JSON files and layer tars. Both are unpacked into scratch and then
 * read like a directory. */
#include "image-internal.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define SHA256_HEX_LEN 64

int pv_archive_unpack(const char *path, int dirfd, pv_error *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		return pv_error_set_plain(err, e, "%s", strerror(e));
	}
	return pv_tar_extract_fd(fd, dirfd, err);
}

bool pv_docker_archive_detect(int dirfd)
{
	struct stat st;
	return fstatat(dirfd, "manifest.json", &st, 0) == 0 && S_ISREG(st.st_mode);
}

static bool is_sha256_hex(const char *s, size_t len)
{
	return len == SHA256_HEX_LEN && strspn(s, "0123456789abcdef") >= len;
}

/* docker save names files by content digest in two ways: the config as "<hex>.json" (the
 * image ID is its digest) and, since Docker 25, everything as "blobs/sha256/<hex>". Other
 * names ("<id>/layer.tar") are no content digests and cannot be checked. */
static int digest_from_path(const char *path, char **digest, pv_error *err)
{
	const char *hex = NULL;
	size_t len = strlen(path);
	*digest = NULL;
	if (pv_str_has_prefix(path, "blobs/sha256/") && is_sha256_hex(path + 13, len - 13))
		hex = path + 13;
	else if (len == SHA256_HEX_LEN + 5 && strcmp(path + SHA256_HEX_LEN, ".json") == 0 &&
		 is_sha256_hex(path, SHA256_HEX_LEN))
		hex = path;
	if (hex && asprintf(digest, "sha256:%.64s", hex) < 0) {
		*digest = NULL;
		return pv_error_set(err, ENOMEM, "digest");
	}
	return 0;
}

static bool repo_tags_match(json_t *entry, const char *tag)
{
	json_t *tags = json_object_get(entry, "RepoTags"), *t;
	size_t i;
	json_array_foreach(tags, i, t) {
		if (json_is_string(t) && pv_image_tag_matches(json_string_value(t), tag))
			return true;
	}
	return false;
}

static int select_entry(json_t *manifest, const char *tag, json_t **out, pv_error *err)
{
	json_t *entry;
	size_t i;
	if (!json_is_array(manifest))
		return pv_error_set_plain(err, EINVAL, "not an array");
	json_array_foreach(manifest, i, entry) {
		if (tag == NULL || repo_tags_match(entry, tag)) {
			*out = entry;
			return 0;
		}
	}
	if (tag)
		return pv_error_set_plain(err, ENOENT, "tag %s not found", tag);
	return pv_error_set_plain(err, ENOENT, "no image");
}

static int add_named_blob(struct pv_image_plan *plan, json_t *name, bool config,
			  pv_error *err)
{
	const char *path = json_string_value(name);
	if (path == NULL)
		return pv_error_set_plain(err, EINVAL, "not a string");
	_cleanup_free_ char *digest = NULL;
	int r = digest_from_path(path, &digest, err);
	if (r < 0)
		return r;
	if (config)
		return pv_image_plan_set_config(plan, path, digest, err);
	return pv_image_plan_add_layer(plan, path, digest, err);
}

static int plan_from_entry(json_t *entry, struct pv_image_plan *plan, pv_error *err)
{
	json_t *layers = json_object_get(entry, "Layers"), *layer;
	size_t i;
	if (add_named_blob(plan, json_object_get(entry, "Config"), true, err) < 0)
		return pv_error_prefix(err, "Config");
	if (!json_is_array(layers))
		return pv_error_set_plain(err, EINVAL, "Layers: not an array");
	json_array_foreach(layers, i, layer) {
		if (add_named_blob(plan, layer, false, err) < 0)
			return pv_error_prefix(err, "Layers[%zu]", i);
	}
	return 0;
}

int pv_docker_archive_plan(int dirfd, const char *tag, struct pv_image_plan *plan,
			   pv_error *err)
{
	struct pv_blob blob = { .path = (char *)"manifest.json" };
	_cleanup_json_ json_t *manifest = NULL;
	json_t *entry = NULL;
	if (pv_blob_read_json(dirfd, &blob, &manifest, err) < 0 ||
	    select_entry(manifest, tag, &entry, err) < 0 ||
	    plan_from_entry(entry, plan, err) < 0)
		return pv_error_prefix(err, "manifest.json");
	return 0;
}
