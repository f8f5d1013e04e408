/* The measurement logs' parsers (src/libpodvm/attest/event_log.c): podvm's event log text
 * (format and parse round trip, every malformed line refused naming it) and IMA's binary
 * list of template ima-ng (a valid list, every cut refused unless between entries, a forged
 * template hash, another template, a violation), and the PCR arithmetic a verifier replays
 * them with. */
#include "tap.h"
#include "attest/event_log.h"
#include "util.h"
#include "cleanup.h"
#include "ima_fixture.h"
#include "sha256.h"

#include <stdlib.h>
#include <string.h>

#define HEX_A "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static void digest_of(const char *s, uint8_t d[32])
{
	pv_sha256((const uint8_t *)s, strlen(s), d);
}

static void test_hex(void)
{
	uint8_t d[32], back[32];
	char hex[65];
	ok(pv_hex_decode(HEX_A, 64, d, 32) == 0 && d[0] == 0x00 && d[1] == 0x11 && d[31] == 0xff, "hex: decoded");
	pv_hex_encode(d, 32, hex);
	ok(strcmp(hex, HEX_A) == 0, "hex: encoded back");
	ok(pv_hex_decode(HEX_A, 63, back, 32) < 0, "hex: odd length refused");
	char bad[65];
	memcpy(bad, HEX_A, sizeof(bad));
	bad[1] = 'g';
	ok(pv_hex_decode(bad, 64, back, 32) < 0, "hex: a non-hex digit refused");
	bad[1] = 'A';
	ok(pv_hex_decode(bad, 64, back, 32) < 0, "hex: upper case refused (one spelling only)");
	bad[1] = ' ';
	ok(pv_hex_decode(bad, 64, back, 32) < 0, "hex: a space refused");
}

static void test_pcr_extend(void)
{
	uint8_t pcr[32] = { 0 }, d[32], cat[64] = { 0 }, want[32];
	digest_of("measurement", d);
	memcpy(cat + 32, d, 32);
	pv_sha256(cat, sizeof(cat), want);
	pv_pcr_extend(pcr, d);
	ok(memcmp(pcr, want, 32) == 0, "PCR extend: SHA-256(old || digest)");
}

static void test_round_trip(void)
{
	struct pv_event_log log = { 0 }, back = { 0 };
	uint8_t d1[32], d2[32], d3[32];
	pv_error err = NULL;
	digest_of("kernel", d1);
	digest_of("initramfs", d2);
	digest_of("config", d3);
	ok_err(pv_event_log_add(&log, 9, d1, "kernel", "/usr/share/podvm/vmlinuz", &err) == 0 &&
		       pv_event_log_add(&log, 9, d2, "initramfs", "with spaces  and\nnewline\r", &err) == 0 &&
		       pv_event_log_add(&log, 23, d3, "container-config", "", &err) == 0,
	       err, "event log: 3 events added");
	ok_err(pv_event_log_add(&log, 9, d1, "two words", "x", &err) < 0 && strstr(err->msg, "not a word"), err,
	       "event log: a type with a space refused");
	ok_err(pv_event_log_add(&log, 9, d1, "a-type-of-thirty-two-characters!", "x", &err) < 0, err,
	       "event log: a type of 32 characters refused");
	_cleanup_free_ char *text = pv_event_log_format(&log);
	ok(text && strstr(text, "initramfs with spaces  and newline \n") != NULL,
	   "event log: formatted, line breaks in a text made spaces");
	ok_err(text && pv_event_log_parse(text, strlen(text), &back, &err) == 0 && back.n == 3, err,
	       "event log: parsed back, 3 events");
	bool same = back.n == log.n;
	for (size_t i = 0; same && i < log.n; i++)
		same = back.v[i].pcr == log.v[i].pcr && memcmp(back.v[i].digest, log.v[i].digest, 32) == 0 &&
		       strcmp(back.v[i].type, log.v[i].type) == 0 && strcmp(back.v[i].text, log.v[i].text) == 0;
	ok(same, "event log: the same events back");
	_cleanup_free_ char *again = pv_event_log_format(&back);
	ok(again && text && strcmp(again, text) == 0, "event log: formatted again, the same text");
	pv_event_log_clear(&back);
	ok_err(pv_event_log_parse("", 0, &back, &err) == 0 && back.n == 0, err, "event log: empty is no event");
	pv_event_log_clear(&log);
}

