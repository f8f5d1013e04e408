#include "event_log.h"
#include "cleanup.h"
#include "sha256.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVENT_LOG_MAX_EVENTS 100000
#define IMA_NAME_MAX 16
#define IMA_DATA_MAX 8192

void pv_pcr_extend(uint8_t pcr[32], const uint8_t digest[32])
{
	uint8_t buf[64];
	memcpy(buf, pcr, 32);
	memcpy(buf + 32, digest, 32);
	pv_sha256(buf, sizeof(buf), pcr);
}

/* An array of n elements of size bytes with room for one more: v itself, or v doubled when
 * n is a power of two (so that a long log is not copied once an entry), or NULL. */
static void *grow(void *v, size_t n, size_t size)
{
	if (n != 0 && (n & (n - 1)) != 0)
		return v;
	return realloc(v, (n ? 2 * n : 1) * size);
}

int pv_event_log_add(struct pv_event_log *log, unsigned pcr, const uint8_t digest[32], const char *type,
		     const char *text, pv_error *err)
{
	if (strlen(type) >= sizeof(log->v->type) || strchr(type, ' '))
		return pv_error_set_plain(err, EINVAL, "event type \"%s\": not a word", type);
	struct pv_event *grown = grow(log->v, log->n, sizeof(*grown));
	if (grown == NULL)
		return pv_error_set(err, ENOMEM, "event log");
	log->v = grown;
	struct pv_event *e = &log->v[log->n];
	*e = (struct pv_event){ .pcr = pcr };
	memcpy(e->digest, digest, 32);
	snprintf(e->type, sizeof(e->type), "%s", type);
	if ((e->text = strdup(text)) == NULL)
		return pv_error_set(err, ENOMEM, "event log");
	for (char *p = e->text; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	log->n++;
	return 0;
}

/* "<pcr> <64 hex> <type> <text>" */
static int parse_line(char *line, struct pv_event_log *log, pv_error *err)
{
	char *sp1 = strchr(line, ' ');
	char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	char *sp3 = sp2 ? strchr(sp2 + 1, ' ') : NULL;
	uint8_t digest[32];
	if (sp3 == NULL || sp1 - line > 2 || strspn(line, "0123456789") != (size_t)(sp1 - line) || sp1 == line ||
	    pv_hex_decode(sp1 + 1, (size_t)(sp2 - sp1 - 1), digest, 32) < 0)
		return pv_error_set_plain(err, EINVAL, "not \"PCR SHA256 TYPE TEXT\"");
	unsigned pcr = (unsigned)atoi(line);
	*sp3 = '\0';
	if (pcr > 23)
		return pv_error_set_plain(err, EINVAL, "PCR %u: no such PCR", pcr);
	return pv_event_log_add(log, pcr, digest, sp2 + 1, sp3 + 1, err);
}

int pv_event_log_parse(const char *text, size_t len, struct pv_event_log *log, pv_error *err)
{
	*log = (struct pv_event_log){ 0 };
	_cleanup_free_ char *copy = strndup(text, len);
	if (copy == NULL)
		return pv_error_set(err, ENOMEM, "event log");
	if (strlen(copy) != len) {
		size_t at_line = 1;
		for (const char *p = copy; (p = strchr(p, '\n')) != NULL; p++)
			at_line++;
		return pv_error_set_plain(err, EINVAL, "event log: line %zu: a NUL byte inside", at_line);
	}
	size_t lineno = 0;
	for (char *line = copy, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next == NULL) {
			pv_event_log_clear(log);
			return pv_error_set_plain(err, EINVAL, "event log: line %zu: not terminated (truncated?)",
						  lineno + 1);
		}
		*next++ = '\0';
		if (++lineno > EVENT_LOG_MAX_EVENTS || parse_line(line, log, err) < 0) {
			pv_event_log_clear(log);
			pv_error_set_plain(err, E2BIG, "too many events");
			return pv_error_prefix(err, "event log: line %zu", lineno);
		}
	}
	return 0;
}

char *pv_event_log_format(const struct pv_event_log *log)
{
	char *out = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&out, &size);
	if (f == NULL)
		return NULL;
	for (size_t i = 0; i < log->n; i++) {
		char hex[65];
		pv_hex_encode(log->v[i].digest, 32, hex);
		fprintf(f, "%u %s %s %s\n", log->v[i].pcr, hex, log->v[i].type, log->v[i].text);
	}
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

void pv_event_log_clear(struct pv_event_log *log)
{
	for (size_t i = 0; i < log->n; i++)
		free(log->v[i].text);
	free(log->v);
	*log = (struct pv_event_log){ 0 };
}

