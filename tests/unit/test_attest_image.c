/* Reference values of container images: a layer's unpacking records each regular file's
 * digest as written (pv_layer_apply_digests), the image cache keeps the set beside the
 * rootfs (pv_image_reference_path, computed from the tree for a copy kept without one),
 * and snapshot lowerdirs' sets are kept per directory (pv_reference_for_lowerdirs). */
#include "tap.h"
#include "cleanup.h"
#include "fixture_archive.h"
#include "digest_set.h"
#include "image.h"
#include "image_cache.h"
#include "lowerdirs.h"
#include "hasher.h"
#include "sha256.h"
#include "util.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmp[] = "/tmp/podvm-test-attest-image-XXXXXX";

static char *in_tmp(const char *name)
{
	static char buf[4][PATH_MAX];
	static int n;
	char *b = buf[n++ % 4];
	snprintf(b, PATH_MAX, "%s/%s", tmp, name);
	return b;
}

static void digest_of(const char *s, uint8_t d[32])
{
	pv_sha256((const uint8_t *)s, strlen(s), d);
}

static bool has(const struct pv_digest_set *s, const char *content, const char *path)
{
	uint8_t d[32];
	digest_of(content, d);
	const char *p = pv_digest_set_find(s, d);
	return p && strcmp(p, path) == 0;
}

/* Every file of the rootfs is in the recorded set, with its digest as read back. */
static bool tree_within(const char *rootfs, const struct pv_digest_set *recorded)
{
	_cleanup_digest_set_ struct pv_digest_set *tree = NULL;
	const uint8_t *d;
	const char *path;
	if (pv_digest_set_new(&tree, NULL) < 0 || pv_digest_set_add_tree(tree, rootfs, NULL) < 0)
		return false;
	for (size_t i = 0; (path = pv_digest_set_entry(tree, i, &d)) != NULL; i++) {
		if (pv_digest_set_find(recorded, d) == NULL) {
			diag("%s not recorded", path);
			return false;
		}
	}
	return pv_digest_set_count(tree) > 0;
}

static void test_layer(void)
{
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	archive_write_add_filter_gzip(a);
	archive_write_open_filename(a, in_tmp("layer.tar.gz"));
	fixture_entry_add(a, "./bin/", AE_IFDIR, NULL, NULL);
	fixture_entry_add(a, "./bin/tool", AE_IFREG, "tool v1\n", NULL);
	fixture_entry_add(a, "bin/tool-link", AE_IFREG, NULL, "bin/tool");
	fixture_entry_add(a, "bin/sh", AE_IFLNK, NULL, "tool");
	fixture_entry_add(a, "etc/name with\nnewline", AE_IFREG, "odd\n", NULL);
	fixture_entry_add(a, "empty", AE_IFREG, "", NULL);
	archive_write_close(a);
	archive_write_free(a);
	mkdir(in_tmp("root"), 0755);
	_cleanup_close_ int fd = open(in_tmp("root"), O_RDONLY | O_DIRECTORY);
	_cleanup_digest_set_ struct pv_digest_set *s = NULL;
	pv_error err = NULL;
	pv_digest_set_new(&s, NULL);
	ok(pv_layer_apply_digests(in_tmp("layer.tar.gz"), fd, s, &err) == 0, "layer applied, digests recorded: %s",
	   err ? err->msg : "ok");
	ok(pv_digest_set_count(s) == 3, "one entry per regular file's content (links add none): %zu",
	   pv_digest_set_count(s));
	ok(has(s, "tool v1\n", "/bin/tool") && has(s, "odd\n", "/etc/name with\nnewline") && has(s, "", "/empty"),
	   "digests of the content, paths as in the rootfs");
	ok(tree_within(in_tmp("root"), s), "the rootfs's files, read back, have recorded digests");
	pv_error_release(&err);
}

/* A sparse file (GNU sparse in pax): holes hashed as the zeros they read as, a hole at the
 * end included. */
static void test_sparse(void)
{
	static char want[10000];
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	archive_write_set_format_pax(a);
	archive_write_open_filename(a, in_tmp("sparse.tar"));
	archive_entry_set_pathname(e, "sparse");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, sizeof(want));
	archive_entry_sparse_add_entry(e, 0, 3);
	archive_entry_sparse_add_entry(e, 8192, 3);
	memcpy(want, "abc", 3);
	memcpy(want + 8192, "xyz", 3);
	archive_write_header(a, e);
	archive_write_data(a, want, sizeof(want));  /* the writer keeps the data regions */
	archive_entry_free(e);
	archive_write_close(a);
	archive_write_free(a);
	uint8_t d[32];
	pv_sha256((const uint8_t *)want, sizeof(want), d);
	mkdir(in_tmp("sparse-root"), 0755);
	_cleanup_close_ int fd = open(in_tmp("sparse-root"), O_RDONLY | O_DIRECTORY);
	_cleanup_digest_set_ struct pv_digest_set *s = NULL;
	pv_error err = NULL;
	pv_digest_set_new(&s, NULL);
	ok(pv_layer_apply_digests(in_tmp("sparse.tar"), fd, s, &err) == 0 && pv_digest_set_find(s, d) &&
	   tree_within(in_tmp("sparse-root"), s), "sparse file: the digest of its content, holes as zeros: %s",
	   err ? err->msg : "ok");
	pv_error_release(&err);
}

