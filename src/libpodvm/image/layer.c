/* Layer tars onto a rootfs, following the OCI image-spec layer rules (layer.md).
 *
 * ".wh.NAME" removes NAME of the lower layers and ".wh..wh..opq" empties its directory of
 * lower-layer content; neither may touch entries of its own layer, which can come before
 * or after it in the tar. So a layer is read twice: pass 1 checks every entry name (and
 * the digest) and collects the whiteouts, which are then applied; pass 2 extracts the
 * other entries. Nothing is changed before the whole layer has been read once.
 *
 * Every name, whiteouts and hard link targets included, resolves inside the rootfs as
 * containerd resolves it (extract.c): a symlink from any layer is followed as if the
 * rootfs were "/", so it can redirect a write or a removal within the rootfs, never out
 * of it. */
#include "image-internal.h"
#include "util.h"

#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"
/* AUFS bookkeeping (".wh..wh.plnk", ".wh..wh.aufs"): not content, never extracted. */
#define WH_META_PREFIX ".wh..wh."
#define READ_BLOCK (128 * 1024)

struct tar_input {
	int fd;
	struct pv_hash *hash;   /* NULL: no digest to check */
	struct pv_digest_set *digests;  /* of the files written; NULL: none wanted */
	char buf[READ_BLOCK];
};

static la_ssize_t input_read(struct archive *a, void *data, const void **buf)
{
	struct tar_input *in = data;
	ssize_t n;
	do
		n = read(in->fd, in->buf, sizeof(in->buf));
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		archive_set_error(a, errno, "read: %s", strerror(errno));
		return -1;
	}
	/* Every byte libarchive sees passes here exactly once: hash it on the way. */
	if (in->hash)
		pv_hash_update(in->hash, in->buf, (size_t)n);
	*buf = in->buf;
	return n;
}

int pv_archive_fail(struct archive *a, pv_error *err)
{
	const char *msg = archive_error_string(a);
	int e = archive_errno(a);
	return pv_error_set_plain(err, e > 0 ? e : EINVAL, "%s", msg ? msg : "archive error");
}

static int tar_open(struct tar_input *in, struct archive **out, pv_error *err)
{
	_cleanup_archive_read_ struct archive *a = archive_read_new();
	if (a == NULL)
		return pv_error_set(err, ENOMEM, "archive");
	/* Layers are tar, plain or compressed as the image spec allows; detected by content
	 * since media types (and docker archives) do not always say. */
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_format_tar(a);
	archive_read_support_format_empty(a);
	if (archive_read_open(a, in, NULL, input_read, NULL) != ARCHIVE_OK)
		return pv_archive_fail(a, err);
	*out = steal_pointer(&a);
	return 0;
}

/* Checks an entry and, when it is a hard link, its target; fills the cleaned names. */
static int check_entry(struct archive_entry *e, struct pv_entry_name *en,
		       struct pv_entry_name *link, pv_error *err)
{
	const char *name = archive_entry_pathname(e);
	const char *target = archive_entry_hardlink(e);
	if (name == NULL)
		return pv_error_set_plain(err, EINVAL, "entry without a name");
	int r = pv_entry_name_parse(name, en, err);
	if (r == 0 && target)
		r = pv_entry_name_parse(target, link, err);
	return r;
}

static bool is_whiteout(const struct pv_entry_name *en)
{
	return pv_str_has_prefix(en->base, WH_PREFIX);
}

static bool is_aufs_meta(const struct pv_entry_name *en)
{
	bool meta = pv_str_has_prefix(en->path, WH_META_PREFIX) ||
		    strstr(en->path, "/" WH_META_PREFIX) != NULL;
	return meta && strcmp(en->base, WH_OPAQUE) != 0;
}

/* Pass 1: checks every name, collects the whiteouts. Entry data is read (and hashed)
 * as libarchive skips to the next header: no skip callback, so it cannot seek past. */
static int scan_entries(struct tar_input *in, char ***whiteouts, pv_error *err)
{
	_cleanup_archive_read_ struct archive *a = NULL;
	struct archive_entry *e;
	struct pv_entry_name en, link;
	int r = tar_open(in, &a, err);
	if (r < 0)
		return r;
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		if (check_entry(e, &en, &link, err) < 0)
			return pv_error_code(*err);
		if (is_whiteout(&en) && !is_aufs_meta(&en) && pv_strv_push(whiteouts, en.path) < 0)
			return pv_error_set(err, ENOMEM, "whiteouts");
	}
	return r == ARCHIVE_EOF ? 0 : pv_archive_fail(a, err);
}

static int hash_start(struct tar_input *in, const char *digest, pv_error *err)
{
	if (lseek(in->fd, 0, SEEK_SET) < 0)
		return pv_error_set(err, errno, "seek");
	return digest ? pv_hash_new(digest, &in->hash, err) : 0;
}

/* Ends a pass (which returned r) by hashing the rest of the file and checking the digest.
 * A damaged blob usually also fails to parse; the digest then tells the real story, so a
 * mismatch wins over the error of the pass. */
static int hash_finish(struct tar_input *in, int r, pv_error *err)
{
	if (in->hash == NULL)
		return r;
	pv_error hash_err = NULL;
	int h = pv_hash_drain_fd(in->hash, in->fd, &hash_err);
	if (h == 0)
		h = pv_hash_check(in->hash, &hash_err);
	pv_hash_free(steal_pointer(&in->hash));
	if (h < 0) {
		pv_error_release(err);
		*err = hash_err;
		return h;
	}
	return r;
}

