/* Tar entries written inside a root directory, as containerd and docker resolve them.
 *
 * Names are cleaned as containerd cleans them ("/" + name, lexically: "../../x" is "x"),
 * then the parent directory is opened with openat2(RESOLVE_IN_ROOT) on the root's fd: a
 * symlink on the way, from any layer, relative or absolute, is followed as if the root
 * were "/", so lib -> usr/lib followed by lib/x writes usr/lib/x and ../../../etc leads
 * to the root's etc, never the host's. The last component is created, replaced or linked
 * relative to that parent and never followed.
 *
 * Metadata follows libarchive's disk writer, which this replaces: owner (as root), mode,
 * xattrs, times, in that order (chown clears set-id bits and security.capability). A
 * directory gets its own once the whole tar is in place, so that a read-only one can still
 * be filled and its mtime is the tar's. */
#include "image-internal.h"
#include "util.h"
#include "hasher.h"

#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

/* As many symlinks as the kernel follows in one lookup (MAXSYMLINKS). */
#define MAX_LINKS 40

/* A directory whose metadata waits for the end of the tar. */
struct dir_fixup {
	char *path;
	struct archive_entry *entry;
};

struct pv_extract {
	int rootfd;
	bool layer;     /* restore metadata (else: fixed modes, as for scratch files) */
	struct pv_digest_set *digests;  /* of the regular files written; NULL: none wanted */
	struct dir_fixup *dirs;
	size_t n_dirs;
};

/* What metadata is set on: the open file where there is one, else base in dirfd. */
struct node {
	int dirfd;
	const char *base;
	int fd;
	mode_t type;
};

/* Rewrites a name into plain "a/b/c" form as containerd does (a lexical clean of "/" +
 * name): no "./", "//" or trailing "/", a leading "/" dropped, ".." takes back the
 * component before it and stays at the top. */
