/* src/common: the error type (error.c) and the shared helpers (util.c): whole-file I/O and
 * its size limit, mkdir -p, rm -rf that never follows a symlink out of the tree, string and
 * environment vectors, number parsing, random ids. Files live in a mkdtemp directory. */
#include "tap.h"
#include "cleanup.h"
#include "error.h"
#include "util.h"
#include "event.h"
#include <pthread.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmp[] = "/tmp/podvm-test-util-XXXXXX";

static const char *msg_of(pv_error e)
{
	return e && e->msg ? e->msg : "(no message)";
}

/* A path under the test directory, in a rotating static buffer. */
static const char *at(const char *rel)
{
	static char bufs[4][PATH_MAX];
	static int next;
	char *b = bufs[next++ % 4];
	snprintf(b, PATH_MAX, "%s/%s", tmp, rel);
	return b;
}

static bool exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

static void test_error_set(void)
{
	pv_error e = NULL;
	int r = pv_error_set(&e, ENOENT, "open %s", "/x/y");
	ok(r == -ENOENT, "pv_error_set returns -errno (%d)", r);
	ok(e && e->errnum == ENOENT, "pv_error_set: errnum kept");
	char want[128];
	snprintf(want, sizeof(want), "open /x/y: %s", strerror(ENOENT));
	ok(e && e->msg && strcmp(e->msg, want) == 0, "pv_error_set: message with strerror: %s", msg_of(e));
	ok(pv_error_code(e) == -ENOENT, "pv_error_code");

	r = pv_error_set(&e, EPERM, "second %d", 2);
	ok(r == -EPERM, "pv_error_set on a set error still returns its own code");
	ok(e->errnum == ENOENT && strcmp(e->msg, want) == 0, "pv_error_set does not overwrite: %s", msg_of(e));

	r = pv_error_prefix(&e, "layer %d", 3);
	snprintf(want, sizeof(want), "layer 3: open /x/y: %s", strerror(ENOENT));
	ok(r == -ENOENT && strcmp(msg_of(e), want) == 0, "pv_error_prefix: %s", msg_of(e));
	r = pv_error_prefix(&e, "image %s", "a");
	snprintf(want, sizeof(want), "image a: layer 3: open /x/y: %s", strerror(ENOENT));
	ok(r == -ENOENT && strcmp(msg_of(e), want) == 0, "pv_error_prefix twice: %s", msg_of(e));
	pv_error_release(&e);
	ok(e == NULL, "pv_error_release clears");
	pv_error_release(&e);  /* harmless */

	r = pv_error_set(&e, 0, "no errno here");
	ok(r == -1, "pv_error_set with errnum 0 returns -1 (%d)", r);
	ok(e && strcmp(msg_of(e), "no errno here") == 0, "errnum 0: no strerror appended: %s", msg_of(e));
	ok(pv_error_code(e) == -1, "pv_error_code for errnum 0 is -1");
	pv_error_release(&e);

	r = pv_error_set_plain(&e, EINVAL, "cpus \"%s\": bad", "x");
	ok(r == -EINVAL && e && e->errnum == EINVAL, "pv_error_set_plain returns -errno");
	ok(strcmp(msg_of(e), "cpus \"x\": bad") == 0, "pv_error_set_plain: no strerror: %s", msg_of(e));
	r = pv_error_set_plain(&e, ENOMEM, "other");
	ok(r == -ENOMEM && strcmp(msg_of(e), "cpus \"x\": bad") == 0, "pv_error_set_plain does not overwrite");
	pv_error_release(&e);

	ok(pv_error_set(NULL, EIO, "nowhere") == -EIO, "pv_error_set with no error pointer");
	ok(pv_error_prefix(&e, "ctx") == -1 && e == NULL, "pv_error_prefix of no error: -1, nothing set");
	ok(pv_error_code(NULL) == 0, "pv_error_code(NULL) == 0");
}

