/* The guest's side of attestation. In a VM with a TPM (config tpm = on): IMA's policy,
 * loaded at start, has the kernel measure every file executed or mapped executable into
 * PCR 10; each container's OCI config, as received, is measured into PCR 11 with an entry
 * in the agent's own event log; and the host's verifier gets, through the agent, the TPM's
 * EK certificate and attestation key, the AK's credential activation and quotes. The agent
 * only relays: every answer is checked on the host against the TPM's signature. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "error.h"

#define ATTEST_PCR_CONFIG 11
#define ATTEST_TPM_DEVICE "/dev/tpmrm0"

/* At start, before any container: mounts securityfs and loads IMA's policy when the VM has
 * a TPM; nothing (and success) when it has none. */
int attest_init(pv_error *err);
bool attest_available(void);

/* Measures a container's OCI config (the bytes the host sent) into PCR 11 and logs it;
 * nothing when the VM has no TPM. */
int attest_measure_config(const char *container_id, const char *json, size_t len, pv_error *err);

/* The EK certificate (malloc'd DER) and the AK's TPMT_PUBLIC (malloc'd). */
int attest_identity(uint8_t **ek_cert, size_t *ek_cert_len, uint8_t **ak_public, size_t *ak_public_len,
		    pv_error *err);
int attest_activate(const uint8_t *id_object, size_t id_len, const uint8_t *enc_secret, size_t enc_len,
		    uint8_t *out, size_t cap, size_t *out_len, pv_error *err);

struct attest_evidence {
	uint8_t *attest, *sig, *ima_log;  /* malloc'd; attest and sig NULL without a nonce */
	size_t attest_len, sig_len, ima_log_len;
	char *event_log;                   /* malloc'd, NUL-terminated */
};
/* A quote over nonce (none when nonce_len is 0) and the logs as they stand after it, so
 * that every PCR value quoted is covered by the logs. */
int attest_quote(const uint8_t *nonce, size_t nonce_len, uint32_t pcr_mask, struct attest_evidence *ev,
		 pv_error *err);
void attest_evidence_clear(struct attest_evidence *ev);
