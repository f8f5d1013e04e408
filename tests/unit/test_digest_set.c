/* Digest sets (src/libpodvm/attest/digest_set.c, digest_file.c, digest_tree.c): lookup,
 * first path kept, growth, the file form (odd paths round-trip, a malformed file is refused
 * naming its line), merge, and the digests of a directory tree. */
#include "tap.h"
#include "cleanup.h"
#include "digest_set.h"
#include "hasher.h"
#include "sha256.h"
#include "util.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmp[] = "/tmp/podvm-test-digests-XXXXXX";

/* sha256("hello\n") */
#define HELLO_HEX "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"

static void digest_of(const char *s, uint8_t d[32])
{
	pv_sha256((const uint8_t *)s, strlen(s), d);
}

static char *path_in_tmp(const char *name)
{
	static char buf[PATH_MAX];
	snprintf(buf, sizeof(buf), "%s/%s", tmp, name);
	return buf;
}

static void write_text(const char *path, const char *text)
{
	pv_write_file(path, text, strlen(text), 0644, NULL);
}

static void test_add_find(void)
{
	_cleanup_digest_set_ struct pv_digest_set *s = NULL;
	uint8_t a[32], b[32], hello[32];
	digest_of("a", a);
	digest_of("b", b);
	ok(pv_digest_set_new(&s, NULL) == 0 && pv_digest_set_count(s) == 0 && pv_digest_set_find(s, a) == NULL,
	   "a new set is empty");
	ok(pv_digest_set_add(s, a, "/bin/a", NULL) == 0 && pv_digest_set_add(s, a, "/usr/bin/a", NULL) == 0,
	   "add, add the same digest again");
	ok(pv_digest_set_count(s) == 1 && strcmp(pv_digest_set_find(s, a), "/bin/a") == 0,
	   "a digest keeps its first path");
	ok(pv_digest_set_find(s, b) == NULL, "another digest is not found");
	ok(pv_sha256_parse(HELLO_HEX, hello) == 0, "hex parses");
	uint8_t h2[32];
	digest_of("hello\n", h2);
	ok(memcmp(hello, h2, 32) == 0, "sha256 of a buffer");
	ok(pv_sha256_parse("5891B5B522D5DF086D0FF0B110FBD9D21BB4FC7163AF34D08286A2E846F6BE03", h2) < 0 &&
	   pv_sha256_parse("5891b5", h2) < 0, "upper-case or short hex refused");
}

static void test_many(void)
{
	_cleanup_digest_set_ struct pv_digest_set *s = NULL;
	char name[32];
	uint8_t d[32];
	bool all = pv_digest_set_new(&s, NULL) == 0;
	for (int i = 0; all && i < 5000; i++) {
		snprintf(name, sizeof(name), "/f%d", i);
		digest_of(name, d);
		all = pv_digest_set_add(s, d, name, NULL) == 0;
	}
	for (int i = 0; all && i < 5000; i++) {
		snprintf(name, sizeof(name), "/f%d", i);
		digest_of(name, d);
		const char *p = pv_digest_set_find(s, d);
		all = p && strcmp(p, name) == 0;
	}
	ok(all && pv_digest_set_count(s) == 5000, "5000 digests: each found with its path");
}

static void test_save_load(void)
{
	static const char *paths[] = { "/with space", "/with\nnewline", "/back\\slash\\n", "/tab\tand \xc3\xa9" };
	_cleanup_digest_set_ struct pv_digest_set *s = NULL, *l = NULL;
	uint8_t d[32];
	pv_digest_set_new(&s, NULL);
	for (size_t i = 0; i < 4; i++) {
		digest_of(paths[i], d);
		pv_digest_set_add(s, d, paths[i], NULL);
	}
	pv_error err = NULL;
	const char *file = path_in_tmp("set");
	ok(pv_digest_set_save(s, file, &err) == 0, "save");
	ok(pv_digest_set_load(file, &l, &err) == 0 && pv_digest_set_count(l) == 4, "load: 4 entries");
	bool same = l != NULL;
	for (size_t i = 0; same && i < 4; i++) {
		digest_of(paths[i], d);
		const char *p = pv_digest_set_find(l, d);
		same = p && strcmp(p, paths[i]) == 0;
	}
	ok(same, "paths with spaces, newlines, backslashes, tabs round-trip");
	_cleanup_free_ char *text = NULL;
	size_t lines = 0;
	pv_read_file(file, 1 << 16, &text, NULL, NULL);
	for (char *c = text; c && *c; c++)
		lines += *c == '\n';
	ok(lines == 4, "one line per entry");
	pv_error_release(&err);
}