static void test_files(void)
{
	pv_error e = NULL;
	const char data[] = "line 1\nbinary \0 zero\nend";  /* with an embedded NUL */
	const size_t dlen = sizeof(data) - 1;
	const char *p = at("file");
	umask(022);
	int r = pv_write_file(p, data, dlen, 0640, &e);
	ok(r == 0, "pv_write_file: %s", msg_of(e));
	struct stat st;
	ok(stat(p, &st) == 0 && (st.st_mode & 07777) == 0640 && (size_t)st.st_size == dlen,
	   "pv_write_file: mode 0640 and size %zu", dlen);

	char *buf = NULL;
	size_t len = 0;
	r = pv_read_file(p, 1 << 20, &buf, &len, &e);
	ok(r == 0 && len == dlen && buf && memcmp(buf, data, dlen) == 0 && buf[len] == '\0',
	   "pv_read_file round trip (%zu bytes, NUL-terminated)", len);
	free(buf);

	/* Rewriting truncates. */
	r = pv_write_file(p, "ab", 2, 0640, &e);
	buf = NULL;
	r = r ? r : pv_read_file(p, 1 << 20, &buf, &len, &e);
	ok(r == 0 && len == 2 && strcmp(buf, "ab") == 0, "pv_write_file truncates an existing file");
	free(buf);

	/* Size limits: larger than max fails with EFBIG, exactly max passes. */
	size_t big_len = 10000;
	char *big = malloc(big_len);
	memset(big, 'x', big_len);
	const char *bp = at("big");
	pv_write_file(bp, big, big_len, 0600, &e);
	buf = NULL;
	r = pv_read_file(bp, 4096, &buf, &len, &e);
	ok(r == -EFBIG && buf == NULL, "pv_read_file: 10000 bytes with max 4096 -> EFBIG (%d)", r);
	ok(e && strstr(msg_of(e), bp) && strstr(msg_of(e), "4096"), "EFBIG message names file and limit: %s", msg_of(e));
	pv_error_release(&e);
	r = pv_read_file(bp, 100, &buf, &len, &e);
	ok(r == -EFBIG && buf == NULL, "pv_read_file: 10000 bytes with max 100 (< first chunk) -> EFBIG (%d)", r);
	pv_error_release(&e);
	r = pv_read_file(bp, big_len, &buf, &len, &e);
	ok(r == 0 && len == big_len, "pv_read_file: exactly max bytes passes: %s", msg_of(e));
	free(buf);
	buf = NULL;
	pv_error_release(&e);
	r = pv_read_file(bp, big_len - 1, &buf, &len, &e);
	ok(r == -EFBIG, "pv_read_file: max + 1 bytes -> EFBIG");
	pv_error_release(&e);
	r = pv_read_file(bp, 4096 * 3, &buf, &len, &e);
	ok(r == 0 && len == big_len && buf[0] == 'x' && buf[big_len - 1] == 'x' && buf[big_len] == '\0',
	   "pv_read_file: grows past the first chunk");
	free(buf);
	buf = NULL;
	pv_write_file(bp, big, 4096, 0600, &e);
	r = pv_read_file(bp, 4096, &buf, &len, &e);
	ok(r == 0 && len == 4096, "pv_read_file: exactly 4096 bytes with max 4096: %s", msg_of(e));
	free(buf);
	buf = NULL;
	pv_error_release(&e);
	pv_write_file(bp, "", 0, 0600, &e);
	r = pv_read_file(bp, 0, &buf, &len, &e);
	ok(r == 0 && len == 0 && buf && buf[0] == '\0', "pv_read_file: empty file with max 0");
	free(buf);
	buf = NULL;
	free(big);

	r = pv_read_file(at("missing"), 100, &buf, &len, &e);
	ok(r == -ENOENT && buf == NULL && e && strstr(msg_of(e), "missing"), "pv_read_file: missing file: %s", msg_of(e));
	pv_error_release(&e);
	r = pv_write_file(at("no/such/dir/f"), "x", 1, 0600, &e);
	ok(r == -ENOENT && e && strstr(msg_of(e), "no/such/dir/f"), "pv_write_file into a missing dir: %s", msg_of(e));
	pv_error_release(&e);

	/* pv_write_all / pv_read_full over a pipe. */
	int fds[2];
	if (pipe(fds) == 0) {
		ssize_t n = pv_write_all(fds[1], "hello", 5);
		close(fds[1]);
		char rb[16] = { 0 };
		ssize_t m = pv_read_full(fds[0], rb, sizeof(rb));
		close(fds[0]);
		ok(n == 5 && m == 5 && memcmp(rb, "hello", 5) == 0, "pv_write_all/pv_read_full stop at EOF");
	} else {
		ok(false, "pipe");
	}
}

