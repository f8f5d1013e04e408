/* The guest agent's OCI runtime spec parser (src/agent/spec.c): the input is a config.json
 * as CreateContainer carries it; also read as the "process" object of an ExecProcess and the
 * "linux.resources" object of an UpdateContainer, which share its code. */
#include "fuzz.h"
#include "spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *json = (const char *)data;
	pv_error err = NULL;
	struct spec s;
	if (spec_parse(json, size, &s, &err) == 0)
		spec_clear(&s);
	pv_error_release(&err);
	struct spec_process p;
	if (spec_parse_process_json(json, size, &p, &err) == 0)
		spec_process_clear(&p);
	pv_error_release(&err);
	struct spec_resources res;
	spec_parse_resources_json(json, size, &res, &err);
	pv_error_release(&err);
	return 0;
}
