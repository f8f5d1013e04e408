/* IMA's binary_runtime_measurements_sha256 built by a test, as the kernel writes it on x86
 * and attest/event_log.c parses it: entries of template ima-ng, "<u32 pcr><32-byte template
 * hash><u32 6>ima-ng<u32 len><template data>", the data "<u32 40>sha256:\0<digest><u32
 * n><path>\0", lengths little-endian, the template hash SHA-256 of the data (zero for a
 * violation, which the kernel extends as 0xff..ff). */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "sha256.h"

struct ima_fixture {
	uint8_t *data;
	size_t len;
	size_t *ends;  /* where each entry ends */
	size_t n;
};

static inline void ima_fixture_put(struct ima_fixture *f, const void *p, size_t n)
{
	uint8_t *grown = realloc(f->data, f->len + n);
	if (grown == NULL)
		abort();
	f->data = grown;
	memcpy(f->data + f->len, p, n);
	f->len += n;
}

static inline void ima_fixture_put_u32(struct ima_fixture *f, uint32_t v)
{
	uint8_t le[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
	ima_fixture_put(f, le, sizeof(le));
}

/* Appends an entry of template (normally "ima-ng") for path with file digest digest, into
 * pcr; *extend (when not NULL) gets what the kernel extends the PCR with. */
static inline void ima_fixture_add_entry(struct ima_fixture *f, unsigned pcr, const char *template,
					 const char *path, const uint8_t digest[32], bool violation,
					 uint8_t extend[32])
{
	static const char algo[] = "sha256:";
	size_t plen = strlen(path) + 1, dlen = 4 + sizeof(algo) + 32 + 4 + plen;
	uint8_t *d = malloc(dlen), hash[32] = { 0 };
	if (d == NULL)
		abort();
	d[0] = sizeof(algo) + 32, d[1] = d[2] = d[3] = 0;
	memcpy(d + 4, algo, sizeof(algo));
	memcpy(d + 4 + sizeof(algo), digest, 32);
	uint8_t *p = d + 4 + sizeof(algo) + 32;
	p[0] = (uint8_t)plen, p[1] = (uint8_t)(plen >> 8), p[2] = (uint8_t)(plen >> 16), p[3] = (uint8_t)(plen >> 24);
	memcpy(p + 4, path, plen);
	if (!violation)
		pv_sha256(d, dlen, hash);
	ima_fixture_put_u32(f, pcr);
	ima_fixture_put(f, hash, 32);
	ima_fixture_put_u32(f, (uint32_t)strlen(template));
	ima_fixture_put(f, template, strlen(template));
	ima_fixture_put_u32(f, (uint32_t)dlen);
	ima_fixture_put(f, d, dlen);
	free(d);
	if (extend && violation)
		memset(extend, 0xff, 32);
	else if (extend)
		memcpy(extend, hash, 32);
	size_t *grown = realloc(f->ends, (f->n + 1) * sizeof(*grown));
	if (grown == NULL)
		abort();
	f->ends = grown;
	f->ends[f->n++] = f->len;
}

/* An ima-ng entry of PCR 10, as IMA logs a measured file. */
static inline void ima_fixture_add(struct ima_fixture *f, const char *path, const uint8_t digest[32],
				   uint8_t extend[32])
{
	ima_fixture_add_entry(f, 10, "ima-ng", path, digest, false, extend);
}

static inline void ima_fixture_clear(struct ima_fixture *f)
{
	free(f->data);
	free(f->ends);
	*f = (struct ima_fixture){ 0 };
}
