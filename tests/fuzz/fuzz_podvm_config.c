/* podvm's config file (src/libpodvm/config.c): the input is the text of a podvm.conf. */
#include "fuzz.h"
#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *text = fuzz_strndup(data, size);
	struct pv_config c = { 0 };
	pv_error err = NULL;
	if (pv_config_parse(&c, text, "podvm.conf", &err) < 0 && (err == NULL || err->msg == NULL))
		abort();  /* a refusal says why */
	if (pv_accel_mode_name(c.accel) == NULL)
		abort();
	pv_error_release(&err);
	return 0;
}
