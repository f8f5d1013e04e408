/* Helpers of the libFuzzer targets (one fuzz_<name>.c per target, see run.sh): splitting an
 * input into parts, scratch directories, threads on socketpairs. A target must leave nothing
 * behind (fds, threads, files) after each input: libFuzzer runs millions in one process. */
#pragma once
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cleanup.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A part of an input: [data, data + len), no copy. */
struct fuzz_part {
	const uint8_t *data;
	size_t len;
};

/* Splits data at each occurrence of the seplen (> 0) bytes of sep into at most max parts
 * (the last takes the rest). Returns the number of parts (at least 1). */
static inline size_t fuzz_split(const uint8_t *data, size_t size, const void *sep, size_t seplen,
				struct fuzz_part *parts, size_t max)
{
	size_t n = 0;
	const uint8_t *p = data, *end = data + size;
	while (n + 1 < max) {
		const uint8_t *hit = seplen <= (size_t)(end - p) ? memmem(p, (size_t)(end - p), sep, seplen) : NULL;
		if (hit == NULL)
			break;
		parts[n++] = (struct fuzz_part){ p, (size_t)(hit - p) };
		p = hit + seplen;
	}
	parts[n++] = (struct fuzz_part){ p, (size_t)(end - p) };
	return n;
}

/* A NUL-terminated copy (aborts when out of memory: not what is being tested). */
static inline char *fuzz_strndup(const uint8_t *data, size_t len)
{
	char *s = malloc(len + 1);
	if (s == NULL)
		abort();
	memcpy(s, data, len);
	s[len] = '\0';
	return s;
}

/* An exact copy of len bytes (malloc'd, one byte at least), so that ASan sees a parser read
 * past the end (libFuzzer's own buffer may be larger). */
static inline uint8_t *fuzz_copy(const uint8_t *data, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);
	if (copy == NULL)
		abort();
	memcpy(copy, data, len);
	return copy;
}

/* Whether a parser that returned r succeeded; a failure must have set *err (released here). */
static inline bool fuzz_parsed(int r, pv_error *err)
{
	if (r == 0)
		return true;
	if (r > 0 || *err == NULL)
		abort();
	pv_error_release(err);
	return false;
}

/* A fresh directory for one input, made in $TMPDIR (else /tmp); the caller removes it with
 * fuzz_rmdir. */
static inline void fuzz_mkdtemp(char buf[256])
{
	const char *t = getenv("TMPDIR");
	snprintf(buf, 256, "%s/podvm-fuzz-XXXXXX", t && *t ? t : "/tmp");
	if (mkdtemp(buf) == NULL)
		abort();
}

static inline void fuzz_rmdir(const char *path)
{
	if (pv_rm_rf(path, NULL) < 0)
		abort();
}

static inline void fuzz_write(const char *path, const void *data, size_t len)
{
	if (pv_write_file(path, data, len, 0644, NULL) < 0)
		abort();
}

static inline void fuzz_socketpair(int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
}

/* Discards what fd reads until EOF or an error (a peer's answers nobody looks at). */
static inline void *fuzz_drain(void *arg)
{
	int fd = *(int *)arg;
	char buf[4096];
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	return NULL;
}
