/* The node-local CA and the EK certificates it issues (see crypto.h). */
#include "attest/crypto.h"
#include "attest/ossl.h"
#include "cleanup.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#define CA_DAYS 3650
#define EK_CERT_DAYS 365
#define CLOCK_SKEW_S 300  /* notBefore this far back: another host's clock may lag */

static const char *const ca_exts[] = { "basicConstraints", "critical,CA:TRUE",
				       "keyUsage", "critical,keyCertSign,cRLSign",
				       "subjectKeyIdentifier", "hash",
				       "authorityKeyIdentifier", "keyid:always", NULL };
static const char *const ek_exts[] = { "basicConstraints", "critical,CA:FALSE",
				       "keyUsage", "critical,keyEncipherment,keyAgreement",
				       "authorityKeyIdentifier", "keyid:always", NULL };

/* 16 random bytes, positive and non-zero (RFC 5280 §4.1.2.2). */
static int random_serial(X509 *cert)
{
	uint8_t b[16];
	if (RAND_bytes(b, sizeof(b)) != 1)
		return -1;
	b[0] = (b[0] & 0x7f) | 0x01;
	BIGNUM *bn = BN_bin2bn(b, sizeof(b), NULL);
	int ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != NULL;
	BN_free(bn);
	return ok ? 0 : -1;
}

/* Extensions as name/value pairs; issuer NULL: the certificate is its own. */
static int add_exts(X509 *cert, X509 *issuer, const char *const *exts)
{
	X509V3_CTX v3;
	X509V3_set_ctx(&v3, issuer ? issuer : cert, cert, NULL, NULL, 0);
	for (; *exts; exts += 2) {
		X509_EXTENSION *ext = X509V3_EXT_conf(NULL, &v3, exts[0], exts[1]);
		int ok = ext && X509_add_ext(cert, ext, -1) == 1;
		X509_EXTENSION_free(ext);
		if (!ok)
			return -1;
	}
	return 0;
}

static int set_subject(X509 *cert, const char *cn)
{
	X509_NAME *name = X509_get_subject_name(cert);
	return X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0) == 1 ? 0 : -1;
}

/* A v3 certificate of key with subject CN cn, signed (SHA-256) by issuer_key as issuer
 * (NULL: self-signed). */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, long days,
		       const char *const *exts, pv_error *err)
{
	_cleanup_x509_ X509 *cert = X509_new();
	if (cert == NULL || X509_set_version(cert, X509_VERSION_3) != 1 || random_serial(cert) < 0 ||
	    set_subject(cert, cn) < 0 ||
	    X509_set_issuer_name(cert, X509_get_subject_name(issuer ? issuer : cert)) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(cert), -CLOCK_SKEW_S) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(cert), days * 86400) == NULL || X509_set_pubkey(cert, key) != 1 ||
	    add_exts(cert, issuer, exts) < 0 || X509_sign(cert, issuer_key, EVP_sha256()) <= 0) {
		pv_ossl_error(err, cn);
		return NULL;
	}
	return steal_pointer(&cert);
}

/* Writes what writer puts in a memory BIO to path (mode) through a temporary and rename. */
static int write_pem(const char *path, mode_t mode, int (*writer)(BIO *, const void *), const void *obj,
		     pv_error *err)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data = NULL, tmp[PATH_MAX];
	long len = bio && writer(bio, obj) == 1 ? BIO_get_mem_data(bio, &data) : -1;
	int r = len > 0 ? 0 : pv_ossl_error(err, path);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (r == 0)
		r = pv_write_file(tmp, data, (size_t)len, mode, err);
	if (r == 0 && rename(tmp, path) < 0)
		r = pv_error_set(err, errno, "rename %s", tmp);
	BIO_free(bio);
	return r;
}

static int write_key(BIO *bio, const void *key)
{
	return PEM_write_bio_PrivateKey(bio, (EVP_PKEY *)key, NULL, NULL, 0, NULL, NULL);
}

static int write_cert(BIO *bio, const void *cert)
{
	return PEM_write_bio_X509(bio, (X509 *)cert);
}

static char *ca_path(const char *dir, const char *name)
{
	char *p = NULL;
	return asprintf(&p, "%s/%s", dir, name) < 0 ? NULL : p;
}

static int new_ca(const char *key_path, const char *cert_path, pv_error *err)
{
	char host[HOST_NAME_MAX + 1] = "", cn[HOST_NAME_MAX + 32];
	(void)gethostname(host, sizeof(host) - 1);
	snprintf(cn, sizeof(cn), "podvm node CA %s", host);
	_cleanup_pkey_ EVP_PKEY *key = pv_ossl_p256_generate(err);
	_cleanup_x509_ X509 *cert = key ? make_cert(key, cn, NULL, key, CA_DAYS, ca_exts, err) : NULL;
	/* The key first: a certificate without its key would look complete. */
	if (cert == NULL || write_pem(key_path, 0600, write_key, key, err) < 0 ||
	    write_pem(cert_path, 0644, write_cert, cert, err) < 0)
		return -1;
	return 0;
}

