#include "tpm_manufacture.h"
#include "attest/crypto.h"
#include "attest/event_log.h"
#include "attest/hasher.h"
#include "cleanup.h"
#include "sha256.h"
#include "tpm2.h"
#include "tpm_ctrl.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#define TPM_IO_TIMEOUT_S 10
#define CTRL_TIMEOUT_MS 10000
#define END_TIMEOUT_MS 5000
#define BOOT_EVENTS_MAX (1u << 20)

static int sha256_file(const char *path, uint8_t out[32], pv_error *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return pv_error_set(err, errno, "measuring %s", path);
	return pv_sha256_fd(fd, out, err) < 0 ? pv_error_prefix(err, "measuring %s", path) : 0;
}

/* What a cold boot loads, in the order it is extended. */
static int cold_boot_events(const struct pv_tpm_birth *b, struct pv_event_log *log, pv_error *err)
{
	uint8_t d[32];
	if (sha256_file(b->kernel, d, err) < 0 || pv_event_log_add(log, PV_PCR_BOOT, d, "kernel", b->kernel, err) < 0 ||
	    sha256_file(b->initrd, d, err) < 0 ||
	    pv_event_log_add(log, PV_PCR_BOOT, d, "initramfs", b->initrd, err) < 0)
		return -1;
	pv_sha256((const uint8_t *)b->cmdline, strlen(b->cmdline), d);
	return pv_event_log_add(log, PV_PCR_BOOT, d, "cmdline", b->cmdline, err);
}

static int template_boot_events(const char *path, struct pv_event_log *log, pv_error *err)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	if (pv_read_file(path, BOOT_EVENTS_MAX, &text, &len, err) < 0 ||
	    pv_event_log_parse(text, len, log, err) < 0)
		return pv_error_prefix(err, "template's boot events");
	return 0;
}

static int extend_events(struct pv_tpm2 *t, const struct pv_event_log *log, pv_error *err)
{
	for (size_t i = 0; i < log->n; i++)
		if (pv_tpm2_pcr_extend(t, log->v[i].pcr, log->v[i].digest, err) < 0)
			return pv_error_prefix(err, "measuring %s", log->v[i].type);
	return 0;
}

static int replay_ima(struct pv_tpm2 *t, const char *path, pv_error *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	struct pv_ima_log log;
	if (pv_read_file(path, 32u << 20, &buf, &len, err) < 0 ||
	    pv_ima_log_parse((const uint8_t *)buf, len, &log, err) < 0)
		return pv_error_prefix(err, "template's IMA log");
	int r = 0;
	for (size_t i = 0; i < log.n && r == 0; i++) {
		uint8_t v[32];
		pv_ima_extend_value(&log.v[i], v);
		r = pv_tpm2_pcr_extend(t, PV_PCR_IMA, v, err);
	}
	pv_ima_log_clear(&log);
	return r;
}

static int write_attest_file(const char *state_dir, const char *name, const void *data, size_t len, pv_error *err)
{
	_cleanup_free_ char *dir = NULL, *path = NULL;
	if (asprintf(&dir, "%s/attest", state_dir) < 0 || asprintf(&path, "%s/%s", dir, name) < 0)
		return pv_error_set(err, ENOMEM, "attest");
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return pv_error_set(err, errno, "%s", dir);
	return pv_write_file(path, data, len, 0600, err);
}

static int certify_ek(struct pv_tpm2 *t, const struct pv_swtpm_config *c, const struct pv_tpm_birth *b,
		      pv_error *err)
{
	struct pv_tpm2_public ek;
	uint32_t handle;
	_cleanup_free_ uint8_t *der = NULL;
	size_t der_len;
	if (pv_tpm2_create_ek(t, &handle, &ek, err) < 0)
		return -1;
	int r = pv_tpm2_flush(t, handle, err);
	if (r == 0)
		r = pv_attest_ca_issue_ek_cert(b->ca_dir, &ek, b->name, &der, &der_len, err);
	if (r == 0)
		r = pv_tpm2_nv_store(t, PV_TPM2_EK_CERT_NV_ECC, der, der_len, err);
	if (r == 0)
		r = write_attest_file(c->state_dir, "ek.der", der, der_len, err);
	return r;
}

static int measure_boot(struct pv_tpm2 *t, const struct pv_swtpm_config *c, const struct pv_tpm_birth *b,
			pv_error *err)
{
	struct pv_event_log log = { 0 };
	int r = b->boot_events ? template_boot_events(b->boot_events, &log, err) : cold_boot_events(b, &log, err);
	if (r == 0)
		r = extend_events(t, &log, err);
	_cleanup_free_ char *text = r == 0 ? pv_event_log_format(&log) : NULL;
	if (r == 0 && text == NULL)
		r = pv_error_set(err, ENOMEM, "boot events");
	if (r == 0)
		r = write_attest_file(c->state_dir, "boot_events", text, strlen(text), err);
	pv_event_log_clear(&log);
	return r;
}

static int make(struct pv_swtpm *s, const struct pv_swtpm_config *c, const struct pv_tpm_birth *b, pv_error *err)
{
	/* swtpm is another process: never wait on it for ever. */
	struct timeval tv = { .tv_sec = TPM_IO_TIMEOUT_S };
	if (setsockopt(s->data_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
		return pv_error_set(err, errno, "TPM data channel");
	struct pv_tpm2 t = { s->data_fd };
	if (pv_tpm2_startup_clear(&t, err) < 0 || certify_ek(&t, c, b, err) < 0 || measure_boot(&t, c, b, err) < 0 ||
	    (b->ima_log && replay_ima(&t, b->ima_log, err) < 0))
		return -1;
	if (pv_tpm_ctrl_simple(s->qemu_fd, PV_TPM_CMD_STORE_VOLATILE, CTRL_TIMEOUT_MS, err) < 0 ||
	    pv_tpm_ctrl_simple(s->qemu_fd, PV_TPM_CMD_SHUTDOWN, CTRL_TIMEOUT_MS, err) < 0)
		return -1;
	return 0;
}

int pv_tpm_manufacture(const struct pv_swtpm_config *c, const struct pv_tpm_birth *b, pv_error *err)
{
	struct pv_swtpm_config once = *c;
	once.data_channel = true;
	once.outlive_thread = false;
	struct pv_swtpm s;
	if (pv_swtpm_start(&once, &s, err) < 0)
		return pv_error_prefix(err, "making the VM's TPM");
	int r = make(&s, c, b, err);
	/* After CMD_SHUTDOWN it ends by itself; after a failure it is killed. */
	pv_swtpm_reap(&s, r == 0 ? END_TIMEOUT_MS : 0);
	return r < 0 ? pv_error_prefix(err, "making the VM's TPM") : 0;
}
