#include "cni_conf.h"
#include "cleanup.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONF_MAX_BYTES (1 << 20)

#define _cleanup_json_ _cleanup_(json_decrefp)  /* jansson's own */

const char *pv_cni_conf_dir(const char *explicit)
{
	const char *env[] = { "CNI_CONF_DIR", "NETCONFPATH" };
	if (explicit && *explicit)
		return explicit;
	for (size_t i = 0; i < sizeof(env) / sizeof(*env); i++) {
		const char *v = getenv(env[i]);
		if (v && *v)
			return v;
	}
	return PV_CNI_DEFAULT_CONF_DIR;
}

static const char *string_field(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static int check_plugins(const char *file, json_t *plugins, pv_error *err)
{
	if (!json_is_array(plugins) || json_array_size(plugins) == 0)
		return pv_error_set_plain(err, EINVAL, "%s: no \"plugins\" list", file);
	size_t i;
	json_t *p;
	json_array_foreach(plugins, i, p) {
		const char *type = string_field(p, "type");
		if (type == NULL || *type == '\0' || strchr(type, '/'))
			return pv_error_set_plain(err, EINVAL, "%s: plugin %zu: no valid \"type\"", file, i + 1);
	}
	return 0;
}

int pv_cni_conflist_parse(const char *file, const char *text, bool single,
			  struct pv_cni_conflist *out, pv_error *err)
{
	json_error_t je;
	_cleanup_json_ json_t *root = json_loads(text, 0, &je);
	if (root == NULL)
		return pv_error_set_plain(err, EINVAL, "%s: invalid JSON at line %d: %s", file, je.line, je.text);
	const char *name = string_field(root, "name"), *version = string_field(root, "cniVersion");
	if (name == NULL || *name == '\0')
		return pv_error_set_plain(err, EINVAL, "%s: no \"name\"", file);
	/* A single plugin's file is a list of one, as libcni's ConfListFromConf makes it. */
	_cleanup_json_ json_t *plugins = single ? json_pack("[O]", root) : json_incref(json_object_get(root, "plugins"));
	if (check_plugins(file, plugins, err) < 0)
		return -1;
	struct pv_cni_conflist l = { strdup(name), strdup(version ? version : ""), strdup(file), steal_pointer(&plugins) };
	if (l.name == NULL || l.cni_version == NULL || l.file == NULL) {
		pv_cni_conflist_clear(&l);
		return pv_error_set(err, ENOMEM, "%s", file);
	}
	*out = l;
	return 0;
}

void pv_cni_conflist_clear(struct pv_cni_conflist *l)
{
	free(l->name);
	free(l->cni_version);
	free(l->file);
	json_decref(l->plugins);
	memset(l, 0, sizeof(*l));
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n > m && strcmp(s + n - m, suffix) == 0;
}

static int is_conflist(const struct dirent *de)
{
	return de->d_name[0] != '.' && has_suffix(de->d_name, ".conflist");
}

static int is_single_conf(const struct dirent *de)
{
	return de->d_name[0] != '.' && (has_suffix(de->d_name, ".conf") || has_suffix(de->d_name, ".json"));
}

/* 1 and *out filled when file holds network name, 0 when another, <0 on error. */
static int try_file(const char *dir, const char *file, bool single, const char *name,
		    struct pv_cni_conflist *out, pv_error *err)
{
	_cleanup_free_ char *path = NULL, *text = NULL;
	if (asprintf(&path, "%s/%s", dir, file) < 0)
		return pv_error_set(err, ENOMEM, "%s", dir);
	if (pv_read_file(path, CONF_MAX_BYTES, &text, NULL, err) < 0)
		return -1;
	struct pv_cni_conflist l;
	if (pv_cni_conflist_parse(path, text, single, &l, err) < 0)
		return -1;
	if (strcmp(l.name, name) != 0) {
		pv_cni_conflist_clear(&l);
		return 0;
	}
	*out = l;
	return 1;
}

static int search(const char *dir, bool single, const char *name, struct pv_cni_conflist *out, pv_error *err)
{
	struct dirent **names = NULL;
	int n = scandir(dir, &names, single ? is_single_conf : is_conflist, alphasort);
	if (n < 0)
		return pv_error_set(err, errno, "CNI config directory %s", dir);
	int r = 0;
	for (int i = 0; i < n; i++) {
		if (r == 0)
			r = try_file(dir, names[i]->d_name, single, name, out, err);
		free(names[i]);
	}
	free(names);
	return r;
}

int pv_cni_conflist_load(const char *dir, const char *name, struct pv_cni_conflist *out,
			 pv_error *err)
{
	int r = search(dir, false, name, out, err);
	if (r == 0)
		r = search(dir, true, name, out, err);
	if (r < 0)
		return -1;
	if (r == 0)
		return pv_error_set_plain(err, ENOENT, "not found in %s", dir);
	return 0;
}

size_t pv_cni_plugin_count(const struct pv_cni_conflist *l)
{
	return json_array_size(l->plugins);
}

const char *pv_cni_plugin_type(const struct pv_cni_conflist *l, size_t i)
{
	return string_field(json_array_get(l->plugins, i), "type");
}

bool pv_cni_plugin_has_capability(const struct pv_cni_conflist *l, size_t i, const char *cap)
{
	json_t *caps = json_object_get(json_array_get(l->plugins, i), "capabilities");
	return json_is_true(json_object_get(caps, cap));
}

bool pv_cni_del_takes_prev_result(const struct pv_cni_conflist *l)
{
	unsigned major = 0, minor = 0;
	if (sscanf(l->cni_version, "%u.%u", &major, &minor) != 2)
		return false;
	return major > 0 || minor >= 4;
}

/* The runtime's values for the capabilities the plugin declares (NULL: none). */
static json_t *runtime_config(const struct pv_cni_conflist *l, size_t i, json_t *runtime)
{
	json_t *rc = NULL, *value;
	const char *cap;
	json_object_foreach(runtime, cap, value) {
		if (!pv_cni_plugin_has_capability(l, i, cap))
			continue;
		if (rc == NULL && (rc = json_object()) == NULL)
			return NULL;
		json_object_set(rc, cap, value);
	}
	return rc;
}

char *pv_cni_plugin_stdin(const struct pv_cni_conflist *l, size_t i, json_t *prev_result,
			  json_t *runtime, pv_error *err)
{
	_cleanup_json_ json_t *conf = json_deep_copy(json_array_get(l->plugins, i));
	if (conf == NULL || json_object_set_new(conf, "name", json_string(l->name)) < 0 ||
	    json_object_set_new(conf, "cniVersion", json_string(l->cni_version)) < 0 ||
	    (prev_result && json_object_set(conf, "prevResult", prev_result) < 0)) {
		pv_error_set(err, ENOMEM, "plugin config");
		return NULL;
	}
	json_t *rc = runtime ? runtime_config(l, i, runtime) : NULL;
	if (rc)
		json_object_set_new(conf, "runtimeConfig", rc);
	char *text = json_dumps(conf, JSON_COMPACT);
	if (text == NULL)
		pv_error_set(err, ENOMEM, "plugin config");
	return text;
}

/* Newlines and tabs become spaces; leading and trailing space goes. */
static char *one_line(char *s)
{
	for (char *p = s; *p; p++)
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
	while (*s == ' ')
		s++;
	size_t n = strlen(s);
	while (n > 0 && s[n - 1] == ' ')
		s[--n] = '\0';
	return s;
}

static char *last_line(const char *text)
{
	_cleanup_free_ char *copy = strdup(text);
	if (copy == NULL)
		return NULL;
	size_t n = strlen(copy);
	while (n > 0 && (copy[n - 1] == '\n' || copy[n - 1] == ' '))
		copy[--n] = '\0';
	char *nl = strrchr(copy, '\n');
	return n ? strdup(one_line(nl ? nl + 1 : copy)) : NULL;
}

static char *error_json_message(const char *out)
{
	_cleanup_json_ json_t *j = json_loads(out ? out : "", 0, NULL);
	const char *msg = string_field(j, "msg"), *details = string_field(j, "details");
	if (msg == NULL || *msg == '\0')
		return NULL;
	char *text = NULL;
	if (asprintf(&text, "%s%s%s", msg, details && *details ? ": " : "", details && *details ? details : "") < 0)
		return NULL;
	char *line = one_line(text);
	memmove(text, line, strlen(line) + 1);
	return text;
}

char *pv_cni_failure_message(const char *out, const char *errout, int status)
{
	char *m = error_json_message(out);
	if (m == NULL && errout)
		m = last_line(errout);
	if (m == NULL && asprintf(&m, "exited with status %d", status) < 0)
		m = NULL;
	return m;
}