static void test_image_cache(const char *fixtures)
{
	char ref[PATH_MAX], rootfs_ref[PATH_MAX];
	snprintf(ref, sizeof(ref), "%s/oci", fixtures);
	snprintf(rootfs_ref, sizeof(rootfs_ref), "%s/rootfs", fixtures);
	_cleanup_free_ char *path = NULL, *again = NULL;
	_cleanup_digest_set_ struct pv_digest_set *s = NULL, *t = NULL;
	pv_error err = NULL;
	int r = pv_image_reference_path(in_tmp("cache"), ref, &path, &err);
	ok(r == 0, "image reference path: %s", err ? err->msg : "ok");
	ok(path && strstr(path, "/" PV_IMAGE_DIGESTS) && pv_digest_set_load(path, &s, &err) == 0,
	   "the digest set file loads");
	_cleanup_free_ char *rootfs = path ? strdup(path) : NULL;
	if (rootfs)
		strcpy(strrchr(rootfs, '/'), "/rootfs");
	ok(s && tree_within(rootfs, s), "every file of the kept rootfs has its digest in the set");
	ok(s && has(s, "upper\n", "/usr/share/podvm/upper.txt") && has(s, "lower layer motd\n", "/etc/motd"),
	   "files of both layers (a whited-out one included: the image holds it)");
	if (path)
		unlink(path);
	ok(pv_image_reference_path(in_tmp("cache"), ref, &again, &err) == 0 && again && strcmp(again, path) == 0 &&
	   pv_digest_set_load(again, &t, &err) == 0, "a kept copy without digests: made from its tree");
	ok(t && tree_within(rootfs, t) && !has(t, "lower layer motd\n", "/etc/motd"),
	   "the tree's files, as they are");
	pv_error_release(&err);
	free(steal_pointer(&again));
	ok(pv_image_reference_path(in_tmp("cache"), rootfs_ref, &again, &err) < 0 && strstr(err->msg, rootfs_ref),
	   "a plain rootfs directory: no kept copy, an error naming it");
	pv_error_release(&err);
}

/* Number of kept sets in the lowerdir cache. */
static int kept(void)
{
	int n = 0;
	char cmd[PATH_MAX + 64];
	snprintf(cmd, sizeof(cmd), "ls %s | grep -c '\\.digests$'", in_tmp("ldcache"));
	FILE *p = popen(cmd, "r");
	if (p && fscanf(p, "%d", &n) != 1)
		n = -1;
	if (p)
		pclose(p);
	return n;
}

static bool lowerdirs(const char *const *dirs, struct pv_digest_set **s)
{
	pv_error err = NULL;
	pv_digest_set_free(steal_pointer(s));
	int r = pv_reference_for_lowerdirs(dirs, 2, in_tmp("ldcache"), s, &err);
	if (r < 0)
		diag("pv_reference_for_lowerdirs: %s", err->msg);
	pv_error_release(&err);
	return r == 0;
}

static void test_lowerdirs(void)
{
	const char *dirs[] = { strdup(in_tmp("snap1")), strdup(in_tmp("snap2")) };
	_cleanup_digest_set_ struct pv_digest_set *s = NULL;
	mkdir(dirs[0], 0755);
	mkdir(dirs[1], 0755);
	pv_write_file(in_tmp("snap1/a"), "a1\n", 3, 0644, NULL);
	pv_write_file(in_tmp("snap2/b"), "b1\n", 3, 0644, NULL);
	ok(lowerdirs(dirs, &s) && pv_digest_set_count(s) == 2 && has(s, "a1\n", "/a") && has(s, "b1\n", "/b"),
	   "lowerdirs: the union of both dirs' sets");
	ok(kept() == 2, "one kept set per dir");
	/* Rewriting a file leaves the dir's mtime: only a served set still has the old digest. */
	pv_write_file(in_tmp("snap1/a"), "a2\n", 3, 0644, NULL);
	ok(lowerdirs(dirs, &s) && has(s, "a1\n", "/a") && !has(s, "a2\n", "/a"), "second call: served from the cache");
	ok(utimensat(AT_FDCWD, dirs[0], NULL, 0) == 0 && lowerdirs(dirs, &s) && has(s, "a2\n", "/a") &&
	   has(s, "b1\n", "/b"), "a touched dir is another: its set made anew");
	ok(kept() == 3, "the new set kept beside the old one");
	pv_error err = NULL;
	const char *missing[] = { in_tmp("nope"), dirs[1] };
	pv_digest_set_free(steal_pointer(&s));
	ok(pv_reference_for_lowerdirs(missing, 2, in_tmp("ldcache"), &s, &err) < 0 && strstr(err->msg, "nope") && !s,
	   "a missing lowerdir: error naming it");
	pv_error_release(&err);
	free((char *)dirs[0]);
	free((char *)dirs[1]);
}

int main(void)
{
	const char *fixtures = getenv("PODVM_FIXTURES");
	if (!mkdtemp(tmp))
		return 1;
	test_layer();
	test_sparse();
	if (fixtures)
		test_image_cache(fixtures);
	else
		diag("PODVM_FIXTURES unset: image cache checks skipped");
	test_lowerdirs();
	pv_rm_rf(tmp, NULL);
	return done_testing();
}
