/* Interfaces between the parts of the image module; the public API is ../image.h.
 *
 * An image source (an OCI layout directory, or a tarball unpacked into scratch) is read
 * through a directory fd. layout.c and archive.c turn a source into a plan (which config
 * and which layers, bottom first), image.c carries the plan out, layer.c unpacks tars,
 * extract.c writes their entries inside the rootfs. */
#pragma once
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include <archive.h>
#include "image.h"
#include "cleanup.h"
#include "digest_set.h"

/* Blobs larger than this are no JSON document we want to parse. */
#define PV_JSON_MAX (16u << 20)

/* A file of an image source, relative to its directory, with the digest its content must
 * have where the source names it by digest. */
struct pv_blob {
	char *path;
	char *digest;   /* "sha256:<hex>", or NULL when the source does not say */
};

/* What to unpack: one config blob and the layers, bottom first. */
struct pv_image_plan {
	struct pv_blob config;
	struct pv_blob *layers;
	size_t n_layers;
};
void pv_image_plan_clear(struct pv_image_plan *plan);
/* Copies path and digest (which may be NULL) into plan->config or a new last layer. */
int pv_image_plan_set_config(struct pv_image_plan *plan, const char *path, const char *digest,
			     pv_error *err);
int pv_image_plan_add_layer(struct pv_image_plan *plan, const char *path, const char *digest,
			    pv_error *err);

/* blob.c: digests and blob access. */
bool pv_digest_valid(const char *digest);
/* "blobs/<alg>/<hex>" for a valid digest, or NULL with *err set. */
char *pv_digest_blob_path(const char *digest, pv_error *err);
/* Short human name of a blob for messages: "sha256:0123456789ab" or its path. */
const char *pv_blob_label(const struct pv_blob *blob, char *buf, size_t size);
/* Opens a regular-file blob for reading; symlinks resolve inside dirfd. */
int pv_blob_open(int dirfd, const struct pv_blob *blob, pv_error *err);
/* Reads and parses a JSON blob (checking its digest when it has one). *out is an
 * object or an array. */
int pv_blob_read_json(int dirfd, const struct pv_blob *blob, json_t **out, pv_error *err);

/* Incremental digest of a stream that must match an expected "alg:hex" digest. */
struct pv_hash;
int pv_hash_new(const char *digest, struct pv_hash **out, pv_error *err);
void pv_hash_update(struct pv_hash *h, const void *buf, size_t len);
/* Hashes the rest of fd. */
int pv_hash_drain_fd(struct pv_hash *h, int fd, pv_error *err);
/* Fails with "digest mismatch" unless what was hashed has the expected digest. */
int pv_hash_check(struct pv_hash *h, pv_error *err);
void pv_hash_free(struct pv_hash *h);

/* layout.c: OCI image layouts. */
bool pv_oci_layout_detect(int dirfd);
int pv_oci_layout_plan(int dirfd, const char *tag, struct pv_image_plan *plan, pv_error *err);
/* Whether an image name ("repo:tag", "registry/repo:tag" or "tag") answers to tag. */
bool pv_image_tag_matches(const char *name, const char *tag);

/* archive.c: OCI-archive and docker-archive tarballs. */
int pv_archive_unpack(const char *path, int dirfd, pv_error *err);
bool pv_docker_archive_detect(int dirfd);
int pv_docker_archive_plan(int dirfd, const char *tag, struct pv_image_plan *plan,
			   pv_error *err);

/* config.c: the image config JSON. */
int pv_image_config_from_json(json_t *root, struct pv_image_config *cfg, pv_error *err);

/* layer.c: tar extraction. */
/* pv_layer_apply_digests on an open layer; when digest is set the layer must hash to it,
 * which is checked before the rootfs is touched. */
int pv_layer_apply_fd(int fd, const char *digest, int rootfs_dirfd, struct pv_digest_set *digests,
		      pv_error *err);
/* Plain, single-pass extraction of a tar (no whiteouts, no metadata) onto dirfd, every
 * name resolved inside dirfd as for layers. */
int pv_tar_extract_fd(int fd, int dirfd, pv_error *err);
/* Sets *err from libarchive's last error on a. */
int pv_archive_fail(struct archive *a, pv_error *err);

/* extract.c: tar entries written inside a root directory. */
/* An entry name cleaned as containerd cleans it ("../../x" and "/x" are "x"), split. */
struct pv_entry_name {
	char path[PATH_MAX];    /* "a/b/c"; "" for the root itself */
	char dir[PATH_MAX];     /* "a/b", or "." */
	const char *base;       /* "c", inside path */
};
int pv_entry_name_parse(const char *name, struct pv_entry_name *en, pv_error *err);
/* openat2 of path with symlinks and ".." resolved as if rootfd were "/": the fd, or
 * -errno. */
int pv_root_open(int rootfd, const char *path, int flags);
/* Writes entries inside rootfd; with layer, restores their metadata (owner as root,
 * modes with set-id bits, xattrs, times), directories' at pv_extract_finish. With digests,
 * adds the SHA-256 of each regular file's content to it as it is written. */
struct pv_extract;
int pv_extract_new(int rootfd, bool layer, struct pv_digest_set *digests, struct pv_extract **out,
		   pv_error *err);
/* Writes entry e of a (whose data is read) at en, replacing what is in the way: a hard
 * link to link when that is set. Missing parent directories are made. */
int pv_extract_entry(struct pv_extract *x, struct archive *a, struct archive_entry *e,
		     const struct pv_entry_name *en, const struct pv_entry_name *link,
		     pv_error *err);
int pv_extract_finish(struct pv_extract *x, pv_error *err);
void pv_extract_free(struct pv_extract *x);

static inline void pv_json_decrefp(json_t **j)
{
	json_decref(*j);
}
static inline void pv_archive_read_freep(struct archive **a)
{
	if (*a)
		archive_read_free(*a);
}
static inline void pv_archive_write_freep(struct archive **a)
{
	if (*a)
		archive_write_free(*a);
}
static inline void pv_extract_freep(struct pv_extract **x)
{
	pv_extract_free(*x);
}
static inline void pv_image_plan_clearp(struct pv_image_plan *plan)
{
	pv_image_plan_clear(plan);
}
#define _cleanup_json_ _cleanup_(pv_json_decrefp)
#define _cleanup_archive_read_ _cleanup_(pv_archive_read_freep)
#define _cleanup_archive_write_ _cleanup_(pv_archive_write_freep)
#define _cleanup_plan_ _cleanup_(pv_image_plan_clearp)
#define _cleanup_extract_ _cleanup_(pv_extract_freep)
