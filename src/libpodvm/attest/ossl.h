/* What crypto.c and crypto_ca.c share: scope-bound frees of OpenSSL objects (see
 * cleanup.h), errors carrying OpenSSL's reason, P-256 points to keys and back. */
#pragma once
#include <stdint.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include "error.h"

static inline void pv_pkey_freep(EVP_PKEY **p)
{
	EVP_PKEY_free(*p);
}
static inline void pv_pkey_ctx_freep(EVP_PKEY_CTX **p)
{
	EVP_PKEY_CTX_free(*p);
}
static inline void pv_x509_freep(X509 **p)
{
	X509_free(*p);
}
#define _cleanup_pkey_ _cleanup_(pv_pkey_freep)
#define _cleanup_pkey_ctx_ _cleanup_(pv_pkey_ctx_freep)
#define _cleanup_x509_ _cleanup_(pv_x509_freep)

/* Sets *err to "what: <OpenSSL's last error>" and clears OpenSSL's error queue. */
int pv_ossl_error(pv_error *err, const char *what);
/* A public key on P-256 (the point must be on the curve), or NULL with *err set. */
EVP_PKEY *pv_ossl_p256_key(const uint8_t x[32], const uint8_t y[32], pv_error *err);
/* A P-256 key's point, coordinates left-padded to 32 bytes; fails for other keys. */
int pv_ossl_p256_point(const EVP_PKEY *key, uint8_t x[32], uint8_t y[32], pv_error *err);
/* A new P-256 key pair. */
EVP_PKEY *pv_ossl_p256_generate(pv_error *err);
