/* Typed calls of the guest agent's API (src/proto/agent.proto) over a ttrpc client. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <protobuf-c/protobuf-c.h>
#include "error.h"
#include "ttrpc.h"
#include "net/podnet.h"

struct pv_agent_share {
	const char *tag;
	const char *fstype;
	bool readonly;
};

int pv_agent_ping(struct ttrpc_client *c, int timeout_ms, char *release, size_t len, pv_error *err);
/* What the agent says of itself (agent.proto PingResponse), as received: free it with
 * protobuf_c_message_free_unpacked. */
int pv_agent_status(struct ttrpc_client *c, int timeout_ms, ProtobufCMessage **status, pv_error *err);
/* Creates the container (parked before its exec); *pid (may be NULL) is its init's pid. */
int pv_agent_create(struct ttrpc_client *c, const char *id, const char *spec_json,
		    const struct pv_agent_share *shares, size_t n, bool want_stdin, pid_t *pid,
		    pv_error *err);
int pv_agent_start(struct ttrpc_client *c, const char *id, pid_t *pid, pv_error *err);
int pv_agent_exec(struct ttrpc_client *c, const char *id, const char *exec_id,
		  const char *process_json, bool want_stdin, pid_t *pid, pv_error *err);
/* Blocks until the process exits; *status is its code or 128+signal; *oom_kills (may be
 * NULL) the OOM kills its container has seen. */
int pv_agent_wait(struct ttrpc_client *c, const char *id, const char *exec_id, int *status,
		  uint64_t *oom_kills, pv_error *err);
int pv_agent_signal(struct ttrpc_client *c, const char *id, const char *exec_id, int sig,
		    bool all, pv_error *err);
int pv_agent_write_stdin(struct ttrpc_client *c, const char *id, const char *exec_id,
			 const void *data, size_t len, pv_error *err);
int pv_agent_close_stdin(struct ttrpc_client *c, const char *id, const char *exec_id, pv_error *err);
/* Blocks until output is available: *data (malloc'd) and *len, or *eof at the end. */
int pv_agent_read_output(struct ttrpc_client *c, const char *id, const char *exec_id, int stream,
			 char **data, size_t *len, bool *eof, pv_error *err);
int pv_agent_resize(struct ttrpc_client *c, const char *id, const char *exec_id,
		    unsigned rows, unsigned cols, pv_error *err);
int pv_agent_remove(struct ttrpc_client *c, const char *id, pv_error *err);
/* Drops an exec that has exited from the agent's table. */
int pv_agent_remove_process(struct ttrpc_client *c, const char *id, const char *exec_id, pv_error *err);
/* resources_json: an OCI "linux.resources" object. */
int pv_agent_update(struct ttrpc_client *c, const char *id, const char *resources_json, pv_error *err);
int pv_agent_pause(struct ttrpc_client *c, const char *id, bool paused, pv_error *err);
/* *metrics (malloc'd): a packed io.containerd.cgroups.v2.Metrics. */
int pv_agent_stats(struct ttrpc_client *c, const char *id, uint8_t **metrics, size_t *len, pv_error *err);
/* What AdoptIdentity gives a VM (see agent.proto). */
struct pv_identity {
	const uint8_t *seed;
	size_t seed_len;
	long long realtime_ns;
	const char *hostname;
	const char *nic_from_mac, *nic_to_mac;  /* both NULL: no NIC to readdress */
	const struct pv_pod_net *net;  /* the pod's interface (as eth0), addresses, routes; or NULL */
	bool rehearse_network;  /* apply the MAC change and net, then undo them (a pool VM's warm-up) */
};
int pv_agent_adopt_identity(struct ttrpc_client *c, const struct pv_identity *id, int timeout_ms,
			    pv_error *err);
/* Blocks until a container is hit by the OOM killer; *id is malloc'd. */
int pv_agent_wait_oom(struct ttrpc_client *c, char **id, pv_error *err);

/* Port forwarding (agent.proto): a connection to port on the guest's loopback (::1 first
 * with ipv6), its bytes both ways, half-close, close. A read blocks until data or *eof. */
int pv_agent_port_connect(struct ttrpc_client *c, unsigned port, bool ipv6, uint32_t *id, pv_error *err);
int pv_agent_port_write(struct ttrpc_client *c, uint32_t id, const void *data, size_t len, pv_error *err);
int pv_agent_port_read(struct ttrpc_client *c, uint32_t id, char **data, size_t *len, bool *eof, pv_error *err);
int pv_agent_port_shutdown(struct ttrpc_client *c, uint32_t id, pv_error *err);
int pv_agent_port_close(struct ttrpc_client *c, uint32_t id, pv_error *err);

/* Attestation (agent.proto; attest/verifier.h): the answers as received, to free with
 * protobuf_c_message_free_unpacked. */
int pv_agent_tpm_identity(struct ttrpc_client *c, int timeout_ms, ProtobufCMessage **resp, pv_error *err);
int pv_agent_tpm_activate(struct ttrpc_client *c, const uint8_t *id_object, size_t id_len, const uint8_t *enc,
			  size_t enc_len, int timeout_ms, ProtobufCMessage **resp, pv_error *err);
/* nonce_len 0: the logs alone. */
int pv_agent_tpm_quote(struct ttrpc_client *c, const uint8_t *nonce, size_t nonce_len, uint32_t pcr_mask,
		       int timeout_ms, ProtobufCMessage **resp, pv_error *err);
/* A secret for /run/secrets/<name> of container id, created and not yet started. */
int pv_agent_put_secret(struct ttrpc_client *c, const char *id, const char *name, const void *data, size_t len,
			pv_error *err);
