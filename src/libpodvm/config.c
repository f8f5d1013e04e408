#include "config.h"
#include "cleanup.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
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

static int parse_upto(const char *v, unsigned max, unsigned *out)
{
	unsigned long long n;
	if (pv_parse_u64(v, &n) < 0 || n > max)
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

static int set_key(struct pv_config *c, const char *key, const char *value, const char *where, pv_error *err)
{
	if (strcmp(key, "templates") == 0) {
		if (parse_bool(value, &c->templates) < 0)
			return pv_error_set_plain(err, EINVAL, "%s: templates = \"%s\": not a boolean", where, value);
		return 0;
	}
	if (strcmp(key, "pool") == 0) {
		if (parse_upto(value, PV_POOL_MAX, &c->pool) < 0)
			return pv_error_set_plain(err, EINVAL, "%s: pool = \"%s\": not a number from 0 to %d", where, value,
						  PV_POOL_MAX);
		return 0;
	}
	if (strcmp(key, "agent_timeout") == 0) {
		if (parse_upto(value, PV_AGENT_TIMEOUT_MAX, &c->agent_timeout) < 0)
			return pv_error_set_plain(err, EINVAL, "%s: agent_timeout = \"%s\": not a number of seconds from 0 to %d",
						  where, value, PV_AGENT_TIMEOUT_MAX);
		return 0;
	}
	if (strcmp(key, "accel") == 0) {
		if (pv_accel_mode_parse(value, &c->accel) < 0)
			return pv_error_set_plain(err, EINVAL, "%s: accel = \"%s\": not auto, kvm or tcg", where, value);
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

int pv_config_load(struct pv_config *c, pv_error *err)
{
	*c = (struct pv_config){ .templates = true, .agent_timeout = PV_DEFAULT_AGENT_TIMEOUT };
	const char *path = getenv("PODVM_CONFIG");
	if (path == NULL || path[0] == '\0')
		path = PV_DEFAULT_CONFIG;
	_cleanup_free_ char *text = NULL;
	pv_error read_err = NULL;
	if (pv_read_file(path, 1 << 20, &text, NULL, &read_err) < 0) {
		bool missing = read_err->errnum == ENOENT;
		if (missing) {
			pv_error_release(&read_err);
		} else {
			*err = read_err;
			return pv_error_prefix(err, "config");
		}
	} else if (pv_config_parse(c, text, path, err) < 0) {
		return -1;
	}
	const char *env = getenv("PODVM_TEMPLATES");
	if (env && env[0] && parse_bool(env, &c->templates) < 0)
		return pv_error_set_plain(err, EINVAL, "PODVM_TEMPLATES=%s: not a boolean", env);
	env = getenv("PODVM_POOL");
	if (env && env[0] && parse_upto(env, PV_POOL_MAX, &c->pool) < 0)
		return pv_error_set_plain(err, EINVAL, "PODVM_POOL=%s: not a number from 0 to %d", env, PV_POOL_MAX);
	env = getenv("PODVM_AGENT_TIMEOUT");
	if (env && env[0] && parse_upto(env, PV_AGENT_TIMEOUT_MAX, &c->agent_timeout) < 0)
		return pv_error_set_plain(err, EINVAL, "PODVM_AGENT_TIMEOUT=%s: not a number of seconds from 0 to %d", env,
					  PV_AGENT_TIMEOUT_MAX);
	env = getenv("PODVM_ACCEL");
	if (env && env[0] && pv_accel_mode_parse(env, &c->accel) < 0)
		return pv_error_set_plain(err, EINVAL, "PODVM_ACCEL=%s: not auto, kvm or tcg", env);
	return 0;
}
