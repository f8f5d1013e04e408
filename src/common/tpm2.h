/* A minimal TPM 2.0 command client: what attested pods need (EK, AK, PCRs, an NV index for
 * the EK certificate, credential activation, quotes), marshalled by hand so that the
 * static guest agent needs neither libtss2 nor OpenSSL. The transport is a connected fd:
 * the guest's /dev/tpmrm0 or a unix stream socket to swtpm's data channel.
 *
 * Every int function returns 0, or a negative value with *err set; a TPM response code
 * other than success reads "TPM2_CreatePrimary: TPM error 0x0000098e". The parsers
 * (pv_tpm2_parse_*) take bytes from an untrusted guest: they reject anything malformed and
 * never read out of bounds. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "error.h"

struct pv_tpm2 {
	int fd;
};

/* A device is opened O_RDWR|O_CLOEXEC; a unix socket (swtpm's data channel) connected. */
int pv_tpm2_open(struct pv_tpm2 *t, const char *device, pv_error *err);
void pv_tpm2_close(struct pv_tpm2 *t);
/* Writes one command, reads one response (at most cap bytes) into rsp: *rsp_len bytes,
 * as many as the response header says, waiting at most 60 s. The response code is not
 * looked at. */
int pv_tpm2_transact(struct pv_tpm2 *t, const uint8_t *cmd, size_t len, uint8_t *rsp, size_t cap, size_t *rsp_len,
		     pv_error *err);
/* TPM2_Startup(CLEAR); TPM_RC_INITIALIZE (already started) counts as success. */
int pv_tpm2_startup_clear(struct pv_tpm2 *t, pv_error *err);

/* An ECC NIST P-256 key's public part. */
struct pv_tpm2_public {
	uint8_t x[32], y[32];
	uint8_t name[34];        /* TPM name: 0x000b || SHA-256(TPMT_PUBLIC) */
	uint8_t area[512];       /* the TPMT_PUBLIC bytes as the TPM returned them */
	size_t area_len;         /* (without the TPM2B size) */
	uint32_t attributes;     /* TPMA_OBJECT: a verifier checks PV_TPM2_AK_ATTRIBUTES */
};

/* TPMA_OBJECT bits. */
#define PV_TPMA_FIXED_TPM (1u << 1)
#define PV_TPMA_FIXED_PARENT (1u << 4)
#define PV_TPMA_SENSITIVE_DATA_ORIGIN (1u << 5)
#define PV_TPMA_USER_WITH_AUTH (1u << 6)
#define PV_TPMA_ADMIN_WITH_POLICY (1u << 7)
#define PV_TPMA_RESTRICTED (1u << 16)
#define PV_TPMA_DECRYPT (1u << 17)
#define PV_TPMA_SIGN (1u << 18)
/* The AK's: a restricted signing key that never leaves its TPM (so it signs only quotes
 * and other TPM-made structures). */
#define PV_TPM2_AK_ATTRIBUTES \
	(PV_TPMA_FIXED_TPM | PV_TPMA_FIXED_PARENT | PV_TPMA_SENSITIVE_DATA_ORIGIN | PV_TPMA_USER_WITH_AUTH | \
	 PV_TPMA_RESTRICTED | PV_TPMA_SIGN)

/* The standard TCG EK (ECC P-256, "low range" template L-2, authPolicy =
 * PolicySecret(TPM_RH_ENDORSEMENT)) as a primary key in the endorsement hierarchy (empty
 * auth): a transient object, *handle, to flush. */
int pv_tpm2_create_ek(struct pv_tpm2 *t, uint32_t *handle, struct pv_tpm2_public *pub, pv_error *err);
/* The attestation key: a primary in the endorsement hierarchy, ECC P-256, ECDSA-SHA256,
 * PV_TPM2_AK_ATTRIBUTES, empty auth; the same key on every call for a given TPM. */
