/* Images without their layers' content (src/libpodvm/image: layout.c, archive.c, blob.c,
 * config.c, image.c through pv_image_prepare): index.json, manifests, nested indexes, image
 * configs, docker archives' manifest.json. The input is text in parts separated by lines
 * "--":
 *   1. a header: "docker" for a docker archive (else an OCI layout), ".tar" to pack it in
 *      a tarball (a docker archive always is), "layout" when part 2 is the oci-layout file
 *      (else it is {"imageLayoutVersion": "1.0.0"}), ":TAG" for a reference with that tag;
 *   2. index.json (OCI) or manifest.json (docker);
 *   3. and on: blobs 1, 2, ... (8 at most), each stored as blobs/sha256/<hex> and <hex>.json.
 * Digests cannot be guessed, so "@N" in a part stands for the hex of blob N's sha256 (blob N
 * as stored, after its own replacements; a blob can only name blobs after it). An empty
 * blob doubles as an empty layer. */
#include "fuzz.h"
#include "image.h"

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>
#include <sys/stat.h>

#define SEP "\n--\n"
#define MAX_PARTS 11
#define MAX_BLOBS 8
#define HEX_LEN 64
#define DEFAULT_LAYOUT "{\"imageLayoutVersion\": \"1.0.0\"}"

struct doc {
	char *path;     /* relative to the image's root */
	uint8_t *data;
	size_t len;
};

struct image {
	struct doc docs[2 + 2 * MAX_BLOBS];
	size_t n_docs;
	char hex[MAX_BLOBS + 1][HEX_LEN + 1];  /* of blob N, "" until known */
};

