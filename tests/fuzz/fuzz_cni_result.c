/* What the host makes of a CNI plugin's output (src/libpodvm/net/cni.c): the first byte is
 * the plugin's exit status (an ASCII digit stands for itself), then its stdout up to a NUL,
 * then its stderr. A result is handed on as the next plugin's prevResult, as pv_cni_add does,
 * and as the prevResult of a DEL. */
#include "fuzz.h"
#include "net/cni.h"

static const char conflist[] =
	"{\"cniVersion\": \"1.0.0\", \"name\": \"fuzz\", \"plugins\": ["
	"{\"type\": \"bridge\", \"bridge\": \"cni0\", \"ipam\": {\"type\": \"host-local\"}},"
	"{\"type\": \"portmap\", \"capabilities\": {\"portMappings\": true}}]}";

static void hand_on(json_t *result)
{
	struct pv_cni_conflist l;
	pv_error err = NULL;
	if (pv_cni_conflist_parse("fuzz.conflist", conflist, false, &l, &err) < 0)
		abort();
	json_t *runtime = json_pack("{s:[{s:i}]}", "portMappings", "hostPort", 8080);
	for (size_t i = 0; i < pv_cni_plugin_count(&l); i++) {
		char *in = pv_cni_plugin_stdin(&l, i, result, runtime, &err);
		if (in == NULL)
			abort();
		free(in);
	}
	json_decref(runtime);
	pv_cni_conflist_clear(&l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	int status = data[0] >= '0' && data[0] <= '9' ? data[0] - '0' : data[0];
	struct fuzz_part parts[2];
	size_t n = fuzz_split(data + 1, size - 1, "", 1, parts, 2);
	_cleanup_free_ char *out = fuzz_strndup(parts[0].data, parts[0].len);
	_cleanup_free_ char *errout = n > 1 ? fuzz_strndup(parts[1].data, parts[1].len) : NULL;
	json_t *result = NULL;
	pv_error err = NULL;
	for (int del = 0; del < 2; del++) {
		int r = pv_cni_plugin_result("bridge", del ? "DEL" : "ADD", status, out, errout,
					     del ? NULL : &result, &err);
		if (r < 0 && (err == NULL || err->msg == NULL))
			abort();  /* a failure says why */
		pv_error_release(&err);
	}
	if (result)
		hand_on(result);
	json_decref(result);
	return 0;
}
