/* The digest set's file form (see digest_set.h): written atomically, read strictly (a
 * truncated or hand-edited file fails naming its line rather than giving a smaller set). */
#include "digest_set.h"
#include "hasher.h"
#include "cleanup.h"
#include "util.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static void put_escaped(FILE *f, const char *path)
{
	for (const char *p = path; *p; p++) {
		if (*p == '\\')
			fputs("\\\\", f);
		else if (*p == '\n')
			fputs("\\n", f);
		else
			fputc(*p, f);
	}
}

static void put_entries(const struct pv_digest_set *set, FILE *f)
{
	const uint8_t *digest;
	const char *path;
	char hex[PV_SHA256_HEX_LEN + 1];
	for (size_t i = 0; (path = pv_digest_set_entry(set, i, &digest)) != NULL; i++) {
		pv_sha256_hex(digest, hex);
		fputs(hex, f);
		fputc(' ', f);
		put_escaped(f, path);
		fputc('\n', f);
	}
}

int pv_digest_set_save(const struct pv_digest_set *set, const char *file, pv_error *err)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (f == NULL)
		return pv_error_set(err, errno, "digest set %s", file);
	put_entries(set, f);
	if (fclose(f) != 0)
		return pv_error_set(err, ENOMEM, "digest set %s", file);
	if (pv_write_file_atomic(file, text, len, 0644, err) < 0)
		return pv_error_prefix(err, "digest set");
	return 0;
}

/* Undoes put_escaped in place; false on a stray backslash. */
static bool unescape(char *s)
{
	char *o = s;
	for (char *p = s; *p; p++) {
		if (*p != '\\') {
			*o++ = *p;
			continue;
		}
		p++;
		if (*p != '\\' && *p != 'n')
			return false;
		*o++ = *p == 'n' ? '\n' : '\\';
	}
	*o = '\0';
	return true;
}

/* One line of len bytes (its newline included); NULL when it is good, else what is wrong. */
static const char *parse_line(char *line, size_t len, struct pv_digest_set *set, pv_error *err)
{
	uint8_t digest[32];
	if (line[len - 1] != '\n')
		return "no newline at the end (truncated?)";
	line[len - 1] = '\0';
	if (memchr(line, '\0', len - 1))
		return "a NUL byte";
	if (len < PV_SHA256_HEX_LEN + 3 || line[PV_SHA256_HEX_LEN] != ' ')
		return "not \"<sha256 hex> <path>\"";
	line[PV_SHA256_HEX_LEN] = '\0';
	if (pv_sha256_parse(line, digest) < 0)
		return "not a sha256 digest (64 lower-case hex digits)";
	char *path = line + PV_SHA256_HEX_LEN + 1;
	if (!unescape(path))
		return "a backslash other than \\\\ or \\n in the path";
	return pv_digest_set_add(set, digest, path, err) < 0 ? "" : NULL;
}

static int read_lines(FILE *f, const char *file, struct pv_digest_set *set, pv_error *err)
{
	_cleanup_free_ char *line = NULL;
	size_t size = 0;
	ssize_t len;
	for (size_t n = 1; (len = getline(&line, &size, f)) > 0; n++) {
		const char *bad = parse_line(line, (size_t)len, set, err);
		if (bad && *bad)
			return pv_error_set_plain(err, EINVAL, "digest set %s: line %zu: %s", file, n, bad);
		if (bad)
			return pv_error_prefix(err, "digest set %s: line %zu", file, n);
	}
	return ferror(f) ? pv_error_set(err, EIO, "digest set %s", file) : 0;
}

int pv_digest_set_load(const char *file, struct pv_digest_set **set, pv_error *err)
{
	_cleanup_digest_set_ struct pv_digest_set *s = NULL;
	_cleanup_fclose_ FILE *f = fopen(file, "re");
	*set = NULL;
	if (f == NULL)
		return pv_error_set(err, errno, "digest set %s", file);
	if (pv_digest_set_new(&s, err) < 0 || read_lines(f, file, s, err) < 0)
		return -1;
	*set = steal_pointer(&s);
	return 0;
}