/* A log whose second line is bad: refused, naming line 2, and nothing left allocated. */
static void refused_line2(const char *bad, size_t bad_len, const char *what, const char *why)
{
	char text[512];
	struct pv_event_log log;
	pv_error err = NULL;
	size_t n = (size_t)snprintf(text, sizeof(text), "9 " HEX_A " kernel /vmlinuz\n");
	memcpy(text + n, bad, bad_len);
	int r = pv_event_log_parse(text, n + bad_len, &log, &err);
	ok_err(r < 0 && log.n == 0 && log.v == NULL && strstr(err->msg, "line 2") && strstr(err->msg, why), err,
	       "event log: %s refused, naming line 2", what);
}

#define REFUSED(line, what, why) refused_line2(line, sizeof(line) - 1, what, why)

static void test_malformed(void)
{
	REFUSED("9 0g112233445566778899aabbccddeeff00112233445566778899aabbccddeeff kernel x\n", "a non-hex digit",
		"not \"PCR SHA256 TYPE TEXT\"");
	REFUSED("9 00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff kernel x\n", "upper-case hex",
		"not \"PCR");
	REFUSED("9 0112233445566778899aabbccddeeff00112233445566778899aabbccddeeff kernel x\n", "63 hex digits",
		"not \"PCR");
	REFUSED("9 " HEX_A "00 kernel x\n", "66 hex digits", "not \"PCR");
	REFUSED("9 " HEX_A " kernel\n", "no text", "not \"PCR");
	REFUSED("9 " HEX_A "\n", "no type", "not \"PCR");
	REFUSED("9\n", "a PCR alone", "not \"PCR");
	REFUSED("\n", "an empty line", "not \"PCR");
	REFUSED(" 9 " HEX_A " kernel x\n", "a leading space", "not \"PCR");
	REFUSED("-1 " HEX_A " kernel x\n", "PCR -1", "not \"PCR");
	REFUSED("x9 " HEX_A " kernel x\n", "PCR x9", "not \"PCR");
	REFUSED("24 " HEX_A " kernel x\n", "PCR 24", "PCR 24: no such PCR");
	REFUSED("99 " HEX_A " kernel x\n", "PCR 99", "no such PCR");
	REFUSED("100 " HEX_A " kernel x\n", "PCR 100", "not \"PCR");
	REFUSED("9 " HEX_A " a-type-of-thirty-two-characters! x\n", "a type too long", "not a word");
	REFUSED("9 " HEX_A " kernel x", "a last line without its newline", "not terminated");
	REFUSED("9 " HEX_A " ker\0nel x\n", "a NUL byte inside", "NUL");
}

static void test_too_many(void)
{
	size_t line = strlen("9 " HEX_A " kernel x\n"), n = 100001;
	_cleanup_free_ char *text = malloc(line * n + 1);
	struct pv_event_log log;
	pv_error err = NULL;
	for (size_t i = 0; text && i < n; i++)
		memcpy(text + i * line, "9 " HEX_A " kernel x\n", line);
	ok_err(text && pv_event_log_parse(text, line * n, &log, &err) < 0 && strstr(err->msg, "line 100001") &&
		       strstr(err->msg, "too many"),
	       err, "event log: 100,001 events refused");
}

/* boot_aggregate, /init, /bin/tool */
static void valid_ima(struct ima_fixture *f, uint8_t extend[3][32])
{
	uint8_t d[32];
	digest_of("boot pcrs", d);
	ima_fixture_add(f, "boot_aggregate", d, extend[0]);
	digest_of("the agent\n", d);
	ima_fixture_add(f, "/init", d, extend[1]);
	digest_of("a tool\n", d);
	ima_fixture_add(f, "/bin/tool", d, extend[2]);
}

static void test_ima_valid(void)
{
	struct ima_fixture f = { 0 };
	struct pv_ima_log log;
	uint8_t extend[3][32], d[32], v[32];
	pv_error err = NULL;
	valid_ima(&f, extend);
	ok_err(pv_ima_log_parse(f.data, f.len, &log, &err) == 0 && log.n == 3, err, "IMA: 3 entries parsed");
	digest_of("a tool\n", d);
	ok(log.n == 3 && strcmp(log.v[0].path, "boot_aggregate") == 0 && strcmp(log.v[2].path, "/bin/tool") == 0 &&
		   memcmp(log.v[2].file_digest, d, 32) == 0 && log.v[1].pcr == 10,
	   "IMA: paths, digests and PCR");
	bool hashes = log.n == 3;
	for (size_t i = 0; hashes && i < 3; i++) {
		pv_ima_extend_value(&log.v[i], v);
		hashes = !log.v[i].violation && memcmp(log.v[i].template_hash, extend[i], 32) == 0 &&
			 memcmp(v, extend[i], 32) == 0;
	}
	ok(hashes, "IMA: template hashes, extended as they are");
	pv_ima_log_clear(&log);
	ok_err(pv_ima_log_parse(f.data, 0, &log, &err) == 0 && log.n == 0, err, "IMA: an empty list");
	ima_fixture_clear(&f);
}