/* A little-endian u32 (IMA's native order on x86) at *p, advancing it. */
static bool take_u32(const uint8_t **p, const uint8_t *end, uint32_t *v)
{
	if (end - *p < 4)
		return false;
	*v = (uint32_t)(*p)[0] | (uint32_t)(*p)[1] << 8 | (uint32_t)(*p)[2] << 16 | (uint32_t)(*p)[3] << 24;
	*p += 4;
	return true;
}

/* ima-ng's template data: [u32 len]["sha256:\0" digest] [u32 len][path \0] */
static int parse_ima_ng(const uint8_t *d, uint32_t len, struct pv_ima_entry *e, pv_error *err)
{
	const uint8_t *p = d, *end = d + len;
	uint32_t dlen, nlen;
	static const char algo[] = "sha256:";
	if (!take_u32(&p, end, &dlen) || dlen != sizeof(algo) + 32 || end - p < (ptrdiff_t)dlen ||
	    memcmp(p, algo, sizeof(algo)) != 0)
		return pv_error_set_plain(err, EINVAL, "file digest not \"sha256:\"");
	memcpy(e->file_digest, p + sizeof(algo), 32);
	p += dlen;
	if (!take_u32(&p, end, &nlen) || nlen == 0 || end - p != (ptrdiff_t)nlen || p[nlen - 1] != '\0' ||
	    memchr(p, '\0', nlen) != p + nlen - 1)
		return pv_error_set_plain(err, EINVAL, "file name malformed");
	e->path = strdup((const char *)p);
	return e->path ? 0 : pv_error_set(err, ENOMEM, "IMA log");
}

static bool all_zero(const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

static int parse_ima_entry(const uint8_t **p, const uint8_t *end, struct pv_ima_entry *e, pv_error *err)
{
	uint32_t pcr, name_len, data_len;
	uint8_t logged[32];
	if (!take_u32(p, end, &pcr) || end - *p < 32)
		return pv_error_set_plain(err, EINVAL, "truncated");
	memcpy(logged, *p, 32);
	*p += 32;
	if (!take_u32(p, end, &name_len) || name_len > IMA_NAME_MAX || end - *p < (ptrdiff_t)name_len)
		return pv_error_set_plain(err, EINVAL, "template name malformed");
	if (name_len != 6 || memcmp(*p, "ima-ng", 6) != 0)
		return pv_error_set_plain(err, EINVAL, "template \"%.*s\": not ima-ng", (int)name_len, (const char *)*p);
	*p += name_len;
	if (!take_u32(p, end, &data_len) || data_len > IMA_DATA_MAX || end - *p < (ptrdiff_t)data_len)
		return pv_error_set_plain(err, EINVAL, "template data truncated");
	if (pcr != PV_PCR_IMA)
		return pv_error_set_plain(err, EINVAL, "PCR %u: IMA measures into PCR %d", pcr, PV_PCR_IMA);
	e->pcr = pcr;
	if (parse_ima_ng(*p, data_len, e, err) < 0)
		return -1;
	pv_sha256(*p, data_len, e->template_hash);
	*p += data_len;
	e->violation = all_zero(logged, 32);
	if (!e->violation && memcmp(logged, e->template_hash, 32) != 0)
		return pv_error_set_plain(err, EINVAL, "%s: template hash does not match its data", e->path);
	return 0;
}

int pv_ima_log_parse(const uint8_t *buf, size_t len, struct pv_ima_log *log, pv_error *err)
{
	*log = (struct pv_ima_log){ 0 };
	const uint8_t *p = buf, *end = buf + len;
	while (p < end) {
		struct pv_ima_entry *grown = grow(log->v, log->n, sizeof(*grown));
		if (grown == NULL) {
			pv_ima_log_clear(log);
			return pv_error_set(err, ENOMEM, "IMA log");
		}
		log->v = grown;
		log->v[log->n] = (struct pv_ima_entry){ 0 };
		if (parse_ima_entry(&p, end, &log->v[log->n], err) < 0) {
			size_t bad = log->n;
			log->n++;  /* its path, if any, is freed with the rest */
			pv_ima_log_clear(log);
			return pv_error_prefix(err, "IMA log: entry %zu", bad + 1);
		}
		log->n++;
	}
	return 0;
}

void pv_ima_log_clear(struct pv_ima_log *log)
{
	for (size_t i = 0; i < log->n; i++)
		free(log->v[i].path);
	free(log->v);
	*log = (struct pv_ima_log){ 0 };
}

void pv_ima_extend_value(const struct pv_ima_entry *e, uint8_t out[32])
{
	if (e->violation)
		memset(out, 0xff, 32);
	else
		memcpy(out, e->template_hash, 32);
}
