#include "verifier.h"
#include "agent_client.h"
#include "attest/crypto.h"
#include "attest/digest_set.h"
#include "attest/event_log.h"
#include "attest/reference.h"
#include "agent.pb-c.h"
#include "cleanup.h"
#include "sha256.h"
#include "tpm2.h"
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>

#define FILE_MAX (16u << 20)
#define NONCE_LEN 32

/* Everything a verification gathers; freed together. */
struct verification {
	const struct pv_attest_request *req;
	struct pv_attest_result *res;
	struct pv_tpm2_public ak;
	struct pv_event_log boot, config;
	struct pv_ima_log ima;
	struct pv_guest_reference *guest;
	struct pv_digest_set *images;  /* every container image's files */
	struct pv_digest_set *configs; /* the configs podvm sent */
	uint8_t pcr9[32], pcr11[32];
	size_t ima_quoted;             /* IMA entries the quote covers */
};

static int finding(struct verification *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int finding(struct verification *v, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(v->res->finding, sizeof(v->res->finding), fmt, ap);
	va_end(ap);
	v->res->pass = false;
	return 1;
}

static int state_file(const struct verification *v, const char *name, char **data, size_t *len, pv_error *err)
{
	_cleanup_free_ char *path = NULL;
	if (asprintf(&path, "%s/attest/%s", v->req->state_dir, name) < 0)
		return pv_error_set(err, ENOMEM, "attest");
	return pv_read_file(path, FILE_MAX, data, len, err);
}

/* 1-2: the EK is this VM's and the node CA's; the AK is of the same TPM. */
static int check_ek(struct verification *v, const ProtobufCBinaryData *cert, uint8_t x[32], uint8_t y[32],
		    pv_error *err)
{
	_cleanup_free_ char *pinned = NULL;
	size_t len;
	if (state_file(v, "ek.der", &pinned, &len, err) < 0)
		return -1;
	if (cert->len != len || memcmp(cert->data, pinned, len) != 0)
		return finding(v, "EK certificate: not the one made for this VM's TPM");
	pv_error e = NULL;
	if (pv_attest_verify_ek_cert(v->req->ca_dir, cert->data, cert->len, x, y, &e) < 0) {
		finding(v, "%s", e->msg);  /* "EK certificate: ..." */
		pv_error_release(&e);
		return 1;
	}
	return 0;
}

static int activate(struct verification *v, const uint8_t ek_x[32], const uint8_t ek_y[32], pv_error *err)
{
	uint8_t secret[32];
	_cleanup_free_ uint8_t *id_object = NULL, *enc = NULL;
	size_t id_len, enc_len;
	if (pv_attest_random(secret, sizeof(secret), err) < 0 ||
	    pv_attest_make_credential(ek_x, ek_y, v->ak.name, sizeof(v->ak.name), secret, sizeof(secret), &id_object,
				      &id_len, &enc, &enc_len, err) < 0)
		return -1;
	ProtobufCMessage *m = NULL;
	pv_error e = NULL;
	if (pv_agent_tpm_activate(v->req->agent, id_object, id_len, enc, enc_len, v->req->timeout_ms, &m, &e) < 0) {
		finding(v, "attestation key: credential activation failed: %s", e->msg);
		pv_error_release(&e);
		return 1;
	}
	const Podvm__Agent__V1__TpmActivateResponse *r = (const void *)m;
	bool same = r->credential.len == sizeof(secret) && memcmp(r->credential.data, secret, sizeof(secret)) == 0;
	protobuf_c_message_free_unpacked(m, NULL);
	return same ? 0 : finding(v, "attestation key: not of the TPM that holds the EK (wrong credential)");
}

/* The AK activated now and pinned (check_identity runs only while none is pinned). */
static int trust_ak(struct verification *v, const uint8_t ek_x[32], const uint8_t ek_y[32], pv_error *err)
{
	_cleanup_free_ char *path = NULL;
	int r = activate(v, ek_x, ek_y, err);
	if (r != 0)
		return r;
	if (asprintf(&path, "%s/attest/ak.pub", v->req->state_dir) < 0)
		return pv_error_set(err, ENOMEM, "attest");
	return pv_write_file(path, v->ak.area, v->ak.area_len, 0600, err);
}

/* Once activated, the pinned AK alone: a quote it did not sign fails its signature check,
 * so the guest need not be asked for its identity again (one round trip and four TPM
 * commands less per attestation). 1: pinned and loaded; 0: none pinned yet. */
static int pinned_ak(struct verification *v)
{
	_cleanup_free_ char *pinned = NULL;
	size_t len;
	pv_error e = NULL;
	if (state_file(v, "ak.pub", &pinned, &len, &e) < 0) {
		pv_error_release(&e);
		return 0;
	}
	if (pv_tpm2_parse_public((const uint8_t *)pinned, len, &v->ak, &e) < 0) {
		finding(v, "attestation key: the pinned one: %s", e->msg);
		pv_error_release(&e);
		return -1;
	}
	return 1;
}

static int check_identity(struct verification *v, pv_error *err)
{
	int pinned = pinned_ak(v);
	if (pinned != 0)
		return pinned < 0 ? 1 : 0;
	ProtobufCMessage *m = NULL;
	if (pv_agent_tpm_identity(v->req->agent, v->req->timeout_ms, &m, err) < 0)
		return -1;
	const Podvm__Agent__V1__TpmIdentityResponse *r = (const void *)m;
	uint8_t x[32], y[32];
	pv_error e = NULL;
	int ret = check_ek(v, &r->ek_cert, x, y, err);
	if (ret == 0 && pv_tpm2_parse_public(r->ak_public.data, r->ak_public.len, &v->ak, &e) < 0) {
		ret = finding(v, "attestation key: %s", e->msg);
		pv_error_release(&e);
	}
	if (ret == 0 && (v->ak.attributes & PV_TPM2_AK_ATTRIBUTES) != PV_TPM2_AK_ATTRIBUTES)
		ret = finding(v, "attestation key: not a restricted signing key of its TPM (attributes 0x%x)",
			      v->ak.attributes);
	if (ret == 0)
		ret = trust_ak(v, x, y, err);
	protobuf_c_message_free_unpacked(m, NULL);
	return ret;
}

/* 3: the quote is fresh and the AK's. */
static int check_quote(struct verification *v, const Podvm__Agent__V1__TpmQuoteResponse *r, const uint8_t *nonce,
		       struct pv_tpm2_quote_info *q)
{
	pv_error e = NULL;
	uint8_t sr[32], ss[32];
	if (pv_tpm2_parse_quote(r->attest.data, r->attest.len, q, &e) < 0 ||
	    pv_tpm2_parse_ecdsa_signature(r->signature.data, r->signature.len, sr, ss, &e) < 0) {
		finding(v, "quote: %s", e->msg);
		pv_error_release(&e);
		return 1;
	}
	if (pv_attest_verify_signature(&v->ak, r->attest.data, r->attest.len, sr, ss, &e) < 0) {
		finding(v, "quote: %s", e->msg);
		pv_error_release(&e);
		return 1;
	}
	if (q->nonce_len != NONCE_LEN || memcmp(q->nonce, nonce, NONCE_LEN) != 0)
		return finding(v, "quote: not over this verification's nonce (a replayed quote)");
	if (q->pcr_mask != PV_ATTEST_PCR_MASK)
		return finding(v, "quote: over PCRs 0x%x, not 0x%x", q->pcr_mask, PV_ATTEST_PCR_MASK);
	return 0;
}

static int replay_events(const struct pv_event_log *log, unsigned pcr, uint8_t out[32])
{
	memset(out, 0, 32);
	for (size_t i = 0; i < log->n; i++) {
		if (log->v[i].pcr != pcr)
			return -1;
		pv_pcr_extend(out, log->v[i].digest);
	}
	return 0;
}

static void quoted_digest(const uint8_t p9[32], const uint8_t p10[32], const uint8_t p11[32], uint8_t out[32])
{
	uint8_t all[96];
	memcpy(all, p9, 32);
	memcpy(all + 32, p10, 32);
	memcpy(all + 64, p11, 32);
	pv_sha256(all, sizeof(all), out);
}

/* 4: the logs replay to the quoted PCRs. IMA's list may run ahead of the quote (it is read
 * after it): the quote covers the prefix that replays to it. */
static int check_replay(struct verification *v, const struct pv_tpm2_quote_info *q)
{
	if (replay_events(&v->boot, PV_PCR_BOOT, v->pcr9) < 0)
		return finding(v, "boot events: an event outside PCR %d", PV_PCR_BOOT);
	if (replay_events(&v->config, PV_PCR_CONFIG, v->pcr11) < 0)
		return finding(v, "agent's event log: an event outside PCR %d", PV_PCR_CONFIG);
	uint8_t p10[32] = { 0 }, d[32];
	for (size_t k = 0;; k++) {
		quoted_digest(v->pcr9, p10, v->pcr11, d);
		if (memcmp(d, q->pcr_digest, 32) == 0) {
			v->ima_quoted = k;
			return 0;
		}
		if (k == v->ima.n)
			break;
		uint8_t e[32];
		pv_ima_extend_value(&v->ima.v[k], e);
		pv_pcr_extend(p10, e);
	}
	return finding(v, "measurement logs: they do not replay to the quoted PCRs 9-11 (forged or truncated)");
}

static int get_evidence(struct verification *v, struct pv_tpm2_quote_info *q, pv_error *err)
{
	uint8_t nonce[NONCE_LEN];
	ProtobufCMessage *m = NULL;
	if (pv_attest_random(nonce, sizeof(nonce), err) < 0 ||
	    pv_agent_tpm_quote(v->req->agent, nonce, sizeof(nonce), PV_ATTEST_PCR_MASK, v->req->timeout_ms, &m, err) < 0)
		return -1;
	const Podvm__Agent__V1__TpmQuoteResponse *r = (const void *)m;
	pv_error e = NULL;
	int ret = check_quote(v, r, nonce, q);
	if (ret == 0 && pv_ima_log_parse(r->ima_log.data, r->ima_log.len, &v->ima, &e) < 0)
		ret = finding(v, "%s", e->msg);
	if (ret == 0 && pv_event_log_parse(r->event_log, strlen(r->event_log), &v->config, &e) < 0)
		ret = finding(v, "agent's %s", e->msg);
	pv_error_release(&e);
	protobuf_c_message_free_unpacked(m, NULL);
	return ret;
}

/* The host's records: boot events, and each container's config digest and image set. */
static int load_record_line(struct verification *v, char *line, pv_error *err)
{
	char *sp1 = strchr(line, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	uint8_t d[32];
	if (sp2 == NULL || pv_hex_decode(line, (size_t)(sp1 - line), d, 32) < 0)
		return pv_error_set_plain(err, EINVAL, "attest/containers: malformed line");
	*sp2 = '\0';
	if (pv_digest_set_add(v->configs, d, sp1 + 1, err) < 0)
		return -1;
	if (strcmp(sp2 + 1, "-") == 0)
		return 0;
	struct pv_digest_set *set = NULL;
	if (pv_digest_set_load(sp2 + 1, &set, err) < 0)
		return -1;
	int r = pv_digest_set_merge(v->images, set, err);
	pv_digest_set_free(set);
	return r;
}

static int load_records(struct verification *v, pv_error *err)
{
	_cleanup_free_ char *boot = NULL, *containers = NULL;
	size_t len;
	if (state_file(v, "boot_events", &boot, &len, err) < 0 || pv_event_log_parse(boot, len, &v->boot, err) < 0 ||
	    pv_guest_reference_load(v->req->reference, &v->guest, err) < 0 ||
	    pv_digest_set_new(&v->images, err) < 0 || pv_digest_set_new(&v->configs, err) < 0)
		return -1;
	pv_error e = NULL;
	if (state_file(v, "containers", &containers, &len, &e) < 0) {
		pv_error_release(&e);  /* none yet */
		return 0;
	}
	for (char *line = containers, *next; line && *line; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (load_record_line(v, line, err) < 0)
			return -1;
	}
	return 0;
}

/* 5: every measurement the quote covers is a reference. */
static int check_boot_events(struct verification *v)
{
	for (size_t i = 0; i < v->boot.n; i++) {
		const struct pv_event *e = &v->boot.v[i];
		const char *item = pv_guest_reference_boot_item(v->guest, e->digest);
		char hex[65];
		pv_hex_encode(e->digest, 32, hex);
		if (item == NULL || strcmp(item, e->type) != 0)
			return finding(v, "boot: %s %s sha256:%s: not the installed guest image's", e->type, e->text, hex);
	}
	return 0;
}

/* IMA's first entry: SHA-256 over PCRs 0-9 as the guest kernel found them at boot (PCRs
 * 0-8 untouched, 9 the boot measurements). */
static void expected_boot_aggregate(const uint8_t pcr9[32], uint8_t out[32])
{
	uint8_t pcrs[10 * 32] = { 0 };
	memcpy(pcrs + 9 * 32, pcr9, 32);
	pv_sha256(pcrs, sizeof(pcrs), out);
}

static int check_ima(struct verification *v)
{
	uint8_t aggregate[32];
	expected_boot_aggregate(v->pcr9, aggregate);
	/* Else nothing ties the list to this boot: IMA logs it first, before anything runs. */
	if (v->ima_quoted == 0 || strcmp(v->ima.v[0].path, "boot_aggregate") != 0)
		return finding(v, "IMA: the quoted list does not begin with boot_aggregate");
	for (size_t i = 0; i < v->ima_quoted; i++) {
		const struct pv_ima_entry *e = &v->ima.v[i];
		char hex[65];
		pv_hex_encode(e->file_digest, 32, hex);
		if (e->violation)
			return finding(v, "IMA: %s: a measurement violation (file changed while measured)", e->path);
		if (strcmp(e->path, "boot_aggregate") == 0) {
			if (i != 0 || memcmp(e->file_digest, aggregate, 32) != 0)
				return finding(v, "IMA: boot_aggregate sha256:%s: not the measured boot's", hex);
			continue;
		}
		if (!pv_digest_set_find(pv_guest_reference_files(v->guest), e->file_digest) &&
		    !pv_digest_set_find(v->images, e->file_digest))
			return finding(v, "IMA: %s sha256:%s: not in the references (guest image, container images)",
				       e->path, hex);
	}
	v->res->measurements += v->ima_quoted;
	return 0;
}

static int check_configs(struct verification *v)
{
	for (size_t i = 0; i < v->config.n; i++) {
		const struct pv_event *e = &v->config.v[i];
		char hex[65];
		pv_hex_encode(e->digest, 32, hex);
		if (strcmp(e->type, "container-config") != 0)
			return finding(v, "agent's event log: event type %s unknown", e->type);
		if (!pv_digest_set_find(v->configs, e->digest))
			return finding(v, "config of container %s sha256:%s: not one podvm sent", e->text, hex);
	}
	v->res->measurements += v->boot.n + v->config.n;
	return 0;
}

static int verify(struct verification *v, pv_error *err)
{
	struct pv_tpm2_quote_info q;
	int r = check_identity(v, err);
	if (r == 0)
		r = get_evidence(v, &q, err);
	/* The records are read after the quote: podvm records a container before it sends its
	 * config, so every container the quote covers has been recorded by then, even one a pod
	 * creates while a periodic attestation runs. */
	if (r == 0)
		r = load_records(v, err);
	if (r == 0)
		r = check_replay(v, &q);
	if (r == 0)
		r = check_boot_events(v);
	if (r == 0)
		r = check_ima(v);
	if (r == 0)
		r = check_configs(v);
	return r;
}

int pv_attest_verify(const struct pv_attest_request *req, struct pv_attest_result *res, pv_error *err)
{
	*res = (struct pv_attest_result){ .pass = true };
	struct verification v = { .req = req, .res = res };
	long long t0 = pv_now_ms();
	int r = verify(&v, err);
	res->ms = pv_now_ms() - t0;
	pv_event_log_clear(&v.boot);
	pv_event_log_clear(&v.config);
	pv_ima_log_clear(&v.ima);
	pv_guest_reference_free(v.guest);
	pv_digest_set_free(v.images);
	pv_digest_set_free(v.configs);
	if (r < 0) {
		res->pass = false;
		return pv_error_prefix(err, "attestation");
	}
	return 0;
}

int pv_attest_record_container(const char *state_dir, const char *id, const char *spec_json,
			       const char *reference_set, pv_error *err)
{
	_cleanup_free_ char *dir = NULL, *line = NULL, *path = NULL;
	struct stat st;
	if (asprintf(&dir, "%s/attest", state_dir) < 0)
		return pv_error_set(err, ENOMEM, "attest");
	if (stat(dir, &st) < 0)
		return 0;  /* no TPM */
	uint8_t d[32];
	char hex[65];
	pv_sha256((const uint8_t *)spec_json, strlen(spec_json), d);
	pv_hex_encode(d, 32, hex);
	if (asprintf(&line, "%s %s %s\n", hex, id, reference_set ? reference_set : "-") < 0 ||
	    asprintf(&path, "%s/containers", dir) < 0)
		return pv_error_set(err, ENOMEM, "attest");
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0 || pv_write_all(fd, line, strlen(line)) < 0)
		return pv_error_set(err, errno, "%s", path);
	return 0;
}
