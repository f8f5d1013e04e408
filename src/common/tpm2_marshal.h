/* TPM 2.0 wire format for tpm2.c and tpm2_parse.c (not an API of its own): big-endian
 * integers and TPM2B (u16 size, then bytes). Writer and reader keep a sticky error flag so
 * that a command or response is written or read straight through and checked once. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PV_TPM2_MAX 4096  /* a command or response: swtpm's and most TPMs' limit */

struct pv_tpm2_w {
	uint8_t buf[PV_TPM2_MAX];
	size_t len;
	bool over;  /* something did not fit */
};

void pv_tpm2_w_u8(struct pv_tpm2_w *w, uint8_t v);
void pv_tpm2_w_u16(struct pv_tpm2_w *w, uint16_t v);
void pv_tpm2_w_u32(struct pv_tpm2_w *w, uint32_t v);
void pv_tpm2_w_bytes(struct pv_tpm2_w *w, const void *p, size_t n);
/* A TPM2B: the size (n must fit a u16, or the writer fails), then the bytes. */
void pv_tpm2_w_b2b(struct pv_tpm2_w *w, const void *p, size_t n);
/* Patches a u16 or u32 written earlier at offset at. */
void pv_tpm2_w_put16(struct pv_tpm2_w *w, size_t at, uint16_t v);
void pv_tpm2_w_put32(struct pv_tpm2_w *w, size_t at, uint32_t v);

struct pv_tpm2_r {
	const uint8_t *p;
	size_t len, at;
	bool bad;  /* read past the end, or a TPM2B over its limit */
};

void pv_tpm2_r_init(struct pv_tpm2_r *r, const uint8_t *p, size_t len);
uint8_t pv_tpm2_r_u8(struct pv_tpm2_r *r);
uint16_t pv_tpm2_r_u16(struct pv_tpm2_r *r);
uint32_t pv_tpm2_r_u32(struct pv_tpm2_r *r);
uint64_t pv_tpm2_r_u64(struct pv_tpm2_r *r);
/* n bytes in place, or NULL (and bad) when fewer are left. */
const uint8_t *pv_tpm2_r_bytes(struct pv_tpm2_r *r, size_t n);
/* A TPM2B of at most max bytes: its bytes in place and *n, or NULL (and bad). */
const uint8_t *pv_tpm2_r_b2b(struct pv_tpm2_r *r, size_t max, size_t *n);
/* A TPM2B of at most max bytes copied into out; returns its size (0 when bad). */
size_t pv_tpm2_r_b2b_copy(struct pv_tpm2_r *r, uint8_t *out, size_t max);
/* Whether everything read so far was there and nothing is left over. */
bool pv_tpm2_r_done(const struct pv_tpm2_r *r);
