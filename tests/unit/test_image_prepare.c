/* pv_image_prepare on the images of tests/fixtures/make-images.sh (directory in
 * $PODVM_FIXTURES): every source kind gives the same rootfs and config, tags select, and
 * every failure is one clear line that leaves nothing at dest or scratch. */
#include "tap.h"
#include "image.h"
#include "util.h"
#include "cleanup.h"

#include <dirent.h>
#include <jansson.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

static const char *fixtures;
static char tmp[] = "/tmp/podvm-test-prepare-XXXXXX";
static int n_runs;

/* One pv_image_prepare call with fresh dest and scratch paths under tmp. */
struct run {
	char ref[PATH_MAX];
	char dest[PATH_MAX];
	char scratch[PATH_MAX];
	char *rootfs;
	struct pv_image_config cfg;
	char *msg;          /* the error message, NULL on success */
	int r;
};

static void run_free(struct run *run)
{
	free(run->rootfs);
	free(run->msg);
	pv_image_config_clear(&run->cfg);
}

static void prepare(struct run *run, const char *ref)
{
	pv_error err = NULL;
	memset(run, 0, sizeof(*run));
	n_runs++;
	snprintf(run->ref, sizeof(run->ref), "%s/%s", fixtures, ref);
	/* A parent that does not exist yet: prepare creates it. */
	snprintf(run->dest, sizeof(run->dest), "%s/run-%d/dest", tmp, n_runs);
	snprintf(run->scratch, sizeof(run->scratch), "%s/run-%d/scratch", tmp, n_runs);
	run->r = pv_image_prepare(run->ref, run->dest, run->scratch, &run->rootfs, &run->cfg,
				  &err);
	if (run->r < 0)
		run->msg = strdup(err && err->msg ? err->msg : "(no message)");
	pv_error_release(&err);
}

static bool exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

static bool strv_is(char **v, const char *a, const char *b)
{
	size_t n = pv_strv_len(v);
	return n == (b ? 2u : 1u) && strcmp(v[0], a) == 0 && (!b || strcmp(v[1], b) == 0);
}

/* A line per entry: path, type and mode, owner, size, mtime (not for directories, whose
 * times layer removals change), and the content hash or link target. */
static void list_tree(FILE *out, int dirfd, const char *prefix)
{
	struct dirent **names = NULL;
	int n = scandirat(dirfd, ".", &names, NULL, alphasort);
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		char path[PATH_MAX];
		struct stat st;
		pathf(path, "%s%s", prefix, name);
		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
		    fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			free(names[i]);
			continue;
		}
		fprintf(out, "%s %o %u:%u %lld", path, st.st_mode, st.st_uid, st.st_gid,
			(long long)st.st_size);
		if (!S_ISDIR(st.st_mode))
			fprintf(out, " %lld", (long long)st.st_mtime);
		if (S_ISLNK(st.st_mode)) {
			char target[PATH_MAX] = "";
			readlinkat(dirfd, name, target, sizeof(target) - 1);
			fprintf(out, " -> %s", target);
		} else if (S_ISREG(st.st_mode)) {
			_cleanup_close_ int f = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
			unsigned long long h = 1469598103934665603ull;   /* FNV-1a */
			unsigned char buf[65536];
			ssize_t len;
			while (f >= 0 && (len = read(f, buf, sizeof(buf))) > 0)
				for (ssize_t k = 0; k < len; k++)
					h = (h ^ buf[k]) * 1099511628211ull;
			fprintf(out, " %016llx", h);
		}
		fputc('\n', out);
		if (S_ISDIR(st.st_mode)) {
			_cleanup_close_ int sub = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			char sub_prefix[PATH_MAX];
			pathf(sub_prefix, "%s/", path);
			if (sub >= 0)
				list_tree(out, sub, sub_prefix);
		}
		free(names[i]);
	}
	free(names);
}

static char *tree_listing(const char *root)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	_cleanup_close_ int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0)
		list_tree(out, fd, "");
	fclose(out);
	return text;
}

static bool config_is_main(const struct pv_image_config *cfg)
{
	return cfg->entrypoint == NULL && strv_is(cfg->cmd, "sh", NULL) &&
	       pv_strv_len(cfg->env) == 2 &&
	       strcmp(pv_env_get(cfg->env, "PODVM_IMAGE_ENV") ?: "", "from-image") == 0 &&
	       pv_str_has_prefix(pv_env_get(cfg->env, "PATH") ?: "", "/usr/local/sbin:") &&
	       cfg->working_dir && strcmp(cfg->working_dir, "/home/app") == 0 &&
	       cfg->user == NULL;
}

