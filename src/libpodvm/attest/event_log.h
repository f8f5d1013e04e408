/* The measurement logs a verifier replays against a quote's PCRs:
 *  - podvm's event logs, one event a line, "<pcr> <sha256 hex> <type> <text>": the host's
 *    boot events (kernel, initramfs, cmdline into PCR 9, written when the VM's TPM is
 *    made) and the agent's (container-config into PCR 11);
 *  - IMA's binary_runtime_measurements_sha256 (PCR 10, template ima-ng), from the guest.
 * Both come from places the verifier does not trust; parsing rejects anything malformed,
 * and only a replay that reaches the quoted PCR value counts. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "error.h"

#define PV_PCR_BOOT 9
#define PV_PCR_IMA 10
#define PV_PCR_CONFIG 11

struct pv_event {
	unsigned pcr;
	uint8_t digest[32];
	char type[32];
	char *text;
};

struct pv_event_log {
	struct pv_event *v;
	size_t n;
};

int pv_event_log_parse(const char *text, size_t len, struct pv_event_log *log, pv_error *err);
int pv_event_log_add(struct pv_event_log *log, unsigned pcr, const uint8_t digest[32], const char *type,
		     const char *text, pv_error *err);
/* The log as text (malloc'd), one line an event; text's line breaks become spaces. */
char *pv_event_log_format(const struct pv_event_log *log);
void pv_event_log_clear(struct pv_event_log *log);

struct pv_ima_entry {
	unsigned pcr;
	uint8_t template_hash[32];  /* recomputed from the template data, checked against the log's */
	bool violation;             /* IMA logged a zero hash and extended 0xff..ff */
	uint8_t file_digest[32];
	char *path;
};

struct pv_ima_log {
	struct pv_ima_entry *v;
	size_t n;
};

/* Entries of template ima-ng with sha256 file digests only; anything else is an error
 * naming the entry. */
int pv_ima_log_parse(const uint8_t *buf, size_t len, struct pv_ima_log *log, pv_error *err);
void pv_ima_log_clear(struct pv_ima_log *log);

/* pcr = SHA-256(pcr || digest) */
void pv_pcr_extend(uint8_t pcr[32], const uint8_t digest[32]);
/* What entry i extends PCR 10 with. */
void pv_ima_extend_value(const struct pv_ima_entry *e, uint8_t out[32]);

