/* The guest agent's request decoding: the first byte picks a method of the Agent service
 * (agent.proto), the rest is its request payload, unpacked with the method's request type as
 * the ttrpc server does, then put through request_check (what the agent checks before any
 * handler) and, where the request carries JSON, the spec parser its handler runs first.
 * Nothing is executed: no container, no process, no network change. */
#include "fuzz.h"
#include "agent.pb-c.h"
#include "request.h"
#include "spec.h"

/* The JSON documents of a request, parsed as the handlers parse them before acting. */
static void parse_documents(const ProtobufCMessage *req)
{
	const ProtobufCMessageDescriptor *d = req->descriptor;
	pv_error err = NULL;
	if (d == &podvm__agent__v1__create_container_request__descriptor) {
		const Podvm__Agent__V1__CreateContainerRequest *r = (const void *)req;
		struct spec s;
		if (spec_parse(r->oci_spec_json, strlen(r->oci_spec_json), &s, &err) == 0)
			spec_clear(&s);
	} else if (d == &podvm__agent__v1__exec_process_request__descriptor) {
		const Podvm__Agent__V1__ExecProcessRequest *r = (const void *)req;
		struct spec_process p;
		if (spec_parse_process_json(r->process_json, strlen(r->process_json), &p, &err) == 0)
			spec_process_clear(&p);
	} else if (d == &podvm__agent__v1__update_container_request__descriptor) {
		const Podvm__Agent__V1__UpdateContainerRequest *r = (const void *)req;
		struct spec_resources res;
		spec_parse_resources_json(r->resources_json, strlen(r->resources_json), &res, &err);
	}
	pv_error_release(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const ProtobufCServiceDescriptor *svc = &podvm__agent__v1__agent__descriptor;
	if (size < 1)
		return 0;
	const ProtobufCMethodDescriptor *m = &svc->methods[data[0] % svc->n_methods];
	ProtobufCMessage *req = protobuf_c_message_unpack(m->input, NULL, size - 1, data + 1);
	if (req == NULL)
		return 0;
	pv_error err = NULL;
	if (request_check(req, &err) == 0)
		parse_documents(req);
	else if (err == NULL || err->msg == NULL)
		abort();  /* a refusal says why */
	pv_error_release(&err);
	protobuf_c_message_free_unpacked(req, NULL);
	return 0;
}