static int clean_path(const char *name, char *out, size_t size)
{
	size_t len = 0;
	for (const char *p = name; *p;) {
		const char *end = strchrnul(p, '/');
		size_t n = (size_t)(end - p);
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			while (len > 0 && out[len - 1] != '/')
				len--;
			len -= len > 0;
		} else if (n > 0 && !(n == 1 && p[0] == '.')) {
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

int pv_entry_name_parse(const char *name, struct pv_entry_name *en, pv_error *err)
{
	int r = clean_path(name, en->path, sizeof(en->path));
	if (r < 0)
		return pv_error_set(err, -r, "%s", name);
	char *slash = strrchr(en->path, '/');
	en->base = slash ? slash + 1 : en->path;
	snprintf(en->dir, sizeof(en->dir), "%.*s", slash ? (int)(slash - en->path) : 1,
		 slash ? en->path : ".");
	return 0;
}

int pv_root_open(int rootfd, const char *path, int flags)
{
	struct open_how how = {
		.flags = (unsigned long long)(flags | O_CLOEXEC),
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	int fd;
	/* EAGAIN: a rename elsewhere raced with a ".." lookup; the kernel asks for a retry. */
	do
		fd = (int)syscall(SYS_openat2, rootfd, *path ? path : ".", &how, sizeof(how));
	while (fd < 0 && (errno == EAGAIN || errno == EINTR));
	return fd < 0 ? -errno : fd;
}

static int mkdir_in_root(int rootfd, const char *dir, int hops);

struct link_paths {
	char target[PATH_MAX];  /* as read */
	char joined[PATH_MAX];  /* after the link's directory, when relative */
	char clean[PATH_MAX];
};

/* Where mkdir finds a symlink whose target is missing, the target is made instead, as
 * containerd does: lib2 -> usr/lib2 followed by lib2/x makes usr/lib2. */
static int make_link_target(int rootfd, int dirfd, const struct pv_entry_name *en, int hops)
{
	/* On the heap: this recurses once per symlink. */
	_cleanup_free_ struct link_paths *p = malloc(sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	ssize_t n = readlinkat(dirfd, en->base, p->target, sizeof(p->target) - 1);
	if (n < 0)
		return errno == EINVAL ? -ENOTDIR : -errno;
	if (hops == 0)
		return -ELOOP;
	p->target[n] = '\0';
	if (snprintf(p->joined, sizeof(p->joined), "%s/%s",
		     p->target[0] == '/' ? "" : en->dir, p->target) >= (int)sizeof(p->joined) ||
	    clean_path(p->joined, p->clean, sizeof(p->clean)) < 0)
		return -ENAMETOOLONG;
	int fd = mkdir_in_root(rootfd, p->clean, hops - 1);
	if (fd >= 0)
		close(fd);
	return fd < 0 ? fd : 0;
}

/* Makes directory path of the root, whose parent is there. */
static int make_component(int rootfd, const char *path, int hops)
{
	struct pv_entry_name en;
	_cleanup_close_ int fd = pv_root_open(rootfd, path, O_PATH | O_DIRECTORY);
	if (fd != -ENOENT)
		return fd < 0 ? fd : 0;
	if (pv_entry_name_parse(path, &en, NULL) < 0)
		return -ENAMETOOLONG;
	_cleanup_close_ int dirfd = pv_root_open(rootfd, en.dir, O_PATH | O_DIRECTORY);
	if (dirfd < 0)
		return dirfd;
	if (mkdirat(dirfd, en.base, 0755) == 0)
		return 0;
	return errno == EEXIST ? make_link_target(rootfd, dirfd, &en, hops) : -errno;
}

/* mkdir -p of a cleaned path, inside the root. Returns an O_PATH fd of it or -errno. */
static int mkdir_in_root(int rootfd, const char *dir, int hops)
{
	char prefix[PATH_MAX];
	int fd = pv_root_open(rootfd, dir, O_PATH | O_DIRECTORY);
	if (fd != -ENOENT)
		return fd;
	snprintf(prefix, sizeof(prefix), "%s", dir);
	for (char *p = prefix;; p++) {
		char c = *p;
		if (c != '/' && c != '\0')
			continue;
		*p = '\0';
		int r = make_component(rootfd, prefix, hops);
		if (r < 0)
			return r;
		*p = c;
		if (c == '\0')
			break;
	}
	return pv_root_open(rootfd, dir, O_PATH | O_DIRECTORY);
}

int pv_extract_new(int rootfd, bool layer, struct pv_digest_set *digests, struct pv_extract **out,
		   pv_error *err)
{
	struct pv_extract *x = calloc(1, sizeof(*x));
	if (x == NULL)
		return pv_error_set(err, ENOMEM, "extract");
	x->rootfd = rootfd;
	x->layer = layer;
	x->digests = digests;
	*out = x;
	return 0;
}

void pv_extract_free(struct pv_extract *x)
{
	if (x == NULL)
		return;
	for (size_t i = 0; i < x->n_dirs; i++) {
		free(x->dirs[i].path);
		archive_entry_free(x->dirs[i].entry);
	}
	free(x->dirs);
	free(x);
}

/* Only root can give files away. A failure (an id that its user namespace does not map)
 * leaves the file ours, as libarchive's warning did, and set_mode drops set-id bits. */
static void set_owner(const struct node *n, struct archive_entry *e)
{
	if (geteuid() != 0)
		return;
	uid_t uid = (uid_t)archive_entry_uid(e);
	gid_t gid = (gid_t)archive_entry_gid(e);
	int r = n->fd >= 0 ? fchown(n->fd, uid, gid)
			   : fchownat(n->dirfd, n->base, uid, gid, AT_SYMLINK_NOFOLLOW);
	(void)r;
}

/* A set-id bit stays only on a file that belongs to the id it names (libarchive's rule):
 * unprivileged, or where chown failed, the file is ours, and must not be set-id as us. */
static int set_mode(const struct node *n, struct archive_entry *e, pv_error *err)
{
	struct stat st;
	mode_t mode = archive_entry_perm(e);
	if (n->type == AE_IFLNK)
		return 0;   /* Linux symlinks have no mode */
	if ((n->fd >= 0 ? fstat(n->fd, &st) : fstatat(n->dirfd, n->base, &st,
						       AT_SYMLINK_NOFOLLOW)) < 0)
		return pv_error_set(err, errno, "stat");
	if (st.st_uid != (uid_t)archive_entry_uid(e))
		mode &= (mode_t)~S_ISUID;
	if (st.st_gid != (gid_t)archive_entry_gid(e))
		mode &= (mode_t)~S_ISGID;
	if ((n->fd >= 0 ? fchmod(n->fd, mode)
			: fchmodat(n->dirfd, n->base, mode, AT_SYMLINK_NOFOLLOW)) < 0)
		return pv_error_set(err, errno, "chmod");
	return 0;
}

/* Failures are ignored, as libarchive's warnings were: security.* and trusted.* need
 * privileges, and some filesystems take no xattrs. Only files and directories get them
 * (Linux allows user.* nowhere else, and opening a device could have effects). */
static void set_xattrs(const struct node *n, struct archive_entry *e)
{
	const char *name;
	const void *value;
	size_t size;
	if (archive_entry_xattr_reset(e) == 0 || (n->type != AE_IFREG && n->type != AE_IFDIR))
		return;
	_cleanup_close_ int own = n->fd >= 0 ? -1 : openat(n->dirfd, n->base,
							    O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	int fd = n->fd >= 0 ? n->fd : own;
	while (fd >= 0 && archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
		int r = fsetxattr(fd, name, value, size, 0);
		(void)r;
	}
}

static struct timespec entry_time(bool set, time_t sec, long nsec)
{
	return set ? (struct timespec){ .tv_sec = sec, .tv_nsec = nsec }
		   : (struct timespec){ .tv_nsec = UTIME_NOW };
}

static int set_times(const struct node *n, struct archive_entry *e, pv_error *err)
{
	struct timespec ts[2] = {
		entry_time(archive_entry_atime_is_set(e), archive_entry_atime(e),
			   archive_entry_atime_nsec(e)),
		entry_time(archive_entry_mtime_is_set(e), archive_entry_mtime(e),
			   archive_entry_mtime_nsec(e)),
	};
	if ((n->fd >= 0 ? futimens(n->fd, ts)
			: utimensat(n->dirfd, n->base, ts, AT_SYMLINK_NOFOLLOW)) < 0)
		return pv_error_set(err, errno, "set times");
	return 0;
}

static int set_metadata(const struct node *n, struct archive_entry *e, pv_error *err)
{
	set_owner(n, e);
	if (set_mode(n, e, err) < 0)
		return pv_error_code(*err);
	set_xattrs(n, e);
	return set_times(n, e, err);
}

static int defer_dir(struct pv_extract *x, const char *path, struct archive_entry *e,
		     pv_error *err)
{
	struct dir_fixup *dirs = reallocarray(x->dirs, x->n_dirs + 1, sizeof(*dirs));
	if (dirs == NULL)
		return pv_error_set(err, ENOMEM, "directories");
	x->dirs = dirs;
	struct dir_fixup *d = &dirs[x->n_dirs];
	d->path = strdup(path);
	d->entry = archive_entry_clone(e);
	if (d->path == NULL || d->entry == NULL) {
		free(d->path);
		archive_entry_free(d->entry);
		return pv_error_set(err, ENOMEM, "directories");
	}
	x->n_dirs++;
	return 0;
}

/* A directory entry merges into a directory that is there; anything else in its way goes,
 * as for every other entry. */
static int make_dir(struct pv_extract *x, int dirfd, const struct pv_entry_name *en,
		    struct archive_entry *e, pv_error *err)
{
	if (mkdirat(dirfd, en->base, x->layer ? 0700 : 0755) < 0 && errno != EEXIST)
		return pv_error_set(err, errno, "mkdir");
	return x->layer ? defer_dir(x, en->path, e, err) : 0;
}

static int pwrite_all(int fd, const char *buf, size_t size, off_t offset)
{
	while (size > 0) {
		ssize_t n = pwrite(fd, buf, size, offset);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		size -= (size_t)n;
		offset += n;
	}
	return 0;
}

/* Blocks come with their offsets (sparse files have holes between them). The content is
 * hashed on its way (h, when set: not read back), holes as the zeros they read as. */
static int write_data(struct archive *a, struct archive_entry *e, int fd, struct pv_hasher *h,
		      pv_error *err)
{
	const void *buf;
	size_t size;
	la_int64_t offset;
	uint64_t pos = 0;
	int r;
	while ((r = archive_read_data_block(a, &buf, &size, &offset)) != ARCHIVE_EOF) {
		if (r < ARCHIVE_WARN)
			return pv_archive_fail(a, err);
		if ((r = pwrite_all(fd, buf, size, (off_t)offset)) < 0)
			return pv_error_set(err, -r, "write");
		if (h && pv_hasher_block(h, &pos, (uint64_t)offset, buf, size, err) < 0)
			return -1;
	}
	/* A sparse file may end in a hole. */
	if (!archive_entry_size_is_set(e))
		return 0;
	if (ftruncate(fd, (off_t)archive_entry_size(e)) < 0)
		return pv_error_set(err, errno, "truncate");
	uint64_t end = (uint64_t)archive_entry_size(e);
	return h && end > pos ? pv_hasher_block(h, &pos, end, "", 0, err) : 0;
}

/* Writes the data, and records its digest when the extraction records digests. */
static int write_content(struct pv_extract *x, struct archive *a, struct archive_entry *e, int fd,
			 const char *path, pv_error *err)
{
	_cleanup_hasher_ struct pv_hasher *h = NULL;
	uint8_t digest[PV_SHA256_LEN];
	_cleanup_free_ char *abs = NULL;
	if (x->digests == NULL)
		return write_data(a, e, fd, NULL, err);
	if (pv_hasher_new(&h, err) < 0 || write_data(a, e, fd, h, err) < 0 ||
	    pv_hasher_final(h, digest, err) < 0)
		return -1;
	if (asprintf(&abs, "/%s", path) < 0)
		return pv_error_set(err, ENOMEM, "digests");
	return pv_digest_set_add(x->digests, digest, abs, err);
}

static int make_file(struct pv_extract *x, struct archive *a, struct archive_entry *e,
		     int dirfd, const struct pv_entry_name *en, pv_error *err)
{
	const char *base = en->base;
	_cleanup_close_ int fd = openat(dirfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
					O_CLOEXEC, x->layer ? 0600 : 0644);
	if (fd < 0)
		return pv_error_set(err, errno, "create");
	if (write_content(x, a, e, fd, en->path, err) < 0)
		return pv_error_code(*err);
	struct node n = { .dirfd = dirfd, .base = base, .fd = fd, .type = AE_IFREG };
	return x->layer ? set_metadata(&n, e, err) : 0;
}

/* The link target resolves like an entry: its directory inside the root, its last
 * component linked itself (a symlink stays one). Clamped as containerd does, a target
 * "../../etc/passwd" is the root's etc/passwd. */
static int make_hardlink(struct pv_extract *x, int dirfd, const char *base,
			 const struct pv_entry_name *target, pv_error *err)
{
	_cleanup_close_ int tdirfd = pv_root_open(x->rootfd, target->dir, O_PATH | O_DIRECTORY);
	if (tdirfd < 0)
		return pv_error_set(err, -tdirfd, "link target %s", target->path);
	if (linkat(tdirfd, target->base, dirfd, base, 0) < 0)
		return pv_error_set(err, errno, "link target %s", target->path);
	return 0;
}

/* Symlinks, devices and fifos: created, then their metadata set by name. */
static int make_other(struct pv_extract *x, struct archive_entry *e, int dirfd,
		      const char *base, pv_error *err)
{
	mode_t type = archive_entry_filetype(e);
	const char *target = archive_entry_symlink(e);
	if (type == AE_IFLNK && target == NULL)
		return pv_error_set_plain(err, EINVAL, "symlink without a target");
	int r = type == AE_IFLNK ? symlinkat(target, dirfd, base)
				 : mknodat(dirfd, base, type | 0600, archive_entry_rdev(e));
	if (r < 0)
		return pv_error_set(err, errno, type == AE_IFLNK ? "symlink" : "mknod");
	struct node n = { .dirfd = dirfd, .base = base, .fd = -1, .type = type };
	return x->layer ? set_metadata(&n, e, err) : 0;
}

static bool supported_type(mode_t type)
{
	return type == AE_IFREG || type == AE_IFDIR || type == AE_IFLNK || type == AE_IFCHR ||
	       type == AE_IFBLK || type == AE_IFIFO;
}

/* Whatever is in the way of an entry goes, a whole tree included (libarchive would only
 * rmdir an empty directory), unless both are directories. */
static int clear_way(int dirfd, const char *base, bool dir, pv_error *err)
{
	struct stat st;
	if (fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : pv_error_set(err, errno, "stat");
	if (dir && S_ISDIR(st.st_mode))
		return 0;
	return pv_rm_rf_at(dirfd, base, err);
}

int pv_extract_entry(struct pv_extract *x, struct archive *a, struct archive_entry *e,
		     const struct pv_entry_name *en, const struct pv_entry_name *link,
		     pv_error *err)
{
	mode_t type = archive_entry_filetype(e);
	if (link == NULL && !supported_type(type))
		return pv_error_set_plain(err, EINVAL, "unsupported entry type 0%o",
					  (unsigned)type);
	_cleanup_close_ int dirfd = mkdir_in_root(x->rootfd, en->dir, MAX_LINKS);
	if (dirfd < 0)
		return pv_error_set(err, -dirfd, "%s", en->dir);
	if (clear_way(dirfd, en->base, link == NULL && type == AE_IFDIR, err) < 0)
		return pv_error_code(*err);
	if (link)
		return make_hardlink(x, dirfd, en->base, link, err);
	if (type == AE_IFDIR)
		return make_dir(x, dirfd, en, e, err);
	if (type == AE_IFREG)
		return make_file(x, a, e, dirfd, en, err);
	return make_other(x, e, dirfd, en->base, err);
}

/* A directory gone or replaced later in the tar has nothing to fix. */
static int fix_dir(struct pv_extract *x, const struct dir_fixup *d, pv_error *err)
{
	struct pv_entry_name en;
	struct stat st;
	if (pv_entry_name_parse(d->path, &en, err) < 0)
		return pv_error_code(*err);
	_cleanup_close_ int dirfd = pv_root_open(x->rootfd, en.dir, O_PATH | O_DIRECTORY);
	if (dirfd < 0 || fstatat(dirfd, en.base, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !S_ISDIR(st.st_mode))
		return 0;
	struct node n = { .dirfd = dirfd, .base = en.base, .fd = -1, .type = AE_IFDIR };
	if (set_metadata(&n, d->entry, err) < 0)
		return pv_error_prefix(err, "%s", d->path);
	return 0;
}

/* Last entries first: a directory's content (usually after it in the tar) is fixed while
 * the directory is still searchable. */
int pv_extract_finish(struct pv_extract *x, pv_error *err)
{
	for (size_t i = x->n_dirs; i > 0; i--) {
		if (fix_dir(x, &x->dirs[i - 1], err) < 0)
			return pv_error_code(*err);
	}
	return 0;
}
