/* SHA-256, the digest of the reference values (what the guest's IMA and the host's boot
 * measurements use): streaming, of a file, of a buffer; hex both ways. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "error.h"

#define PV_SHA256_LEN 32
#define PV_SHA256_HEX_LEN 64

struct pv_hasher;
int pv_hasher_new(struct pv_hasher **h, pv_error *err);
void pv_hasher_update(struct pv_hasher *h, const void *buf, size_t len);
/* Hashes a block found at offset of a stream hashed up to *pos, the gap before it as zeros
 * (a hole of a sparse file); advances *pos. Fails on a block before *pos. */
int pv_hasher_block(struct pv_hasher *h, uint64_t *pos, uint64_t offset, const void *buf, size_t len,
		    pv_error *err);
int pv_hasher_final(struct pv_hasher *h, uint8_t out[PV_SHA256_LEN], pv_error *err);
void pv_hasher_free(struct pv_hasher *h);

/* The digest of the rest of fd (of a buffer: sha256.h's pv_sha256). */
int pv_sha256_fd(int fd, uint8_t out[PV_SHA256_LEN], pv_error *err);

/* Lower-case hex (hex has room for PV_SHA256_HEX_LEN + 1); parse takes exactly 64 lower-case
 * hex digits and returns -EINVAL for anything else. */
void pv_sha256_hex(const uint8_t digest[PV_SHA256_LEN], char *hex);
int pv_sha256_parse(const char *hex, uint8_t out[PV_SHA256_LEN]);

static inline void pv_hasher_freep(struct pv_hasher **h)
{
	pv_hasher_free(*h);
}
#define _cleanup_hasher_ __attribute__((cleanup(pv_hasher_freep)))
