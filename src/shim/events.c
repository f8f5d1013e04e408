#include "events.h"
#include "cleanup.h"
#include "ttrpc.h"
#include "util.h"
#include "containerd_containerd_api_services_ttrpc_events_v1_events.pb-c.h"
#include "google_protobuf_empty.pb-c.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t events_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ttrpc_client *client;
static char *namespace;

void shim_timestamp(const struct timespec *t, Google__Protobuf__Timestamp *ts)
{
	struct timespec now;
	if (t == NULL) {
		clock_gettime(CLOCK_REALTIME, &now);
		t = &now;
	}
	google__protobuf__timestamp__init(ts);
	ts->seconds = t->tv_sec;
	ts->nanos = (int32_t)t->tv_nsec;
}

void events_init(const char *ns)
{
	namespace = strdup(ns ? ns : "default");
}

static int connect_events(pv_error *err)
{
	const char *addr = getenv("TTRPC_ADDRESS");
	if (addr == NULL || *addr == '\0')
		return pv_error_set_plain(err, ENOENT, "TTRPC_ADDRESS is not set");
	if (pv_str_has_prefix(addr, "unix://"))
		addr += 7;
	int fd = pv_unix_connect(addr, err);
	if (fd < 0)
		return pv_error_prefix(err, "events");
	return ttrpc_client_new(fd, &client, err);
}

static int forward(const char *topic, const char *type_url, const ProtobufCMessage *event, pv_error *err)
{
	size_t len = protobuf_c_message_get_packed_size(event);
	_cleanup_free_ uint8_t *buf = malloc(len ? len : 1);
	if (buf == NULL)
		return pv_error_set(err, ENOMEM, "event");
	protobuf_c_message_pack(event, buf);
	Google__Protobuf__Timestamp ts;
	shim_timestamp(NULL, &ts);
	Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
	any.type_url = (char *)type_url;
	any.value.data = buf;
	any.value.len = len;
	Containerd__Services__Events__Ttrpc__V1__Envelope env = CONTAINERD__SERVICES__EVENTS__TTRPC__V1__ENVELOPE__INIT;
	env.timestamp = &ts;
	env.namespace_ = namespace;
	env.topic = (char *)topic;
	env.event = &any;
	Containerd__Services__Events__Ttrpc__V1__ForwardRequest req = CONTAINERD__SERVICES__EVENTS__TTRPC__V1__FORWARD_REQUEST__INIT;
	req.envelope = &env;
	ProtobufCMessage *resp = NULL;
	int r = ttrpc_client_call(client, "containerd.services.events.ttrpc.v1.Events", "Forward", &req.base,
				  &google__protobuf__empty__descriptor, &resp, 10000, err);
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	return r;
}

void events_publish(const char *topic, const char *type_url, const ProtobufCMessage *event)
{
	pv_error err = NULL;
	pthread_mutex_lock(&events_lock);
	int r = client ? 0 : connect_events(&err);
	if (r == 0 && forward(topic, type_url, event, &err) < 0 && err && err->errnum == ECONNRESET) {
		/* containerd restarted: reconnect once. */
		ttrpc_client_free(client);
		client = NULL;
		pv_error_release(&err);
		if (connect_events(&err) == 0)
			(void)forward(topic, type_url, event, &err);
	}
	pthread_mutex_unlock(&events_lock);
	if (err) {
		fprintf(stderr, "containerd-shim-podvm-v2: event %s: %s\n", topic, err->msg);
		pv_error_release(&err);
	}
}
