/* SHA-256 (FIPS 180-4) without OpenSSL: the statically linked guest agent and the TPM
 * client (tpm2.c, a TPM name is a SHA-256 digest) use it. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#define PV_SHA256_LEN 32

struct pv_sha256_ctx {
	uint32_t h[8];
	uint64_t total;      /* bytes hashed so far */
	uint8_t block[64];
	size_t used;         /* bytes of block filled */
};

void pv_sha256_init(struct pv_sha256_ctx *c);
void pv_sha256_update(struct pv_sha256_ctx *c, const void *data, size_t len);
/* Writes the digest; c must be initialised again before further use. */
void pv_sha256_final(struct pv_sha256_ctx *c, uint8_t out[PV_SHA256_LEN]);
void pv_sha256(const uint8_t *data, size_t len, uint8_t out[PV_SHA256_LEN]);
