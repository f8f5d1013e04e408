/* pv_layer_apply: the OCI layer rules (whiteouts, opaque directories), compression
 * detection, metadata, and names resolved inside the rootfs as containerd resolves them
 * (symlinks, "..", absolute names), so that nothing is written outside it. Layers are
 * built here with libarchive's writer. */
#include "tap.h"
#include "image.h"
#include "util.h"
#include "cleanup.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* snprintf into a PATH_MAX buffer. The paths here are short; a function of our own also
 * keeps -Wformat-truncation from second-guessing every join. */
static __attribute__((format(printf, 2, 3))) char *pathf(char *buf, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, PATH_MAX, fmt, ap);
	va_end(ap);
	return buf;
}

/* One tar entry: type 'f' file, 'd' dir, 'l' symlink, 'h' hard link, 'c' char device,
 * 'p' fifo. data is the content of a file or the target of a link. */
struct ent {
	char type;
	const char *path;
	const char *data;
	mode_t mode;
	int uid, gid;
	time_t mtime;
};

/* Designated initializers: -Wextra objects to partly positional ones. */
#define F(p, d) { .type = 'f', .path = (p), .data = (d) }
#define W(p) { .type = 'f', .path = (p), .data = "" }
#define D(p) { .type = 'd', .path = (p) }
#define L(p, t) { .type = 'l', .path = (p), .data = (t) }
#define H(p, t) { .type = 'h', .path = (p), .data = (t) }

static char tmp[] = "/tmp/podvm-test-layer-XXXXXX";
/* tmp/outside sits next to every rootfs (tmp/root-N) and must stay empty; tmp/secret is a
 * host file that no hard link may reach. */
static char outside[PATH_MAX], secret[PATH_MAX];
static int n_layers, n_roots;

static mode_t ent_type(char t)
{
	switch (t) {
	case 'd': return AE_IFDIR;
	case 'l': return AE_IFLNK;
	case 'c': return AE_IFCHR;
	case 'p': return AE_IFIFO;
	default: return AE_IFREG;
	}
}

static void add_entry(struct archive *a, const struct ent *e)
{
	struct archive_entry *ae = archive_entry_new();
	archive_entry_set_pathname(ae, e->path);
	archive_entry_set_filetype(ae, ent_type(e->type));
	archive_entry_set_perm(ae, e->mode ? e->mode : (e->type == 'd' ? 0755 : 0644));
	archive_entry_set_uid(ae, e->uid);
	archive_entry_set_gid(ae, e->gid);
	archive_entry_set_mtime(ae, e->mtime ? e->mtime : 1700000000, 0);
	if (e->type == 'l')
		archive_entry_set_symlink(ae, e->data);
	if (e->type == 'h')
		archive_entry_set_hardlink(ae, e->data);
	if (e->type == 'c')
		archive_entry_set_rdev(ae, makedev(1, 3));
	if (e->type == 'f')
		archive_entry_set_size(ae, (la_int64_t)strlen(e->data ? e->data : ""));
	archive_write_header(a, ae);
	if (e->type == 'f' && e->data)
		archive_write_data(a, e->data, strlen(e->data));
	archive_entry_free(ae);
}

/* Writes a layer tar ('n' plain, 'g' gzip, 'z' zstd) and returns its path (static). */
static const char *make_layer(char filter, const struct ent *ents, size_t n)
{
	static char path[PATH_MAX];
	pathf(path, "%s/layer-%d.tar", tmp, ++n_layers);
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	if (filter == 'g')
		archive_write_add_filter_gzip(a);
	if (filter == 'z')
		archive_write_add_filter_zstd(a);
	archive_write_open_filename(a, path);
	for (size_t i = 0; i < n; i++)
		add_entry(a, &ents[i]);
	archive_write_close(a);
	archive_write_free(a);
	return path;
}

