/* Blobs of an image source: digest checking and reading by path inside the source. */
#include "image-internal.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct pv_hash {
	EVP_MD_CTX *ctx;
	char *expected;
};

/* The algorithms the OCI image spec registers, with their hex lengths. */
static size_t digest_hex_len(const char *alg, size_t alg_len)
{
	if (alg_len == 6 && strncmp(alg, "sha256", 6) == 0)
		return 64;
	if (alg_len == 6 && strncmp(alg, "sha512", 6) == 0)
		return 128;
	return 0;
}

bool pv_digest_valid(const char *digest)
{
	const char *colon = digest ? strchr(digest, ':') : NULL;
	if (colon == NULL)
		return false;
	size_t hex_len = digest_hex_len(digest, (size_t)(colon - digest));
	const char *hex = colon + 1;
	if (hex_len == 0 || strlen(hex) != hex_len)
		return false;
	/* Lower-case only: the hex doubles as a file name under blobs/. */
	return strspn(hex, "0123456789abcdef") == hex_len;
}

char *pv_digest_blob_path(const char *digest, pv_error *err)
{
	char *path = NULL;
	if (!pv_digest_valid(digest)) {
		pv_error_set_plain(err, EINVAL, "invalid digest \"%s\"", digest ? digest : "");
		return NULL;
	}
	const char *colon = strchr(digest, ':');
	if (asprintf(&path, "blobs/%.*s/%s", (int)(colon - digest), digest, colon + 1) < 0) {
		pv_error_set(err, ENOMEM, "blob path");
		return NULL;
	}
	return path;
}

const char *pv_blob_label(const struct pv_blob *blob, char *buf, size_t size)
{
	if (blob->digest) {
		const char *colon = strchr(blob->digest, ':');
		int alg_len = colon ? (int)(colon - blob->digest) : 0;
		snprintf(buf, size, "%.*s:%.12s", alg_len, blob->digest, colon ? colon + 1 : "");
	} else {
		snprintf(buf, size, "%s", blob->path);
	}
	return buf;
}

int pv_blob_open(int dirfd, const struct pv_blob *blob, pv_error *err)
{
	/* The source may hold symlinks (docker save links duplicate layers); they must not
	 * lead out of it. */
	int fd = pv_root_open(dirfd, blob->path, O_RDONLY);
	if (fd < 0)
		return pv_error_set_plain(err, -fd, "%s", strerror(-fd));
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return pv_error_set_plain(err, EINVAL, "%s: not a regular file", blob->path);
	}
	return fd;
}

static int blob_read(int dirfd, const struct pv_blob *blob, char **out, size_t *len,
		     pv_error *err)
{
	_cleanup_close_ int fd = pv_blob_open(dirfd, blob, err);
	if (fd < 0)
		return fd;
	_cleanup_free_ char *buf = NULL;
	int r = pv_read_fd(fd, PV_JSON_MAX, &buf, len, err);
	if (r < 0)
		return r;
	if (blob->digest) {
		struct pv_hash *h = NULL;
		r = pv_hash_new(blob->digest, &h, err);
		if (r < 0)
			return r;
		pv_hash_update(h, buf, *len);
		r = pv_hash_check(h, err);
		pv_hash_free(h);
		if (r < 0)
			return r;
	}
	*out = steal_pointer(&buf);
	return 0;
}

int pv_blob_read_json(int dirfd, const struct pv_blob *blob, json_t **out, pv_error *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	int r = blob_read(dirfd, blob, &buf, &len, err);
	if (r < 0)
		return r;
	json_error_t jerr;
	json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		return pv_error_set_plain(err, EINVAL, "invalid JSON at line %d: %s", jerr.line,
					  jerr.text);
	if (!json_is_object(root) && !json_is_array(root)) {
		json_decref(root);
		return pv_error_set_plain(err, EINVAL, "not a JSON object");
	}
	*out = root;
	return 0;
}

int pv_hash_new(const char *digest, struct pv_hash **out, pv_error *err)
{
	if (!pv_digest_valid(digest))
		return pv_error_set_plain(err, EINVAL, "invalid digest \"%s\"", digest);
	/* pv_digest_valid guarantees "sha256:" or "sha512:". */
	char alg[8] = "";
	memcpy(alg, digest, strcspn(digest, ":"));
	struct pv_hash *h = calloc(1, sizeof(*h));
	if (h == NULL)
		return pv_error_set(err, ENOMEM, "digest");
	h->ctx = EVP_MD_CTX_new();
	h->expected = strdup(digest);
	const EVP_MD *md = EVP_get_digestbyname(alg);
	if (h->ctx == NULL || h->expected == NULL || md == NULL ||
	    EVP_DigestInit_ex(h->ctx, md, NULL) != 1) {
		pv_hash_free(h);
		return pv_error_set_plain(err, ENOMEM, "cannot compute %s digests", alg);
	}
	*out = h;
	return 0;
}

void pv_hash_update(struct pv_hash *h, const void *buf, size_t len)
{
	EVP_DigestUpdate(h->ctx, buf, len);
}

int pv_hash_drain_fd(struct pv_hash *h, int fd, pv_error *err)
{
	char buf[65536];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return pv_error_set(err, errno, "read");
		if (n == 0)
			return 0;
		pv_hash_update(h, buf, (size_t)n);
	}
}

int pv_hash_check(struct pv_hash *h, pv_error *err)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	char hex[2 * EVP_MAX_MD_SIZE + 1] = "";
	if (EVP_DigestFinal_ex(h->ctx, md, &md_len) != 1)
		return pv_error_set_plain(err, EIO, "digest computation failed");
	pv_hex_encode(md, md_len, hex);
	const char *want = strchr(h->expected, ':') + 1;
	if (strcmp(want, hex) != 0)
		return pv_error_set_plain(err, EINVAL, "digest mismatch (content has %.*s:%.12s)",
					  (int)(want - 1 - h->expected), h->expected, hex);
	return 0;
}

void pv_hash_free(struct pv_hash *h)
{
	if (h == NULL)
		return;
	EVP_MD_CTX_free(h->ctx);
	free(h->expected);
	free(h);
}
