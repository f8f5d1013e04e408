#include "tpm_stream.h"
#include "util.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define SECTION_FULL 0x04
#define SECTION_FOOTER 0x7e
#define SECTION_NAME "tpm-emulator"
#define NAME_LEN (sizeof(SECTION_NAME) - 1)
#define N_BLOBS 3

/* Where one section's parts lie in the stream. */
struct section {
	size_t blobs;             /* the first blob's flags */
	size_t blob[N_BLOBS];     /* each blob's flags (its size and bytes follow) */
	uint32_t size[N_BLOBS];
};

/* Whether a section header starts at `at` (its type byte) and its blobs and footer fit
 * the stream; fills s. */
static bool parse_section(const uint8_t *in, size_t len, size_t at, struct section *s)
{
	size_t header = 1 + 4 + 1 + NAME_LEN + 4 + 4;
	if (at + header > len || in[at] != SECTION_FULL)
		return false;
	uint32_t id = pv_get_be32(in + at + 1);
	size_t p = at + header;
	s->blobs = p;
	for (int i = 0; i < N_BLOBS; i++) {
		if (len - p < 8)
			return false;
		s->blob[i] = p;
		s->size[i] = pv_get_be32(in + p + 4);
		if (len - p - 8 < s->size[i])
			return false;
		p += 8 + s->size[i];
	}
	if (len - p < 5 || in[p] != SECTION_FOOTER || pv_get_be32(in + p + 1) != id)
		return false;
	return true;
}

/* The first place the name appears as a well-formed section's. */
static bool find_section(const uint8_t *in, size_t len, struct section *s)
{
	static const uint8_t needle[] = "\x0c" SECTION_NAME;
	size_t n = sizeof(needle) - 1;
	for (size_t i = 5; i + n <= len; i++)
		if (memcmp(in + i, needle, n) == 0 && parse_section(in, len, i - 5, s))
			return true;
	return false;
}

static uint8_t *put_blob(uint8_t *o, const struct pv_tpm_blob *b)
{
	pv_put_be32(o, b->flags);
	pv_put_be32(o + 4, (uint32_t)b->len);
	if (b->len)
		memcpy(o + 8, b->data, b->len);
	return o + 8 + b->len;
}

int pv_tpm_stream_swap(const uint8_t *in, size_t len, const struct pv_tpm_blob *permanent,
		       const struct pv_tpm_blob *volatile_, uint8_t **out, size_t *out_len, pv_error *err)
{
	struct section s;
	if (!find_section(in, len, &s))
		return pv_error_set_plain(err, EINVAL, "VM state: no %s section", SECTION_NAME);
	if (permanent->len > PV_TPM_BLOB_MAX || volatile_->len > PV_TPM_BLOB_MAX)
		return pv_error_set_plain(err, EMSGSIZE, "VM state: TPM blob too large");
	size_t kept = len - s.blob[2];  /* the save-state blob, the footer, the rest */
	size_t n = s.blobs + 16 + permanent->len + volatile_->len + kept;
	uint8_t *o = malloc(n);
	if (o == NULL)
		return pv_error_set(err, ENOMEM, "VM state");
	memcpy(o, in, s.blobs);
	uint8_t *p = put_blob(put_blob(o + s.blobs, permanent), volatile_);
	memcpy(p, in + s.blob[2], kept);
	*out = o;
	*out_len = n;
	return 0;
}