static int new_rootfs(char *path, size_t size)
{
	snprintf(path, size, "%s/root-%d", tmp, ++n_roots);
	mkdir(path, 0755);
	return open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* Applies a layer; on failure keeps the message in *msg (if given) or prints it. */
static int apply(const struct ent *ents, size_t n, char filter, int rootfd, char **msg)
{
	pv_error err = NULL;
	int r = pv_layer_apply(make_layer(filter, ents, n), rootfd, &err);
	if (r < 0 && msg)
		*msg = strdup(err && err->msg ? err->msg : "");
	else if (r < 0)
		diag("pv_layer_apply: %s", err && err->msg ? err->msg : "?");
	pv_error_release(&err);
	return r;
}
#define APPLY(ents, filter, fd, msg) apply(ents, sizeof(ents) / sizeof(ents[0]), filter, fd, msg)

static bool exists_at(int dirfd, const char *path)
{
	struct stat st;
	return fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static bool content_is(int dirfd, const char *path, const char *want)
{
	char buf[256] = "";
	_cleanup_close_ int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	return n >= 0 && strcmp(buf, want) == 0;
}

static bool has(const char *msg, const char *part)
{
	bool found = msg && strstr(msg, part);
	if (!found)
		diag("message \"%s\" lacks \"%s\"", msg ? msg : "(none)", part);
	return found;
}

static bool outside_empty(void)
{
	int n = 0;
	DIR *d = opendir(outside);
	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	return d && n == 2;
}

static bool secret_untouched(void)
{
	struct stat st;
	return stat(secret, &st) == 0 && st.st_nlink == 1 &&
	       content_is(AT_FDCWD, secret, "host secret");
}

static void test_whiteout_removes_lower(void)
{
	char root[PATH_MAX];
	_cleanup_close_ int fd = new_rootfs(root, sizeof(root));
	const struct ent lower[] = {
		D("etc"), F("etc/a", "A"), F("etc/b", "B"),
		D("d"), D("d/sub"), F("d/sub/x", "X"),
	};
	const struct ent upper[] = {
		W("etc/.wh.a"), W(".wh.d"), W("etc/.wh.none"),
		D(".wh..wh.plnk"), F(".wh..wh.plnk/1.2", "aufs hard link store"),
	};
	ok(APPLY(lower, 'n', fd, NULL) == 0 && APPLY(upper, 'n', fd, NULL) == 0,
	   "whiteout: layers apply");
	ok(!exists_at(fd, "etc/a") && content_is(fd, "etc/b", "B"),
	   "whiteout: removes the lower file, keeps its sibling");
	ok(!exists_at(fd, "d"), "whiteout: removes a lower directory with its content");
	ok(!exists_at(fd, "etc/.wh.a") && !exists_at(fd, ".wh.d"),
	   "whiteout: whiteout files are not extracted");
	ok(!exists_at(fd, ".wh..wh.plnk"), "whiteout: AUFS metadata is not extracted");
}

static void test_opaque_dir(void)
{
	char root[PATH_MAX];
	_cleanup_close_ int fd = new_rootfs(root, sizeof(root));
	const struct ent lower[] = {
		D("o"), F("o/x", "X"), D("o/sub"), F("o/sub/y", "Y"),
		F("keep", "K"),
	};
	/* Same-layer content on both sides of the marker in tar order. */
	const struct ent upper[] = {
		D("o"), F("o/new", "N"), W("o/.wh..wh..opq"),
		F("o/after", "A"),
	};
	ok(APPLY(lower, 'n', fd, NULL) == 0 && APPLY(upper, 'g', fd, NULL) == 0,
	   "opaque: layers apply");
	ok(!exists_at(fd, "o/x") && !exists_at(fd, "o/sub"), "opaque: lower content hidden");
	ok(content_is(fd, "o/new", "N") && content_is(fd, "o/after", "A"),
	   "opaque: same-layer content kept");
	ok(content_is(fd, "keep", "K") && !exists_at(fd, "o/.wh..wh..opq"),
	   "opaque: nothing else touched, marker not extracted");
}

static void test_same_layer_whiteout(void)
{
	char root[PATH_MAX];
	_cleanup_close_ int fd = new_rootfs(root, sizeof(root));
	const struct ent lower[] = { F("f", "old") };
	const struct ent upper[] = {
		F("f", "new"), W(".wh.f"), W(".wh.g"), F("g", "G"),
	};
	ok(APPLY(lower, 'n', fd, NULL) == 0 && APPLY(upper, 'z', fd, NULL) == 0,
	   "same-layer whiteout: layers apply");
	ok(content_is(fd, "f", "new"), "same-layer whiteout: file before its whiteout stays");
	ok(content_is(fd, "g", "G"), "same-layer whiteout: file after its whiteout stays");
}

static void test_compression(void)
{
	const char filters[] = { 'n', 'g', 'z' };
	const char *names[] = { "plain", "gzip", "zstd" };
	for (size_t i = 0; i < 3; i++) {
		char root[PATH_MAX];
		_cleanup_close_ int fd = new_rootfs(root, sizeof(root));
		const struct ent layer[] = { D("x"), F("x/data", "compressed?") };
		ok(APPLY(layer, filters[i], fd, NULL) == 0 &&
		   content_is(fd, "x/data", "compressed?"), "%s layer", names[i]);
	}
}

static void test_metadata(void)
{
	char root[PATH_MAX];
	_cleanup_close_ int fd = new_rootfs(root, sizeof(root));
	const struct ent layer[] = {
		{ .type = 'f', .path = "suid", .data = "#!", .mode = 04755, .uid = 1000,
		  .gid = 2000, .mtime = 12345 },
		L("sym", "suid"),
		H("hard", "suid"),
		{ .type = 'p', .path = "fifo" },
		{ .type = 'c', .path = "null", .mode = 0666 },
		{ .type = 'd', .path = "home", .mode = 0750, .uid = 1000, .gid = 1000,
		  .mtime = 23456 },
	};
	struct stat st, st2;
	char target[16] = "";
	ok(APPLY(layer, 'n', fd, NULL) == 0, "metadata: layer applies");
	/* Unprivileged, set-id bits are dropped: the file is ours, not uid 1000's. */
	mode_t want = geteuid() == 0 ? 04755 : 0755;
	ok(fstatat(fd, "suid", &st, 0) == 0 && (st.st_mode & 07777) == want &&
	   st.st_mtime == 12345, "metadata: mode with setuid bit and mtime");
	if (geteuid() == 0) {
		ok(st.st_uid == 1000 && st.st_gid == 2000, "metadata: numeric owner");
		ok(fstatat(fd, "null", &st2, AT_SYMLINK_NOFOLLOW) == 0 && S_ISCHR(st2.st_mode) &&
		   st2.st_rdev == makedev(1, 3), "metadata: character device");
	}
	ok(readlinkat(fd, "sym", target, sizeof(target) - 1) == 4 && strcmp(target, "suid") == 0,
	   "metadata: symlink");
	ok(fstatat(fd, "hard", &st2, AT_SYMLINK_NOFOLLOW) == 0 && st2.st_ino == st.st_ino,
	   "metadata: hard link");
	ok(fstatat(fd, "fifo", &st2, AT_SYMLINK_NOFOLLOW) == 0 && S_ISFIFO(st2.st_mode),
	   "metadata: fifo");
	ok(fstatat(fd, "home", &st2, 0) == 0 && (st2.st_mode & 07777) == 0750 &&
	   st2.st_mtime == 23456, "metadata: directory mode and mtime");
}

static void test_replacements(void)
{
	char root[PATH_MAX];
	_cleanup_close_ int fd = new_rootfs(root, sizeof(root));
	const struct ent lower[] = {
		D("x"), D("x/y"), F("x/y/z", "Z"), L("s", outside),
		D("d"),
	};
	const struct ent upper[] = {
		F("x", "file now"), D("s"), F("s/f", "F"), L("d", "x"),
	};
	struct stat st;
	ok(APPLY(lower, 'n', fd, NULL) == 0 && APPLY(upper, 'n', fd, NULL) == 0,
	   "replacement: layers apply");
	ok(content_is(fd, "x", "file now"), "replacement: a file replaces a non-empty directory");
	ok(fstatat(fd, "s", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode) &&
	   content_is(fd, "s/f", "F"), "replacement: a directory replaces a symlink");
	ok(outside_empty(), "replacement: nothing written where the symlink pointed");
	ok(fstatat(fd, "d", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode),
	   "replacement: a symlink replaces a directory");
}

/* The upper layer (over lower, if any) applies and writes content at path inside the
 * rootfs, nothing outside it. */
static void expect_inside(const char *what, const struct ent *lower, size_t n_lower,
			  const struct ent *upper, size_t n_upper, const char *path,
			  const char *content)
{
	char root[PATH_MAX];
	_cleanup_close_ int fd = new_rootfs(root, sizeof(root));
	ok((n_lower == 0 || apply(lower, n_lower, 'n', fd, NULL) == 0) &&
	   apply(upper, n_upper, 'g', fd, NULL) == 0, "%s: layers apply", what);
	ok(content_is(fd, path, content), "%s: lands at %s in the rootfs", what, path);
	ok(outside_empty() && secret_untouched(), "%s: nothing written outside", what);
}
#define INSIDE(what, lower, upper, path, content) \
	expect_inside(what, lower, sizeof(lower) / sizeof(lower[0]), upper, \
		      sizeof(upper) / sizeof(upper[0]), path, content)

/* The upper layer must fail, naming the entry and what is wrong, and leave the outside
 * alone. */
static void expect_refused(const char *what, const struct ent *lower, size_t n_lower,
			   const struct ent *upper, size_t n_upper, const char *name,
			   const char *why)
{
	char root[PATH_MAX];
	char *msg = NULL;
	_cleanup_close_ int fd = new_rootfs(root, sizeof(root));
	if (n_lower && apply(lower, n_lower, 'n', fd, NULL) < 0)
		ok(false, "%s: lower layer applies", what);
	ok(apply(upper, n_upper, 'g', fd, &msg) < 0, "%s: refused", what);
	ok(has(msg, name) && has(msg, why), "%s: the message names the entry", what);
	diag("error: %s", msg ? msg : "(none)");
	ok(outside_empty() && secret_untouched(), "%s: nothing written outside", what);
	free(msg);
}

/* ".." and absolute names are cleaned as containerd cleans them: "../x" is "x". */
static void test_names_clamped(void)
{
	char abs_name[PATH_MAX];
	const struct ent none[] = { D("empty") };
	const struct ent dotdot[] = { F("ok", "fine"), F("../outside/evil", "x") };
	INSIDE("\"..\"", none, dotdot, "outside/evil", "x");
	const struct ent inner[] = { D("a"), F("a/../../../outside/evil", "x") };
	INSIDE("inner \"..\"", none, inner, "outside/evil", "x");
	pathf(abs_name, "%s/evil", outside);
	const struct ent absolute[] = { F(abs_name, "x") };
	INSIDE("absolute name", none, absolute, abs_name + 1, "x");
	const struct ent hard[] = { F("mine", "M"), H(abs_name, "/../mine") };
	INSIDE("absolute hard link and target", none, hard, abs_name + 1, "M");
}

/* Symlinks from any layer resolve inside the rootfs, as if it were "/". */
static void test_symlinks_followed_inside(void)
{
	char up_outside[PATH_MAX], inside[PATH_MAX];
	struct stat st;
	const struct ent none[] = { D("empty") };
	const struct ent usr[] = { D("usr"), D("usr/lib2"), L("lib2", "usr/lib2") };
	const struct ent foo[] = { F("lib2/foo", "merged") };
	INSIDE("merged /usr", usr, foo, "usr/lib2/foo", "merged");
	const struct ent dangling[] = { L("lib3", "usr/lib3"), F("lib3/foo", "made") };
	INSIDE("link to a missing directory", none, dangling, "usr/lib3/foo", "made");
	const struct ent run[] = { D("var"), D("run2"), L("var/run2", "/run2") };
	const struct ent x[] = { F("var/run2/x", "abs") };
	INSIDE("absolute link", run, x, "run2/x", "abs");
	ok(stat("/run2/x", &st) < 0, "absolute link: nothing at the host's /run2/x");
	/* From tmp/root-N, enough ".." reach "/", then the path of outside/. */
	pathf(up_outside, "../../../../../../../..%s", outside);
	pathf(inside, "%s/passwd", outside + 1);
	const struct ent evil[] = { L("evil", up_outside) };
	const struct ent passwd[] = { F("evil/passwd", "x") };
	INSIDE("link up and out", evil, passwd, inside, "x");
	const struct ent same[] = { L("up", "../outside"), F("up/evil", "x") };
	INSIDE("link up, same layer", none, same, "outside/evil", "x");
	const struct ent abs_link[] = { L("evil", outside) };
	INSIDE("absolute link to outside", abs_link, passwd, inside, "x");
	const struct ent deep[] = { L("a", "b/c"), D("b"), L("b/c", "../d"), D("d"),
				    L("d/e", "/"), F("a/e/deep", "D") };
	INSIDE("chain of links", none, deep, "deep", "D");
}

static bool is_link_to(int dirfd, const char *path, const char *want)
{
	char target[PATH_MAX] = "";
	ssize_t n = readlinkat(dirfd, path, target, sizeof(target) - 1);
	return n >= 0 && strcmp(target, want) == 0;
}

/* A symlink as the last component is replaced, never written through. */
static void test_last_symlink_replaced(void)
{
	char root[PATH_MAX];
	_cleanup_close_ int fd = new_rootfs(root, sizeof(root));
	const struct ent lower[] = { L("conf", secret), L("dir", outside), L("hard", secret) };
	const struct ent upper[] = {
		F("conf", "mine"), D("dir"), F("dir/f", "F"), F("mine", "M"), H("hard", "mine"),
		L("sym", secret), L("sym", "elsewhere"),
	};
	ok(APPLY(lower, 'n', fd, NULL) == 0 && APPLY(upper, 'n', fd, NULL) == 0,
	   "last symlink: layers apply");
	ok(content_is(fd, "conf", "mine"), "last symlink: a file replaces it");
	ok(content_is(fd, "dir/f", "F"), "last symlink: a directory replaces it");
	ok(content_is(fd, "hard", "M"), "last symlink: a hard link replaces it");
	ok(is_link_to(fd, "sym", "elsewhere"), "last symlink: a symlink replaces it");
	ok(outside_empty() && secret_untouched(), "last symlink: nothing written outside");
}

static void test_hardlinks_inside(void)
{
	char root[PATH_MAX], up_secret[PATH_MAX], via_root[PATH_MAX];
	struct stat st, st2;
	const struct ent usr[] = {
		D("usr"), D("usr/lib2"), F("usr/lib2/libc", "C"), L("lib2", "usr/lib2"),
	};
	const struct ent through[] = { H("lib2/libc.1", "lib2/libc") };
	INSIDE("hard link through a link", usr, through, "usr/lib2/libc.1", "C");
	const struct ent none[] = { D("empty") };
	const struct ent up[] = { F("usr/x", "X"), L("up", "../../../.."), H("y", "up/usr/x") };
	INSIDE("hard link target through a link up", none, up, "y", "X");
	/* Targets that would be tmp/secret on the host are missing in the rootfs. */
	const struct ent dotdot[] = { H("stolen", "../secret") };
	expect_refused("hard link target \"..\"", NULL, 0, dotdot, 1, "stolen",
		       "link target secret: No such file or directory");
	pathf(via_root, "host%s", secret);
	const struct ent host[] = { L("host", "/") };
	const struct ent via_abs[] = { H("stolen", via_root) };
	expect_refused("hard link target through an absolute link", host, 1, via_abs, 1,
		       "stolen", "No such file or directory");
	/* A link to a symlink links the symlink itself, still resolved in the rootfs. */
	_cleanup_close_ int fd = new_rootfs(root, sizeof(root));
	pathf(up_secret, "../../../../../..%s", secret);
	const struct ent sym[] = { L("up", up_secret), H("stolen", "up") };
	ok(APPLY(sym, 'n', fd, NULL) == 0 && is_link_to(fd, "stolen", up_secret) &&
	   fstatat(fd, "up", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	   fstatat(fd, "stolen", &st2, AT_SYMLINK_NOFOLLOW) == 0 && st.st_ino == st2.st_ino,
	   "hard link to a symlink: the symlink is linked");
	ok(secret_untouched(), "hard link to a symlink: the host file is not");
}

/* Whiteouts resolve inside the rootfs too: through a link, they hide what it leads to. */
static void test_whiteouts_through_link(void)
{
	char root[PATH_MAX];
	_cleanup_close_ int fd = new_rootfs(root, sizeof(root));
	const struct ent lower[] = {
		D("usr"), D("usr/lib2"), F("usr/lib2/old", "O"), F("usr/lib2/keep", "K"),
		D("usr/share"), F("usr/share/a", "A"), D("usr/share/sub"), L("lib2", "usr/lib2"),
		L("share", "/usr/share"),
	};
	const struct ent upper[] = {
		W("lib2/.wh.old"), W("share/.wh..wh..opq"), F("share/new", "N"),
	};
	ok(APPLY(lower, 'n', fd, NULL) == 0 && APPLY(upper, 'n', fd, NULL) == 0,
	   "whiteout through a link: layers apply");
	ok(!exists_at(fd, "usr/lib2/old") && content_is(fd, "usr/lib2/keep", "K"),
	   "whiteout through a link: removes the file it leads to");
	ok(!exists_at(fd, "usr/share/a") && !exists_at(fd, "usr/share/sub") &&
	   content_is(fd, "usr/share/new", "N"),
	   "opaque whiteout through a link: empties the directory it leads to");
	ok(is_link_to(fd, "lib2", "usr/lib2") && is_link_to(fd, "share", "/usr/share"),
	   "whiteout through a link: the links stay");
}

/* Through links that would lead out, whiteouts find nothing to remove. */
static void test_whiteout_through_escaping_link(void)
{
	char root[PATH_MAX], victim[PATH_MAX];
	_cleanup_close_ int fd = new_rootfs(root, sizeof(root));
	pathf(victim, "%s/victim", outside);
	close(open(victim, O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
	const struct ent lower[] = { L("link", outside), L("up", "../outside") };
	const struct ent upper[] = {
		W("link/.wh.victim"), W("up/.wh.victim"), W("link/.wh..wh..opq"),
		W("up/.wh..wh..opq"), W("../outside/.wh.victim"),
	};
	ok(APPLY(lower, 'n', fd, NULL) == 0 && APPLY(upper, 'n', fd, NULL) == 0,
	   "whiteout through an escaping link: layer applies");
	ok(exists_at(AT_FDCWD, victim),
	   "whiteout through an escaping link: removes nothing outside");
	unlink(victim);
}

static void test_link_loop(void)
{
	const struct ent loop[] = { L("loop", "loop"), F("loop/x", "x") };
	expect_refused("symlink loop", NULL, 0, loop, 2, "loop/x",
		       "Too many levels of symbolic links");
}

static void test_broken_layers(void)
{
	char root[PATH_MAX], path[PATH_MAX];
	_cleanup_close_ int fd = new_rootfs(root, sizeof(root));
	char big[8192];
	memset(big, 'b', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	const struct ent layer[] = { F("big", big) };
	const char *full = make_layer('n', layer, 1);
	pathf(path, "%s", full);
	if (truncate(path, 3000) < 0)
		diag("truncate: %s", strerror(errno));
	pv_error err = NULL;
	ok(pv_layer_apply(path, fd, &err) < 0 && has(err->msg, path),
	   "truncated layer: error names the layer");
	diag("error: %s", err ? err->msg : "(none)");
	pv_error_release(&err);

	pathf(path, "%s/garbage", tmp);
	pv_write_file(path, "this is no tar\n", 15, 0644, NULL);
	ok(pv_layer_apply(path, fd, &err) < 0 && has(err->msg, path), "garbage layer: error");
	diag("error: %s", err ? err->msg : "(none)");
	pv_error_release(&err);

	ok(pv_layer_apply("/nonexistent/layer.tar", fd, &err) < 0 &&
	   has(err->msg, "/nonexistent/layer.tar: No such file or directory"),
	   "missing layer: error");
	pv_error_release(&err);

	pathf(path, "%s/empty", tmp);
	pv_write_file(path, "", 0, 0644, NULL);
	ok(pv_layer_apply(path, fd, NULL) == 0, "empty layer file: nothing to do");
}

static int count_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	return n;
}

int main(void)
{
	if (mkdtemp(tmp) == NULL) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	pathf(outside, "%s/outside", tmp);
	pathf(secret, "%s/secret", tmp);
	mkdir(outside, 0755);
	pv_write_file(secret, "host secret", 11, 0644, NULL);
	int fds = count_fds();
	char cwd[PATH_MAX] = "", cwd_after[PATH_MAX] = "";
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		diag("getcwd: %s", strerror(errno));
	test_whiteout_removes_lower();
	test_opaque_dir();
	test_same_layer_whiteout();
	test_compression();
	test_metadata();
	test_replacements();
	test_names_clamped();
	test_symlinks_followed_inside();
	test_last_symlink_replaced();
	test_hardlinks_inside();
	test_whiteouts_through_link();
	test_link_loop();
	test_whiteout_through_escaping_link();
	test_broken_layers();
	ok(count_fds() == fds, "no file descriptor leaked");
	ok(getcwd(cwd_after, sizeof(cwd_after)) && strcmp(cwd, cwd_after) == 0,
	   "working directory restored");
	pv_rm_rf(tmp, NULL);
	return done_testing();
}
