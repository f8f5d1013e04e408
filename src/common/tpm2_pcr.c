/* PCRs of the SHA-256 bank: extend, read, quote (see tpm2.h). */
#include "tpm2.h"
#include "tpm2_internal.h"
#include "cleanup.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define PCR_COUNT 24  /* a PC Client TPM's, swtpm's */

void pv_tpm2_w_sha256_selection(struct pv_tpm2_w *w, uint32_t mask)
{
	pv_tpm2_w_u32(w, 1);
	pv_tpm2_w_u16(w, PV_TPM_ALG_SHA256);
	pv_tpm2_w_u8(w, 3);  /* sizeofSelect: PCRs 0-23 */
	for (int i = 0; i < 3; i++)
		pv_tpm2_w_u8(w, (uint8_t)(mask >> (8 * i)));
}

static int check_pcr(unsigned pcr, pv_error *err)
{
	if (pcr >= PCR_COUNT)
		return pv_error_set_plain(err, EINVAL, "PCR %u: out of range (0 to %d)", pcr, PCR_COUNT - 1);
	return 0;
}

int pv_tpm2_pcr_extend(struct pv_tpm2 *t, unsigned pcr, const uint8_t digest[32], pv_error *err)
{
	struct pv_tpm2_cmd c;
	if (check_pcr(pcr, err) < 0)
		return -EINVAL;
	pv_tpm2_cmd_begin_pw(&c, "TPM2_PCR_Extend", PV_TPM_CC_PCR_EXTEND, 1, pcr, 0);
	pv_tpm2_w_u32(&c.w, 1);  /* TPML_DIGEST_VALUES: SHA-256 alone */
	pv_tpm2_w_u16(&c.w, PV_TPM_ALG_SHA256);
	pv_tpm2_w_bytes(&c.w, digest, 32);
	if (pv_tpm2_cmd_run(t, &c, NULL, err) < 0 || pv_tpm2_cmd_end(&c, err) < 0)
		return pv_error_prefix(err, "PCR %u", pcr);
	return 0;
}

int pv_tpm2_pcr_read(struct pv_tpm2 *t, unsigned pcr, uint8_t value[32], pv_error *err)
{
	struct pv_tpm2_cmd c;
	if (check_pcr(pcr, err) < 0)
		return -EINVAL;
	pv_tpm2_cmd_begin(&c, "TPM2_PCR_Read", PV_TPM_CC_PCR_READ, false);
	pv_tpm2_w_sha256_selection(&c.w, 1u << pcr);
	if (pv_tpm2_cmd_run(t, &c, NULL, err) < 0)
		return pv_error_prefix(err, "PCR %u", pcr);
	(void)pv_tpm2_r_u32(&c.r);  /* pcrUpdateCounter */
	/* A bank the TPM lacks comes back unselected, with no digest. */
	uint32_t mask = pv_tpm2_r_sha256_selection(&c.r);
	uint32_t count = pv_tpm2_r_u32(&c.r);
	size_t n = pv_tpm2_r_b2b_copy(&c.r, value, 32);
	if (pv_tpm2_cmd_end(&c, err) < 0 || mask != 1u << pcr || count != 1 || n != 32)
		return pv_error_set_plain(err, EPROTO, "PCR %u: TPM2_PCR_Read: no SHA-256 value in the response", pcr);
	return 0;
}

static int check_quote_args(size_t nonce_len, uint32_t pcr_mask, pv_error *err)
{
	if (nonce_len > 32)
		return pv_error_set_plain(err, EINVAL, "TPM2_Quote: a nonce of %zu bytes (at most 32)", nonce_len);
	if (pcr_mask >> PCR_COUNT)
		return pv_error_set_plain(err, EINVAL, "TPM2_Quote: PCR mask 0x%x beyond PCR %d", pcr_mask, PCR_COUNT - 1);
	return 0;
}

static int dup_bytes(const uint8_t *p, size_t n, uint8_t **out, size_t *out_len, pv_error *err)
{
	*out = malloc(n ? n : 1);
	if (*out == NULL)
		return pv_error_set(err, ENOMEM, "TPM2_Quote");
	if (n)
		memcpy(*out, p, n);
	*out_len = n;
	return 0;
}

int pv_tpm2_quote(struct pv_tpm2 *t, uint32_t ak, const uint8_t *nonce, size_t nonce_len, uint32_t pcr_mask,
		  uint8_t **attest, size_t *attest_len, uint8_t **sig, size_t *sig_len, pv_error *err)
{
	struct pv_tpm2_cmd c;
	if (check_quote_args(nonce_len, pcr_mask, err) < 0)
		return -EINVAL;
	pv_tpm2_cmd_begin_pw(&c, "TPM2_Quote", PV_TPM_CC_QUOTE, 1, ak, 0);
	pv_tpm2_w_b2b(&c.w, nonce, nonce_len);
	pv_tpm2_w_u16(&c.w, PV_TPM_ALG_NULL);  /* inScheme: the key's own */
	pv_tpm2_w_sha256_selection(&c.w, pcr_mask);
	if (pv_tpm2_cmd_run(t, &c, NULL, err) < 0)
		return -1;
	size_t n;
	const uint8_t *a = pv_tpm2_r_b2b(&c.r, PV_TPM2_MAX, &n);
	/* The TPMT_SIGNATURE is the rest of the parameters. */
	size_t rest = c.r.bad ? 0 : c.r.len - c.r.at;
	const uint8_t *s = pv_tpm2_r_bytes(&c.r, rest);
	if (a == NULL || s == NULL || rest == 0 || pv_tpm2_cmd_end(&c, err) < 0)
		return pv_error_set_plain(err, EPROTO, "TPM2_Quote: malformed response");
	_cleanup_free_ uint8_t *a_copy = NULL;
	if (dup_bytes(a, n, &a_copy, attest_len, err) < 0 || dup_bytes(s, rest, sig, sig_len, err) < 0)
		return -ENOMEM;
	*attest = steal_pointer(&a_copy);
	return 0;
}
