/* TPM 2.0 constants (TPM 2.0 Part 2) that tpm2.c and tpm2_parse.c use. */
#pragma once
#include "tpm2_marshal.h"

#define PV_TPM_ST_NO_SESSIONS 0x8001
#define PV_TPM_ST_SESSIONS 0x8002
#define PV_TPM_ST_ATTEST_QUOTE 0x8018
#define PV_TPM_GENERATED_VALUE 0xff544347u

#define PV_TPM_ALG_AES 0x0006
#define PV_TPM_ALG_SHA256 0x000b
#define PV_TPM_ALG_NULL 0x0010
#define PV_TPM_ALG_ECDSA 0x0018
#define PV_TPM_ALG_ECDAA 0x001a
#define PV_TPM_ALG_ECC 0x0023
#define PV_TPM_ALG_CFB 0x0043
#define PV_TPM_ECC_NIST_P256 0x0003

#define PV_TPM_CC_NV_UNDEFINE_SPACE 0x0122
#define PV_TPM_CC_NV_DEFINE_SPACE 0x012a
#define PV_TPM_CC_CREATE_PRIMARY 0x0131
#define PV_TPM_CC_NV_WRITE 0x0137
#define PV_TPM_CC_STARTUP 0x0144
#define PV_TPM_CC_ACTIVATE_CREDENTIAL 0x0147
#define PV_TPM_CC_NV_READ 0x014e
#define PV_TPM_CC_POLICY_SECRET 0x0151
#define PV_TPM_CC_QUOTE 0x0158
#define PV_TPM_CC_FLUSH_CONTEXT 0x0165
#define PV_TPM_CC_NV_READ_PUBLIC 0x0169
#define PV_TPM_CC_START_AUTH_SESSION 0x0176
#define PV_TPM_CC_PCR_READ 0x017e
#define PV_TPM_CC_PCR_EXTEND 0x0182

#define PV_TPM_RH_OWNER 0x40000001u
#define PV_TPM_RH_NULL 0x40000007u
#define PV_TPM_RS_PW 0x40000009u
#define PV_TPM_RH_ENDORSEMENT 0x4000000bu
#define PV_TPM_RH_PLATFORM 0x4000000cu

#define PV_TPM_RC_SUCCESS 0x000
#define PV_TPM_RC_INITIALIZE 0x100
#define PV_TPM_RC_YIELDED 0x908
#define PV_TPM_RC_TESTING 0x90a
#define PV_TPM_RC_RETRY 0x922
/* TPM_RC_HANDLE for the command's first or second handle: an NV index not defined. */
#define PV_TPM_RC_HANDLE_1 0x18b
#define PV_TPM_RC_HANDLE_2 0x28b

#define PV_TPM_SE_POLICY 0x01

/* TPMA_NV bits. */
#define PV_TPMA_NV_PPWRITE (1u << 0)
#define PV_TPMA_NV_PPREAD (1u << 16)
#define PV_TPMA_NV_OWNERREAD (1u << 17)
#define PV_TPMA_NV_AUTHREAD (1u << 18)
#define PV_TPMA_NV_NO_DA (1u << 25)
#define PV_TPMA_NV_PLATFORMCREATE (1u << 30)

#include "tpm2.h"
#include <stdbool.h>

/* One command and its response, for the functions of tpm2*.c: begin, write handles,
 * password (or sessions), parameters; run; read the response's parameters from r; end. */
struct pv_tpm2_cmd {
	const char *name;        /* "TPM2_CreatePrimary", for messages */
	bool sessions;           /* tag TPM_ST_SESSIONS: the response has parameterSize */
	uint32_t ok_rc;          /* a response code besides success that the caller handles */
	uint32_t rc;             /* the response code */
	struct pv_tpm2_w w;
	uint8_t rsp[PV_TPM2_MAX];
	struct pv_tpm2_r r;      /* over the response's parameters, after run */
};

void pv_tpm2_cmd_begin(struct pv_tpm2_cmd *c, const char *name, uint16_t cc, bool sessions);
/* One authorization session (9 bytes): empty nonce and HMAC. */
void pv_tpm2_w_session(struct pv_tpm2_w *w, uint32_t handle);
/* An authorization area of one password session with empty auth. */
void pv_tpm2_cmd_password(struct pv_tpm2_cmd *c);
/* begin (with sessions), nhandles (1 or 2) handles, the first authorized by password. */
void pv_tpm2_cmd_begin_pw(struct pv_tpm2_cmd *c, const char *name, uint16_t cc, int nhandles, uint32_t h1, uint32_t h2);
/* Sends the command and reads the response's header and its handle into *out_handle
 * (when not NULL). Returns 1 (no error set) for c->ok_rc, 0 on success. */
int pv_tpm2_cmd_run(struct pv_tpm2 *t, struct pv_tpm2_cmd *c, uint32_t *out_handle, pv_error *err);
/* Checks that the response's parameters were all there and nothing is left. */
int pv_tpm2_cmd_end(struct pv_tpm2_cmd *c, pv_error *err);
/* TPML_PCR_SELECTION of the SHA-256 bank: write one with a mask of PCRs 0-23; read one
 * (marks r bad unless it is exactly one SHA-256 bank of at most 4 bytes of bitmap). */
void pv_tpm2_w_sha256_selection(struct pv_tpm2_w *w, uint32_t mask);
uint32_t pv_tpm2_r_sha256_selection(struct pv_tpm2_r *r);
