/* The image config: the "config" object of an OCI image config or docker image JSON.
 * Absent, null, empty strings and empty arrays all read as NULL: for running a container
 * they mean the same thing (use the default). */
#include "image-internal.h"
#include "util.h"

#include <errno.h>
#include <string.h>

void pv_image_config_clear(struct pv_image_config *cfg)
{
	pv_strv_free(cfg->entrypoint);
	pv_strv_free(cfg->cmd);
	pv_strv_free(cfg->env);
	free(cfg->working_dir);
	free(cfg->user);
	memset(cfg, 0, sizeof(*cfg));
}

static int get_string(json_t *obj, const char *key, char **out, pv_error *err)
{
	json_t *v = json_object_get(obj, key);
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return pv_error_set_plain(err, EINVAL, "%s: not a string", key);
	if (json_string_length(v) == 0)
		return 0;
	*out = strdup(json_string_value(v));
	return *out ? 0 : pv_error_set(err, ENOMEM, "%s", key);
}

static int get_strv(json_t *obj, const char *key, char ***out, pv_error *err)
{
	json_t *v = json_object_get(obj, key), *item;
	size_t i;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_array(v))
		return pv_error_set_plain(err, EINVAL, "%s: not an array", key);
	_cleanup_strv_ char **strv = NULL;
	json_array_foreach(v, i, item) {
		if (!json_is_string(item))
			return pv_error_set_plain(err, EINVAL, "%s[%zu]: not a string", key, i);
		if (pv_strv_push(&strv, json_string_value(item)) < 0)
			return pv_error_set(err, ENOMEM, "%s", key);
	}
	*out = steal_pointer(&strv);
	return 0;
}

static int parse_config_object(json_t *c, struct pv_image_config *cfg, pv_error *err)
{
	int r;
	if ((r = get_strv(c, "Entrypoint", &cfg->entrypoint, err)) < 0 ||
	    (r = get_strv(c, "Cmd", &cfg->cmd, err)) < 0 ||
	    (r = get_strv(c, "Env", &cfg->env, err)) < 0 ||
	    (r = get_string(c, "WorkingDir", &cfg->working_dir, err)) < 0 ||
	    (r = get_string(c, "User", &cfg->user, err)) < 0)
		return r;
	return 0;
}

int pv_image_config_from_json(json_t *root, struct pv_image_config *cfg, pv_error *err)
{
	if (!json_is_object(root))
		return pv_error_set_plain(err, EINVAL, "not a JSON object");
	const char *os = json_string_value(json_object_get(root, "os"));
	if (os && strcmp(os, "linux") != 0)
		return pv_error_set_plain(err, EINVAL, "an image for %s, not linux", os);
	json_t *c = json_object_get(root, "config");
	if (c == NULL || json_is_null(c))
		return 0;   /* legal: an image without run defaults */
	if (!json_is_object(c))
		return pv_error_set_plain(err, EINVAL, "config: not an object");
	int r = parse_config_object(c, cfg, err);
	if (r < 0) {
		pv_image_config_clear(cfg);
		return r;
	}
	return 0;
}

static int put_strv(json_t *obj, const char *key, char *const *v)
{
	if (v == NULL)
		return 0;
	json_t *a = json_array();
	for (size_t i = 0; a && v[i]; i++)
		if (json_array_append_new(a, json_string(v[i])) < 0) {
			json_decref(a);
			return -ENOMEM;
		}
	return a && json_object_set_new(obj, key, a) == 0 ? 0 : -ENOMEM;
}

json_t *pv_image_config_to_json(const struct pv_image_config *cfg)
{
	_cleanup_json_ json_t *root = json_pack("{s:s, s:{}}", "os", "linux", "config");
	json_t *c = root ? json_object_get(root, "config") : NULL;
	if (c == NULL || put_strv(c, "Entrypoint", cfg->entrypoint) < 0 || put_strv(c, "Cmd", cfg->cmd) < 0 ||
	    put_strv(c, "Env", cfg->env) < 0 ||
	    (cfg->working_dir && json_object_set_new(c, "WorkingDir", json_string(cfg->working_dir)) < 0) ||
	    (cfg->user && json_object_set_new(c, "User", json_string(cfg->user)) < 0))
		return NULL;
	return steal_pointer(&root);
}

int pv_image_config_parse(json_t *doc, struct pv_image_config *cfg, pv_error *err)
{
	memset(cfg, 0, sizeof(*cfg));
	return pv_image_config_from_json(doc, cfg, err);
}
