/* pv_layer_apply: the OCI layer rules (whiteouts, opaque directories), compression
 * detection, metadata, and refusal of everything that would write outside the rootfs.
 * Layers are built here with libarchive's writer. */
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
	/* Unprivileged, libarchive drops set-id bits of files it cannot chown. */
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
	char root[PATH_MAX], outside[PATH_MAX];
	_cleanup_close_ int fd = new_rootfs(root, sizeof(root));
	pathf(outside, "%s/outside-repl", tmp);
	mkdir(outside, 0755);
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
	strcat(outside, "/f");
	ok(!exists_at(AT_FDCWD, outside), "replacement: nothing written where the symlink pointed");
	ok(fstatat(fd, "d", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode),
	   "replacement: a symlink replaces a directory");
}

/* Each layer must fail, name the entry, and leave nothing at outside/. */
static void expect_refused(const char *what, const struct ent *lower, size_t n_lower,
			   const struct ent *upper, size_t n_upper, const char *name,
			   const char *outside)
{
	char root[PATH_MAX];
	char *msg = NULL;
	_cleanup_close_ int fd = new_rootfs(root, sizeof(root));
	if (n_lower && apply(lower, n_lower, 'n', fd, NULL) < 0)
		ok(false, "%s: lower layer applies", what);
	ok(apply(upper, n_upper, 'g', fd, &msg) < 0, "%s: refused", what);
	ok(has(msg, name) && has(msg, "unsafe path"), "%s: the message names the entry", what);
	diag("error: %s", msg ? msg : "(none)");
	ok(!exists_at(AT_FDCWD, outside), "%s: nothing written outside", what);
	free(msg);
}

static void test_escapes(void)
{
	char outside[PATH_MAX], target[PATH_MAX], evil[PATH_MAX];
	pathf(outside, "%s/outside", tmp);
	mkdir(outside, 0755);
	pathf(evil, "%s/evil", outside);
	/* Roots are tmp/root-N: "../outside/evil" from there is tmp/outside/evil. */
	const struct ent dotdot[] = { F("ok", "fine"), F("../outside/evil", "x") };
	expect_refused("\"..\"", NULL, 0, dotdot, 2, "../outside/evil", evil);
	const struct ent inner[] = { D("a"), F("a/../../outside/evil", "x") };
	expect_refused("inner \"..\"", NULL, 0, inner, 2, "a/../../outside/evil", evil);
	pathf(target, "%s/evil", outside);
	const struct ent absolute[] = { F(target, "x") };
	expect_refused("absolute path", NULL, 0, absolute, 1, target, evil);
	const struct ent lower[] = { L("link", outside) };
	const struct ent through[] = { F("link/evil", "x") };
	expect_refused("symlink of a lower layer", lower, 1, through, 1, "link/evil", evil);
	const struct ent same[] = { L("up", "../outside"), F("up/evil", "x") };
	expect_refused("symlink of the same layer", NULL, 0, same, 2, "up/evil", evil);
	const struct ent hard[] = { H("evil", "../outside/victim") };
	expect_refused("hard link target", NULL, 0, hard, 1, "../outside/victim", evil);
}

static void test_whiteout_through_symlink(void)
{
	char root[PATH_MAX], outside[PATH_MAX], victim[PATH_MAX];
	_cleanup_close_ int fd = new_rootfs(root, sizeof(root));
	pathf(outside, "%s/outside-wh", tmp);
	pathf(victim, "%s/victim", outside);
	mkdir(outside, 0755);
	close(open(victim, O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
	const struct ent lower[] = { L("link", outside), L("up", "../outside-wh") };
	const struct ent upper[] = {
		W("link/.wh.victim"), W("up/.wh.victim"), W("link/.wh..wh..opq"),
	};
	ok(APPLY(lower, 'n', fd, NULL) == 0 && APPLY(upper, 'n', fd, NULL) == 0,
	   "whiteout through a symlink: layer applies");
	ok(exists_at(AT_FDCWD, victim), "whiteout through a symlink: removes nothing outside");
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
	test_escapes();
	test_whiteout_through_symlink();
	test_broken_layers();
	ok(count_fds() == fds, "no file descriptor leaked");
	ok(getcwd(cwd_after, sizeof(cwd_after)) && strcmp(cwd, cwd_after) == 0,
	   "working directory restored");
	pv_rm_rf(tmp, NULL);
	return done_testing();
}
