/* Unpacked images kept for reuse (`podvm run` as root): an image is unpacked once, and each
 * run mounts an overlay of its own over the kept copy, so a run neither unpacks nor leaves
 * a trace in the copy. <cache_dir>/<hash>/ holds rootfs/, config.json (the image's run
 * config, in the OCI image config's form), key (the image's identity, image.h:
 * pv_image_identity) and digests (the reference values of the image's files, a digest set
 * file: attest/digest_set.h). A changed image file has another identity: the next run unpacks it
 * anew and removes the copy of the old one unless a running overlay still uses it. */
#pragma once
#include <stdbool.h>
#include "error.h"
#include "image.h"

/* *rootfs (malloc'd) is the kept copy (*cached true), or, for a plain rootfs directory, that
 * directory itself (*cached false, cfg empty). Unpacks on a miss; concurrent callers of the
 * same image agree on one copy. On failure nothing is left in cache_dir. */
int pv_image_cache_get(const char *cache_dir, const char *ref, char **rootfs, struct pv_image_config *cfg,
		       bool *cached, pv_error *err);

#define PV_IMAGE_DIGESTS "digests"
/* *path (malloc'd): the digest set file of image ref's kept copy, for a verifier to check the
 * guest's measurements of the image's files against. Unpacks the image on a miss (as
 * pv_image_cache_get; its digests are hashed while unpacking); a copy kept before digests
 * were recorded gets its file now, from the files of its rootfs. A plain rootfs directory
 * has no kept copy: an error. */
int pv_image_reference_path(const char *cache_dir, const char *ref, char **path, pv_error *err);
