/* The measurement logs a guest sends the host's verifier (src/libpodvm/attest/event_log.c):
 * the first byte's bit 0 picks IMA's binary list (set) or podvm's event log text (clear),
 * parsed from the rest. What parses must hold up: an event log formats to text that parses
 * back to the same events, and every IMA entry has a path and a template hash of its own. */
#include "fuzz.h"
#include "attest/event_log.h"
#include "util.h"

static bool same_events(const struct pv_event_log *a, const struct pv_event_log *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (a->v[i].pcr != b->v[i].pcr || memcmp(a->v[i].digest, b->v[i].digest, 32) != 0 ||
		    strcmp(a->v[i].type, b->v[i].type) != 0 || strcmp(a->v[i].text, b->v[i].text) != 0)
			return false;
	return true;
}

static void event_log(const uint8_t *data, size_t size)
{
	struct pv_event_log log, back;
	pv_error err = NULL;
	if (!fuzz_parsed(pv_event_log_parse((const char *)data, size, &log, &err), &err)) {
		if (log.n != 0 || log.v != NULL)
			abort();
		return;
	}
	char *text = pv_event_log_format(&log);
	if (text == NULL || pv_event_log_parse(text, strlen(text), &back, NULL) < 0 || !same_events(&log, &back))
		abort();
	free(text);
	pv_event_log_clear(&back);
	pv_event_log_clear(&log);
}

static void ima_log(const uint8_t *data, size_t size)
{
	struct pv_ima_log log;
	pv_error err = NULL;
	uint8_t pcr[32] = { 0 }, v[32];
	if (!fuzz_parsed(pv_ima_log_parse(data, size, &log, &err), &err)) {
		if (log.n != 0 || log.v != NULL)
			abort();
		return;
	}
	for (size_t i = 0; i < log.n; i++) {
		if (log.v[i].path == NULL || log.v[i].pcr != PV_PCR_IMA)
			abort();
		pv_ima_extend_value(&log.v[i], v);
		pv_pcr_extend(pcr, v);
	}
	pv_ima_log_clear(&log);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	uint8_t *copy = fuzz_copy(data + 1, size - 1);
	if (data[0] & 1)
		ima_log(copy, size - 1);
	else
		event_log(copy, size - 1);
	free(copy);
	return 0;
}
