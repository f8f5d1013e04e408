#include "hasher.h"
#include "util.h"
#include "cleanup.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define READ_BLOCK 65536

struct pv_hasher {
	EVP_MD_CTX *ctx;
};

int pv_hasher_new(struct pv_hasher **out, pv_error *err)
{
	struct pv_hasher *h = calloc(1, sizeof(*h));
	if (h)
		h->ctx = EVP_MD_CTX_new();
	if (h == NULL || h->ctx == NULL || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
		pv_hasher_free(h);
		return pv_error_set_plain(err, ENOMEM, "cannot compute sha256 digests");
	}
	*out = h;
	return 0;
}

void pv_hasher_update(struct pv_hasher *h, const void *buf, size_t len)
{
	EVP_DigestUpdate(h->ctx, buf, len);
}

int pv_hasher_block(struct pv_hasher *h, uint64_t *pos, uint64_t offset, const void *buf, size_t len,
		    pv_error *err)
{
	static const uint8_t zeros[READ_BLOCK];
	if (offset < *pos)
		return pv_error_set_plain(err, EINVAL, "data block at %llu before the end of the last (%llu)",
					  (unsigned long long)offset, (unsigned long long)*pos);
	while (*pos < offset) {
		size_t n = offset - *pos < sizeof(zeros) ? (size_t)(offset - *pos) : sizeof(zeros);
		pv_hasher_update(h, zeros, n);
		*pos += n;
	}
	pv_hasher_update(h, buf, len);
	*pos += len;
	return 0;
}

int pv_hasher_final(struct pv_hasher *h, uint8_t out[PV_SHA256_LEN], pv_error *err)
{
	unsigned int len = 0;
	if (EVP_DigestFinal_ex(h->ctx, out, &len) != 1 || len != PV_SHA256_LEN)
		return pv_error_set_plain(err, EIO, "sha256 computation failed");
	return 0;
}

void pv_hasher_free(struct pv_hasher *h)
{
	if (h == NULL)
		return;
	EVP_MD_CTX_free(h->ctx);
	free(h);
}

int pv_sha256_fd(int fd, uint8_t out[PV_SHA256_LEN], pv_error *err)
{
	_cleanup_hasher_ struct pv_hasher *h = NULL;
	_cleanup_free_ char *buf = malloc(READ_BLOCK);
	if (buf == NULL)
		return pv_error_set(err, ENOMEM, "sha256");
	if (pv_hasher_new(&h, err) < 0)
		return -1;
	for (;;) {
		ssize_t n = read(fd, buf, READ_BLOCK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return pv_error_set(err, errno, "read");
		if (n == 0)
			return pv_hasher_final(h, out, err);
		pv_hasher_update(h, buf, (size_t)n);
	}
}

void pv_sha256_hex(const uint8_t digest[PV_SHA256_LEN], char *hex)
{
	pv_hex_encode(digest, PV_SHA256_LEN, hex);
}

int pv_sha256_parse(const char *hex, uint8_t out[PV_SHA256_LEN])
{
	return pv_hex_decode(hex, strnlen(hex, PV_SHA256_HEX_LEN + 1), out, PV_SHA256_LEN);
}