int pv_attest_ca_create(const char *dir, pv_error *err)
{
	_cleanup_free_ char *key_path = ca_path(dir, "ca.key");
	_cleanup_free_ char *cert_path = ca_path(dir, "ca.pem");
	if (key_path == NULL || cert_path == NULL)
		return pv_error_set(err, ENOMEM, "node CA %s", dir);
	if (pv_mkdir_p(dir, 0700, err) < 0)
		return pv_error_prefix(err, "node CA");
	/* Two podvm processes must not make two CAs and keep one's key with the other's cert. */
	_cleanup_close_ int lock = pv_lock_file(dir, "ca.lock", "node CA", err);
	if (lock < 0)
		return lock;
	if (access(key_path, F_OK) == 0 && access(cert_path, F_OK) == 0)
		return 0;
	if (new_ca(key_path, cert_path, err) < 0)
		return pv_error_prefix(err, "node CA %s", dir);
	return 0;
}

static int load_ca(const char *dir, X509 **cert, EVP_PKEY **key, pv_error *err)
{
	_cleanup_free_ char *cert_path = ca_path(dir, "ca.pem");
	_cleanup_free_ char *key_path = ca_path(dir, "ca.key");
	_cleanup_fclose_ FILE *cf = cert_path ? fopen(cert_path, "re") : NULL;
	if (cf == NULL)
		return pv_error_set(err, errno ? errno : ENOMEM, "node CA %s: ca.pem", dir);
	if ((*cert = PEM_read_X509(cf, NULL, NULL, NULL)) == NULL)
		return pv_ossl_error(err, cert_path);
	if (key == NULL)
		return 0;
	_cleanup_fclose_ FILE *kf = fopen(key_path, "re");
	if (kf == NULL)
		return pv_error_set(err, errno, "node CA %s: ca.key", dir);
	if ((*key = PEM_read_PrivateKey(kf, NULL, NULL, NULL)) == NULL)
		return pv_ossl_error(err, key_path);
	return 0;
}

int pv_attest_ca_issue_ek_cert(const char *ca_dir, const struct pv_tpm2_public *ek, const char *cn, uint8_t **der,
			       size_t *der_len, pv_error *err)
{
	_cleanup_x509_ X509 *ca = NULL;
	_cleanup_pkey_ EVP_PKEY *ca_key = NULL;
	if (load_ca(ca_dir, &ca, &ca_key, err) < 0)
		return -1;
	_cleanup_pkey_ EVP_PKEY *key = pv_ossl_p256_key(ek->x, ek->y, err);
	_cleanup_x509_ X509 *cert = key ? make_cert(key, cn, ca, ca_key, EK_CERT_DAYS, ek_exts, err) : NULL;
	if (cert == NULL)
		return pv_error_prefix(err, "EK certificate");
	unsigned char *out = NULL;
	int n = i2d_X509(cert, &out);
	if (n <= 0)
		return pv_ossl_error(err, "EK certificate");
	*der = malloc((size_t)n);
	if (*der)
		memcpy(*der, out, (size_t)n);
	OPENSSL_free(out);
	*der_len = (size_t)n;
	return *der ? 0 : pv_error_set(err, ENOMEM, "EK certificate");
}

static int verify_chain(X509 *ca, X509 *cert, pv_error *err)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int r = 0;
	if (!store || !ctx || X509_STORE_add_cert(store, ca) != 1 || X509_STORE_CTX_init(ctx, store, cert, NULL) != 1)
		r = pv_ossl_error(err, "certificate store");
	else if (X509_verify_cert(ctx) != 1)
		r = pv_error_set_plain(err, EBADMSG, "%s", X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
	ERR_clear_error();
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return r;
}

int pv_attest_verify_ek_cert(const char *ca_dir, const uint8_t *der, size_t der_len, uint8_t x[32], uint8_t y[32],
			     pv_error *err)
{
	_cleanup_x509_ X509 *ca = NULL;
	if (load_ca(ca_dir, &ca, NULL, err) < 0)
		return -1;
	const unsigned char *p = der;
	_cleanup_x509_ X509 *cert = der_len <= LONG_MAX ? d2i_X509(NULL, &p, (long)der_len) : NULL;
	if (cert == NULL || p != der + der_len) {
		ERR_clear_error();
		return pv_error_set_plain(err, EBADMSG, "EK certificate: not one DER certificate of %zu bytes", der_len);
	}
	EVP_PKEY *key = X509_get0_pubkey(cert);
	if (verify_chain(ca, cert, err) < 0 || key == NULL || pv_ossl_p256_point(key, x, y, err) < 0) {
		ERR_clear_error();
		pv_error_set_plain(err, EBADMSG, "no public key");  /* unless the chain said why */
		return pv_error_prefix(err, "EK certificate");
	}
	return 0;
}
