/* The TPM structures a guest sends the host's verifier (src/common/tpm2_parse.c): the first
 * byte picks the parser (mod 3: a TPMT_PUBLIC, a TPMS_ATTEST quote, a TPMT_SIGNATURE), the
 * rest is its input. What parses must hold up: a public area's name is SHA-256 of exactly
 * its bytes, a quote's sizes are within their buffers. */
#include "fuzz.h"
#include "sha256.h"
#include "tpm2.h"

static void parse_public(const uint8_t *data, size_t size)
{
	struct pv_tpm2_public pub;
	uint8_t d[32];
	pv_error err = NULL;
	if (!fuzz_parsed(pv_tpm2_parse_public(data, size, &pub, &err), &err))
		return;
	pv_sha256(data, size, d);
	if (pub.area_len != size || memcmp(pub.area, data, size) != 0 || memcmp(pub.name + 2, d, 32) != 0)
		abort();
}

static void parse_quote(const uint8_t *data, size_t size)
{
	struct pv_tpm2_quote_info q;
	pv_error err = NULL;
	if (!fuzz_parsed(pv_tpm2_parse_quote(data, size, &q, &err), &err))
		return;
	if (q.nonce_len > sizeof(q.nonce) || q.signer_name_len > sizeof(q.signer_name))
		abort();
}

static void parse_signature(const uint8_t *data, size_t size)
{
	uint8_t r[32], s[32];
	pv_error err = NULL;
	(void)fuzz_parsed(pv_tpm2_parse_ecdsa_signature(data, size, r, s, &err), &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	uint8_t *copy = fuzz_copy(data + 1, size - 1);
	switch (data[0] % 3) {
	case 0:
		parse_public(copy, size - 1);
		break;
	case 1:
		parse_quote(copy, size - 1);
		break;
	default:
		parse_signature(copy, size - 1);
	}
	free(copy);
	return 0;
}