int pv_tpm2_create_ak(struct pv_tpm2 *t, uint32_t *handle, struct pv_tpm2_public *pub, pv_error *err);
int pv_tpm2_flush(struct pv_tpm2 *t, uint32_t handle, pv_error *err);
/* SHA-256 bank, PCRs 0 to 23; a password session with empty auth. */
int pv_tpm2_pcr_extend(struct pv_tpm2 *t, unsigned pcr, const uint8_t digest[32], pv_error *err);
int pv_tpm2_pcr_read(struct pv_tpm2 *t, unsigned pcr, uint8_t value[32], pv_error *err);

#define PV_TPM2_EK_CERT_NV_ECC 0x01c0000a  /* TCG: ECC P-256 EK certificate index */
/* Defines (platform auth, empty) an NV index of len bytes (at most the TPM's limit: 2048
 * for swtpm) readable with owner auth or its own (empty) auth and writes data in chunks;
 * replaces an existing index. */
int pv_tpm2_nv_store(struct pv_tpm2 *t, uint32_t index, const uint8_t *data, size_t len, pv_error *err);
/* The whole index, malloc'd: NV_ReadPublic for the size, then chunked NV_Read with the
 * index's own auth. An index that does not exist is -ENOENT. */
int pv_tpm2_nv_load(struct pv_tpm2 *t, uint32_t index, uint8_t **data, size_t *len, pv_error *err);

/* TPM2_ActivateCredential with the AK (password session) and the EK (policy session:
 * unbound, unsalted, SHA-256, PolicySecret(TPM_RH_ENDORSEMENT)). id_object is the
 * TPM2B_ID_OBJECT's content, enc_secret the TPM2B_ENCRYPTED_SECRET's; out gets the
 * recovered TPM2B_DIGEST's content. */
int pv_tpm2_activate_credential(struct pv_tpm2 *t, uint32_t ak, uint32_t ek, const uint8_t *id_object, size_t id_len,
				const uint8_t *enc_secret, size_t enc_len, uint8_t *out, size_t cap, size_t *out_len,
				pv_error *err);
/* TPM2_Quote with the AK over the SHA-256 PCRs in pcr_mask (bit n = PCR n, n < 24),
 * qualifyingData = nonce (at most 32 bytes). attest: the TPMS_ATTEST bytes (TPM2B_ATTEST
 * content); sig: the TPMT_SIGNATURE bytes; both malloc'd. */
int pv_tpm2_quote(struct pv_tpm2 *t, uint32_t ak, const uint8_t *nonce, size_t nonce_len, uint32_t pcr_mask,
		  uint8_t **attest, size_t *attest_len, uint8_t **sig, size_t *sig_len, pv_error *err);

/* A TPMT_PUBLIC of an ECC NIST P-256 key with nameAlg SHA-256, exactly len bytes. */
int pv_tpm2_parse_public(const uint8_t *area, size_t len, struct pv_tpm2_public *pub, pv_error *err);

struct pv_tpm2_quote_info {
	uint8_t nonce[64];           /* extraData */
	size_t nonce_len;
	uint32_t pcr_mask;
	uint8_t pcr_digest[32];
	uint64_t clock;
	uint32_t reset_count, restart_count;
	uint8_t signer_name[66];     /* qualifiedSigner */
	size_t signer_name_len;
};
/* A TPMS_ATTEST: magic TPM_GENERATED_VALUE, type TPM_ST_ATTEST_QUOTE, one PCR selection
 * of the SHA-256 bank, exactly len bytes. */
int pv_tpm2_parse_quote(const uint8_t *attest, size_t len, struct pv_tpm2_quote_info *q, pv_error *err);
/* A TPMT_SIGNATURE of ECDSA with SHA-256; r and s left-padded to 32 bytes. */
int pv_tpm2_parse_ecdsa_signature(const uint8_t *sig, size_t len, uint8_t r[32], uint8_t s[32], pv_error *err);
