/* agent-status SHIM_SOCKET: what a pod's agent says of itself, asked through its shim
 * (agent.proto service Diagnostics): one line of name=value pairs, for the soak test. */
#include "agent.pb-c.h"
#include "ttrpc.h"
#include "util.h"

#include <stdio.h>

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: agent-status SHIM_SOCKET\n");
		return 2;
	}
	pv_error err = NULL;
	struct ttrpc_client *c = NULL;
	ProtobufCMessage *m = NULL;
	Podvm__Agent__V1__Empty req = PODVM__AGENT__V1__EMPTY__INIT;
	int fd = pv_unix_connect(argv[1], &err);
	if (fd < 0 || ttrpc_client_new(fd, &c, &err) < 0 ||
	    ttrpc_client_call(c, "podvm.agent.v1.Diagnostics", "AgentStatus", &req.base,
			      &podvm__agent__v1__ping_response__descriptor, &m, 10000, &err) < 0) {
		pv_error_print("agent-status", &err);
		if (c)
			ttrpc_client_free(c);
		return 1;
	}
	Podvm__Agent__V1__PingResponse *r = (void *)m;
	printf("open_fds=%u threads=%u rss_kib=%llu processes=%u port_connections=%u\n", r->open_fds, r->threads,
	       (unsigned long long)(r->rss_bytes / 1024), r->processes, r->port_connections);
	protobuf_c_message_free_unpacked(m, NULL);
	ttrpc_client_free(c);
	return 0;
}
