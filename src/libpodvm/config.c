#include "config.h"
#include "cleanup.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

static int parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = { "1", "true", "yes", "on" }, *const no[] = { "0", "false", "no", "off" };
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0)
			return *out = true, 0;
		if (strcasecmp(v, no[i]) == 0)
			return *out = false, 0;
	}
	return -EINVAL;
}

static int parse_range(const char *v, unsigned min, unsigned max, unsigned *out)
{
	unsigned long long n;
	if (pv_parse_u64(v, &n) < 0 || n < min || n > max)
		return -EINVAL;
	*out = (unsigned)n;
	return 0;
}

static const char *const accel_names[] = { [PV_ACCEL_AUTO] = "auto", [PV_ACCEL_KVM] = "kvm", [PV_ACCEL_TCG] = "tcg" };

int pv_accel_mode_parse(const char *s, enum pv_accel_mode *out)
{
	for (size_t i = 0; i < sizeof(accel_names) / sizeof(*accel_names); i++)
		if (strcasecmp(s, accel_names[i]) == 0)
			return *out = (enum pv_accel_mode)i, 0;
	return -EINVAL;
}

const char *pv_accel_mode_name(enum pv_accel_mode m)
{
	return accel_names[m];
}

static int set_templates(struct pv_config *c, const char *v) { return parse_bool(v, &c->templates); }
static int set_ksm(struct pv_config *c, const char *v) { return parse_bool(v, &c->ksm); }
static int set_jail(struct pv_config *c, const char *v) { return parse_bool(v, &c->jail); }
static int set_tpm(struct pv_config *c, const char *v) { return parse_bool(v, &c->tpm); }
static int set_pool_max(struct pv_config *c, const char *v) { return parse_range(v, 1, PV_POOL_MAX, &c->pool_max); }
static int set_pool_idle(struct pv_config *c, const char *v) { return parse_range(v, 1, PV_POOL_IDLE_MAX, &c->pool_idle); }
static int set_accel(struct pv_config *c, const char *v) { return pv_accel_mode_parse(v, &c->accel); }

static int set_pool(struct pv_config *c, const char *v)
{
	c->pool_auto = strcasecmp(v, "auto") == 0;
	return c->pool_auto ? (c->pool = 0, 0) : parse_range(v, 0, PV_POOL_MAX, &c->pool);
}

static int set_qemu(struct pv_config *c, const char *v)
{
	return v[0] && strlen(v) < sizeof(c->qemu) ? (snprintf(c->qemu, sizeof(c->qemu), "%s", v), 0) : -EINVAL;
}

static int set_swtpm(struct pv_config *c, const char *v)
{
	return v[0] && strlen(v) < sizeof(c->swtpm) ? (snprintf(c->swtpm, sizeof(c->swtpm), "%s", v), 0) : -EINVAL;
}

static int set_secrets_dir(struct pv_config *c, const char *v)
{
	return v[0] == '/' && strlen(v) < sizeof(c->secrets_dir)
		       ? (snprintf(c->secrets_dir, sizeof(c->secrets_dir), "%s", v), 0) : -EINVAL;
}

static int set_agent_timeout(struct pv_config *c, const char *v)
{
	return parse_range(v, 0, PV_AGENT_TIMEOUT_MAX, &c->agent_timeout);
}

static const char *const attestation_names[] = { "off", "verify", "enforce" };

const char *pv_attestation_mode_name(enum pv_attestation_mode m)
{
	return attestation_names[m];
}

static int set_attestation(struct pv_config *c, const char *v)
{
	for (size_t i = 0; i < sizeof(attestation_names) / sizeof(*attestation_names); i++)
		if (strcasecmp(v, attestation_names[i]) == 0) {
			c->attestation = (enum pv_attestation_mode)i;
			return 0;
		}
	return -EINVAL;
}

static int set_attestation_period(struct pv_config *c, const char *v)
{
	return parse_range(v, 0, PV_ATTESTATION_PERIOD_MAX, &c->attestation_period);
}

#define STR_(x) #x
#define STR(x) STR_(x)

