/* TPM2_MakeCredential in software for an ECC EK (TPM 2.0 Part 1 §24, Part 1 Annex C.6 for
 * the ECDH seed, Part 1 §11.4.10 for the KDFs), so the host needs no TPM of its own. */
#include "attest/crypto.h"
#include "attest/ossl.h"
#include "cleanup.h"
#include "sha256.h"
#include "util.h"

#include <errno.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/err.h>

#define NAME_MAX_LEN 66  /* TPM2B_NAME */

/* HMAC-SHA256(key, counter 1 || label || 0 || u || v || bits): KDFa for at most 256 bits. */
static int kdfa(const uint8_t key[32], const char *label, const uint8_t *u, size_t u_len, uint32_t bits,
		uint8_t out[32], pv_error *err)
{
	uint8_t data[4 + 16 + NAME_MAX_LEN + 4], mac[32];
	size_t n = 4, label_len = strlen(label) + 1, mac_len = 0;
	pv_put_be32(data, 1);
	memcpy(data + n, label, label_len);
	n += label_len;
	if (u_len)  /* contextV is empty in MakeCredential */
		memcpy(data + n, u, u_len);
	n += u_len;
	pv_put_be32(data + n, bits);
	n += 4;
	if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, 32, data, n, mac, sizeof(mac), &mac_len) == NULL)
		return pv_ossl_error(err, "KDFa");
	memcpy(out, mac, bits / 8);
	return 0;
}

/* SHA-256(counter 1 || z || "IDENTITY" 0 || party_u || party_v): KDFe for 256 bits. */
static void kdfe_identity(const uint8_t z[32], const uint8_t party_u[32], const uint8_t party_v[32], uint8_t seed[32])
{
	struct pv_sha256_ctx c;
	uint8_t counter[4];
	pv_put_be32(counter, 1);
	pv_sha256_init(&c);
	pv_sha256_update(&c, counter, sizeof(counter));
	pv_sha256_update(&c, z, 32);
	pv_sha256_update(&c, "IDENTITY", sizeof("IDENTITY"));
	pv_sha256_update(&c, party_u, 32);
	pv_sha256_update(&c, party_v, 32);
	pv_sha256_final(&c, seed);
}

/* An ephemeral key's ECDH with the EK: its point (ex, ey) and the shared x coordinate z. */
static int ecdh(const uint8_t ek_x[32], const uint8_t ek_y[32], uint8_t ex[32], uint8_t ey[32], uint8_t z[32],
		pv_error *err)
{
	_cleanup_pkey_ EVP_PKEY *ek = pv_ossl_p256_key(ek_x, ek_y, err);
	_cleanup_pkey_ EVP_PKEY *eph = ek ? pv_ossl_p256_generate(err) : NULL;
	if (eph == NULL || pv_ossl_p256_point(eph, ex, ey, err) < 0)
		return -1;
	_cleanup_pkey_ctx_ EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(eph, NULL);
	size_t z_len = 32;
	if (ctx == NULL || EVP_PKEY_derive_init(ctx) <= 0 || EVP_PKEY_derive_set_peer(ctx, ek) <= 0 ||
	    EVP_PKEY_derive(ctx, z, &z_len) <= 0 || z_len != 32)
		return pv_ossl_error(err, "ECDH");
	return 0;
}

/* AES-128-CFB with a zero IV over in (n bytes) into out. */
static int aes_cfb(const uint8_t key[16], const uint8_t *in, size_t n, uint8_t *out, pv_error *err)
{
	static const uint8_t iv[16];
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int len = 0, fin = 0;
	int ok = ctx && EVP_EncryptInit_ex(ctx, EVP_aes_128_cfb128(), NULL, key, iv) == 1 &&
		 EVP_EncryptUpdate(ctx, out, &len, in, (int)n) == 1 && EVP_EncryptFinal_ex(ctx, out + len, &fin) == 1 &&
		 (size_t)(len + fin) == n;
	EVP_CIPHER_CTX_free(ctx);
	return ok ? 0 : pv_ossl_error(err, "AES-128-CFB");
}

/* TPMS_ID_OBJECT: integrityHMAC (a TPM2B) then encIdentity, the credential as a TPM2B
 * encrypted whole (its size too). out has room for 2 + 32 + 2 + 32 bytes. */
static int id_object(const uint8_t seed[32], const uint8_t *name, size_t name_len, const uint8_t *secret,
		     size_t secret_len, uint8_t *out, size_t *out_len, pv_error *err)
{
	uint8_t sym[32], hmac_key[32], plain[2 + 32], mac_in[2 + 32 + NAME_MAX_LEN];
	size_t enc_len = 2 + secret_len, mac_len = 0;
	plain[0] = (uint8_t)(secret_len >> 8);
	plain[1] = (uint8_t)secret_len;
	memcpy(plain + 2, secret, secret_len);
	if (kdfa(seed, "STORAGE", name, name_len, 128, sym, err) < 0 ||
	    kdfa(seed, "INTEGRITY", NULL, 0, 256, hmac_key, err) < 0 ||
	    aes_cfb(sym, plain, enc_len, out + 2 + 32, err) < 0)
		return -1;
	memcpy(mac_in, out + 2 + 32, enc_len);
	memcpy(mac_in + enc_len, name, name_len);
	out[0] = 0;
	out[1] = 32;
	if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, hmac_key, sizeof(hmac_key), mac_in, enc_len + name_len, out + 2,
		      32, &mac_len) == NULL)
		return pv_ossl_error(err, "integrity HMAC");
	*out_len = 2 + 32 + enc_len;
	return 0;
}

static int check_credential_args(size_t name_len, size_t secret_len, pv_error *err)
{
	if (secret_len == 0 || secret_len > 32)
		return pv_error_set_plain(err, EINVAL, "a secret of %zu bytes (1 to 32)", secret_len);
	if (name_len < 2 || name_len > NAME_MAX_LEN)
		return pv_error_set_plain(err, EINVAL, "an object name of %zu bytes (2 to %d)", name_len, NAME_MAX_LEN);
	return 0;
}

int pv_attest_make_credential(const uint8_t ek_x[32], const uint8_t ek_y[32], const uint8_t *ak_name, size_t name_len,
			      const uint8_t *secret, size_t secret_len, uint8_t **id_out, size_t *id_len,
			      uint8_t **enc_secret, size_t *enc_len, pv_error *err)
{
	uint8_t ex[32], ey[32], z[32], seed[32];
	if (check_credential_args(name_len, secret_len, err) < 0 || ecdh(ek_x, ek_y, ex, ey, z, err) < 0)
		return pv_error_prefix(err, "make credential");
	kdfe_identity(z, ex, ek_x, seed);
	_cleanup_free_ uint8_t *id = malloc(2 + 32 + 2 + 32);
	_cleanup_free_ uint8_t *point = malloc(2 + 32 + 2 + 32);
	if (id == NULL || point == NULL)
		return pv_error_set(err, ENOMEM, "make credential");
	if (id_object(seed, ak_name, name_len, secret, secret_len, id, id_len, err) < 0)
		return pv_error_prefix(err, "make credential");
	/* TPMS_ECC_POINT: the ephemeral key, whose ECDH with the EK gives the TPM the seed. */
	point[0] = 0;
	point[1] = 32;
	memcpy(point + 2, ex, 32);
	point[34] = 0;
	point[35] = 32;
	memcpy(point + 36, ey, 32);
	*enc_len = sizeof(ex) + sizeof(ey) + 4;
	*id_out = steal_pointer(&id);
	*enc_secret = steal_pointer(&point);
	return 0;
}