static void test_mkdir_p(void)
{
	pv_error e = NULL;
	const char *p = at("a/b/c");
	int r = pv_mkdir_p(p, 0750, &e);
	struct stat st;
	ok(r == 0 && stat(p, &st) == 0 && S_ISDIR(st.st_mode), "pv_mkdir_p creates nested dirs: %s", msg_of(e));
	ok(stat(at("a/b"), &st) == 0 && (st.st_mode & 0777) == 0750, "pv_mkdir_p: mode of created parents");
	ok(pv_mkdir_p(p, 0750, &e) == 0, "pv_mkdir_p of an existing dir succeeds");
	ok(pv_mkdir_p(at("a/b/c/"), 0750, &e) == 0, "pv_mkdir_p with a trailing slash");
	ok(pv_mkdir_p(at("a//b2"), 0750, &e) == 0 && exists(at("a/b2")), "pv_mkdir_p with a double slash");
	pv_write_file(at("a/file"), "x", 1, 0600, &e);
	r = pv_mkdir_p(at("a/file/sub"), 0750, &e);
	ok(r == -ENOTDIR && e && strstr(msg_of(e), "a/file/sub"), "pv_mkdir_p through a file: %s", msg_of(e));
	pv_error_release(&e);
	r = pv_mkdir_p("", 0750, &e);
	ok(r < 0 && e != NULL, "pv_mkdir_p(\"\") fails: %s", msg_of(e));
	pv_error_release(&e);
	char longp[PATH_MAX + 10];
	memset(longp, 'a', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	ok(pv_mkdir_p(longp, 0750, &e) == -ENAMETOOLONG, "pv_mkdir_p of a path longer than PATH_MAX");
	pv_error_release(&e);
}

static void test_rm_rf(void)
{
	pv_error e = NULL;
	/* outside/ must survive the removal of tree/, which links to it. */
	pv_mkdir_p(at("outside/keep"), 0755, &e);
	pv_write_file(at("outside/keep/precious"), "x", 1, 0600, &e);
	pv_write_file(at("outside/file"), "y", 1, 0600, &e);
	pv_mkdir_p(at("tree/d1/d2/d3"), 0755, &e);
	pv_mkdir_p(at("tree/empty"), 0755, &e);
	pv_write_file(at("tree/f"), "1", 1, 0600, &e);
	pv_write_file(at("tree/d1/d2/d3/f"), "2", 1, 0000, &e);
	mkfifo(at("tree/d1/fifo"), 0600);
	int s1 = symlink(at("outside"), at("tree/d1/link-dir"));
	int s2 = symlink(at("outside/file"), at("tree/d1/d2/link-file"));
	int s3 = symlink("../../outside", at("tree/rel-link"));
	int s4 = symlink("/nonexistent/target", at("tree/dangling"));
	ok(e == NULL && s1 == 0 && s2 == 0 && s3 == 0 && s4 == 0, "rm_rf fixture: %s", msg_of(e));
	pv_error_release(&e);

	int r = pv_rm_rf(at("tree"), &e);
	ok(r == 0 && !exists(at("tree")), "pv_rm_rf removes a nested tree: %s", msg_of(e));
	ok(exists(at("outside/keep/precious")) && exists(at("outside/file")),
	   "pv_rm_rf does not follow symlinks out of the tree");
	pv_error_release(&e);

	/* A symlink as the path itself: the link goes, not its target. */
	symlink(at("outside"), at("toplink"));
	r = pv_rm_rf(at("toplink"), &e);
	ok(r == 0 && !exists(at("toplink")) && exists(at("outside/keep/precious")),
	   "pv_rm_rf of a symlink to a dir removes only the link");
	r = pv_rm_rf(at("does/not/exist"), &e);
	ok(r == 0 && e == NULL, "pv_rm_rf of a missing path succeeds");
	pv_write_file(at("lone"), "x", 1, 0600, &e);
	ok(pv_rm_rf(at("lone"), &e) == 0 && !exists(at("lone")), "pv_rm_rf of a plain file");
	pv_error_release(&e);
}

static void test_strv(void)
{
	char **v = NULL;
	ok(pv_strv_len(v) == 0, "pv_strv_len(NULL) == 0");
	ok(pv_strv_push(&v, "a") == 0 && pv_strv_push(&v, "bb") == 0 && pv_strv_push(&v, "") == 0,
	   "pv_strv_push x3");
	ok(pv_strv_len(v) == 3 && strcmp(v[0], "a") == 0 && strcmp(v[1], "bb") == 0 &&
	   strcmp(v[2], "") == 0 && v[3] == NULL, "pv_strv_push: contents and NULL terminator");
	char local[] = "mutable";
	pv_strv_push(&v, local);
	local[0] = 'X';
	ok(strcmp(v[3], "mutable") == 0, "pv_strv_push copies its string");

	char **d = pv_strv_dup(v);
	ok(d && d != v && pv_strv_len(d) == 4 && d[0] != v[0] && strcmp(d[1], "bb") == 0 && d[4] == NULL,
	   "pv_strv_dup: deep copy");
	pv_strv_free(d);
	d = pv_strv_dup(NULL);
	ok(d && d[0] == NULL, "pv_strv_dup(NULL) is an empty vector");
	pv_strv_free(d);
	pv_strv_free(v);

	_cleanup_strv_ char **env = NULL;
	ok(pv_env_set(&env, "PATH=/bin") == 0 && pv_env_set(&env, "HOME=/root") == 0 &&
	   pv_strv_len(env) == 2, "pv_env_set appends new keys");
	ok(pv_env_set(&env, "PATH=/usr/bin:/bin") == 0 && pv_strv_len(env) == 2 &&
	   strcmp(env[0], "PATH=/usr/bin:/bin") == 0, "pv_env_set replaces by key, in place");
	ok(pv_env_set(&env, "PATHX=1") == 0 && pv_strv_len(env) == 3, "pv_env_set: a longer key is another key");
	ok(pv_env_set(&env, "PAT=2") == 0 && pv_strv_len(env) == 4, "pv_env_set: a prefix key is another key");
	ok(pv_env_set(&env, "EMPTY=") == 0 && pv_env_set(&env, "EMPTY=now") == 0 && pv_strv_len(env) == 5,
	   "pv_env_set: empty value, then replaced");
	const char *g = pv_env_get(env, "PATH");
	ok(g && strcmp(g, "/usr/bin:/bin") == 0, "pv_env_get PATH: %s", g ? g : "(null)");
	g = pv_env_get(env, "PAT");
	ok(g && strcmp(g, "2") == 0, "pv_env_get PAT does not match PATH: %s", g ? g : "(null)");
	g = pv_env_get(env, "EMPTY");
	ok(g && strcmp(g, "now") == 0, "pv_env_get EMPTY");
	ok(pv_env_get(env, "NOPE") == NULL && pv_env_get(NULL, "PATH") == NULL, "pv_env_get of a missing key");
	ok(pv_str_has_prefix("podvm.agent", "podvm.") && !pv_str_has_prefix("pod", "podvm"),
	   "pv_str_has_prefix");
	ok(pv_path_within("/a/b", "/a/b") && pv_path_within("/a/b/c", "/a/b") && !pv_path_within("/a/bc", "/a/b") &&
	   !pv_path_within("/a", "/a/b") && pv_path_within("/x", "/") && pv_path_within("/", "/"),
	   "pv_path_within: component-wise, / holds every absolute path");
}

static void test_parse_u64(void)
{
	unsigned long long v = 77;
	static const char *bad[] = { "", "-1", "12x", " 1", "+1", "x12", "1 ", "18446744073709551616", "0x10" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		ok(pv_parse_u64(bad[i], &v) == -EINVAL && v == 77, "pv_parse_u64 rejects \"%s\"", bad[i]);
	ok(pv_parse_u64(NULL, &v) == -EINVAL, "pv_parse_u64 rejects NULL");
	ok(pv_parse_u64("0", &v) == 0 && v == 0, "pv_parse_u64 accepts \"0\"");
	ok(pv_parse_u64("007", &v) == 0 && v == 7, "pv_parse_u64 accepts \"007\" as 7");
	ok(pv_parse_u64("18446744073709551615", &v) == 0 && v == 18446744073709551615ULL,
	   "pv_parse_u64 accepts UINT64_MAX");
}

static bool all_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[n] == '\0';
}

static void test_one_line(void)
{
	char out[16];
	pv_one_line("a\tb\nc\r\x1b[2J\x7f", out, sizeof(out));
	ok(strcmp(out, "a b c ?[2J?") == 0, "one_line: breaks become spaces, escapes '?': [%s]", out);
	pv_one_line("0123456789abcdefghij", out, sizeof(out));
	ok(strcmp(out, "0123456789ab...") == 0, "one_line: what does not fit is \"...\": [%s]", out);
	pv_one_line("0123456789abcde", out, sizeof(out));
	ok(strcmp(out, "0123456789abcde") == 0, "one_line: what fits exactly stays whole: [%s]", out);
}

static void test_be32(void)
{
	uint8_t b[4];
	pv_put_be32(b, 0x01020304u);
	ok(b[0] == 1 && b[1] == 2 && b[2] == 3 && b[3] == 4, "pv_put_be32: most significant byte first");
	const uint8_t high[4] = { 0xff, 0x00, 0x00, 0x80 };
	ok(pv_get_be32(high) == 0xff000080u, "pv_get_be32: 0x%08x", pv_get_be32(high));
}

static void test_random_hex(void)
{
	char a[33], b[33];
	ok(pv_random_hex(a, 16) == 0 && strlen(a) == 32 && all_hex(a, 32), "pv_random_hex(16): %s", a);
	ok(pv_random_hex(b, 16) == 0 && strcmp(a, b) != 0, "pv_random_hex: two ids differ");
	char c[129];
	ok(pv_random_hex(c, 64) == 0 && strlen(c) == 128 && all_hex(c, 128), "pv_random_hex(64)");
	ok(pv_random_hex(c, 65) == -EINVAL, "pv_random_hex(65) -> EINVAL");
	ok(pv_random_hex(c, 0) == 0, "pv_random_hex(0) succeeds");
	long long t0 = pv_now_ms();
	usleep(20000);
	long long t1 = pv_now_ms();
	ok(t1 - t0 >= 15 && t1 - t0 < 5000, "pv_now_ms advances (%lld ms)", t1 - t0);
}

static void *set_later(void *arg)
{
	usleep(50 * 1000);
	pv_event_set(arg);
	return NULL;
}

static void test_event(void)
{
	struct pv_event e;
	pv_event_init(&e);
	long long t0 = pv_now_ms();
	ok(!pv_event_wait(&e, 60) && pv_now_ms() - t0 >= 55, "event: not set, the wait times out");
	pthread_t t;
	pthread_create(&t, NULL, set_later, &e);
	t0 = pv_now_ms();
	ok(pv_event_wait(&e, 10000) && pv_now_ms() - t0 < 5000, "event: set by another thread, the wait ends at once");
	pthread_join(t, NULL);
	ok(pv_event_wait(&e, 0) && pv_event_wait(&e, -1), "event: once set, every wait returns");
	pv_event_destroy(&e);
}

int main(void)
{
	if (mkdtemp(tmp) == NULL) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	test_error_set();
	test_files();
	test_mkdir_p();
	test_rm_rf();
	test_strv();
	test_parse_u64();
	test_one_line();
	test_random_hex();
	test_be32();
	test_event();

	pv_error e = NULL;
	ok(pv_rm_rf(tmp, &e) == 0 && !exists(tmp), "cleanup: %s", msg_of(e));
	pv_error_release(&e);
	return done_testing();
}