/* Every cut of a valid list: an error inside an entry, a shorter list between entries. */
static void test_ima_truncated(void)
{
	struct ima_fixture f = { 0 };
	uint8_t extend[3][32];
	size_t wrong = 0;
	valid_ima(&f, extend);
	for (size_t n = 1; n < f.len; n++) {
		_cleanup_free_ uint8_t *cut = malloc(n);  /* exactly n bytes: ASan sees a read past them */
		struct pv_ima_log log;
		pv_error err = NULL;
		memcpy(cut, f.data, n);
		int r = pv_ima_log_parse(cut, n, &log, &err);
		size_t whole = n == f.ends[0] ? 1 : n == f.ends[1] ? 2 : 0;
		if (whole ? r != 0 || log.n != whole : r == 0 || log.n != 0 || !strstr(err->msg, "IMA log: entry"))
			wrong++;
		if (r == 0)
			pv_ima_log_clear(&log);
		pv_error_release(&err);
	}
	ok(wrong == 0, "IMA: every cut of %zu bytes refused naming the entry, but those between entries (%zu wrong)",
	   f.len, wrong);
	ima_fixture_clear(&f);
}

static void test_ima_forged(void)
{
	struct ima_fixture f = { 0 };
	struct pv_ima_log log;
	uint8_t extend[3][32];
	pv_error err = NULL;
	valid_ima(&f, extend);
	f.data[f.len - 5] ^= 1;  /* in /bin/tool's path */
	ok_err(pv_ima_log_parse(f.data, f.len, &log, &err) < 0 && strstr(err->msg, "entry 3") &&
		       strstr(err->msg, "template hash does not match"),
	       err, "IMA: data not of the template hash refused");
	f.data[f.len - 5] ^= 1;
	f.data[f.ends[0] + 4] ^= 1;  /* /init's template hash */
	ok_err(pv_ima_log_parse(f.data, f.len, &log, &err) < 0 && strstr(err->msg, "entry 2: /init: template hash"),
	       err, "IMA: a forged template hash refused, naming the file");
	ima_fixture_clear(&f);
}

static void test_ima_other(void)
{
	struct ima_fixture f = { 0 };
	struct pv_ima_log log;
	uint8_t d[32], v[32];
	pv_error err = NULL;
	digest_of("x", d);
	ima_fixture_add_entry(&f, 10, "ima-sig", "/x", d, false, NULL);
	ok_err(pv_ima_log_parse(f.data, f.len, &log, &err) < 0 && strstr(err->msg, "\"ima-sig\": not ima-ng"), err,
	       "IMA: template ima-sig refused");
	ima_fixture_clear(&f);
	ima_fixture_add_entry(&f, 10, "ima", "/x", d, false, NULL);
	ok_err(pv_ima_log_parse(f.data, f.len, &log, &err) < 0 && strstr(err->msg, "not ima-ng"), err,
	       "IMA: template ima refused");
	ima_fixture_clear(&f);
	ima_fixture_add_entry(&f, 11, "ima-ng", "/x", d, false, NULL);
	ok_err(pv_ima_log_parse(f.data, f.len, &log, &err) < 0 && strstr(err->msg, "PCR 11"), err,
	       "IMA: an entry of PCR 11 refused");
	ima_fixture_clear(&f);
	ima_fixture_add(&f, "/ok", d, NULL);
	ima_fixture_add_entry(&f, 10, "ima-ng", "/changing", d, true, NULL);
	ok_err(pv_ima_log_parse(f.data, f.len, &log, &err) == 0 && log.n == 2 && !log.v[0].violation &&
		       log.v[1].violation,
	       err, "IMA: a violation (zero template hash) flagged");
	if (log.n == 2)
		pv_ima_extend_value(&log.v[1], v);
	memset(d, 0xff, 32);
	ok(log.n == 2 && memcmp(v, d, 32) == 0, "IMA: a violation extended as 0xff..ff");
	pv_ima_log_clear(&log);
	ima_fixture_clear(&f);
}

int main(void)
{
	test_hex();
	test_pcr_extend();
	test_round_trip();
	test_malformed();
	test_too_many();
	test_ima_valid();
	test_ima_truncated();
	test_ima_forged();
	test_ima_other();
	return done_testing();
}