/* Loads a file of this text; the error message, or NULL when it loaded. */
static char *load_error(const char *text)
{
	_cleanup_digest_set_ struct pv_digest_set *s = NULL;
	pv_error err = NULL;
	const char *file = path_in_tmp("bad");
	write_text(file, text);
	char *msg = pv_digest_set_load(file, &s, &err) < 0 ? strdup(err->msg) : NULL;
	pv_error_release(&err);
	return msg;
}

static void test_malformed(void)
{
	static const struct {
		const char *text, *what;
	} bad[] = {
		{ HELLO_HEX " /a\n" "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be0 /b\n", "short digest" },
		{ HELLO_HEX " /a\n" HELLO_HEX "/b\n", "no space" },
		{ HELLO_HEX " /a\n" HELLO_HEX " /b", "no final newline" },
		{ HELLO_HEX " /a\n" HELLO_HEX " /b\\x\n", "unknown escape" },
		{ HELLO_HEX " /a\n" HELLO_HEX " \n", "empty path" },
		{ HELLO_HEX " /a\n" "\n", "empty line" },
		{ HELLO_HEX " /a\n" "zz91b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03 /b\n", "not hex" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		_cleanup_free_ char *msg = load_error(bad[i].text);
		ok(msg && strstr(msg, path_in_tmp("bad")) && strstr(msg, "line 2:") && !strchr(msg, '\n'),
		   "%s: refused naming file and line: %s", bad[i].what, msg ? msg : "(loaded)");
	}
	_cleanup_free_ char *empty = load_error("");
	ok(empty == NULL, "an empty file is an empty set");
	_cleanup_digest_set_ struct pv_digest_set *s = NULL;
	pv_error err = NULL;
	ok(pv_digest_set_load(path_in_tmp("missing"), &s, &err) < 0 && strstr(err->msg, "missing") && s == NULL,
	   "a missing file: error naming it");
	pv_error_release(&err);
}

static void test_merge(void)
{
	_cleanup_digest_set_ struct pv_digest_set *x = NULL, *y = NULL;
	uint8_t a[32], b[32], c[32];
	digest_of("a", a);
	digest_of("b", b);
	digest_of("c", c);
	pv_digest_set_new(&x, NULL);
	pv_digest_set_new(&y, NULL);
	pv_digest_set_add(x, a, "/x/a", NULL);
	pv_digest_set_add(x, b, "/x/b", NULL);
	pv_digest_set_add(y, b, "/y/b", NULL);
	pv_digest_set_add(y, c, "/y/c", NULL);
	ok(pv_digest_set_merge(x, y, NULL) == 0 && pv_digest_set_count(x) == 3, "merge: the union");
	ok(strcmp(pv_digest_set_find(x, b), "/x/b") == 0 && strcmp(pv_digest_set_find(x, c), "/y/c") == 0,
	   "merge: into's paths stay, from's new entries come with theirs");
	ok(pv_digest_set_count(y) == 2, "merge: from unchanged");
}

static void test_tree(void)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s/tree", tmp);
	mkdir(dir, 0755);
	mkdir(path_in_tmp("tree/bin"), 0755);
	mkdir(path_in_tmp("tree/empty"), 0755);
	write_text(path_in_tmp("tree/bin/hello"), "hello\n");
	write_text(path_in_tmp("tree/a file"), "a");
	write_text(path_in_tmp("outside"), "outside");
	symlink("../outside", path_in_tmp("tree/link"));
	symlink("..", path_in_tmp("tree/up"));
	mkfifo(path_in_tmp("tree/fifo"), 0644);
	_cleanup_digest_set_ struct pv_digest_set *s = NULL;
	pv_error err = NULL;
	uint8_t hello[32], a[32], outside[32];
	pv_sha256_parse(HELLO_HEX, hello);
	digest_of("a", a);
	digest_of("outside", outside);
	pv_digest_set_new(&s, NULL);
	ok(pv_digest_set_add_tree(s, dir, &err) == 0, "add_tree: %s", err ? err->msg : "ok");
	ok(pv_digest_set_count(s) == 2, "two regular files (symlinks, fifo, directories not)");
	ok(pv_digest_set_find(s, hello) && strcmp(pv_digest_set_find(s, hello), "/bin/hello") == 0,
	   "a file's digest, path relative with a leading /");
	ok(pv_digest_set_find(s, a) && strcmp(pv_digest_set_find(s, a), "/a file") == 0, "a name with a space");
	ok(pv_digest_set_find(s, outside) == NULL, "symlinks not followed");
	pv_error_release(&err);
	ok(pv_digest_set_add_tree(s, path_in_tmp("nope"), &err) < 0 && strstr(err->msg, "nope"),
	   "a missing dir: error naming it");
	pv_error_release(&err);
}

int main(void)
{
	if (!mkdtemp(tmp))
		return 1;
	test_add_find();
	test_many();
	test_save_load();
	test_malformed();
	test_merge();
	test_tree();
	pv_rm_rf(tmp, NULL);
	return done_testing();
}