/* The present/absent lines of expected.txt hold for the rootfs. */
static bool matches_expected(const char *rootfs)
{
	char path[PATH_MAX], line[PATH_MAX], what[16], rel[PATH_MAX];
	pathf(path, "%s/expected.txt", fixtures);
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	bool good = f != NULL;
	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%15s %4095s", what, rel) != 2)
			continue;
		pathf(path, "%s/%s", rootfs, rel);
		if (exists(path) != (strcmp(what, "present") == 0)) {
			diag("%s: expected %s", path, what);
			good = false;
		}
	}
	return good;
}

static bool nothing_left(const struct run *run)
{
	return !exists(run->dest) && !exists(run->scratch);
}

static char *reference_tree;

static void test_oci_layout(void)
{
	struct run run;
	prepare(&run, "oci");
	if (!ok(run.r == 0, "oci layout: prepared"))
		diag("%s", run.msg);
	ok(run.rootfs && strcmp(run.rootfs, run.dest) == 0, "oci layout: rootfs is dest");
	ok(!exists(run.scratch), "oci layout: no scratch left");
	ok(config_is_main(&run.cfg), "oci layout: config");
	ok(matches_expected(run.dest), "oci layout: whiteout, opaque dir and new files applied");
	struct stat st;
	ok(stat(run.dest, &st) == 0 && (st.st_mode & 07777) == 0755, "oci layout: rootfs mode 0755");
	char path[PATH_MAX];
	pathf(path, "%s/tmp", run.dest);
	ok(stat(path, &st) == 0 && (st.st_mode & 07777) == 01777, "oci layout: /tmp is 1777");
	pathf(path, "%s/home/app", run.dest);
	ok(geteuid() != 0 || (stat(path, &st) == 0 && st.st_uid == 1000 && st.st_gid == 1000),
	   "oci layout: /home/app owned by app");
	reference_tree = tree_listing(run.dest);
	run_free(&run);
}

/* Sources that hold the image of oci/ must give the same tree and config. */
static void test_same_image(const char *ref)
{
	struct run run;
	prepare(&run, ref);
	if (!ok(run.r == 0, "%s: prepared", ref))
		diag("%s", run.msg);
	ok(!exists(run.scratch), "%s: no scratch left", ref);
	ok(config_is_main(&run.cfg), "%s: same config as oci/", ref);
	char *tree = tree_listing(run.dest);
	ok(reference_tree && tree && strcmp(tree, reference_tree) == 0, "%s: same rootfs as oci/",
	   ref);
	free(tree);
	run_free(&run);
}

/* Refs that select the image "other": layer 1 only, Cmd ["echo", "other"]. */
static void test_other_image(const char *ref)
{
	struct run run;
	char path[PATH_MAX];
	prepare(&run, ref);
	if (!ok(run.r == 0, "%s: prepared", ref))
		diag("%s", run.msg);
	pathf(path, "%s/etc/motd", run.dest);
	ok(strv_is(run.cfg.cmd, "echo", "other") && exists(path), "%s: the image \"other\"", ref);
	run_free(&run);
}

static void test_plain_rootfs(void)
{
	struct run run;
	char want[PATH_MAX], cwd[PATH_MAX];
	pathf(want, "%s/rootfs", fixtures);
	prepare(&run, "rootfs");
	ok(run.r == 0 && run.rootfs && strcmp(run.rootfs, want) == 0,
	   "rootfs dir: used in place");
	ok(nothing_left(&run), "rootfs dir: dest not created");
	ok(run.cfg.cmd == NULL && run.cfg.env == NULL && run.cfg.working_dir == NULL,
	   "rootfs dir: empty config");
	run_free(&run);

	/* A relative reference gives an absolute rootfs. */
	pv_error err = NULL;
	char *rootfs = NULL;
	struct pv_image_config cfg = { 0 };
	if (getcwd(cwd, sizeof(cwd)) && chdir(fixtures) == 0) {
		ok(pv_image_prepare("rootfs", "unused-dest", "unused-scratch", &rootfs, &cfg,
				    &err) == 0 && rootfs && strcmp(rootfs, want) == 0,
		   "rootfs dir: relative reference, absolute rootfs");
		ok(!exists("unused-dest"), "rootfs dir: relative dest not created");
		if (chdir(cwd) < 0)
			diag("chdir back: %s", strerror(errno));
	}
	free(rootfs);
	pv_image_config_clear(&cfg);
	pv_error_release(&err);
}

