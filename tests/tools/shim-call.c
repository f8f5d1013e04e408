/* shim-call: a few calls to a podvm shim's ttrpc socket, for the soak test.
 *   shim-call agent-status SOCKET   what the pod's agent says of itself (podvm's Diagnostics):
 *                                   one line of name=value pairs
 *   shim-call resize SOCKET ID      containerd's ResizePty for task ID (80x24)
 *   shim-call shutdown SOCKET       containerd's Shutdown
 *   shim-call create SOCKET ID BUNDLE   containerd's Create (no rootfs mounts, no stdio)
 *   shim-call delete SOCKET ID      containerd's Delete
 * Prints the call's error and exits 1 when it fails. */
#include "agent.pb-c.h"
#include "containerd_containerd_runtime_v2_task_shim.pb-c.h"
#include "google_protobuf_empty.pb-c.h"
#include "ttrpc.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

#define TASK "containerd.task.v2.Task"

static int agent_status(struct ttrpc_client *c, pv_error *err)
{
	Podvm__Agent__V1__Empty req = PODVM__AGENT__V1__EMPTY__INIT;
	ProtobufCMessage *m = NULL;
	if (ttrpc_client_call(c, "podvm.agent.v1.Diagnostics", "AgentStatus", &req.base,
			      &podvm__agent__v1__ping_response__descriptor, &m, 10000, err) < 0)
		return -1;
	Podvm__Agent__V1__PingResponse *r = (void *)m;
	printf("open_fds=%u threads=%u rss_kib=%llu processes=%u port_connections=%u\n", r->open_fds, r->threads,
	       (unsigned long long)(r->rss_bytes / 1024), r->processes, r->port_connections);
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}

/* The answer is not looked at: unpacked as Empty, whatever its type (fields are skipped). */
static int task_call(struct ttrpc_client *c, const char *method, const ProtobufCMessage *req, pv_error *err)
{
	ProtobufCMessage *m = NULL;
	if (ttrpc_client_call(c, TASK, method, req, &google__protobuf__empty__descriptor, &m, 60000, err) < 0)
		return -1;
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}

static int call(struct ttrpc_client *c, int argc, char **argv, pv_error *err)
{
	const char *verb = argv[1];
	if (strcmp(verb, "agent-status") == 0)
		return agent_status(c, err);
	if (strcmp(verb, "resize") == 0 && argc >= 4) {
		Containerd__Task__V2__ResizePtyRequest req = CONTAINERD__TASK__V2__RESIZE_PTY_REQUEST__INIT;
		req.id = argv[3];
		req.exec_id = "";
		req.width = 80;
		req.height = 24;
		return task_call(c, "ResizePty", &req.base, err);
	}
	if (strcmp(verb, "create") == 0 && argc >= 5) {
		Containerd__Task__V2__CreateTaskRequest req = CONTAINERD__TASK__V2__CREATE_TASK_REQUEST__INIT;
		req.id = argv[3];
		req.bundle = argv[4];
		req.stdin = req.stdout = req.stderr = "";
		return task_call(c, "Create", &req.base, err);
	}
	if (strcmp(verb, "delete") == 0 && argc >= 4) {
		Containerd__Task__V2__DeleteRequest req = CONTAINERD__TASK__V2__DELETE_REQUEST__INIT;
		req.id = argv[3];
		req.exec_id = "";
		return task_call(c, "Delete", &req.base, err);
	}
	Containerd__Task__V2__ShutdownRequest req = CONTAINERD__TASK__V2__SHUTDOWN_REQUEST__INIT;
	req.id = "";
	return task_call(c, "Shutdown", &req.base, err);
}

int main(int argc, char **argv)
{
	static const char *const verbs[] = { "agent-status", "shutdown", "resize", "create", "delete" };
	static const int need[] = { 3, 3, 4, 5, 4 };
	size_t v = 0;
	while (argc >= 2 && v < sizeof(verbs) / sizeof(*verbs) && strcmp(argv[1], verbs[v]) != 0)
		v++;
	if (argc < 2 || v == sizeof(verbs) / sizeof(*verbs) || argc < need[v]) {
		fprintf(stderr, "usage: shim-call agent-status|shutdown SOCKET | resize|delete SOCKET ID | "
				"create SOCKET ID BUNDLE\n");
		return 2;
	}
	pv_error err = NULL;
	struct ttrpc_client *c = NULL;
	int fd = pv_unix_connect(argv[2], &err);
	int r = fd < 0 ? -1 : ttrpc_client_new(fd, &c, &err);
	if (r == 0)
		r = call(c, argc, argv, &err);
	if (c)
		ttrpc_client_free(c);
	if (r < 0)
		pv_error_print("shim-call", &err);
	return r < 0 ? 1 : 0;
}
