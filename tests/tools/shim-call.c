/* shim-call: a few calls to a podvm shim's ttrpc socket, for the soak test.
 *   shim-call agent-status SOCKET   what the pod's agent says of itself (podvm's Diagnostics):
 *                                   one line of name=value pairs
 *   shim-call resize SOCKET ID      containerd's ResizePty for task ID (80x24)
 *   shim-call shutdown SOCKET       containerd's Shutdown
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

static int task_call(struct ttrpc_client *c, const char *method, const ProtobufCMessage *req, pv_error *err)
{
	ProtobufCMessage *m = NULL;
	if (ttrpc_client_call(c, TASK, method, req, &google__protobuf__empty__descriptor, &m, 10000, err) < 0)
		return -1;
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3 || (strcmp(argv[1], "resize") == 0 && argc < 4)) {
		fprintf(stderr, "usage: shim-call agent-status|shutdown SOCKET | shim-call resize SOCKET ID\n");
		return 2;
	}
	pv_error err = NULL;
	struct ttrpc_client *c = NULL;
	int fd = pv_unix_connect(argv[2], &err);
	int r = fd < 0 ? -1 : ttrpc_client_new(fd, &c, &err);
	if (r == 0 && strcmp(argv[1], "agent-status") == 0) {
		r = agent_status(c, &err);
	} else if (r == 0 && strcmp(argv[1], "resize") == 0) {
		Containerd__Task__V2__ResizePtyRequest req = CONTAINERD__TASK__V2__RESIZE_PTY_REQUEST__INIT;
		req.id = argv[3];
		req.exec_id = "";
		req.width = 80;
		req.height = 24;
		r = task_call(c, "ResizePty", &req.base, &err);
	} else if (r == 0) {
		Containerd__Task__V2__ShutdownRequest req = CONTAINERD__TASK__V2__SHUTDOWN_REQUEST__INIT;
		req.id = "";
		r = task_call(c, "Shutdown", &req.base, &err);
	}
	if (c)
		ttrpc_client_free(c);
	if (r < 0)
		pv_error_print("shim-call", &err);
	return r < 0 ? 1 : 0;
}
