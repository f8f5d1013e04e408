/* Task events for containerd, forwarded over ttrpc to $TTRPC_ADDRESS
 * (containerd.services.events.ttrpc.v1.Events/Forward). */
#pragma once
#include <protobuf-c/protobuf-c.h>
#include <time.h>
#include "google_protobuf_timestamp.pb-c.h"

void events_init(const char *ns);
/* Best effort: a lost event is logged, never fatal to the task. */
void events_publish(const char *topic, const char *type_url, const ProtobufCMessage *event);

/* Fills a protobuf Timestamp from t, or from the current time when t is NULL. */
void shim_timestamp(const struct timespec *t, Google__Protobuf__Timestamp *ts);
