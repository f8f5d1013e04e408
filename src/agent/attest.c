#include "attest.h"
#include "cleanup.h"
#include "log.h"
#include "sha256.h"
#include "tpm2.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#define SECURITYFS "/sys/kernel/security"
#define IMA_POLICY SECURITYFS "/ima/policy"
#define IMA_LOG SECURITYFS "/ima/binary_runtime_measurements_sha256"
#define IMA_LOG_MAX (32u << 20)

/* Every file a process executes or maps executable, wherever it lies (a binary written at
 * run time to a tmpfs included): what the verifier checks against the images' references. */
static const char ima_policy[] =
	"measure func=BPRM_CHECK mask=MAY_EXEC\n"
	"measure func=MMAP_CHECK mask=MAY_EXEC\n";

/* One TPM user at a time: the resource manager would serialise commands, but a quote and
 * the logs read after it must not interleave with a config's extend and log entry. */
static pthread_mutex_t tpm_lock = PTHREAD_MUTEX_INITIALIZER;
static bool have_tpm;
static char *event_log;      /* under tpm_lock */
static size_t event_log_len;

bool attest_available(void)
{
	return have_tpm;
}

static int load_ima_policy(pv_error *err)
{
	if (mount("securityfs", SECURITYFS, "securityfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0 &&
	    errno != EBUSY)
		return pv_error_set(err, errno, "mount securityfs on %s", SECURITYFS);
	_cleanup_close_ int fd = open(IMA_POLICY, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return pv_error_set(err, errno, "IMA policy %s", IMA_POLICY);
	if (pv_write_all(fd, ima_policy, sizeof(ima_policy) - 1) < 0)
		return pv_error_set(err, errno, "IMA policy %s: write", IMA_POLICY);
	return 0;
}

int attest_init(pv_error *err)
{
	if (access(ATTEST_TPM_DEVICE, F_OK) < 0)
		return 0;
	if (load_ima_policy(err) < 0)
		return -1;
	have_tpm = true;
	debug("attest: TPM present, IMA policy loaded");
	return 0;
}

static int log_append_locked(const char *line, pv_error *err)
{
	size_t n = strlen(line);
	char *grown = realloc(event_log, event_log_len + n + 1);
	if (grown == NULL)
		return pv_error_set(err, ENOMEM, "event log");
	memcpy(grown + event_log_len, line, n + 1);
	event_log = grown;
	event_log_len += n;
	return 0;
}

static int measure_locked(const char *id, const uint8_t digest[32], pv_error *err)
{
	_cleanup_(pv_tpm2_close) struct pv_tpm2 t = { -1 };
	char line[512], digest_hex[65];
	if (pv_tpm2_open(&t, ATTEST_TPM_DEVICE, err) < 0 ||
	    pv_tpm2_pcr_extend(&t, ATTEST_PCR_CONFIG, digest, err) < 0)
		return -1;
	pv_hex_encode(digest, 32, digest_hex);
	snprintf(line, sizeof(line), "%d %s container-config %s\n", ATTEST_PCR_CONFIG, digest_hex, id);
	return log_append_locked(line, err);
}

int attest_measure_config(const char *container_id, const char *json, size_t len, pv_error *err)
{
	if (!have_tpm)
		return 0;
	uint8_t digest[32];
	pv_sha256((const uint8_t *)json, len, digest);
	pthread_mutex_lock(&tpm_lock);
	int r = measure_locked(container_id, digest, err);
	pthread_mutex_unlock(&tpm_lock);
	return r < 0 ? pv_error_prefix(err, "container %s: measuring its config", container_id) : 0;
}

static int no_tpm(pv_error *err)
{
	return pv_error_set_plain(err, ENODEV, "attestation: this VM has no TPM (tpm = off)");
}

static int identity_locked(uint8_t **ek_cert, size_t *ek_cert_len, uint8_t **ak_public, size_t *ak_public_len,
			   pv_error *err)
{
	_cleanup_(pv_tpm2_close) struct pv_tpm2 t = { -1 };
	struct pv_tpm2_public ak;
	uint32_t handle;
	if (pv_tpm2_open(&t, ATTEST_TPM_DEVICE, err) < 0 ||
	    pv_tpm2_nv_load(&t, PV_TPM2_EK_CERT_NV_ECC, ek_cert, ek_cert_len, err) < 0 ||
	    pv_tpm2_create_ak(&t, &handle, &ak, err) < 0)
		return -1;
	/* The resource manager flushes transient objects when the fd closes. */
	*ak_public = malloc(ak.area_len);
	if (*ak_public == NULL) {
		free(*ek_cert);
		*ek_cert = NULL;
		return pv_error_set(err, ENOMEM, "attestation key");
	}
	memcpy(*ak_public, ak.area, ak.area_len);
	*ak_public_len = ak.area_len;
	return 0;
}

int attest_identity(uint8_t **ek_cert, size_t *ek_cert_len, uint8_t **ak_public, size_t *ak_public_len,
		    pv_error *err)
{
	if (!have_tpm)
		return no_tpm(err);
	pthread_mutex_lock(&tpm_lock);
	int r = identity_locked(ek_cert, ek_cert_len, ak_public, ak_public_len, err);
	pthread_mutex_unlock(&tpm_lock);
	return r;
}

static int activate_locked(const uint8_t *id_object, size_t id_len, const uint8_t *enc_secret, size_t enc_len,
			   uint8_t *out, size_t cap, size_t *out_len, pv_error *err)
{
	_cleanup_(pv_tpm2_close) struct pv_tpm2 t = { -1 };
	struct pv_tpm2_public ek, ak;
	uint32_t ek_handle, ak_handle;
	if (pv_tpm2_open(&t, ATTEST_TPM_DEVICE, err) < 0 || pv_tpm2_create_ek(&t, &ek_handle, &ek, err) < 0 ||
	    pv_tpm2_create_ak(&t, &ak_handle, &ak, err) < 0)
		return -1;
	return pv_tpm2_activate_credential(&t, ak_handle, ek_handle, id_object, id_len, enc_secret, enc_len, out,
					   cap, out_len, err);
}

int attest_activate(const uint8_t *id_object, size_t id_len, const uint8_t *enc_secret, size_t enc_len,
		    uint8_t *out, size_t cap, size_t *out_len, pv_error *err)
{
	if (!have_tpm)
		return no_tpm(err);
	pthread_mutex_lock(&tpm_lock);
	int r = activate_locked(id_object, id_len, enc_secret, enc_len, out, cap, out_len, err);
	pthread_mutex_unlock(&tpm_lock);
	return r;
}

/* The AK stays loaded between quotes (in a resource manager fd of its own; under tpm_lock),
 * so that a periodic attestation costs the guest one TPM command. */
static struct pv_tpm2 quote_tpm = { -1 };
static uint32_t quote_ak;

static int quote_with_ak(const uint8_t *nonce, size_t nonce_len, uint32_t pcr_mask, struct attest_evidence *ev,
			 pv_error *err)
{
	struct pv_tpm2_public ak;
	if (quote_tpm.fd < 0 && (pv_tpm2_open(&quote_tpm, ATTEST_TPM_DEVICE, err) < 0 ||
				 pv_tpm2_create_ak(&quote_tpm, &quote_ak, &ak, err) < 0)) {
		pv_tpm2_close(&quote_tpm);
		return -1;
	}
	return pv_tpm2_quote(&quote_tpm, quote_ak, nonce, nonce_len, pcr_mask, &ev->attest, &ev->attest_len, &ev->sig,
			     &ev->sig_len, err);
}

static int quote_locked(const uint8_t *nonce, size_t nonce_len, uint32_t pcr_mask, struct attest_evidence *ev,
			pv_error *err)
{
	if (nonce_len > 0 && quote_with_ak(nonce, nonce_len, pcr_mask, ev, err) < 0) {
		/* A loaded AK that went away (the TPM was reset): once more, afresh. */
		pv_tpm2_close(&quote_tpm);
		pv_error_release(err);
		if (quote_with_ak(nonce, nonce_len, pcr_mask, ev, err) < 0)
			return -1;
	}
	/* Read after the quote: the log may run ahead of it, never behind. */
	char *ima = NULL;
	if (pv_read_file(IMA_LOG, IMA_LOG_MAX, &ima, &ev->ima_log_len, err) < 0)
		return -1;
	ev->ima_log = (uint8_t *)ima;
	ev->event_log = strdup(event_log ? event_log : "");
	return ev->event_log ? 0 : pv_error_set(err, ENOMEM, "event log");
}

int attest_quote(const uint8_t *nonce, size_t nonce_len, uint32_t pcr_mask, struct attest_evidence *ev,
		 pv_error *err)
{
	*ev = (struct attest_evidence){ 0 };
	if (!have_tpm)
		return no_tpm(err);
	pthread_mutex_lock(&tpm_lock);
	int r = quote_locked(nonce, nonce_len, pcr_mask, ev, err);
	pthread_mutex_unlock(&tpm_lock);
	if (r < 0)
		attest_evidence_clear(ev);
	return r;
}

void attest_evidence_clear(struct attest_evidence *ev)
{
	free(ev->attest);
	free(ev->sig);
	free(ev->ima_log);
	free(ev->event_log);
	*ev = (struct attest_evidence){ 0 };
}
