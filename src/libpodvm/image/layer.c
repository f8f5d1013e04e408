/* Layer tars onto a rootfs, following the OCI image-spec layer rules (layer.md).
 *
 * ".wh.NAME" removes NAME of the lower layers and ".wh..wh..opq" empties its directory of
 * lower-layer content; neither may touch entries of its own layer, which can come before
 * or after it in the tar. So a layer is read twice: pass 1 checks every entry name (and
 * the digest) and collects the whiteouts, which are then applied; pass 2 extracts the
 * other entries. Nothing is changed before the whole layer has been read once.
 *
 * libarchive's disk writer extracts (ownership, modes, times, xattrs, links, devices) but
 * resolves names against the current directory, so pass 2 runs fchdir()ed into the rootfs.
 * Besides libarchive's own SECURE_* checks, every entry is checked here first: absolute
 * names and ".." are refused, and the parent directory must resolve beneath the rootfs
 * without crossing a symlink (openat2), so a symlink from any layer cannot redirect a
 * write or a removal outside the rootfs. */
#include "image-internal.h"
#include "util.h"

#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"
/* AUFS bookkeeping (".wh..wh.plnk", ".wh..wh.aufs"): not content, never extracted. */
#define WH_META_PREFIX ".wh..wh."
#define READ_BLOCK (128 * 1024)

struct tar_input {
	int fd;
	struct pv_hash *hash;   /* NULL: no digest to check */
	char buf[READ_BLOCK];
};

/* An entry name split into its cleaned form and the parts the checks need. */
struct entry_name {
	char path[PATH_MAX];    /* "a/b/c"; "" for the root itself */
	char dir[PATH_MAX];     /* "a/b", or "." */
	const char *base;       /* "c", inside path */
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

static int archive_fail(struct archive *a, pv_error *err)
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
		return archive_fail(a, err);
	*out = steal_pointer(&a);
	return 0;
}

/* Rewrites a name into plain "a/b/c" form (no "./", "//" or trailing "/"). Absolute
 * names and ".." are refused: every entry must stay inside the tree it is extracted to. */
static int clean_path(const char *name, char *out, size_t size)
{
	size_t len = 0;
	if (name[0] == '/')
		return -EPERM;
	for (const char *p = name; *p;) {
		const char *end = strchrnul(p, '/');
		size_t n = (size_t)(end - p);
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return -EPERM;
		if (n > 0 && !(n == 1 && p[0] == '.')) {
			if (len + n + 2 > size)
				return -ENAMETOOLONG;
			if (len > 0)
				out[len++] = '/';
			memcpy(out + len, p, n);
			len += n;
		}
		p = *end ? end + 1 : end;
	}
	out[len] = '\0';
	return 0;
}

static int parse_name(const char *name, struct entry_name *en, pv_error *err)
{
	int r = clean_path(name, en->path, sizeof(en->path));
	if (r == -EPERM)
		return pv_error_set_plain(err, EPERM, "%s: unsafe path (absolute or \"..\")", name);
	if (r < 0)
		return pv_error_set(err, -r, "%s", name);
	char *slash = strrchr(en->path, '/');
	en->base = slash ? slash + 1 : en->path;
	snprintf(en->dir, sizeof(en->dir), "%.*s", slash ? (int)(slash - en->path) : 1,
		 slash ? en->path : ".");
	return 0;
}

/* Checks an entry and, when it is a hard link, its target; fills the cleaned names. */
static int check_entry(struct archive_entry *e, struct entry_name *en, struct entry_name *link,
		       pv_error *err)
{
	const char *name = archive_entry_pathname(e);
	const char *target = archive_entry_hardlink(e);
	if (name == NULL)
		return pv_error_set_plain(err, EINVAL, "entry without a name");
	int r = parse_name(name, en, err);
	if (r == 0 && target)
		r = parse_name(target, link, err);
	return r;
}

static bool is_whiteout(const struct entry_name *en)
{
	return pv_str_has_prefix(en->base, WH_PREFIX);
}

static bool is_aufs_meta(const struct entry_name *en)
{
	bool meta = pv_str_has_prefix(en->path, WH_META_PREFIX) ||
		    strstr(en->path, "/" WH_META_PREFIX) != NULL;
	return meta && strcmp(en->base, WH_OPAQUE) != 0;
}

