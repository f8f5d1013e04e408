/* swtpm's control channel, the little of it podvm speaks: CMD_GET_STATEBLOB, which reads one
 * of a TPM's state blobs (as QEMU's tpm-emulator backend does before a migration). Every
 * field on the wire is a big-endian u32: a request is the command, the state flags, the
 * blob type and an offset; the answer is a result code, the blob's flags, its total length
 * and the length sent, then the blob's bytes. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "error.h"

#define PV_TPM_CMD_SHUTDOWN 3
#define PV_TPM_CMD_STORE_VOLATILE 10
#define PV_TPM_CMD_GET_STATEBLOB 12
#define PV_TPM_BLOB_PERMANENT 1
#define PV_TPM_BLOB_VOLATILE 2
#define PV_TPM_STATE_FLAG_DECRYPTED 1
#define PV_TPM_REQUEST_LEN 16
#define PV_TPM_ANSWER_HEADER_LEN 16
#define PV_TPM_BLOB_MAX (1u << 20)  /* a TPM 2.0's permanent state is a few KiB */

/* A state blob as the migration stream carries it: flags and bytes. */
struct pv_tpm_blob {
	uint32_t flags;
	uint8_t *data;
	size_t len;
};

/* The request for blob `type` (PV_TPM_BLOB_*), decrypted, from its start. */
void pv_tpm_ctrl_encode_get(uint32_t type, uint8_t out[PV_TPM_REQUEST_LEN]);
/* Reads an answer's header: *flags and *len (the blob's length, which follows in full), or
 * an error for a TPM result other than 0, a partial answer or a blob over PV_TPM_BLOB_MAX. */
int pv_tpm_ctrl_decode_header(const uint8_t in[PV_TPM_ANSWER_HEADER_LEN], uint32_t *flags, size_t *len,
			      pv_error *err);
/* Asks for blob `type` over the control channel fd (a connected stream socket) and reads
 * it into *blob (data malloc'd), within timeout_ms. */
int pv_tpm_ctrl_get_blob(int fd, uint32_t type, int timeout_ms, struct pv_tpm_blob *blob, pv_error *err);
void pv_tpm_blob_clear(struct pv_tpm_blob *blob);
/* A command with no parameters (PV_TPM_CMD_STORE_VOLATILE, _SHUTDOWN) whose answer is a
 * result code alone. */
int pv_tpm_ctrl_simple(int fd, uint32_t cmd, int timeout_ms, pv_error *err);