static int empty_dir(int dirfd, pv_error *err)
{
	DIR *d = pv_opendir_dup(dirfd);
	if (d == NULL)
		return pv_error_set(err, errno, "opendir");
	struct dirent *de;
	int r = 0;
	while (r == 0 && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			r = pv_rm_rf_at(dirfd, de->d_name, err);
	}
	closedir(d);
	return r;
}

/* The directory resolves inside the rootfs like any entry's (lib/.wh.x removes usr/lib/x
 * where lib -> usr/lib, as containerd does); one that is missing, or no directory, holds
 * nothing to hide. */
static int apply_whiteout(int rootfd, const char *name, pv_error *err)
{
	struct pv_entry_name en;
	if (pv_entry_name_parse(name, &en, err) < 0)
		return pv_error_code(*err);
	_cleanup_close_ int dirfd = pv_root_open(rootfd, en.dir, O_RDONLY | O_DIRECTORY);
	if (dirfd == -ENOENT || dirfd == -ENOTDIR || dirfd == -ELOOP)
		return 0;
	if (dirfd < 0)
		return pv_error_set(err, -dirfd, "%s", en.dir);
	if (strcmp(en.base, WH_OPAQUE) == 0)
		return empty_dir(dirfd, err);
	const char *victim = en.base + strlen(WH_PREFIX);
	if (*victim == '\0' || strcmp(victim, ".") == 0 || strcmp(victim, "..") == 0)
		return pv_error_set_plain(err, EINVAL, "invalid whiteout");
	return pv_rm_rf_at(dirfd, victim, err);
}

static int apply_whiteouts(int rootfd, char **whiteouts, pv_error *err)
{
	for (size_t i = 0; whiteouts && whiteouts[i]; i++) {
		if (apply_whiteout(rootfd, whiteouts[i], err) < 0)
			return pv_error_prefix(err, "%s", whiteouts[i]);
	}
	return 0;
}

/* Device nodes need CAP_MKNOD: an unprivileged podvm skips them in layers rather than
 * failing the image (the guest has devtmpfs on /dev). An image tarball has no business
 * holding devices or fifos at all. */
static bool skip_special(struct archive_entry *e, bool layer)
{
	mode_t type = archive_entry_filetype(e);
	if (type == AE_IFCHR || type == AE_IFBLK)
		return !layer || geteuid() != 0;
	return type == AE_IFIFO && !layer;
}

static int extract_entry(struct archive *a, struct archive_entry *e, struct pv_extract *x,
			 bool layer, pv_error *err)
{
	struct pv_entry_name en, link;
	if (check_entry(e, &en, &link, err) < 0)
		return pv_error_code(*err);
	if (en.path[0] == '\0' || is_aufs_meta(&en) || (layer && is_whiteout(&en)) ||
	    skip_special(e, layer))
		return 0;
	if (pv_extract_entry(x, a, e, &en, archive_entry_hardlink(e) ? &link : NULL, err) < 0)
		return pv_error_prefix(err, "%s", en.path);
	return 0;
}

/* Pass 2. */
static int extract_all(struct tar_input *in, int rootfd, bool layer, pv_error *err)
{
	_cleanup_archive_read_ struct archive *a = NULL;
	_cleanup_extract_ struct pv_extract *x = NULL;
	struct archive_entry *e;
	int r = tar_open(in, &a, err);
	if (r < 0 || (r = pv_extract_new(rootfd, layer, in->digests, &x, err)) < 0)
		return r;
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		if (extract_entry(a, e, x, layer, err) < 0)
			return pv_error_code(*err);
	}
	if (r != ARCHIVE_EOF)
		return pv_archive_fail(a, err);
	return pv_extract_finish(x, err);
}

int pv_layer_apply_fd(int fd, const char *digest, int rootfs_dirfd, struct pv_digest_set *digests,
		      pv_error *err)
{
	_cleanup_free_ struct tar_input *in = calloc(1, sizeof(*in));
	_cleanup_strv_ char **whiteouts = NULL;
	if (in == NULL)
		return pv_error_set(err, ENOMEM, "layer");
	in->fd = fd;
	in->digests = digests;
	/* Pass 2 checks the digest again: what is extracted must be what was checked. */
	int r = hash_start(in, digest, err);
	if (r == 0)
		r = hash_finish(in, scan_entries(in, &whiteouts, err), err);
	if (r == 0)
		r = apply_whiteouts(rootfs_dirfd, whiteouts, err);
	if (r == 0)
		r = hash_start(in, digest, err);
	if (r == 0)
		r = hash_finish(in, extract_all(in, rootfs_dirfd, true, err), err);
	return r;
}

int pv_tar_extract_fd(int fd, int dirfd, pv_error *err)
{
	_cleanup_free_ struct tar_input *in = calloc(1, sizeof(*in));
	if (in == NULL)
		return pv_error_set(err, ENOMEM, "archive");
	in->fd = fd;
	return extract_all(in, dirfd, false, err);
}

int pv_layer_apply(const char *layer_path, int rootfs_dirfd, pv_error *err)
{
	return pv_layer_apply_digests(layer_path, rootfs_dirfd, NULL, err);
}

int pv_layer_apply_digests(const char *layer_path, int rootfs_dirfd, struct pv_digest_set *digests,
			   pv_error *err)
{
	pv_error local = NULL;   /* the code below relies on an error to fill */
	_cleanup_close_ int fd = open(layer_path, O_RDONLY | O_CLOEXEC);
	int r = fd < 0 ? pv_error_set(&local, errno, "%s", layer_path)
		       : pv_layer_apply_fd(fd, NULL, rootfs_dirfd, digests, &local);
	if (r < 0 && fd >= 0)
		pv_error_prefix(&local, "layer %s", layer_path);
	if (r < 0 && err && *err == NULL)
		*err = steal_pointer(&local);
	pv_error_release(&local);
	return r;
}