/* The error message must contain want (%s stands for the full ref) and nothing may be
 * left at dest or scratch. */
static void test_failure(const char *ref, const char *want_fmt)
{
	struct run run;
	char want[PATH_MAX * 2];
	prepare(&run, ref);
	pathf(want, want_fmt, run.ref);
	ok(run.r < 0 && run.rootfs == NULL && run.cfg.cmd == NULL, "%s: fails", ref);
	ok(run.msg && strstr(run.msg, want) && !strchr(run.msg, '\n'),
	   "%s: one-line error containing \"%s\"", ref, want);
	diag("error: %s", run.msg ? run.msg : "(none)");
	ok(nothing_left(&run), "%s: nothing left at dest or scratch", ref);
	run_free(&run);
}

static void test_dest_exists(void)
{
	char dest[PATH_MAX], marker[PATH_MAX], ref[PATH_MAX], scratch[PATH_MAX];
	pathf(dest, "%s/existing", tmp);
	pathf(marker, "%s/keep", dest);
	pathf(scratch, "%s/existing-scratch", tmp);
	pathf(ref, "%s/docker.tar", fixtures);
	mkdir(dest, 0755);
	pv_write_file(marker, "", 0, 0644, NULL);
	pv_error err = NULL;
	char *rootfs = NULL;
	struct pv_image_config cfg;
	int r = pv_image_prepare(ref, dest, scratch, &rootfs, &cfg, &err);
	ok(r < 0 && err && strstr(err->msg, "File exists"), "existing dest: refused");
	ok(exists(marker) && !exists(scratch), "existing dest: left alone, no scratch");
	pv_error_release(&err);
}

static void test_scratch_exists(void)
{
	char dest[PATH_MAX], scratch[PATH_MAX], ref[PATH_MAX];
	pathf(dest, "%s/fresh-dest", tmp);
	pathf(scratch, "%s/existing-scratch", tmp);
	pathf(ref, "%s/oci.tar", fixtures);
	mkdir(scratch, 0755);
	pv_error err = NULL;
	char *rootfs = NULL;
	struct pv_image_config cfg;
	int r = pv_image_prepare(ref, dest, scratch, &rootfs, &cfg, &err);
	ok(r < 0 && err && strstr(err->msg, "File exists"), "existing scratch: refused");
	ok(exists(scratch) && !exists(dest), "existing scratch: left alone, dest removed");
	pv_error_release(&err);
}

