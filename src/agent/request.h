/* What the agent checks of every request before its handler runs, needing nothing of the
 * guest's state: ids that name files (a container's cgroup is /sys/fs/cgroup/podvm/<id>), a
 * signal number, the pod network's addresses. A request that fails here changes nothing. */
#pragma once
#include <stdbool.h>
#include <protobuf-c/protobuf-c.h>
#include "error.h"

/* A ttrpc_check_fn for the agent's service (service.c). */
int request_check(const ProtobufCMessage *req, pv_error *err);
/* Whether id can name a container: one file name, neither "." nor "..", of printable
 * characters. */
bool request_container_id_valid(const char *id);
