/* The host's side of pod attestation, with OpenSSL's libcrypto: a node-local CA that
 * certifies each VM's EK, TPM2_MakeCredential done in software (so that only the TPM
 * holding that EK learns a secret bound to the AK's name), and checks of quote signatures.
 * The TPM structures come from the guest's TPM client, ../common/tpm2.h.
 *
 * Every int function returns 0, or a negative value with *err set. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "error.h"
#include "tpm2.h"

/* Node-local CA: dir/ca.key (EC P-256, 0600) and dir/ca.pem (self-signed, CN "podvm node CA
 * <hostname>", 10 years), dir made (0700) when missing; does nothing if both files exist. */
int pv_attest_ca_create(const char *dir, pv_error *err);
/* An X.509 v3 EK certificate for the ECC key ek signed by the CA in ca_dir (subject CN = cn,
 * keyUsage keyEncipherment and keyAgreement, 1 year, random serial); DER, malloc'd. */
int pv_attest_ca_issue_ek_cert(const char *ca_dir, const struct pv_tpm2_public *ek, const char *cn, uint8_t **der,
			       size_t *der_len, pv_error *err);
/* Verifies the certificate (exactly der_len bytes of DER) against ca_dir's CA, at the
 * present time, and returns its EC P-256 public point. */
int pv_attest_verify_ek_cert(const char *ca_dir, const uint8_t *der, size_t der_len, uint8_t x[32], uint8_t y[32],
			     pv_error *err);
/* TPM2_MakeCredential in software for an ECC P-256 EK (TPM 2.0 Part 1 §24): an ephemeral
 * ECDH key, seed = KDFe("IDENTITY"), AES-128-CFB (zero IV) with KDFa("STORAGE") and
 * HMAC-SHA256 with KDFa("INTEGRITY") over encIdentity || name. secret: 1 to 32 bytes.
 * Outputs the TPM2B_ID_OBJECT's content and the TPM2B_ENCRYPTED_SECRET's (a marshalled
 * TPMS_ECC_POINT), malloc'd. */
int pv_attest_make_credential(const uint8_t ek_x[32], const uint8_t ek_y[32], const uint8_t *ak_name, size_t name_len,
			      const uint8_t *secret, size_t secret_len, uint8_t **id_object, size_t *id_len,
			      uint8_t **enc_secret, size_t *enc_len, pv_error *err);
/* An ECDSA P-256 signature (r, s) over SHA-256(attest) by the key (x, y). Checks only the
 * signature: whether key is a restricted signing key is the caller's (key->attributes). */
int pv_attest_verify_signature(const struct pv_tpm2_public *key, const uint8_t *attest, size_t attest_len,
			       const uint8_t r[32], const uint8_t s[32], pv_error *err);
int pv_attest_random(uint8_t *buf, size_t len, pv_error *err);