/* Opens directory dir of the rootfs without crossing any symlink: -ELOOP when one is on
 * the way. */
static int open_dir_beneath(int rootfd, const char *dir)
{
	struct open_how how = {
		.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS,
	};
	int fd = (int)syscall(SYS_openat2, rootfd, dir, &how, sizeof(how));
	return fd < 0 ? -errno : fd;
}

/* Pass 1: checks every name, collects the whiteouts. Entry data is read (and hashed)
 * as libarchive skips to the next header: no skip callback, so it cannot seek past. */
static int scan_entries(struct tar_input *in, char ***whiteouts, pv_error *err)
{
	_cleanup_archive_read_ struct archive *a = NULL;
	struct archive_entry *e;
	struct entry_name en, link;
	int r = tar_open(in, &a, err);
	if (r < 0)
		return r;
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		if (check_entry(e, &en, &link, err) < 0)
			return pv_error_code(*err);
		if (is_whiteout(&en) && !is_aufs_meta(&en) && pv_strv_push(whiteouts, en.path) < 0)
			return pv_error_set(err, ENOMEM, "whiteouts");
	}
	return r == ARCHIVE_EOF ? 0 : archive_fail(a, err);
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
	int fd = dup(dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (d == NULL) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return pv_error_set(err, e, "opendir");
	}
	struct dirent *de;
	int r = 0;
	while (r == 0 && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			r = pv_rm_rf_at(dirfd, de->d_name, err);
	}
	closedir(d);
	return r;
}

/* A missing directory, or one reached only through a symlink, holds nothing to hide:
 * in overlay terms the layer's own directory replaces a lower symlink wholesale, so
 * whatever the symlink points to stays untouched. */
