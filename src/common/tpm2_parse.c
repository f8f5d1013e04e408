/* The parsers of tpm2.h: TPM structures as a guest sends them to the host's verifier. */
#include "tpm2.h"
#include "tpm2_internal.h"
#include "sha256.h"

#include <errno.h>
#include <string.h>

/* TPMT_SYM_DEF_OBJECT: an algorithm, then key bits and mode unless it is TPM_ALG_NULL. */
static void skip_sym(struct pv_tpm2_r *r)
{
	if (pv_tpm2_r_u16(r) != PV_TPM_ALG_NULL)
		(void)pv_tpm2_r_bytes(r, 4);
}

/* TPMT_ECC_SCHEME and TPMT_KDF_SCHEME: an algorithm, then its hash unless TPM_ALG_NULL.
 * ECDAA (a count besides) is refused: no key of ours uses it. */
static void skip_scheme(struct pv_tpm2_r *r)
{
	uint16_t alg = pv_tpm2_r_u16(r);
	if (alg == PV_TPM_ALG_ECDAA)
		r->bad = true;
	else if (alg != PV_TPM_ALG_NULL)
		(void)pv_tpm2_r_u16(r);
}

/* A coordinate: exactly 32 bytes (the TPM pads to the key size). */
static void read_coord(struct pv_tpm2_r *r, uint8_t out[32])
{
	if (pv_tpm2_r_b2b_copy(r, out, 32) != 32)
		r->bad = true;
}

int pv_tpm2_parse_public(const uint8_t *area, size_t len, struct pv_tpm2_public *pub, pv_error *err)
{
	struct pv_tpm2_r r;
	size_t n;
	memset(pub, 0, sizeof(*pub));
	if (len > sizeof(pub->area))
		return pv_error_set_plain(err, EINVAL, "TPM public area: %zu bytes (at most %zu)", len, sizeof(pub->area));
	pv_tpm2_r_init(&r, area, len);
	uint16_t type = pv_tpm2_r_u16(&r), name_alg = pv_tpm2_r_u16(&r);
	pub->attributes = pv_tpm2_r_u32(&r);
	(void)pv_tpm2_r_b2b(&r, 64, &n);  /* authPolicy */
	skip_sym(&r);
	skip_scheme(&r);
	uint16_t curve = pv_tpm2_r_u16(&r);
	skip_scheme(&r);  /* kdf */
	read_coord(&r, pub->x);
	read_coord(&r, pub->y);
	if (!pv_tpm2_r_done(&r))
		return pv_error_set_plain(err, EINVAL, "TPM public area: malformed (%zu bytes)", len);
	if (type != PV_TPM_ALG_ECC || name_alg != PV_TPM_ALG_SHA256 || curve != PV_TPM_ECC_NIST_P256)
		return pv_error_set_plain(err, EINVAL,
					  "TPM public area: type 0x%04x, nameAlg 0x%04x, curve 0x%04x: "
					  "not an ECC P-256 key named with SHA-256", type, name_alg, curve);
	memcpy(pub->area, area, len);
	pub->area_len = len;
	pub->name[0] = PV_TPM_ALG_SHA256 >> 8;
	pub->name[1] = PV_TPM_ALG_SHA256 & 0xff;
	pv_sha256(area, len, pub->name + 2);
	return 0;
}

uint32_t pv_tpm2_r_sha256_selection(struct pv_tpm2_r *r)
{
	uint32_t count = pv_tpm2_r_u32(r);
	uint16_t hash = pv_tpm2_r_u16(r);
	uint8_t size = pv_tpm2_r_u8(r);
	const uint8_t *bits = count == 1 && hash == PV_TPM_ALG_SHA256 && size <= 4 ? pv_tpm2_r_bytes(r, size) : NULL;
	uint32_t mask = 0;
	if (bits == NULL)
		r->bad = true;
	for (uint8_t i = 0; bits && i < size; i++)
		mask |= (uint32_t)bits[i] << (8 * i);
	return mask;
}

int pv_tpm2_parse_quote(const uint8_t *attest, size_t len, struct pv_tpm2_quote_info *q, pv_error *err)
{
	struct pv_tpm2_r r;
	memset(q, 0, sizeof(*q));
	pv_tpm2_r_init(&r, attest, len);
	uint32_t magic = pv_tpm2_r_u32(&r);
	uint16_t type = pv_tpm2_r_u16(&r);
	if (r.bad || magic != PV_TPM_GENERATED_VALUE || type != PV_TPM_ST_ATTEST_QUOTE)
		return pv_error_set_plain(err, EINVAL, "TPM quote: not a quote made by a TPM (magic 0x%08x, type 0x%04x)",
					  magic, type);
	q->signer_name_len = pv_tpm2_r_b2b_copy(&r, q->signer_name, sizeof(q->signer_name));
	q->nonce_len = pv_tpm2_r_b2b_copy(&r, q->nonce, sizeof(q->nonce));
	q->clock = pv_tpm2_r_u64(&r);
	q->reset_count = pv_tpm2_r_u32(&r);
	q->restart_count = pv_tpm2_r_u32(&r);
	(void)pv_tpm2_r_bytes(&r, 1 + 8);  /* safe, firmwareVersion */
	q->pcr_mask = pv_tpm2_r_sha256_selection(&r);
	size_t n = pv_tpm2_r_b2b_copy(&r, q->pcr_digest, sizeof(q->pcr_digest));
	if (!pv_tpm2_r_done(&r) || n != sizeof(q->pcr_digest))
		return pv_error_set_plain(err, EINVAL, "TPM quote: malformed (%zu bytes)", len);
	return 0;
}

/* A TPM2B_ECC_PARAMETER of 1 to 32 bytes, left-padded to 32. */
static void read_scalar(struct pv_tpm2_r *r, uint8_t out[32])
{
	size_t n;
	const uint8_t *p = pv_tpm2_r_b2b(r, 32, &n);
	memset(out, 0, 32);
	if (p == NULL || n == 0)
		r->bad = true;
	else
		memcpy(out + 32 - n, p, n);
}

int pv_tpm2_parse_ecdsa_signature(const uint8_t *sig, size_t len, uint8_t r[32], uint8_t s[32], pv_error *err)
{
	struct pv_tpm2_r rd;
	pv_tpm2_r_init(&rd, sig, len);
	uint16_t alg = pv_tpm2_r_u16(&rd), hash = pv_tpm2_r_u16(&rd);
	read_scalar(&rd, r);
	read_scalar(&rd, s);
	if (!pv_tpm2_r_done(&rd))
		return pv_error_set_plain(err, EINVAL, "TPM signature: malformed (%zu bytes)", len);
	if (alg != PV_TPM_ALG_ECDSA || hash != PV_TPM_ALG_SHA256)
		return pv_error_set_plain(err, EINVAL, "TPM signature: algorithm 0x%04x, hash 0x%04x: not ECDSA with SHA-256",
					  alg, hash);
	return 0;
}