/* Every setting: its key in the file, the variable that overrides it, what it takes. */
static const struct setting {
	const char *key, *env;
	int (*set)(struct pv_config *c, const char *value);
	const char *want;
} settings[] = {
	{ "templates", "PODVM_TEMPLATES", set_templates, "a boolean" },
	{ "pool", "PODVM_POOL", set_pool, "auto or a number from 0 to " STR(PV_POOL_MAX) },
	{ "pool_max", "PODVM_POOL_MAX", set_pool_max, "a number from 1 to " STR(PV_POOL_MAX) },
	{ "pool_idle", "PODVM_POOL_IDLE", set_pool_idle, "a number of seconds from 1 to " STR(PV_POOL_IDLE_MAX) },
	{ "agent_timeout", "PODVM_AGENT_TIMEOUT", set_agent_timeout,
	  "a number of seconds from 0 to " STR(PV_AGENT_TIMEOUT_MAX) },
	{ "accel", "PODVM_ACCEL", set_accel, "auto, kvm or tcg" },
	{ "ksm", "PODVM_KSM", set_ksm, "a boolean" },
	{ "jail", "PODVM_JAIL", set_jail, "a boolean" },
	{ "qemu", "PODVM_QEMU", set_qemu, "a path or a program name of at most 255 bytes" },
	{ "tpm", "PODVM_TPM", set_tpm, "a boolean" },
	{ "swtpm", "PODVM_SWTPM", set_swtpm, "a path or a program name of at most 255 bytes" },
	{ "attestation", "PODVM_ATTESTATION", set_attestation, "off, verify or enforce" },
	{ "attestation_period", "PODVM_ATTESTATION_PERIOD", set_attestation_period,
	  "a number of seconds from 0 to " STR(PV_ATTESTATION_PERIOD_MAX) },
	{ "secrets_dir", "PODVM_SECRETS_DIR", set_secrets_dir, "an absolute path of at most 255 bytes" },
};

static int set_key(struct pv_config *c, const char *key, const char *value, const char *where, pv_error *err)
{
	for (size_t i = 0; i < sizeof(settings) / sizeof(*settings); i++) {
		if (strcmp(key, settings[i].key) != 0)
			continue;
		if (settings[i].set(c, value) < 0)
			return pv_error_set_plain(err, EINVAL, "%s: %s = \"%s\": not %s", where, key, value, settings[i].want);
		return 0;
	}
	return pv_error_set_plain(err, EINVAL, "%s: unknown setting \"%s\"", where, key);
}

static int parse_line(struct pv_config *c, char *line, const char *where, pv_error *err)
{
	line[strcspn(line, "#")] = '\0';
	char *s = trim(line);
	if (*s == '\0')
		return 0;
	char *eq = strchr(s, '=');
	if (eq == NULL)
		return pv_error_set_plain(err, EINVAL, "%s: expected key = value", where);
	*eq = '\0';
	return set_key(c, trim(s), trim(eq + 1), where, err);
}

int pv_config_parse(struct pv_config *c, const char *text, const char *origin, pv_error *err)
{
	_cleanup_free_ char *copy = strdup(text);
	if (copy == NULL)
		return pv_error_set(err, ENOMEM, "%s", origin);
	char *save = NULL;
	int lineno = 0;
	for (char *p = copy; p; p = save) {
		save = strchr(p, '\n');
		if (save)
			*save++ = '\0';
		char where[512];
		snprintf(where, sizeof(where), "%s:%d", origin, ++lineno);
		if (parse_line(c, p, where, err) < 0)
			return -1;
	}
	return 0;
}

static int load_env(struct pv_config *c, pv_error *err)
{
	for (size_t i = 0; i < sizeof(settings) / sizeof(*settings); i++) {
		const char *v = getenv(settings[i].env);
		if (v && v[0] && settings[i].set(c, v) < 0)
			return pv_error_set_plain(err, EINVAL, "%s=%s: not %s", settings[i].env, v, settings[i].want);
	}
	return 0;
}

bool pv_config_pool_on(const struct pv_config *c)
{
	return c->templates && (c->pool_auto || c->pool > 0);
}

int pv_config_load(struct pv_config *c, pv_error *err)
{
	*c = (struct pv_config){ .templates = true, .pool_auto = true, .ksm = true, .jail = true, .pool_max = PV_DEFAULT_POOL_MAX,
				 .pool_idle = PV_DEFAULT_POOL_IDLE, .agent_timeout = PV_DEFAULT_AGENT_TIMEOUT,
				 .attestation_period = PV_DEFAULT_ATTESTATION_PERIOD };
	const char *path = getenv("PODVM_CONFIG");
	if (path == NULL || path[0] == '\0')
		path = PV_DEFAULT_CONFIG;
	_cleanup_free_ char *text = NULL;
	pv_error read_err = NULL;
	if (pv_read_file(path, 1 << 20, &text, NULL, &read_err) < 0) {
		if (read_err->errnum != ENOENT) {
			*err = read_err;
			return pv_error_prefix(err, "config");
		}
		pv_error_release(&read_err);
	} else if (pv_config_parse(c, text, path, err) < 0) {
		return -1;
	}
	if (load_env(c, err) < 0 || pv_config_check(c, path, err) < 0)
		return -1;
	if (c->attestation != PV_ATTEST_OFF)
		c->tpm = true;  /* what attestation stands on */
	return 0;
}

int pv_config_check(const struct pv_config *c, const char *origin, pv_error *err)
{
	/* A secret is released only to a VM whose attestation passed: without attestation it
	 * would never be, and a pod that silently lacks its secrets is worse than no pod. */
	if (c->secrets_dir[0] && c->attestation == PV_ATTEST_OFF)
		return pv_error_set_plain(err, EINVAL, "%s: secrets_dir = %s: needs attestation = verify or enforce",
					  origin, c->secrets_dir);
	return 0;
}