static int apply_whiteout(int rootfd, const char *name, pv_error *err)
{
	struct entry_name en;
	if (parse_name(name, &en, err) < 0)
		return pv_error_code(*err);
	_cleanup_close_ int dirfd = open_dir_beneath(rootfd, en.dir);
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

static int refuse_symlink_parent(int rootfd, const struct entry_name *en, int *dirfd,
				 pv_error *err)
{
	*dirfd = open_dir_beneath(rootfd, en->dir);
	if (*dirfd == -ELOOP || *dirfd == -EXDEV)
		return pv_error_set_plain(err, EPERM, "unsafe path (through a symlink)");
	/* Other failures (a parent still to be created) are libarchive's to handle. */
	return 0;
}

/* Before libarchive writes an entry: refuse symlinks on the way, and, in a layer, clear a
 * lower directory that a non-directory replaces (libarchive would only rmdir it empty). */
static int prepare_target(int rootfd, struct archive_entry *e, const struct entry_name *en,
			  const struct entry_name *link, bool layer, pv_error *err)
{
	_cleanup_close_ int dirfd = -1, linkfd = -1;
	struct stat st;
	if (refuse_symlink_parent(rootfd, en, &dirfd, err) < 0)
		return pv_error_code(*err);
	if (archive_entry_hardlink(e) && refuse_symlink_parent(rootfd, link, &linkfd, err) < 0)
		return pv_error_prefix(err, "link target %s", link->path);
	if (!layer || dirfd < 0 || archive_entry_filetype(e) == AE_IFDIR)
		return 0;
	if (fstatat(dirfd, en->base, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
		return 0;
	return pv_rm_rf_at(dirfd, en->base, err);
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

static int copy_data(struct archive *a, struct archive *disk, pv_error *err)
{
	const void *buf;
	size_t size;
	la_int64_t offset;
	for (;;) {
		int r = archive_read_data_block(a, &buf, &size, &offset);
		if (r == ARCHIVE_EOF)
			return 0;
		if (r < ARCHIVE_WARN)
			return archive_fail(a, err);
		if (archive_write_data_block(disk, buf, size, offset) < ARCHIVE_WARN)
			return archive_fail(disk, err);
	}
}

static int write_entry(struct archive *a, struct archive_entry *e, struct archive *disk,
		       pv_error *err)
{
	/* ARCHIVE_WARN is what an unprivileged run gets for a security.* xattr or an owner
	 * it cannot set: not worth failing the image for. */
	if (archive_write_header(disk, e) < ARCHIVE_WARN)
		return archive_fail(disk, err);
	if (archive_entry_size(e) > 0 && copy_data(a, disk, err) < 0)
		return pv_error_code(*err);
	if (archive_write_finish_entry(disk) < ARCHIVE_WARN)
		return archive_fail(disk, err);
	return 0;
}

static int extract_entry(struct archive *a, struct archive_entry *e, struct archive *disk,
			 int rootfd, bool layer, pv_error *err)
{
	struct entry_name en, link;
	if (check_entry(e, &en, &link, err) < 0)
		return pv_error_code(*err);
	if (en.path[0] == '\0' || is_aufs_meta(&en) || (layer && is_whiteout(&en)) ||
	    skip_special(e, layer))
		return 0;
	archive_entry_set_pathname(e, en.path);
	if (archive_entry_hardlink(e))
		archive_entry_set_hardlink(e, link.path);
	if (prepare_target(rootfd, e, &en, &link, layer, err) < 0 ||
	    write_entry(a, e, disk, err) < 0)
		return pv_error_prefix(err, "%s", en.path);
	return 0;
}

static int disk_open(bool layer, struct archive **out, pv_error *err)
{
	struct archive *disk = archive_write_disk_new();
	if (disk == NULL)
		return pv_error_set(err, ENOMEM, "archive");
	int flags = ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
		    ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS;
	/* No user/group name lookup is installed on purpose: layer ownership is numeric and
	 * must not be mapped through the host's /etc/passwd. */
	if (layer)
		flags |= ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_XATTR |
			 (geteuid() == 0 ? ARCHIVE_EXTRACT_OWNER : 0);
	archive_write_disk_set_options(disk, flags);
	*out = disk;
	return 0;
}

static int extract_entries(struct archive *a, struct archive *disk, int rootfd, bool layer,
			   pv_error *err)
{
	struct archive_entry *e;
	int r;
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		if (extract_entry(a, e, disk, rootfd, layer, err) < 0)
			return pv_error_code(*err);
	}
	if (r != ARCHIVE_EOF)
		return archive_fail(a, err);
	/* Directory modes and times are set last, when their content is in place. */
	if (archive_write_close(disk) < ARCHIVE_WARN)
		return archive_fail(disk, err);
	return 0;
}

/* Pass 2, with the current directory moved to the rootfs and back. */
static int extract_all(struct tar_input *in, int rootfd, bool layer, pv_error *err)
{
	_cleanup_archive_read_ struct archive *a = NULL;
	_cleanup_archive_write_ struct archive *disk = NULL;
	int r = tar_open(in, &a, err);
	if (r < 0 || (r = disk_open(layer, &disk, err)) < 0)
		return r;
	_cleanup_close_ int cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (cwd < 0)
		return pv_error_set(err, errno, "open current directory");
	if (fchdir(rootfd) < 0)
		return pv_error_set(err, errno, "enter the rootfs");
	r = extract_entries(a, disk, rootfd, layer, err);
	/* A failed extraction still finishes here, so deferred fixups run in the rootfs. */
	archive_write_free(steal_pointer(&disk));
	if (fchdir(cwd) < 0 && r == 0)
		r = pv_error_set(err, errno, "return to the current directory");
	return r;
}

int pv_layer_apply_fd(int fd, const char *digest, int rootfs_dirfd, pv_error *err)
{
	_cleanup_free_ struct tar_input *in = calloc(1, sizeof(*in));
	_cleanup_strv_ char **whiteouts = NULL;
	if (in == NULL)
		return pv_error_set(err, ENOMEM, "layer");
	in->fd = fd;
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
	pv_error local = NULL;   /* the code below relies on an error to fill */
	_cleanup_close_ int fd = open(layer_path, O_RDONLY | O_CLOEXEC);
	int r = fd < 0 ? pv_error_set(&local, errno, "%s", layer_path)
		       : pv_layer_apply_fd(fd, NULL, rootfs_dirfd, &local);
	if (r < 0 && fd >= 0)
		pv_error_prefix(&local, "layer %s", layer_path);
	if (r < 0 && err && *err == NULL)
		*err = steal_pointer(&local);
	pv_error_release(&local);
	return r;
}
