#include "request.h"
#include "agent.pb-c.h"
#include "network.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

/* Signals are 1 to 64 (SIGRTMAX). */
#define MAX_SIGNAL 64

bool request_container_id_valid(const char *id)
{
	size_t n = strlen(id);
	if (n == 0 || n > NAME_MAX || strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)id[i] <= ' ' || id[i] == '/' || id[i] == 0x7f)
			return false;
	return true;
}

/* The string field `name` of any request type that has one, else NULL. */
static const char *string_field(const ProtobufCMessage *m, const char *name)
{
	const ProtobufCFieldDescriptor *f =
		protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
	if (f == NULL || f->type != PROTOBUF_C_TYPE_STRING || f->label == PROTOBUF_C_LABEL_REPEATED)
		return NULL;
	return *(const char *const *)((const char *)m + f->offset);
}

static int check_identity(const Podvm__Agent__V1__IdentityRequest *req, pv_error *err)
{
	for (size_t i = 0; i < req->n_nics; i++) {
		const Podvm__Agent__V1__MacChange *nic = req->nics[i];
		if (!network_mac_valid(nic->from_mac) || !network_mac_valid(nic->to_mac))
			return pv_error_set_plain(err, EINVAL, "nics[%zu]: \"%s\" -> \"%s\": not MAC addresses",
						  i, nic->from_mac, nic->to_mac);
	}
	if (req->network && network_check(req->network, err) < 0)
		return pv_error_prefix(err, "network");
	return 0;
}

int request_check(const ProtobufCMessage *req, pv_error *err)
{
	const char *id = string_field(req, "container_id");
	if (id && !request_container_id_valid(id))
		return pv_error_set_plain(err, EINVAL, "container id \"%s\": not a file name", id);
	if (req->descriptor == &podvm__agent__v1__signal_request__descriptor) {
		unsigned sig = ((const Podvm__Agent__V1__SignalRequest *)req)->signal;
		if (sig == 0 || sig > MAX_SIGNAL)
			return pv_error_set_plain(err, EINVAL, "signal %u: not a signal", sig);
	}
	if (req->descriptor == &podvm__agent__v1__identity_request__descriptor)
		return check_identity((const void *)req, err);
	return 0;
}
