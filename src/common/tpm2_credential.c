/* TPM2_ActivateCredential (see tpm2.h): the EK's authPolicy asks for a policy session that
 * has run PolicySecret(TPM_RH_ENDORSEMENT), the AK's empty auth for a password. */
#include "tpm2.h"
#include "tpm2_internal.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

/* An unbound, unsalted policy session hashing with SHA-256. */
static int start_policy_session(struct pv_tpm2 *t, uint32_t *session, pv_error *err)
{
	struct pv_tpm2_cmd c;
	uint8_t nonce[32];  /* nonceCaller: the TPM wants at least 16 bytes */
	if (getrandom(nonce, sizeof(nonce), 0) != (ssize_t)sizeof(nonce))
		return pv_error_set(err, errno, "TPM2_StartAuthSession: getrandom");
	pv_tpm2_cmd_begin(&c, "TPM2_StartAuthSession", PV_TPM_CC_START_AUTH_SESSION, false);
	pv_tpm2_w_u32(&c.w, PV_TPM_RH_NULL);  /* tpmKey: no salt */
	pv_tpm2_w_u32(&c.w, PV_TPM_RH_NULL);  /* bind: none */
	pv_tpm2_w_b2b(&c.w, nonce, sizeof(nonce));
	pv_tpm2_w_u16(&c.w, 0);  /* encryptedSalt */
	pv_tpm2_w_u8(&c.w, PV_TPM_SE_POLICY);
	pv_tpm2_w_u16(&c.w, PV_TPM_ALG_NULL);  /* symmetric: no parameter encryption */
	pv_tpm2_w_u16(&c.w, PV_TPM_ALG_SHA256);
	if (pv_tpm2_cmd_run(t, &c, session, err) < 0)
		return -1;
	size_t n;
	(void)pv_tpm2_r_b2b(&c.r, 64, &n);  /* nonceTPM */
	if (pv_tpm2_cmd_end(&c, err) < 0) {
		(void)pv_tpm2_flush(t, *session, NULL);
		return -1;
	}
	return 0;
}

static int policy_secret_endorsement(struct pv_tpm2 *t, uint32_t session, pv_error *err)
{
	struct pv_tpm2_cmd c;
	pv_tpm2_cmd_begin_pw(&c, "TPM2_PolicySecret", PV_TPM_CC_POLICY_SECRET, 2, PV_TPM_RH_ENDORSEMENT, session);
	pv_tpm2_w_u16(&c.w, 0);  /* nonceTPM: not bound to this session's nonce */
	pv_tpm2_w_u16(&c.w, 0);  /* cpHashA */
	pv_tpm2_w_u16(&c.w, 0);  /* policyRef */
	pv_tpm2_w_u32(&c.w, 0);  /* expiration: none, so no ticket */
	if (pv_tpm2_cmd_run(t, &c, NULL, err) < 0)
		return -1;
	size_t n;
	(void)pv_tpm2_r_b2b(&c.r, 8, &n);    /* timeout */
	(void)pv_tpm2_r_bytes(&c.r, 2 + 4);  /* policyTicket: tag, hierarchy */
	(void)pv_tpm2_r_b2b(&c.r, 64, &n);   /* and digest */
	return pv_tpm2_cmd_end(&c, err);
}

/* The command itself; the policy session ends with it when it succeeds. */
static int activate(struct pv_tpm2 *t, uint32_t ak, uint32_t ek, uint32_t session, const uint8_t *id_object,
		    size_t id_len, const uint8_t *enc_secret, size_t enc_len, uint8_t *out, size_t cap, size_t *out_len,
		    pv_error *err)
{
	struct pv_tpm2_cmd c;
	pv_tpm2_cmd_begin(&c, "TPM2_ActivateCredential", PV_TPM_CC_ACTIVATE_CREDENTIAL, true);
	pv_tpm2_w_u32(&c.w, ak);
	pv_tpm2_w_u32(&c.w, ek);
	pv_tpm2_w_u32(&c.w, 2 * 9);
	pv_tpm2_w_session(&c.w, PV_TPM_RS_PW);  /* the AK's (ADMIN role, but no adminWithPolicy) */
	pv_tpm2_w_session(&c.w, session);       /* the EK's */
	pv_tpm2_w_b2b(&c.w, id_object, id_len);
	pv_tpm2_w_b2b(&c.w, enc_secret, enc_len);
	if (pv_tpm2_cmd_run(t, &c, NULL, err) < 0)
		return -1;
	size_t n;
	const uint8_t *info = pv_tpm2_r_b2b(&c.r, 64, &n);
	if (pv_tpm2_cmd_end(&c, err) < 0)
		return -1;
	if (n > cap)
		return pv_error_set_plain(err, EMSGSIZE, "%s: a credential of %zu bytes (room for %zu)", c.name, n, cap);
	if (n)
		memcpy(out, info, n);
	*out_len = n;
	return 0;
}

int pv_tpm2_activate_credential(struct pv_tpm2 *t, uint32_t ak, uint32_t ek, const uint8_t *id_object, size_t id_len,
				const uint8_t *enc_secret, size_t enc_len, uint8_t *out, size_t cap, size_t *out_len,
				pv_error *err)
{
	uint32_t session;
	if (start_policy_session(t, &session, err) < 0)
		return -1;
	if (policy_secret_endorsement(t, session, err) < 0 ||
	    activate(t, ak, ek, session, id_object, id_len, enc_secret, enc_len, out, cap, out_len, err) < 0) {
		/* A failed command leaves its sessions open. */
		(void)pv_tpm2_flush(t, session, NULL);
		return -1;
	}
	return 0;
}
