/* The TPM 2.0 client (src/common/tpm2*.c, sha256.c) against a real swtpm of this program's
 * own (its data channel's unix socket), and the host's attestation crypto
 * (src/libpodvm/attest): the node CA and EK certificates, MakeCredential in software checked
 * by the TPM's ActivateCredential, quotes checked by their signature. */
#include "tap.h"
#include "tmp_path.h"
#include "attest/crypto.h"
#include "cleanup.h"
#include "hostcaps.h"
#include "sha256.h"
#include "tpm2.h"
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <openssl/evp.h>

static pid_t swtpm_pid;
static struct pv_tpm2 tpm = { .fd = -1 };

static void hex(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
}

static bool digest_is(const uint8_t d[32], const char *want)
{
	char h[65];
	hex(d, 32, h);
	return strcmp(h, want) == 0;
}

static void test_sha256_vectors(void)
{
	uint8_t d[32];
	pv_sha256((const uint8_t *)"abc", 3, d);
	ok(digest_is(d, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"), "sha256: \"abc\"");
	pv_sha256((const uint8_t *)"", 0, d);
	ok(digest_is(d, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"), "sha256: \"\"");
	struct pv_sha256_ctx c;
	uint8_t a[1000];
	memset(a, 'a', sizeof(a));
	pv_sha256_init(&c);
	for (int i = 0; i < 1000; i++)
		pv_sha256_update(&c, a, sizeof(a));
	pv_sha256_final(&c, d);
	ok(digest_is(d, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"), "sha256: 1,000,000 x 'a'");
}

/* Random inputs of every length up to 300, fed in random pieces, against OpenSSL. */
static void test_sha256_random(void)
{
	uint8_t buf[300], mine[32], theirs[32];
	int bad = 0;
	srand(1);
	for (size_t len = 0; len <= sizeof(buf); len++) {
		for (size_t i = 0; i < len; i++)
			buf[i] = (uint8_t)rand();
		struct pv_sha256_ctx c;
		pv_sha256_init(&c);
		for (size_t at = 0; at < len;) {
			size_t n = (size_t)rand() % (len - at + 1);
			pv_sha256_update(&c, buf + at, n);
			at += n;
		}
		pv_sha256_final(&c, mine);
		EVP_Digest(buf, len, theirs, NULL, EVP_sha256(), NULL);
		bad += memcmp(mine, theirs, 32) != 0;
	}
	ok(bad == 0, "sha256: 301 random inputs in random pieces match OpenSSL (%d differ)", bad);
}

/* Kills this program's swtpm and removes the temporary directory (atexit: on failure too;
 * the swtpm also has PR_SET_PDEATHSIG should this program be killed). */
static void cleanup(void)
{
	pv_tpm2_close(&tpm);
	if (swtpm_pid > 0) {
		kill(swtpm_pid, SIGKILL);
		waitpid(swtpm_pid, NULL, 0);
		swtpm_pid = 0;
	}
	if (tmp[0])
		(void)pv_rm_rf(tmp, NULL);
}

static void exec_swtpm(const char *swtpm)
{
	char state[300], server[300], ctrl[300];
	snprintf(state, sizeof(state), "dir=%s", tmp);
	snprintf(server, sizeof(server), "type=unixio,path=%s", at("data.sock"));
	snprintf(ctrl, sizeof(ctrl), "type=unixio,path=%s", at("ctrl.sock"));
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	execl(swtpm, swtpm, "socket", "--tpm2", "--tpmstate", state, "--server", server, "--ctrl", ctrl, "--flags",
	      "not-need-init,startup-clear", (char *)NULL);
	_exit(127);
}

/* Starts swtpm and connects to its data channel (waiting up to 5 s for the socket). */
static bool start_swtpm(void)
{
	char swtpm[256];
	if (pv_find_executable("swtpm", swtpm, sizeof(swtpm)) < 0) {
		diag("swtpm not installed: the TPM's tests skipped");  /* as test_tpm does */
		return false;
	}
	swtpm_pid = fork();
	if (swtpm_pid == 0)
		exec_swtpm(swtpm);
	pv_error err = NULL;
	for (long long end = pv_now_ms() + 5000; pv_now_ms() < end; usleep(10000)) {
		if (access(at("data.sock"), F_OK) == 0 && pv_tpm2_open(&tpm, at("data.sock"), &err) == 0)
			break;
		pv_error_release(&err);
	}
	return ok(tpm.fd >= 0, "swtpm started, its data channel connected (%s)", at("data.sock"));
}

static void test_startup(void)
{
	pv_error err = NULL;
	ok_err(pv_tpm2_startup_clear(&tpm, &err) == 0, err, "startup: already started by swtpm: tolerated");
	ok_err(pv_tpm2_startup_clear(&tpm, &err) == 0, err, "startup: again");
}

static bool same_key(const struct pv_tpm2_public *a, const struct pv_tpm2_public *b)
{
	return memcmp(a->x, b->x, 32) == 0 && memcmp(a->y, b->y, 32) == 0 && memcmp(a->name, b->name, 34) == 0;
}

/* The EK's authPolicy: PolicySecret(TPM_RH_ENDORSEMENT) computed here (Part 3 §23.4):
 * H(H(0^32 || TPM_CC_PolicySecret || name of TPM_RH_ENDORSEMENT) || policyRef ""). */
static void ek_policy(uint8_t out[32])
{
	uint8_t in[32 + 4 + 4] = { 0 }, d[32];
	pv_put_be32(in + 32, 0x151);
	pv_put_be32(in + 36, 0x4000000b);
	pv_sha256(in, sizeof(in), d);
	pv_sha256(d, sizeof(d), out);
}

static void test_ek(struct pv_tpm2_public *ek, uint32_t *ek_handle)
{
	struct pv_tpm2_public again;
	uint32_t h2 = 0;
	uint8_t policy[32];
	pv_error err = NULL;
	ok_err(pv_tpm2_create_ek(&tpm, ek_handle, ek, &err) == 0, err, "EK: created");
	ok_err(pv_tpm2_create_ek(&tpm, &h2, &again, &err) == 0 && same_key(ek, &again), err, "EK: the same key again");
	ok_err(pv_tpm2_flush(&tpm, h2, &err) == 0, err, "EK: second handle flushed");
	ek_policy(policy);
	/* type, nameAlg, attributes, then authPolicy's size and bytes */
	ok(ek->area_len > 42 && ek->area[9] == 32 && memcmp(ek->area + 10, policy, 32) == 0,
	   "EK: authPolicy is PolicySecret(TPM_RH_ENDORSEMENT)");
}

static void test_ak(struct pv_tpm2_public *ak, uint32_t *ak_handle)
{
	struct pv_tpm2_public again, parsed;
	uint32_t h2 = 0;
	pv_error err = NULL;
	ok_err(pv_tpm2_create_ak(&tpm, ak_handle, ak, &err) == 0, err, "AK: created");
	ok_err(pv_tpm2_create_ak(&tpm, &h2, &again, &err) == 0 && same_key(ak, &again), err, "AK: the same key again");
	ok_err(pv_tpm2_flush(&tpm, h2, &err) == 0, err, "AK: second handle flushed");
	ok_err(pv_tpm2_parse_public(ak->area, ak->area_len, &parsed, &err) == 0 && same_key(ak, &parsed), err,
	       "AK: its name is that of its public area");
	ok(parsed.attributes == PV_TPM2_AK_ATTRIBUTES, "AK: attributes 0x%08x", parsed.attributes);
}

static void test_parse_public_truncated(const struct pv_tpm2_public *ak)
{
	struct pv_tpm2_public p;
	pv_error err = NULL;
	int accepted = 0;
	for (size_t n = 0; n < ak->area_len; n++) {
		/* A copy of exactly n bytes, so that ASan sees any read beyond them. */
		_cleanup_free_ uint8_t *cut = malloc(n ? n : 1);
		memcpy(cut, ak->area, n);
		accepted += pv_tpm2_parse_public(cut, n, &p, NULL) == 0;
	}
	ok(accepted == 0, "parse_public: every truncation (0 to %zu bytes) refused", ak->area_len - 1);
	uint8_t longer[300];
	memcpy(longer, ak->area, ak->area_len);
	longer[ak->area_len] = 0;
	ok_err(pv_tpm2_parse_public(longer, ak->area_len + 1, &p, &err) < 0 && strstr(err->msg, "malformed"), err,
	       "parse_public: a trailing byte refused");
}

static void test_pcr(void)
{
	uint8_t before[32], after[32], digest[32], cat[64], want[32];
	pv_error err = NULL;
	pv_sha256((const uint8_t *)"measurement", 11, digest);
	ok_err(pv_tpm2_pcr_read(&tpm, 16, before, &err) == 0, err, "PCR 16: read");
	ok_err(pv_tpm2_pcr_extend(&tpm, 16, digest, &err) == 0, err, "PCR 16: extended");
	ok_err(pv_tpm2_pcr_read(&tpm, 16, after, &err) == 0, err, "PCR 16: read again");
	memcpy(cat, before, 32);
	memcpy(cat + 32, digest, 32);
	pv_sha256(cat, sizeof(cat), want);
	ok(memcmp(after, want, 32) == 0, "PCR 16: SHA-256(old || digest)");
	ok_err(pv_tpm2_pcr_extend(&tpm, 24, digest, &err) == -EINVAL, err, "PCR 24: refused");
}

static void test_nv(void)
{
	uint8_t blob[1500], *got = NULL;
	size_t len = 0;
	pv_error err = NULL;
	for (size_t i = 0; i < sizeof(blob); i++)
		blob[i] = (uint8_t)(i * 7 + 3);
	ok_err(pv_tpm2_nv_load(&tpm, PV_TPM2_EK_CERT_NV_ECC, &got, &len, &err) == -ENOENT, err, "NV: not defined yet");
	ok_err(pv_tpm2_nv_store(&tpm, PV_TPM2_EK_CERT_NV_ECC, blob, sizeof(blob), &err) == 0, err,
	       "NV: 1,500 bytes stored");
	ok_err(pv_tpm2_nv_load(&tpm, PV_TPM2_EK_CERT_NV_ECC, &got, &len, &err) == 0 && len == sizeof(blob) &&
		       memcmp(got, blob, len) == 0,
	       err, "NV: loaded back");
	free(got);
	got = NULL;
	ok_err(pv_tpm2_nv_store(&tpm, PV_TPM2_EK_CERT_NV_ECC, blob + 100, 600, &err) == 0 &&
		       pv_tpm2_nv_load(&tpm, PV_TPM2_EK_CERT_NV_ECC, &got, &len, &err) == 0 && len == 600 &&
		       memcmp(got, blob + 100, 600) == 0,
	       err, "NV: replaced by 600 other bytes");
	free(got);
}

static void test_ca_create(void)
{
	_cleanup_free_ char *pem1 = NULL, *pem2 = NULL;
	size_t n;
	struct stat st;
	pv_error err = NULL;
	ok_err(pv_attest_ca_create(at("ca"), &err) == 0 && stat(at("ca/ca.key"), &st) == 0 && (st.st_mode & 0777) == 0600,
	       err, "CA: created, its key 0600");
	(void)pv_read_file(at("ca/ca.pem"), 1 << 20, &pem1, &n, NULL);
	ok_err(pv_attest_ca_create(at("ca"), &err) == 0 && pv_read_file(at("ca/ca.pem"), 1 << 20, &pem2, &n, NULL) == 0 &&
		       pem1 && strcmp(pem1, pem2) == 0,
	       err, "CA: kept when it exists");
	ok_err(pv_attest_ca_create(at("ca2"), &err) == 0, err, "CA: another");
}

/* Issues the EK certificate and checks it; stores it in the EK certificate index. */
static void test_ek_cert(const struct pv_tpm2_public *ek)
{
	uint8_t *der = NULL, x[32], y[32];
	size_t der_len = 0;
	pv_error err = NULL;
	int r = pv_attest_ca_issue_ek_cert(at("ca"), ek, "podvm vm test", &der, &der_len, &err);
	ok_err(r == 0, err, "CA: EK certificate, %zu bytes", der_len);
	if (r < 0)
		return;
	ok_err(pv_attest_verify_ek_cert(at("ca"), der, der_len, x, y, &err) == 0 && memcmp(x, ek->x, 32) == 0 &&
		       memcmp(y, ek->y, 32) == 0,
	       err, "CA: EK certificate verified, its point the EK's");
	ok_err(pv_attest_verify_ek_cert(at("ca2"), der, der_len, x, y, &err) < 0, err, "CA: refused by another CA");
	der[der_len - 10] ^= 1;  /* in the signature */
	ok_err(pv_attest_verify_ek_cert(at("ca"), der, der_len, x, y, &err) < 0, err, "CA: corrupted signature refused");
	der[der_len - 10] ^= 1;
	der[der_len / 2] ^= 0x40;  /* in the signed part */
	ok_err(pv_attest_verify_ek_cert(at("ca"), der, der_len, x, y, &err) < 0, err, "CA: corrupted body refused");
	der[der_len / 2] ^= 0x40;
	ok_err(pv_attest_verify_ek_cert(at("ca"), der, der_len - 1, x, y, &err) < 0, err,
	       "CA: truncated certificate refused");
	ok_err(pv_tpm2_nv_store(&tpm, PV_TPM2_EK_CERT_NV_ECC, der, der_len, &err) == 0, err,
	       "CA: EK certificate in its NV index");
	free(der);
}

static int activate(const struct pv_tpm2_public *ek, uint32_t ek_h, const uint8_t *name, uint32_t ak_h,
		    const uint8_t secret[32], uint8_t out[64], size_t *out_len, pv_error *err)
{
	_cleanup_free_ uint8_t *id = NULL, *enc = NULL;
	size_t id_len, enc_len;
	if (pv_attest_make_credential(ek->x, ek->y, name, 34, secret, 32, &id, &id_len, &enc, &enc_len, err) < 0)
		return -1;
	return pv_tpm2_activate_credential(&tpm, ak_h, ek_h, id, id_len, enc, enc_len, out, 64, out_len, err);
}

static void test_credential(const struct pv_tpm2_public *ek, uint32_t ek_h, const struct pv_tpm2_public *ak,
			    uint32_t ak_h)
{
	uint8_t secret[32], out[64], other[34];
	size_t out_len = 0;
	pv_error err = NULL;
	ok_err(pv_attest_random(secret, sizeof(secret), &err) == 0, err, "credential: a random secret");
	ok_err(activate(ek, ek_h, ak->name, ak_h, secret, out, &out_len, &err) == 0 && out_len == 32 &&
		       memcmp(out, secret, 32) == 0,
	       err, "credential: the TPM recovers the secret");
	memcpy(other, ak->name, sizeof(other));
	other[20] ^= 1;
	ok_err(activate(ek, ek_h, other, ak_h, secret, out, &out_len, &err) < 0 && strstr(err->msg, "TPM error"), err,
	       "credential: for another AK name: refused by the TPM");
	struct pv_tpm2_public off = *ek;
	off.y[31] ^= 1;
	ok_err(activate(&off, ek_h, ak->name, ak_h, secret, out, &out_len, &err) < 0 && strstr(err->msg, "make credential"),
	       err, "credential: an EK point off the curve refused");
	/* The failed activation's policy session was flushed: sessions do not run out. */
	int good = 0;
	for (int i = 0; i < 5; i++)
		good += activate(ek, ek_h, ak->name, ak_h, secret, out, &out_len, &err) == 0;
	ok_err(good == 5, err, "credential: 5 more activations");
}

/* SHA-256 of the values of the PCRs in mask, in index order. */
static void pcr_digest(uint32_t mask, uint8_t out[32])
{
	struct pv_sha256_ctx c;
	uint8_t v[32];
	pv_sha256_init(&c);
	for (unsigned i = 0; i < 24; i++)
		if (mask & (1u << i) && pv_tpm2_pcr_read(&tpm, i, v, NULL) == 0)
			pv_sha256_update(&c, v, sizeof(v));
	pv_sha256_final(&c, out);
}

static void test_quote_truncated(const uint8_t *attest, size_t len, const uint8_t *sig, size_t sig_len)
{
	struct pv_tpm2_quote_info q;
	uint8_t r[32], s[32];
	int accepted = 0;
	for (size_t n = 0; n < len; n++) {
		_cleanup_free_ uint8_t *cut = malloc(n ? n : 1);
		memcpy(cut, attest, n);
		accepted += pv_tpm2_parse_quote(cut, n, &q, NULL) == 0;
	}
	ok(accepted == 0, "parse_quote: every truncation (0 to %zu bytes) refused", len - 1);
	accepted = 0;
	for (size_t n = 0; n < sig_len; n++) {
		_cleanup_free_ uint8_t *cut = malloc(n ? n : 1);
		memcpy(cut, sig, n);
		accepted += pv_tpm2_parse_ecdsa_signature(cut, n, r, s, NULL) == 0;
	}
	ok(accepted == 0, "parse_ecdsa_signature: every truncation (0 to %zu bytes) refused", sig_len - 1);
}

static void check_quote(const struct pv_tpm2_public *ak, uint8_t *attest, size_t attest_len, const uint8_t *sig,
			size_t sig_len, const uint8_t nonce[32], uint32_t mask)
{
	struct pv_tpm2_quote_info q;
	uint8_t r[32], s[32], want[32];
	pv_error err = NULL;
	pcr_digest(mask, want);
	ok_err(pv_tpm2_parse_quote(attest, attest_len, &q, &err) == 0 && q.nonce_len == 32 &&
		       memcmp(q.nonce, nonce, 32) == 0 && q.pcr_mask == mask,
	       err, "quote: parsed, nonce and PCR selection back");
	ok(memcmp(q.pcr_digest, want, 32) == 0, "quote: PCR digest is SHA-256 of the PCRs in index order");
	ok(q.signer_name_len == 34, "quote: qualified signer named with SHA-256");
	ok_err(pv_tpm2_parse_ecdsa_signature(sig, sig_len, r, s, &err) == 0 &&
		       pv_attest_verify_signature(ak, attest, attest_len, r, s, &err) == 0,
	       err, "quote: signature verifies");
	attest[attest_len / 2] ^= 1;
	ok_err(pv_attest_verify_signature(ak, attest, attest_len, r, s, &err) < 0, err, "quote: a flipped byte fails");
	attest[attest_len / 2] ^= 1;
}

static void test_quote(const struct pv_tpm2_public *ak, uint32_t ak_h)
{
	uint8_t nonce[33], *attest = NULL, *sig = NULL;
	size_t attest_len = 0, sig_len = 0;
	uint32_t mask = 1u << 0 | 1u << 7 | 1u << 16 | 1u << 23;
	pv_error err = NULL;
	(void)pv_attest_random(nonce, sizeof(nonce), NULL);
	int r = pv_tpm2_quote(&tpm, ak_h, nonce, 32, mask, &attest, &attest_len, &sig, &sig_len, &err);
	ok_err(r == 0, err, "quote: made");
	if (r < 0)
		return;
	check_quote(ak, attest, attest_len, sig, sig_len, nonce, mask);
	test_quote_truncated(attest, attest_len, sig, sig_len);
	free(attest);
	free(sig);
	ok_err(pv_tpm2_quote(&tpm, ak_h, nonce, 33, mask, &attest, &attest_len, &sig, &sig_len, &err) == -EINVAL, err,
	       "quote: a nonce over 32 bytes refused");
	ok_err(pv_tpm2_quote(&tpm, ak_h, nonce, 32, 1u << 24, &attest, &attest_len, &sig, &sig_len, &err) == -EINVAL,
	       err, "quote: PCR 24 refused");
}

static void test_tpm_error(void)
{
	pv_error err = NULL;
	ok_err(pv_tpm2_flush(&tpm, 0x80ffff00, &err) < 0 && strstr(err->msg, "TPM2_FlushContext: TPM error 0x0000"), err,
	       "a TPM error names the command and the code");
}

int main(void)
{
	test_sha256_vectors();
	test_sha256_random();
	snprintf(tmp, sizeof(tmp), "/tmp/podvm-test-tpm2.XXXXXX");
	if (!ok(mkdtemp(tmp) != NULL, "temporary directory"))
		return done_testing();
	atexit(cleanup);
	if (!start_swtpm())
		return done_testing();
	struct pv_tpm2_public ek, ak;
	uint32_t ek_h = 0, ak_h = 0;
	test_startup();
	test_ek(&ek, &ek_h);
	test_ak(&ak, &ak_h);
	test_parse_public_truncated(&ak);
	test_pcr();
	test_nv();
	test_ca_create();
	test_ek_cert(&ek);
	test_credential(&ek, ek_h, &ak, ak_h);
	test_quote(&ak, ak_h);
	test_tpm_error();
	return done_testing();
}