/* Paths may hold ':' themselves: the whole reference wins over a PATH:TAG split. */
static void test_colon_in_path(void)
{
	char link[PATH_MAX], target[PATH_MAX], ref[PATH_MAX], dest[PATH_MAX], scratch[PATH_MAX];
	pathf(link, "%s/img:v1", tmp);
	pathf(target, "%s/oci", fixtures);
	if (symlink(target, link) < 0)
		diag("symlink: %s", strerror(errno));
	const char *tags[] = { "", ":latest" };
	for (int i = 0; i < 2; i++) {
		pv_error err = NULL;
		char *rootfs = NULL;
		struct pv_image_config cfg;
		pathf(ref, "%s%s", link, tags[i]);
		pathf(dest, "%s/colon-%d/dest", tmp, i);
		pathf(scratch, "%s/colon-%d/scratch", tmp, i);
		ok(pv_image_prepare(ref, dest, scratch, &rootfs, &cfg, &err) == 0 &&
		   config_is_main(&cfg), "path with a colon%s", tags[i]);
		free(rootfs);
		pv_image_config_clear(&cfg);
		pv_error_release(&err);
	}
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

/* What a cache of unpacked images keys on: the file, its tag, its stat; none for a plain
 * rootfs directory. */
static void test_identity(void)
{
	char ref[PATH_MAX], copy[PATH_MAX];
	_cleanup_free_ char *a = NULL, *b = NULL, *c = NULL, *d = NULL, *plain = NULL;
	pv_error err = NULL;
	snprintf(ref, sizeof(ref), "%s/oci-multi:nested", fixtures);
	ok(pv_image_identity(ref, &a, &err) == 0 && a && strstr(a, "/oci-multi\nnested\n"),
	   "identity: path and tag: %s", a ? a : (err ? err->msg : ""));
	snprintf(ref, sizeof(ref), "%s/oci-multi:other", fixtures);
	ok(pv_image_identity(ref, &b, &err) == 0 && b && strcmp(a, b) != 0, "identity: another tag, another identity");
	snprintf(ref, sizeof(ref), "%s/oci.tar", fixtures);
	snprintf(copy, sizeof(copy), "%s/identity.tar", tmp);
	char cmd[2 * PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "cp %s %s", ref, copy);
	ok(system(cmd) == 0 && pv_image_identity(copy, &c, &err) == 0 && c, "identity of a tarball");
	struct timespec times[2] = { { 0, UTIME_OMIT }, { 1000000000, 0 } };
	ok(utimensat(AT_FDCWD, copy, times, 0) == 0 && pv_image_identity(copy, &d, &err) == 0 && d && strcmp(c, d) != 0,
	   "identity: a changed file (mtime), another identity");
	snprintf(ref, sizeof(ref), "%s/rootfs", fixtures);
	ok(pv_image_identity(ref, &plain, &err) == 0 && plain == NULL, "identity: none for a plain rootfs directory");
	snprintf(ref, sizeof(ref), "%s/no-such-image", fixtures);
	ok(pv_image_identity(ref, &plain, &err) < 0 && err && strstr(err->msg, "No such file"),
	   "identity of a missing image: %s", err ? err->msg : "");
	pv_error_release(&err);
}

/* The run config a cache keeps, written and read back. */
static void test_config_round_trip(void)
{
	char *ep[] = { "/bin/sh", "-c", NULL }, *cmd[] = { "echo hi", NULL }, *env[] = { "A=1", "B=two words", NULL };
	struct pv_image_config in = { .entrypoint = ep, .cmd = cmd, .env = env, .working_dir = "/w", .user = "1:2" }, out;
	pv_error err = NULL;
	json_t *doc = pv_image_config_to_json(&in);
	int r = doc ? pv_image_config_parse(doc, &out, &err) : -1;
	ok(r == 0 && pv_strv_len(out.entrypoint) == 2 && strcmp(out.entrypoint[1], "-c") == 0 &&
	   strcmp(out.cmd[0], "echo hi") == 0 && strcmp(out.env[1], "B=two words") == 0 &&
	   strcmp(out.working_dir, "/w") == 0 && strcmp(out.user, "1:2") == 0, "config: to JSON and back");
	if (r == 0)
		pv_image_config_clear(&out);
	struct pv_image_config empty = { 0 };
	json_decref(doc);
	doc = pv_image_config_to_json(&empty);
	r = doc ? pv_image_config_parse(doc, &out, &err) : -1;
	ok(r == 0 && out.entrypoint == NULL && out.cmd == NULL && out.user == NULL, "config: an empty one too");
	if (r == 0)
		pv_image_config_clear(&out);
	json_decref(doc);
	pv_error_release(&err);
}

int main(void)
{
	fixtures = getenv("PODVM_FIXTURES");
	if (fixtures == NULL || !exists(fixtures)) {
		printf("1..0 # SKIP PODVM_FIXTURES (tests/fixtures/make-images.sh output) not set\n");
		return 0;
	}
	if (mkdtemp(tmp) == NULL) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	int fds = count_fds();
	test_oci_layout();
	test_same_image("oci.tar");
	test_same_image("docker.tar");
	test_same_image("docker.tar.gz");
	test_same_image("oci:latest");
	test_same_image("oci-multi:latest");
	test_same_image("oci-multi:nested");
	test_same_image("docker-multi.tar:podvm-test:latest");
	test_same_image("docker-multi.tar:latest");
	test_other_image("oci-multi");
	test_other_image("oci-multi:other");
	test_other_image("docker-multi.tar");
	test_other_image("docker-multi.tar:other");
	test_plain_rootfs();
	test_failure("oci-multi:nope", "image %s: index.json: tag nope not found");
	test_failure("oci-multi:arm", "image %s: index.json: no linux/amd64 manifest for tag arm");
	test_failure("docker.tar:nope", "image %s: manifest.json: tag nope not found");
	test_failure("rootfs:latest", "image %s: not an OCI layout, so no tag latest");
	test_failure("no-such-image", "image %s: No such file or directory");
	test_failure("corrupt.tar", "image %s: layer 1 (");
	test_failure("bad-json", "image %s: index.json: invalid JSON at line 3");
	test_failure("bad-digest", "image %s: layer 2 (sha256:");
	test_failure("bad-digest", "digest mismatch");
	test_failure("bad-layer", "escape: link target etc/passwd: No such file or directory");
	test_failure("expected.txt", "image %s: ");
	test_dest_exists();
	test_scratch_exists();
	test_colon_in_path();
	test_identity();
	test_config_round_trip();
	free(reference_tree);
	ok(count_fds() == fds, "no file descriptor leaked");
	pv_rm_rf(tmp, NULL);
	return done_testing();
}