static void sha256_hex(const uint8_t *data, size_t len, char out[HEX_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	if (EVP_Digest(data, len, md, &n, EVP_sha256(), NULL) != 1 || n != HEX_LEN / 2)
		abort();
	for (unsigned i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* The part with each "@N" whose blob N is known replaced by its hex. */
static uint8_t *substitute(const struct image *img, struct fuzz_part p, size_t *len)
{
	uint8_t *out = malloc(p.len * (HEX_LEN / 2) + 1);
	if (out == NULL)
		abort();
	size_t n = 0;
	for (size_t i = 0; i < p.len; i++) {
		unsigned k = i + 1 < p.len ? (unsigned)(p.data[i + 1] - '0') : 0;
		if (p.data[i] == '@' && k >= 1 && k <= MAX_BLOBS && img->hex[k][0]) {
			memcpy(out + n, img->hex[k], HEX_LEN);
			n += HEX_LEN;
			i++;
		} else {
			out[n++] = p.data[i];
		}
	}
	*len = n;
	return out;
}

static void add_doc(struct image *img, const char *path, uint8_t *data, size_t len)
{
	struct doc *d = &img->docs[img->n_docs++];
	d->path = strdup(path);
	d->data = data;
	d->len = len;
	if (d->path == NULL)
		abort();
}

static void add_blob(struct image *img, size_t k, struct fuzz_part p)
{
	size_t len;
	uint8_t *data = substitute(img, p, &len);
	sha256_hex(data, len, img->hex[k]);
	uint8_t *copy = malloc(len + 1);
	if (copy == NULL)
		abort();
	memcpy(copy, data, len);
	char path[HEX_LEN + 16];
	snprintf(path, sizeof(path), "blobs/sha256/%s", img->hex[k]);
	add_doc(img, path, data, len);
	snprintf(path, sizeof(path), "%s.json", img->hex[k]);
	add_doc(img, path, copy, len);
}

static void image_clear(struct image *img)
{
	for (size_t i = 0; i < img->n_docs; i++) {
		free(img->docs[i].path);
		free(img->docs[i].data);
	}
}

static void write_dir(const struct image *img, const char *root)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/blobs/sha256", root);
	if (pv_mkdir_p(path, 0755, NULL) < 0)
		abort();
	for (size_t i = 0; i < img->n_docs; i++) {
		snprintf(path, sizeof(path), "%s/%s", root, img->docs[i].path);
		fuzz_write(path, img->docs[i].data, img->docs[i].len);
	}
}

static void write_tar(const struct image *img, const char *file)
{
	struct archive *a = archive_write_new();
	if (a == NULL || archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
	    archive_write_open_filename(a, file) != ARCHIVE_OK)
		abort();
	for (size_t i = 0; i < img->n_docs; i++) {
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname(e, img->docs[i].path);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_size(e, (la_int64_t)img->docs[i].len);
		if (archive_write_header(a, e) != ARCHIVE_OK ||
		    archive_write_data(a, img->docs[i].data, img->docs[i].len) < 0)
			abort();
		archive_entry_free(e);
	}
	if (archive_write_close(a) != ARCHIVE_OK)
		abort();
	archive_write_free(a);
}

static bool exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

/* pv_image_prepare on ref, and its promises: dest made on success and only then, scratch
 * gone either way. */
static void prepare(const char *base, const char *ref)
{
	char dest[512], scratch[512];
	snprintf(dest, sizeof(dest), "%s/dest", base);
	snprintf(scratch, sizeof(scratch), "%s/scratch", base);
	char *rootfs = NULL, *key = NULL;
	struct pv_image_config cfg;
	pv_error err = NULL;
	int r = pv_image_prepare(ref, dest, scratch, &rootfs, &cfg, &err);
	if (r < 0 && (err == NULL || err->msg == NULL || rootfs != NULL || exists(dest)))
		abort();
	if (r == 0 && (rootfs == NULL || strcmp(rootfs, dest) != 0 || !exists(dest)))
		abort();
	if (exists(scratch))
		abort();
	pv_error_release(&err);
	if (pv_image_identity(ref, &key, &err) < 0 && (err == NULL || err->msg == NULL))
		abort();
	pv_error_release(&err);
	free(key);
	free(rootfs);
	pv_image_config_clear(&cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_part parts[MAX_PARTS];
	size_t n = fuzz_split(data, size, SEP, strlen(SEP), parts, MAX_PARTS);
	if (n < 2)
		return 0;
	_cleanup_free_ char *header = fuzz_strndup(parts[0].data, parts[0].len);
	bool docker = strstr(header, "docker") != NULL;
	bool tarball = docker || strstr(header, ".tar") != NULL;
	size_t first = strstr(header, "layout") ? 2 : 1;  /* index.json or manifest.json */
	const char *tag = strchr(header, ':');
	if (first + 1 > n)
		return 0;
	size_t n_blobs = n - first - 1 < MAX_BLOBS ? n - first - 1 : MAX_BLOBS;
	struct image img = { .n_docs = 0 };
	for (size_t k = n_blobs; k >= 1; k--)
		add_blob(&img, k, parts[first + k]);
	size_t len;
	uint8_t *top = substitute(&img, parts[first], &len);
	add_doc(&img, docker ? "manifest.json" : "index.json", top, len);
	if (!docker) {
		uint8_t *layout = first == 2 ? substitute(&img, parts[1], &len)
					     : (uint8_t *)strdup(DEFAULT_LAYOUT);
		if (first == 1)
			len = strlen(DEFAULT_LAYOUT);
		add_doc(&img, "oci-layout", layout, len);
	}
	char base[256], path[512], ref[1024];
	fuzz_mkdtemp(base);
	if (tarball) {
		snprintf(path, sizeof(path), "%s/image.tar", base);
		write_tar(&img, path);
	} else {
		snprintf(path, sizeof(path), "%s/layout", base);
		write_dir(&img, path);
	}
	snprintf(ref, sizeof(ref), "%s%s", path, tag ? tag : "");
	prepare(base, ref);
	image_clear(&img);
	fuzz_rmdir(base);
	return 0;
}
