/* A bundle's OCI spec (config.json), and what more than one verb reads from it: the pod a
 * container belongs to, the sandbox's cgroup. */
#include "shim.h"
#include "cleanup.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

json_t *shim_read_spec(const char *bundle, pv_error *err)
{
	_cleanup_free_ char *path = NULL;
	if (asprintf(&path, "%s/config.json", bundle) < 0) {
		pv_error_set(err, ENOMEM, "config.json");
		return NULL;
	}
	json_error_t je;
	json_t *spec = json_load_file(path, 0, &je);
	if (spec == NULL)
		pv_error_set_plain(err, EINVAL, "%s: invalid JSON at line %d: %s", path, je.line, je.text);
	return spec;
}

int shim_pod_of_bundle(const char *bundle, const char *id, char **pod_id, bool *is_sandbox, pv_error *err)
{
	json_t *spec = shim_read_spec(bundle, err);
	if (spec == NULL)
		return -1;
	json_t *ann = json_object_get(spec, "annotations");
	const char *type = json_string_value(json_object_get(ann, ANNOTATION_CONTAINER_TYPE));
	const char *sandbox = json_string_value(json_object_get(ann, ANNOTATION_SANDBOX_ID));
	*is_sandbox = type == NULL || strcmp(type, "sandbox") == 0 || sandbox == NULL;
	*pod_id = strdup(*is_sandbox ? id : sandbox);
	json_decref(spec);
	return *pod_id ? 0 : pv_error_set(err, ENOMEM, "pod id");
}

const char *shim_spec_cgroups_path(json_t *spec)
{
	const char *path = json_string_value(json_object_get(json_object_get(spec, "linux"), "cgroupsPath"));
	return path && *path ? path : NULL;
}
