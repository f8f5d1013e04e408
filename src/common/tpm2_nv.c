/* NV indexes (see tpm2.h): the EK certificate's, defined with platform auth on the host
 * before the guest boots, read in the guest with the index's own (empty) auth. */
#include "tpm2.h"
#include "tpm2_internal.h"
#include "cleanup.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Within every TPM's MAX_NV_BUFFER_SIZE (swtpm's is 1024, the PC Client minimum 512). */
#define NV_CHUNK 512

/* Platform-created (so the owner cannot delete it), written with platform auth, readable
 * by the platform, the owner and anyone with its empty auth; no dictionary-attack lockout
 * for that empty auth. */
#define NV_ATTRIBUTES                                                                                              \
	(PV_TPMA_NV_PLATFORMCREATE | PV_TPMA_NV_PPWRITE | PV_TPMA_NV_PPREAD | PV_TPMA_NV_OWNERREAD | PV_TPMA_NV_AUTHREAD | \
	 PV_TPMA_NV_NO_DA)

/* The index's data size, or -ENOENT (error set) when it is not defined. */
static int nv_size(struct pv_tpm2 *t, uint32_t index, size_t *size, pv_error *err)
{
	struct pv_tpm2_cmd c;
	pv_tpm2_cmd_begin(&c, "TPM2_NV_ReadPublic", PV_TPM_CC_NV_READ_PUBLIC, false);
	pv_tpm2_w_u32(&c.w, index);
	c.ok_rc = PV_TPM_RC_HANDLE_1;
	int r = pv_tpm2_cmd_run(t, &c, NULL, err);
	if (r > 0)
		return pv_error_set_plain(err, ENOENT, "NV index 0x%08x: not defined", index);
	if (r < 0)
		return r;
	size_t n, name_len;
	const uint8_t *pub = pv_tpm2_r_b2b(&c.r, 64, &n);
	(void)pv_tpm2_r_b2b(&c.r, 66, &name_len);
	if (pv_tpm2_cmd_end(&c, err) < 0 || n < 14)
		return pv_error_set_plain(err, EPROTO, "TPM2_NV_ReadPublic: malformed response");
	*size = (size_t)pub[n - 2] << 8 | pub[n - 1];  /* dataSize ends TPMS_NV_PUBLIC */
	return 0;
}

static int nv_undefine(struct pv_tpm2 *t, uint32_t index, pv_error *err)
{
	struct pv_tpm2_cmd c;
	pv_tpm2_cmd_begin_pw(&c, "TPM2_NV_UndefineSpace", PV_TPM_CC_NV_UNDEFINE_SPACE, 2, PV_TPM_RH_PLATFORM, index);
	c.ok_rc = PV_TPM_RC_HANDLE_2;  /* nothing to replace */
	int r = pv_tpm2_cmd_run(t, &c, NULL, err);
	return r != 0 ? (r > 0 ? 0 : r) : pv_tpm2_cmd_end(&c, err);
}

static int nv_define(struct pv_tpm2 *t, uint32_t index, size_t len, pv_error *err)
{
	struct pv_tpm2_cmd c;
	pv_tpm2_cmd_begin_pw(&c, "TPM2_NV_DefineSpace", PV_TPM_CC_NV_DEFINE_SPACE, 1, PV_TPM_RH_PLATFORM, 0);
	pv_tpm2_w_u16(&c.w, 0);   /* auth: empty */
	pv_tpm2_w_u16(&c.w, 14);  /* TPM2B_NV_PUBLIC */
	pv_tpm2_w_u32(&c.w, index);
	pv_tpm2_w_u16(&c.w, PV_TPM_ALG_SHA256);
	pv_tpm2_w_u32(&c.w, NV_ATTRIBUTES);
	pv_tpm2_w_u16(&c.w, 0);  /* authPolicy */
	pv_tpm2_w_u16(&c.w, (uint16_t)len);
	if (pv_tpm2_cmd_run(t, &c, NULL, err) < 0)
		return -1;
	return pv_tpm2_cmd_end(&c, err);
}

static int nv_write(struct pv_tpm2 *t, uint32_t index, const uint8_t *data, size_t n, size_t offset, pv_error *err)
{
	struct pv_tpm2_cmd c;
	pv_tpm2_cmd_begin_pw(&c, "TPM2_NV_Write", PV_TPM_CC_NV_WRITE, 2, PV_TPM_RH_PLATFORM, index);
	pv_tpm2_w_b2b(&c.w, data, n);
	pv_tpm2_w_u16(&c.w, (uint16_t)offset);
	if (pv_tpm2_cmd_run(t, &c, NULL, err) < 0)
		return pv_error_prefix(err, "offset %zu", offset);
	return pv_tpm2_cmd_end(&c, err);
}

int pv_tpm2_nv_store(struct pv_tpm2 *t, uint32_t index, const uint8_t *data, size_t len, pv_error *err)
{
	if (len == 0 || len > UINT16_MAX)
		return pv_error_set_plain(err, EINVAL, "NV index 0x%08x: %zu bytes (1 to %u)", index, len, UINT16_MAX);
	int r = nv_undefine(t, index, err);
	if (r == 0)
		r = nv_define(t, index, len, err);
	for (size_t off = 0; r == 0 && off < len; off += NV_CHUNK)
		r = nv_write(t, index, data + off, len - off < NV_CHUNK ? len - off : NV_CHUNK, off, err);
	return r < 0 ? pv_error_prefix(err, "NV index 0x%08x", index) : 0;
}

static int nv_read(struct pv_tpm2 *t, uint32_t index, uint8_t *out, size_t n, size_t offset, pv_error *err)
{
	struct pv_tpm2_cmd c;
	/* authHandle: the index itself, with its empty auth */
	pv_tpm2_cmd_begin_pw(&c, "TPM2_NV_Read", PV_TPM_CC_NV_READ, 2, index, index);
	pv_tpm2_w_u16(&c.w, (uint16_t)n);
	pv_tpm2_w_u16(&c.w, (uint16_t)offset);
	if (pv_tpm2_cmd_run(t, &c, NULL, err) < 0)
		return pv_error_prefix(err, "offset %zu", offset);
	size_t got = pv_tpm2_r_b2b_copy(&c.r, out, n);
	if (pv_tpm2_cmd_end(&c, err) < 0 || got != n)
		return pv_error_set_plain(err, EPROTO, "TPM2_NV_Read: %zu of %zu bytes at offset %zu", got, n, offset);
	return 0;
}

int pv_tpm2_nv_load(struct pv_tpm2 *t, uint32_t index, uint8_t **data, size_t *len, pv_error *err)
{
	size_t size = 0;
	int r = nv_size(t, index, &size, err);
	if (r < 0)
		return r == -ENOENT ? r : pv_error_prefix(err, "NV index 0x%08x", index);
	_cleanup_free_ uint8_t *buf = malloc(size ? size : 1);
	if (buf == NULL)
		return pv_error_set(err, ENOMEM, "NV index 0x%08x", index);
	for (size_t off = 0; off < size; off += NV_CHUNK)
		if (nv_read(t, index, buf + off, size - off < NV_CHUNK ? size - off : NV_CHUNK, off, err) < 0)
			return pv_error_prefix(err, "NV index 0x%08x", index);
	*data = steal_pointer(&buf);
	*len = size;
	return 0;
}
