/* The EK and the AK: primary keys of the endorsement hierarchy, so the same template gives
 * the same key on every call (derived from the hierarchy's seed), nothing to store. */
#include "tpm2.h"
#include "tpm2_internal.h"

#include <errno.h>
#include <string.h>

/* PolicySecret(TPM_RH_ENDORSEMENT): the EK's authPolicy in the TCG EK Credential Profile. */
static const uint8_t ek_policy[32] = {
	0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xb3, 0xf8, 0x1a, 0x90, 0xcc, 0x8d, 0x46, 0xa5, 0xd7, 0x24,
	0xfd, 0x52, 0xd7, 0x6e, 0x06, 0x52, 0x0b, 0x64, 0xf2, 0xa1, 0xda, 0x1b, 0x33, 0x14, 0x69, 0xaa,
};

/* TCG EK Credential Profile, template L-2: a restricted decryption key (AES-128-CFB for
 * its children), unique = two zero coordinates of 32 bytes. */
static void ek_template(struct pv_tpm2_w *w)
{
	static const uint8_t zeros[32];
	pv_tpm2_w_u16(w, PV_TPM_ALG_ECC);
	pv_tpm2_w_u16(w, PV_TPM_ALG_SHA256);
	pv_tpm2_w_u32(w, PV_TPMA_FIXED_TPM | PV_TPMA_FIXED_PARENT | PV_TPMA_SENSITIVE_DATA_ORIGIN |
				 PV_TPMA_ADMIN_WITH_POLICY | PV_TPMA_RESTRICTED | PV_TPMA_DECRYPT);
	pv_tpm2_w_b2b(w, ek_policy, sizeof(ek_policy));
	pv_tpm2_w_u16(w, PV_TPM_ALG_AES);
	pv_tpm2_w_u16(w, 128);
	pv_tpm2_w_u16(w, PV_TPM_ALG_CFB);
	pv_tpm2_w_u16(w, PV_TPM_ALG_NULL);  /* scheme */
	pv_tpm2_w_u16(w, PV_TPM_ECC_NIST_P256);
	pv_tpm2_w_u16(w, PV_TPM_ALG_NULL);  /* kdf */
	pv_tpm2_w_b2b(w, zeros, sizeof(zeros));
	pv_tpm2_w_b2b(w, zeros, sizeof(zeros));
}

static void ak_template(struct pv_tpm2_w *w)
{
	pv_tpm2_w_u16(w, PV_TPM_ALG_ECC);
	pv_tpm2_w_u16(w, PV_TPM_ALG_SHA256);
	pv_tpm2_w_u32(w, PV_TPM2_AK_ATTRIBUTES);
	pv_tpm2_w_u16(w, 0);                /* authPolicy */
	pv_tpm2_w_u16(w, PV_TPM_ALG_NULL);  /* symmetric: a signing key has none */
	pv_tpm2_w_u16(w, PV_TPM_ALG_ECDSA);
	pv_tpm2_w_u16(w, PV_TPM_ALG_SHA256);
	pv_tpm2_w_u16(w, PV_TPM_ECC_NIST_P256);
	pv_tpm2_w_u16(w, PV_TPM_ALG_NULL);  /* kdf */
	pv_tpm2_w_u16(w, 0);                /* unique: x and y empty */
	pv_tpm2_w_u16(w, 0);
}

/* CreatePrimary's response after the handle: outPublic, creationData, creationHash,
 * creationTicket, name (which must be the one outPublic gives). */
static int read_primary(struct pv_tpm2_cmd *c, struct pv_tpm2_public *pub, pv_error *err)
{
	size_t area_len, n, name_len;
	const uint8_t *area = pv_tpm2_r_b2b(&c->r, sizeof(pub->area), &area_len);
	(void)pv_tpm2_r_b2b(&c->r, PV_TPM2_MAX, &n);  /* creationData */
	(void)pv_tpm2_r_b2b(&c->r, 64, &n);           /* creationHash */
	(void)pv_tpm2_r_bytes(&c->r, 2 + 4);          /* creationTicket: tag, hierarchy */
	(void)pv_tpm2_r_b2b(&c->r, 64, &n);           /* and digest */
	const uint8_t *name = pv_tpm2_r_b2b(&c->r, sizeof(pub->name), &name_len);
	if (pv_tpm2_cmd_end(c, err) < 0 || pv_tpm2_parse_public(area, area_len, pub, err) < 0)
		return pv_error_prefix(err, "%s", c->name);
	if (name_len != sizeof(pub->name) || memcmp(name, pub->name, name_len) != 0)
		return pv_error_set_plain(err, EPROTO, "%s: the name does not match the public area", c->name);
	return 0;
}

static int create_primary(struct pv_tpm2 *t, void (*tmpl)(struct pv_tpm2_w *), uint32_t *handle,
			  struct pv_tpm2_public *pub, pv_error *err)
{
	struct pv_tpm2_cmd c;
	pv_tpm2_cmd_begin_pw(&c, "TPM2_CreatePrimary", PV_TPM_CC_CREATE_PRIMARY, 1, PV_TPM_RH_ENDORSEMENT, 0);
	pv_tpm2_w_u16(&c.w, 4);  /* inSensitive: empty userAuth and data */
	pv_tpm2_w_u32(&c.w, 0);
	size_t at = c.w.len;
	pv_tpm2_w_u16(&c.w, 0);  /* inPublic's size, once written */
	tmpl(&c.w);
	pv_tpm2_w_put16(&c.w, at, (uint16_t)(c.w.len - at - 2));
	pv_tpm2_w_u16(&c.w, 0);  /* outsideInfo */
	pv_tpm2_w_u32(&c.w, 0);  /* creationPCR: none */
	if (pv_tpm2_cmd_run(t, &c, handle, err) < 0)
		return -1;
	if (read_primary(&c, pub, err) < 0) {
		(void)pv_tpm2_flush(t, *handle, NULL);
		return -1;
	}
	return 0;
}

int pv_tpm2_create_ek(struct pv_tpm2 *t, uint32_t *handle, struct pv_tpm2_public *pub, pv_error *err)
{
	if (create_primary(t, ek_template, handle, pub, err) < 0)
		return pv_error_prefix(err, "EK");
	return 0;
}

int pv_tpm2_create_ak(struct pv_tpm2 *t, uint32_t *handle, struct pv_tpm2_public *pub, pv_error *err)
{
	if (create_primary(t, ak_template, handle, pub, err) < 0)
		return pv_error_prefix(err, "AK");
	return 0;
}
