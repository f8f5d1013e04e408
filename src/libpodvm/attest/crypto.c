/* P-256 keys, software TPM2_MakeCredential, quote signatures, randomness (see crypto.h). */
#include "attest/crypto.h"
#include "attest/ossl.h"
#include "cleanup.h"
#include "sha256.h"
#include "util.h"

#include <errno.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rand.h>

int pv_ossl_error(pv_error *err, const char *what)
{
	char reason[256] = "unknown error";
	unsigned long e = ERR_peek_last_error();
	if (e)
		ERR_error_string_n(e, reason, sizeof(reason));
	ERR_clear_error();
	return pv_error_set_plain(err, EIO, "%s: %s", what, reason);
}

EVP_PKEY *pv_ossl_p256_key(const uint8_t x[32], const uint8_t y[32], pv_error *err)
{
	uint8_t point[65] = { 0x04 };  /* uncompressed */
	memcpy(point + 1, x, 32);
	memcpy(point + 33, y, 32);
	OSSL_PARAM params[] = {
		OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"prime256v1", 0),
		OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point)),
		OSSL_PARAM_END,
	};
	_cleanup_pkey_ctx_ EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	EVP_PKEY *key = NULL;
	/* Import decodes the point and refuses one off the curve. */
	if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
		pv_ossl_error(err, "P-256 public key");
		return NULL;
	}
	return key;
}

static int coordinate(const EVP_PKEY *key, const char *param, uint8_t out[32])
{
	BIGNUM *bn = NULL;
	int ok = EVP_PKEY_get_bn_param(key, param, &bn) > 0 && BN_bn2binpad(bn, out, 32) == 32;
	BN_free(bn);
	return ok ? 0 : -1;
}

int pv_ossl_p256_point(const EVP_PKEY *key, uint8_t x[32], uint8_t y[32], pv_error *err)
{
	char group[32] = "";
	if (!EVP_PKEY_is_a(key, "EC") ||
	    EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), NULL) <= 0 ||
	    strcmp(group, "prime256v1") != 0) {
		ERR_clear_error();
		return pv_error_set_plain(err, EINVAL, "public key: not an EC P-256 key (curve \"%s\")", group);
	}
	if (coordinate(key, OSSL_PKEY_PARAM_EC_PUB_X, x) < 0 || coordinate(key, OSSL_PKEY_PARAM_EC_PUB_Y, y) < 0)
		return pv_ossl_error(err, "P-256 public key");
	return 0;
}

EVP_PKEY *pv_ossl_p256_generate(pv_error *err)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (key == NULL)
		pv_ossl_error(err, "P-256 key generation");
	return key;
}

int pv_attest_random(uint8_t *buf, size_t len, pv_error *err)
{
	if (len > INT32_MAX || RAND_bytes(buf, (int)len) != 1)
		return pv_ossl_error(err, "random bytes");
	return 0;
}

/* The DER of ECDSA-Sig-Value (r, s), which EVP_DigestVerify takes; malloc'd. */
static int ecdsa_der(const uint8_t r[32], const uint8_t s[32], uint8_t **der, pv_error *err)
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *br = BN_bin2bn(r, 32, NULL), *bs = BN_bin2bn(s, 32, NULL);
	int n = -1;
	if (sig && br && bs && ECDSA_SIG_set0(sig, br, bs) == 1) {
		br = bs = NULL;  /* owned by sig now */
		n = i2d_ECDSA_SIG(sig, der);
	}
	BN_free(br);
	BN_free(bs);
	ECDSA_SIG_free(sig);
	return n > 0 ? n : pv_ossl_error(err, "ECDSA signature");
}

int pv_attest_verify_signature(const struct pv_tpm2_public *key, const uint8_t *attest, size_t attest_len,
			       const uint8_t r[32], const uint8_t s[32], pv_error *err)
{
	_cleanup_pkey_ EVP_PKEY *pkey = pv_ossl_p256_key(key->x, key->y, err);
	uint8_t *der = NULL;
	int n = pkey ? ecdsa_der(r, s, &der, err) : -1;
	if (n < 0)
		return pv_error_prefix(err, "signature check");
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok = md && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pkey) == 1 &&
		 EVP_DigestVerify(md, der, (size_t)n, attest, attest_len) == 1;
	EVP_MD_CTX_free(md);
	OPENSSL_free(der);
	ERR_clear_error();
	if (!ok)
		return pv_error_set_plain(err, EBADMSG, "signature check: the signature does not verify");
	return 0;
}
