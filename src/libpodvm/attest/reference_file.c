/* The guest reference's JSON form (reference.h). Loading checks everything a verifier will
 * rely on: every digest well-formed, each command line's digest its text's. */
#include "reference-internal.h"
#include "cleanup.h"
#include "util.h"

#include <errno.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>

#define REFERENCE_VERSION 1
#define REFERENCE_MAX (256u << 20)

/* {"<key>": text, "sha256": "<hex>"}; NULL when out of memory. */
static json_t *entry_json(const char *key, const char *text, const uint8_t digest[PV_SHA256_LEN])
{
	char hex[PV_SHA256_HEX_LEN + 1];
	pv_sha256_hex(digest, hex);
	return json_pack("{s:s, s:s}", key, text, "sha256", hex);
}

static int add_items(json_t *doc, const struct pv_guest_reference *ref)
{
	json_t *cmdlines = json_array();
	for (size_t i = 0; cmdlines && i < ref->n_items; i++) {
		const struct pv_boot_item *it = &ref->items[i];
		bool cmdline = strcmp(it->kind, PV_KIND_CMDLINE) == 0;
		json_t *e = entry_json(cmdline ? "text" : "path", it->text, it->digest);
		if ((cmdline ? json_array_append_new(cmdlines, e) : json_object_set_new(doc, it->kind, e)) < 0) {
			json_decref(cmdlines);
			return -ENOMEM;
		}
	}
	/* After kernel and initramfs: the order a reader expects. */
	return json_object_set_new(doc, "cmdlines", cmdlines) < 0 ? -ENOMEM : 0;
}

static int add_files(json_t *doc, const struct pv_digest_set *files)
{
	json_t *arr = json_array();
	const uint8_t *digest;
	const char *path;
	if (json_object_set_new(doc, "files", arr) < 0)
		return -ENOMEM;
	for (size_t i = 0; (path = pv_digest_set_entry(files, i, &digest)) != NULL; i++) {
		if (json_array_append_new(arr, entry_json("path", path, digest)) < 0)
			return -ENOMEM;
	}
	return 0;
}

int pv_guest_reference_save(const struct pv_guest_reference *ref, const char *file, pv_error *err)
{
	json_auto_t *doc = json_pack("{s:i}", "version", REFERENCE_VERSION);
	_cleanup_free_ char *text = NULL;
	if (doc == NULL || add_items(doc, ref) < 0 || add_files(doc, ref->files) < 0 ||
	    (text = json_dumps(doc, JSON_INDENT(1) | JSON_PRESERVE_ORDER)) == NULL)
		return pv_error_set(err, ENOMEM, "reference %s", file);
	size_t len = strlen(text);
	text[len] = '\n';  /* over the NUL: a text file ends in a newline */
	if (pv_write_file_atomic(file, text, len + 1, 0644, err) < 0)
		return pv_error_prefix(err, "reference");
	return 0;
}

/* Reads {"<key>": "...", "sha256": "<hex>"}; *what says what is wrong. */
static int parse_entry(json_t *e, const char *key, const char **text, uint8_t digest[PV_SHA256_LEN],
		       const char **what)
{
	json_t *t = json_object_get(e, key), *d = json_object_get(e, "sha256");
	*what = !json_is_object(e) ? "not an object"
		: !json_is_string(t) ? (strcmp(key, "text") == 0 ? "no \"text\" string" : "no \"path\" string")
		: !json_is_string(d) || pv_sha256_parse(json_string_value(d), digest) < 0
			? "no \"sha256\" of 64 lower-case hex digits"
			: NULL;
	if (*what)
		return -EINVAL;
	*text = json_string_value(t);
	return 0;
}

static int load_file_item(json_t *doc, const char *kind, struct pv_guest_reference *ref, pv_error *err)
{
	const char *text, *what;
	uint8_t digest[PV_SHA256_LEN];
	if (parse_entry(json_object_get(doc, kind), "path", &text, digest, &what) < 0)
		return pv_error_set_plain(err, EINVAL, "%s: %s", kind, what);
	return pv_guest_reference_add_item(ref, kind, text, digest, err);
}

/* A command line must hash to its digest: the text is what a verifier shows. */
static int load_cmdline(json_t *e, size_t i, struct pv_guest_reference *ref, pv_error *err)
{
	const char *text, *what;
	uint8_t digest[PV_SHA256_LEN], actual[PV_SHA256_LEN];
	if (parse_entry(e, "text", &text, digest, &what) < 0)
		return pv_error_set_plain(err, EINVAL, "cmdlines[%zu]: %s", i, what);
	pv_sha256((const uint8_t *)text, strlen(text), actual);
	if (memcmp(actual, digest, PV_SHA256_LEN) != 0)
		return pv_error_set_plain(err, EINVAL, "cmdlines[%zu]: \"sha256\" is not the digest of \"text\"", i);
	return pv_guest_reference_add_item(ref, PV_KIND_CMDLINE, text, digest, err);
}

static int load_cmdlines(json_t *arr, struct pv_guest_reference *ref, pv_error *err)
{
	size_t i;
	json_t *e;
	if (!json_is_array(arr) || json_array_size(arr) == 0)
		return pv_error_set_plain(err, EINVAL, "no \"cmdlines\" array");
	json_array_foreach(arr, i, e) {
		if (load_cmdline(e, i, ref, err) < 0)
			return -1;
	}
	return 0;
}

static int load_files(json_t *arr, struct pv_digest_set *files, pv_error *err)
{
	const char *path, *what;
	uint8_t digest[PV_SHA256_LEN];
	size_t i;
	json_t *e;
	if (!json_is_array(arr))
		return pv_error_set_plain(err, EINVAL, "no \"files\" array");
	json_array_foreach(arr, i, e) {
		if (parse_entry(e, "path", &path, digest, &what) < 0)
			return pv_error_set_plain(err, EINVAL, "files[%zu]: %s", i, what);
		if (pv_digest_set_add(files, digest, path, err) < 0)
			return -1;
	}
	return 0;
}

static int load_doc(json_t *doc, struct pv_guest_reference *ref, pv_error *err)
{
	json_t *version = json_object_get(doc, "version");
	if (!json_is_integer(version) || json_integer_value(version) != REFERENCE_VERSION)
		return pv_error_set_plain(err, EINVAL, "not a version %d reference (\"version\")", REFERENCE_VERSION);
	if (load_file_item(doc, PV_KIND_KERNEL, ref, err) < 0 || load_file_item(doc, PV_KIND_INITRAMFS, ref, err) < 0 ||
	    load_cmdlines(json_object_get(doc, "cmdlines"), ref, err) < 0)
		return -1;
	return load_files(json_object_get(doc, "files"), ref->files, err);
}

int pv_guest_reference_load(const char *file, struct pv_guest_reference **ref, pv_error *err)
{
	_cleanup_guest_reference_ struct pv_guest_reference *g = NULL;
	_cleanup_free_ char *text = NULL;
	json_error_t jerr;
	size_t len = 0;
	*ref = NULL;
	if (pv_read_file(file, REFERENCE_MAX, &text, &len, err) < 0)
		return pv_error_prefix(err, "reference");
	json_auto_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (doc == NULL)
		return pv_error_set_plain(err, EINVAL, "reference %s: line %d: %s", file, jerr.line, jerr.text);
	if (!json_is_object(doc))
		return pv_error_set_plain(err, EINVAL, "reference %s: not a JSON object", file);
	if (pv_guest_reference_new(&g, err) < 0 || load_doc(doc, g, err) < 0)
		return pv_error_prefix(err, "reference %s", file);
	*ref = steal_pointer(&g);
	return 0;
}
