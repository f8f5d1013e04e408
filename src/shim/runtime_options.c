/* The runtime options containerd hands `start` on stdin: a protobuf Any holding, for
 * runtimes other than runc, a runtimeoptions.v1.Options whose config_path names the
 * runtime's config file (`[...runtimes.podvm.options] ConfigPath = "..."`). */
#include "shim.h"
#include "cleanup.h"
#include "util.h"
#include "google_protobuf_any.pb-c.h"
#include "containerd_containerd_pkg_runtimeoptions_v1_api.pb-c.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_OPTIONS (64 * 1024)
#define OPTIONS_TYPE "runtimeoptions.v1.Options"

static int read_stdin(uint8_t **buf, size_t *len, pv_error *err)
{
	*buf = malloc(MAX_OPTIONS);
	if (*buf == NULL)
		return pv_error_set(err, ENOMEM, "runtime options");
	ssize_t n = pv_read_full(STDIN_FILENO, *buf, MAX_OPTIONS);
	if (n < 0)
		return pv_error_set(err, (int)-n, "read runtime options");
	*len = (size_t)n;
	return 0;
}

static bool is_options_type(const char *type_url)
{
	size_t n = strlen(type_url), t = strlen(OPTIONS_TYPE);
	return n >= t && strcmp(type_url + n - t, OPTIONS_TYPE) == 0;
}

int shim_runtime_config_path(char **path, pv_error *err)
{
	*path = NULL;
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len = 0;
	if (isatty(STDIN_FILENO) || read_stdin(&buf, &len, err) < 0 || len == 0)
		return *err ? -1 : 0;
	Google__Protobuf__Any *any = google__protobuf__any__unpack(NULL, len, buf);
	if (any == NULL)
		return pv_error_set_plain(err, EINVAL, "runtime options: not a protobuf Any");
	int r = 0;
	if (is_options_type(any->type_url)) {
		Runtimeoptions__V1__Options *o = runtimeoptions__v1__options__unpack(NULL, any->value.len, any->value.data);
		if (o == NULL)
			r = pv_error_set_plain(err, EINVAL, "runtime options: malformed %s", any->type_url);
		else if (o->config_path[0] && (*path = strdup(o->config_path)) == NULL)
			r = pv_error_set(err, ENOMEM, "runtime options");
		if (o)
			runtimeoptions__v1__options__free_unpacked(o, NULL);
	}
	google__protobuf__any__free_unpacked(any, NULL);
	return r;
}
