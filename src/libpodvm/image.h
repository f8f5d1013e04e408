/* Container images without a registry: OCI image layout directories, OCI archive and
 * docker-archive tarballs (as `podman save`, `skopeo copy`, `docker save` write them), and
 * plain rootfs directories. */
#pragma once
#include "error.h"

/* The parts of an image config ("config" object of the OCI/docker image config) that
 * decide how its container runs. Arrays are NULL-terminated, each may be NULL; absent,
 * null, empty strings and empty arrays all read as NULL. */
struct pv_image_config {
	char **entrypoint;
	char **cmd;
	char **env;
	char *working_dir;
	char *user;
};
void pv_image_config_clear(struct pv_image_config *cfg);

/* Makes the rootfs of image `ref` available and reads its config.
 *  - ref is a path, optionally followed by ":TAG" for an OCI layout/archive holding several
 *    images (matched against the org.opencontainers.image.ref.name annotation, or RepoTags
 *    of a docker archive); without a tag the first (linux/amd64 where an index says so)
 *    manifest is used.
 *  - a layout or tarball is unpacked into `dest` (created, must not exist) and *rootfs is
 *    set to a malloc'd copy of dest; scratch files go into `scratch` (created, removed
 *    before returning).
 *  - a directory that is no OCI layout is a plain rootfs: *rootfs is a malloc'd absolute
 *    path to it, dest is not created, cfg is left empty.
 * On failure nothing is left at dest or scratch, and the error names the image and the part
 * at fault: "image /x/y.tar: layer 2: unexpected EOF".
 * Blobs named by digest are checked against it. */
int pv_image_prepare(const char *ref, const char *dest, const char *scratch, char **rootfs,
		     struct pv_image_config *cfg, pv_error *err);
/* The same, also adding to digests (digest_set.h) the SHA-256 and path of every regular
 * file the layers write, hashed as written (a file replaced or whited out by a later layer
 * included: what the image holds). A plain rootfs directory adds nothing. */
struct pv_digest_set;
int pv_image_prepare_digests(const char *ref, const char *dest, const char *scratch,
			     struct pv_digest_set *digests, char **rootfs, struct pv_image_config *cfg,
			     pv_error *err);

/* What identifies the image ref names as it is now, for a cache of unpacked images: its
 * real path, tag, and the device, inode, size and mtime of the tarball or of the layout's
 * index.json (blobs are content-addressed), one per line. *key is NULL (and 0 returned)
 * for a plain rootfs directory, which is used in place. */
int pv_image_identity(const char *ref, char **key, pv_error *err);
/* cfg in the form of an OCI image config ({"os": "linux", "config": {...}}): a new
 * reference, or NULL when out of memory. pv_image_config_parse reads it back. */
struct json_t;
struct json_t *pv_image_config_to_json(const struct pv_image_config *cfg);
int pv_image_config_parse(struct json_t *doc, struct pv_image_config *cfg, pv_error *err);

/* Applies one layer tarball (plain, gzip or zstd, detected from content) onto the rootfs
 * directory rootfs_dirfd, following the OCI layer rules: ".wh.NAME" removes NAME from the
 * lower layers, ".wh..wh..opq" empties its directory of lower-layer content; whiteouts of a
 * layer apply before its own entries. Every name (whiteouts and hard link targets too)
 * resolves inside the rootfs as containerd resolves it: "..", absolute names and symlinks
 * of any layer lead within the rootfs, never out of it. Ownership, modes, times, hard and
 * symbolic links and device nodes are restored (unprivileged: no ownership, no devices). */
int pv_layer_apply(const char *layer_path, int rootfs_dirfd, pv_error *err);
/* The same, adding the digest of each regular file written to digests, as
 * pv_image_prepare_digests. */
int pv_layer_apply_digests(const char *layer_path, int rootfs_dirfd, struct pv_digest_set *digests,
			   pv_error *err);
