/* OCI image layouts (image-spec image-layout.md): "oci-layout", "index.json" and content
 * addressed blobs/<alg>/<hex>. index.json and nested indexes are walked down to one image
 * manifest: by tag at the top (org.opencontainers.image.ref.name), by platform at every
 * level. Every blob reached from index.json is checked against its digest. */
#include "image-internal.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#define REF_NAME_ANNOTATION "org.opencontainers.image.ref.name"
/* Indexes may nest; a loop of them must not recurse forever. */
#define MAX_INDEX_DEPTH 8
#define LABEL_SIZE 96

bool pv_oci_layout_detect(int dirfd)
{
	struct stat st;
	return fstatat(dirfd, "oci-layout", &st, 0) == 0 && S_ISREG(st.st_mode);
}

bool pv_image_tag_matches(const char *name, const char *tag)
{
	size_t n = strlen(name), t = strlen(tag);
	if (strcmp(name, tag) == 0)
		return true;
	if (t == 0 || n <= t || strcmp(name + n - t, tag) != 0)
		return false;
	/* "latest" matches "x/busybox:latest", and "busybox:latest" matches it too. */
	return name[n - t - 1] == ':' || name[n - t - 1] == '/';
}

static int check_layout_version(int dirfd, pv_error *err)
{
	struct pv_blob blob = { .path = (char *)"oci-layout" };
	_cleanup_json_ json_t *doc = NULL;
	int r = pv_blob_read_json(dirfd, &blob, &doc, err);
	if (r < 0)
		return r;
	const char *v = json_string_value(json_object_get(doc, "imageLayoutVersion"));
	if (v == NULL)
		return pv_error_set_plain(err, EINVAL, "no imageLayoutVersion");
	if (!pv_str_has_prefix(v, "1."))
		return pv_error_set_plain(err, ENOTSUP, "unsupported imageLayoutVersion %s", v);
	return 0;
}

/* A descriptor without a platform fits: single-image layouts rarely name one. */
static bool platform_fits(json_t *desc)
{
	json_t *p = json_object_get(desc, "platform");
	if (p == NULL)
		return true;
	const char *os = json_string_value(json_object_get(p, "os"));
	const char *arch = json_string_value(json_object_get(p, "architecture"));
	return os && arch && strcmp(os, "linux") == 0 && strcmp(arch, "amd64") == 0;
}

static bool ref_name_matches(json_t *desc, const char *tag)
{
	json_t *annotations = json_object_get(desc, "annotations");
	const char *name = json_string_value(json_object_get(annotations, REF_NAME_ANNOTATION));
	return name && pv_image_tag_matches(name, tag);
}

static int select_descriptor(json_t *index, const char *tag, json_t **out, pv_error *err)
{
	json_t *list = json_object_get(index, "manifests"), *desc;
	bool tag_seen = false;
	size_t i;
	if (!json_is_array(list))
		return pv_error_set_plain(err, EINVAL, "manifests: not an array");
	json_array_foreach(list, i, desc) {
		if (tag && !ref_name_matches(desc, tag))
			continue;
		tag_seen = true;
		if (platform_fits(desc)) {
			*out = desc;
			return 0;
		}
	}
	if (tag && !tag_seen)
		return pv_error_set_plain(err, ENOENT, "tag %s not found", tag);
	if (tag)
		return pv_error_set_plain(err, ENOENT, "no linux/amd64 manifest for tag %s", tag);
	return pv_error_set_plain(err, ENOENT, "no linux/amd64 manifest");
}

static int add_described_blob(struct pv_image_plan *plan, json_t *desc, bool config,
			      pv_error *err)
{
	const char *digest = json_string_value(json_object_get(desc, "digest"));
	_cleanup_free_ char *path = pv_digest_blob_path(digest, err);
	if (path == NULL)
		return pv_error_code(*err);
	if (config)
		return pv_image_plan_set_config(plan, path, digest, err);
	return pv_image_plan_add_layer(plan, path, digest, err);
}

static bool is_image_config_type(const char *type)
{
	return strcmp(type, "application/vnd.oci.image.config.v1+json") == 0 ||
	       strcmp(type, "application/vnd.docker.container.image.v1+json") == 0;
}

static int plan_from_manifest(json_t *manifest, struct pv_image_plan *plan, pv_error *err)
{
	json_t *config = json_object_get(manifest, "config");
	json_t *layers = json_object_get(manifest, "layers"), *layer;
	const char *type = json_string_value(json_object_get(config, "mediaType"));
	size_t i;
	if (!json_is_object(config))
		return pv_error_set_plain(err, EINVAL, "config: not an object");
	if (type && !is_image_config_type(type))
		return pv_error_set_plain(err, EINVAL, "not a container image (config type %s)",
					  type);
	if (add_described_blob(plan, config, true, err) < 0)
		return pv_error_prefix(err, "config");
	if (!json_is_array(layers))
		return pv_error_set_plain(err, EINVAL, "layers: not an array");
	json_array_foreach(layers, i, layer) {
		if (add_described_blob(plan, layer, false, err) < 0)
			return pv_error_prefix(err, "layers[%zu]", i);
	}
	return 0;
}

static int resolve_index(int dirfd, json_t *index, const char *index_label, const char *tag,
			 int depth, struct pv_image_plan *plan, pv_error *err);

/* Reads the manifest or nested index that desc points to and follows it. */
static int resolve_descriptor(int dirfd, json_t *desc, int depth, struct pv_image_plan *plan,
			      pv_error *err)
{
	const char *digest = json_string_value(json_object_get(desc, "digest"));
	_cleanup_free_ char *path = pv_digest_blob_path(digest, err);
	if (path == NULL)
		return pv_error_code(*err);
	struct pv_blob blob = { .path = path, .digest = (char *)digest };
	char label[LABEL_SIZE];
	pv_blob_label(&blob, label, sizeof(label));
	_cleanup_json_ json_t *doc = NULL;
	if (pv_blob_read_json(dirfd, &blob, &doc, err) < 0)
		return pv_error_prefix(err, "manifest %s", label);
	/* Decide by content, not by mediaType: older layouts leave mediaType out. */
	if (json_object_get(doc, "manifests") == NULL) {
		if (plan_from_manifest(doc, plan, err) < 0)
			return pv_error_prefix(err, "manifest %s", label);
		return 0;
	}
	if (depth >= MAX_INDEX_DEPTH)
		return pv_error_set_plain(err, ELOOP, "index %s: nested too deeply", label);
	char index_label[LABEL_SIZE + 8];
	snprintf(index_label, sizeof(index_label), "index %s", label);
	return resolve_index(dirfd, doc, index_label, NULL, depth + 1, plan, err);
}

static int resolve_index(int dirfd, json_t *index, const char *index_label, const char *tag,
			 int depth, struct pv_image_plan *plan, pv_error *err)
{
	json_t *desc = NULL;
	if (select_descriptor(index, tag, &desc, err) < 0)
		return pv_error_prefix(err, "%s", index_label);
	return resolve_descriptor(dirfd, desc, depth, plan, err);
}

int pv_oci_layout_plan(int dirfd, const char *tag, struct pv_image_plan *plan, pv_error *err)
{
	if (check_layout_version(dirfd, err) < 0)
		return pv_error_prefix(err, "oci-layout");
	struct pv_blob blob = { .path = (char *)"index.json" };
	_cleanup_json_ json_t *index = NULL;
	if (pv_blob_read_json(dirfd, &blob, &index, err) < 0)
		return pv_error_prefix(err, "index.json");
	return resolve_index(dirfd, index, "index.json", tag, 0, plan, err);
}
