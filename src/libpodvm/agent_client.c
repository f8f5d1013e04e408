#include "agent_client.h"
#include "agent.pb-c.h"
#include "cleanup.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SERVICE "podvm.agent.v1.Agent"
#define CALL_TIMEOUT_MS 60000

static int call(struct ttrpc_client *c, const char *method, const void *req,
		const ProtobufCMessageDescriptor *desc, ProtobufCMessage **resp, int timeout_ms,
		pv_error *err)
{
	ProtobufCMessage *r = NULL;
	int rc = ttrpc_client_call(c, SERVICE, method, req, desc, &r, timeout_ms, err);
	if (rc < 0)
		return rc;
	if (resp)
		*resp = r;
	else
		protobuf_c_message_free_unpacked(r, NULL);
	return 0;
}

#define EMPTY_DESC (&podvm__agent__v1__empty__descriptor)

int pv_agent_ping(struct ttrpc_client *c, int timeout_ms, char *release, size_t len, pv_error *err)
{
	Podvm__Agent__V1__PingRequest req = PODVM__AGENT__V1__PING_REQUEST__INIT;
	ProtobufCMessage *m = NULL;
	if (call(c, "Ping", &req, &podvm__agent__v1__ping_response__descriptor, &m, timeout_ms, err) < 0)
		return -1;
	Podvm__Agent__V1__PingResponse *resp = (void *)m;
	if (release)
		snprintf(release, len, "%s", resp->kernel_release);
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}

int pv_agent_status(struct ttrpc_client *c, int timeout_ms, ProtobufCMessage **status, pv_error *err)
{
	Podvm__Agent__V1__PingRequest req = PODVM__AGENT__V1__PING_REQUEST__INIT;
	return call(c, "Ping", &req, &podvm__agent__v1__ping_response__descriptor, status, timeout_ms, err);
}

static int start_like(struct ttrpc_client *c, const char *method, const void *req, pid_t *pid, pv_error *err);

int pv_agent_create(struct ttrpc_client *c, const char *id, const char *spec_json,
		    const struct pv_agent_share *shares, size_t n, bool want_stdin, pid_t *pid,
		    pv_error *err)
{
	Podvm__Agent__V1__CreateContainerRequest req = PODVM__AGENT__V1__CREATE_CONTAINER_REQUEST__INIT;
	_cleanup_free_ Podvm__Agent__V1__Share *msgs = calloc(n ? n : 1, sizeof(*msgs));
	_cleanup_free_ Podvm__Agent__V1__Share **ptrs = calloc(n ? n : 1, sizeof(*ptrs));
	if (msgs == NULL || ptrs == NULL)
		return pv_error_set(err, ENOMEM, "create container %s", id);
	for (size_t i = 0; i < n; i++) {
		podvm__agent__v1__share__init(&msgs[i]);
		msgs[i].tag = (char *)shares[i].tag;
		msgs[i].fstype = (char *)shares[i].fstype;
		msgs[i].readonly = shares[i].readonly;
		ptrs[i] = &msgs[i];
	}
	req.container_id = (char *)id;
	req.oci_spec_json = (char *)spec_json;
	req.n_shares = n;
	req.shares = ptrs;
	req.stdin = want_stdin;
	pid_t ignored;
	return start_like(c, "CreateContainer", &req, pid ? pid : &ignored, err);
}

static int start_like(struct ttrpc_client *c, const char *method, const void *req, pid_t *pid, pv_error *err)
{
	ProtobufCMessage *m = NULL;
	if (call(c, method, req, &podvm__agent__v1__start_response__descriptor, &m, CALL_TIMEOUT_MS, err) < 0)
		return -1;
	*pid = (pid_t)((Podvm__Agent__V1__StartResponse *)m)->pid;
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}

int pv_agent_start(struct ttrpc_client *c, const char *id, pid_t *pid, pv_error *err)
{
	Podvm__Agent__V1__ContainerRequest req = PODVM__AGENT__V1__CONTAINER_REQUEST__INIT;
	req.container_id = (char *)id;
	return start_like(c, "StartContainer", &req, pid, err);
}

int pv_agent_exec(struct ttrpc_client *c, const char *id, const char *exec_id,
		  const char *process_json, bool want_stdin, pid_t *pid, pv_error *err)
{
	Podvm__Agent__V1__ExecProcessRequest req = PODVM__AGENT__V1__EXEC_PROCESS_REQUEST__INIT;
	req.container_id = (char *)id;
	req.exec_id = (char *)exec_id;
	req.process_json = (char *)process_json;
	req.stdin = want_stdin;
	return start_like(c, "ExecProcess", &req, pid, err);
}

static void process_request(Podvm__Agent__V1__ProcessRequest *req, const char *id, const char *exec_id)
{
	podvm__agent__v1__process_request__init(req);
	req->container_id = (char *)id;
	req->exec_id = (char *)(exec_id ? exec_id : "");
}

int pv_agent_wait(struct ttrpc_client *c, const char *id, const char *exec_id, int *status,
		  uint64_t *oom_kills, pv_error *err)
{
	Podvm__Agent__V1__ProcessRequest req;
	process_request(&req, id, exec_id);
	ProtobufCMessage *m = NULL;
	if (call(c, "WaitProcess", &req, &podvm__agent__v1__wait_response__descriptor, &m, 0, err) < 0)
		return -1;
	*status = (int)((Podvm__Agent__V1__WaitResponse *)m)->exit_status;
	if (oom_kills)
		*oom_kills = ((Podvm__Agent__V1__WaitResponse *)m)->oom_kills;
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}

int pv_agent_signal(struct ttrpc_client *c, const char *id, const char *exec_id, int sig,
		    bool all, pv_error *err)
{
	Podvm__Agent__V1__SignalRequest req = PODVM__AGENT__V1__SIGNAL_REQUEST__INIT;
	req.container_id = (char *)id;
	req.exec_id = (char *)(exec_id ? exec_id : "");
	req.signal = (uint32_t)sig;
	req.all = all;
	return call(c, "SignalProcess", &req, EMPTY_DESC, NULL, CALL_TIMEOUT_MS, err);
}

int pv_agent_write_stdin(struct ttrpc_client *c, const char *id, const char *exec_id,
			 const void *data, size_t len, pv_error *err)
{
	Podvm__Agent__V1__WriteStdinRequest req = PODVM__AGENT__V1__WRITE_STDIN_REQUEST__INIT;
	req.container_id = (char *)id;
	req.exec_id = (char *)(exec_id ? exec_id : "");
	req.data.data = (uint8_t *)data;
	req.data.len = len;
	return call(c, "WriteStdin", &req, &podvm__agent__v1__write_stdin_response__descriptor, NULL, 0, err);
}

int pv_agent_remove_process(struct ttrpc_client *c, const char *id, const char *exec_id, pv_error *err)
{
	Podvm__Agent__V1__ProcessRequest req;
	process_request(&req, id, exec_id);
	return call(c, "RemoveProcess", &req, EMPTY_DESC, NULL, CALL_TIMEOUT_MS, err);
}

int pv_agent_close_stdin(struct ttrpc_client *c, const char *id, const char *exec_id, pv_error *err)
{
	Podvm__Agent__V1__ProcessRequest req;
	process_request(&req, id, exec_id);
	return call(c, "CloseStdin", &req, EMPTY_DESC, NULL, CALL_TIMEOUT_MS, err);
}

/* A call answered by a ReadOutputResponse (ReadOutput, PortRead): blocks, no timeout. */
static int read_data(struct ttrpc_client *c, const char *method, const void *req, char **data, size_t *len,
		     bool *eof, pv_error *err)
{
	ProtobufCMessage *m = NULL;
	if (call(c, method, req, &podvm__agent__v1__read_output_response__descriptor, &m, 0, err) < 0)
		return -1;
	Podvm__Agent__V1__ReadOutputResponse *resp = (void *)m;
	*eof = resp->eof;
	*len = resp->data.len;
	*data = NULL;
	if (*len) {
		*data = malloc(*len);
		if (*data == NULL) {
			protobuf_c_message_free_unpacked(m, NULL);
			return pv_error_set(err, ENOMEM, "%s", method);
		}
		memcpy(*data, resp->data.data, *len);
	}
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}

int pv_agent_read_output(struct ttrpc_client *c, const char *id, const char *exec_id, int stream,
			 char **data, size_t *len, bool *eof, pv_error *err)
{
	Podvm__Agent__V1__ReadOutputRequest req = PODVM__AGENT__V1__READ_OUTPUT_REQUEST__INIT;
	req.container_id = (char *)id;
	req.exec_id = (char *)(exec_id ? exec_id : "");
	req.stream = (uint32_t)stream;
	req.max_bytes = 64 * 1024;
	return read_data(c, "ReadOutput", &req, data, len, eof, err);
}

int pv_agent_resize(struct ttrpc_client *c, const char *id, const char *exec_id,
		    unsigned rows, unsigned cols, pv_error *err)
{
	Podvm__Agent__V1__ResizeTtyRequest req = PODVM__AGENT__V1__RESIZE_TTY_REQUEST__INIT;
	req.container_id = (char *)id;
	req.exec_id = (char *)(exec_id ? exec_id : "");
	req.rows = rows;
	req.cols = cols;
	return call(c, "ResizeTty", &req, EMPTY_DESC, NULL, CALL_TIMEOUT_MS, err);
}

int pv_agent_remove(struct ttrpc_client *c, const char *id, pv_error *err)
{
	Podvm__Agent__V1__ContainerRequest req = PODVM__AGENT__V1__CONTAINER_REQUEST__INIT;
	req.container_id = (char *)id;
	return call(c, "RemoveContainer", &req, EMPTY_DESC, NULL, CALL_TIMEOUT_MS, err);
}

int pv_agent_update(struct ttrpc_client *c, const char *id, const char *resources_json, pv_error *err)
{
	Podvm__Agent__V1__UpdateContainerRequest req = PODVM__AGENT__V1__UPDATE_CONTAINER_REQUEST__INIT;
	req.container_id = (char *)id;
	req.resources_json = (char *)resources_json;
	return call(c, "UpdateContainer", &req, EMPTY_DESC, NULL, CALL_TIMEOUT_MS, err);
}

int pv_agent_pause(struct ttrpc_client *c, const char *id, bool paused, pv_error *err)
{
	Podvm__Agent__V1__ContainerRequest req = PODVM__AGENT__V1__CONTAINER_REQUEST__INIT;
	req.container_id = (char *)id;
	return call(c, paused ? "PauseContainer" : "ResumeContainer", &req, EMPTY_DESC, NULL, CALL_TIMEOUT_MS, err);
}

int pv_agent_stats(struct ttrpc_client *c, const char *id, uint8_t **metrics, size_t *len, pv_error *err)
{
	Podvm__Agent__V1__ContainerRequest req = PODVM__AGENT__V1__CONTAINER_REQUEST__INIT;
	req.container_id = (char *)id;
	ProtobufCMessage *m = NULL;
	if (call(c, "StatsContainer", &req, &podvm__agent__v1__stats_response__descriptor, &m, CALL_TIMEOUT_MS, err) < 0)
		return -1;
	Podvm__Agent__V1__StatsResponse *resp = (void *)m;
	*len = resp->cgroup_v2_metrics.len;
	*metrics = malloc(*len ? *len : 1);
	if (*metrics && *len)  /* no metrics: data is NULL, which memcpy must not get */
		memcpy(*metrics, resp->cgroup_v2_metrics.data, *len);
	protobuf_c_message_free_unpacked(m, NULL);
	return *metrics ? 0 : pv_error_set(err, ENOMEM, "stats");
}

int pv_agent_wait_oom(struct ttrpc_client *c, char **id, pv_error *err)
{
	Podvm__Agent__V1__Empty req = PODVM__AGENT__V1__EMPTY__INIT;
	ProtobufCMessage *m = NULL;
	if (call(c, "WaitOomEvent", &req, &podvm__agent__v1__oom_event__descriptor, &m, 0, err) < 0)
		return -1;
	*id = strdup(((Podvm__Agent__V1__OomEvent *)m)->container_id);
	protobuf_c_message_free_unpacked(m, NULL);
	return *id ? 0 : pv_error_set(err, ENOMEM, "OOM event");
}

/* The pod's interface (by MAC, as eth0), addresses and routes as a NetworkConfig message;
 * its strings point into the pv_pod_net it was built from. */
struct network_msg {
	Podvm__Agent__V1__NetworkConfig cfg;
	Podvm__Agent__V1__NetInterface iface, *ifaces[1];
	Podvm__Agent__V1__NetRoute *routes, **route_ptrs;
};

static void network_msg_free(struct network_msg *m)
{
	free(m->routes);
	free(m->route_ptrs);
}

static int network_msg_build(struct network_msg *m, const struct pv_pod_net *net, pv_error *err)
{
	podvm__agent__v1__network_config__init(&m->cfg);
	podvm__agent__v1__net_interface__init(&m->iface);
	m->iface.mac = (char *)net->mac;
	m->iface.name = (char *)"eth0";
	m->iface.mtu = net->mtu;
	m->iface.n_addresses = pv_strv_len(net->addresses);
	m->iface.addresses = net->addresses;
	m->ifaces[0] = &m->iface;
	m->routes = calloc(net->n_routes + 1, sizeof(*m->routes));
	m->route_ptrs = calloc(net->n_routes + 1, sizeof(*m->route_ptrs));
	if (m->routes == NULL || m->route_ptrs == NULL)
		return pv_error_set(err, ENOMEM, "network");
	for (size_t i = 0; i < net->n_routes; i++) {
		Podvm__Agent__V1__NetRoute *r = &m->routes[i];
		podvm__agent__v1__net_route__init(r);
		r->destination = net->routes[i].destination;
		r->gateway = net->routes[i].gateway;
		r->interface_mac = (char *)net->mac;
		r->scope = net->routes[i].scope;
		r->ipv6 = net->routes[i].ipv6;
		m->route_ptrs[i] = r;
	}
	m->cfg.n_interfaces = 1;
	m->cfg.interfaces = m->ifaces;
	m->cfg.n_routes = net->n_routes;
	m->cfg.routes = m->route_ptrs;
	return 0;
}

int pv_agent_adopt_identity(struct ttrpc_client *c, const struct pv_identity *id, int timeout_ms,
			    pv_error *err)
{
	Podvm__Agent__V1__IdentityRequest req = PODVM__AGENT__V1__IDENTITY_REQUEST__INIT;
	Podvm__Agent__V1__MacChange nic = PODVM__AGENT__V1__MAC_CHANGE__INIT, *nics[1] = { &nic };
	_cleanup_(network_msg_free) struct network_msg net = { 0 };
	req.random_seed.data = (uint8_t *)id->seed;
	req.random_seed.len = id->seed_len;
	req.realtime_ns = id->realtime_ns;
	req.hostname = (char *)(id->hostname ? id->hostname : "");
	if (id->nic_from_mac && id->nic_to_mac) {
		nic.from_mac = (char *)id->nic_from_mac;
		nic.to_mac = (char *)id->nic_to_mac;
		req.n_nics = 1;
		req.nics = nics;
	}
	if (id->net) {
		if (network_msg_build(&net, id->net, err) < 0)
			return -1;
		req.network = &net.cfg;
	}
	req.rehearse_network = id->rehearse_network;
	return call(c, "AdoptIdentity", &req, EMPTY_DESC, NULL, timeout_ms, err);
}

int pv_agent_port_connect(struct ttrpc_client *c, unsigned port, bool ipv6, uint32_t *id, pv_error *err)
{
	Podvm__Agent__V1__PortConnectRequest req = PODVM__AGENT__V1__PORT_CONNECT_REQUEST__INIT;
	req.port = port;
	req.ipv6 = ipv6;
	ProtobufCMessage *m = NULL;
	if (call(c, "PortConnect", &req, &podvm__agent__v1__port_connect_response__descriptor, &m, CALL_TIMEOUT_MS,
		 err) < 0)
		return -1;
	*id = ((Podvm__Agent__V1__PortConnectResponse *)m)->id;
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}

int pv_agent_port_write(struct ttrpc_client *c, uint32_t id, const void *data, size_t len, pv_error *err)
{
	Podvm__Agent__V1__PortDataRequest req = PODVM__AGENT__V1__PORT_DATA_REQUEST__INIT;
	req.id = id;
	req.data.data = (uint8_t *)data;
	req.data.len = len;
	return call(c, "PortWrite", &req, EMPTY_DESC, NULL, CALL_TIMEOUT_MS, err);
}

int pv_agent_port_read(struct ttrpc_client *c, uint32_t id, char **data, size_t *len, bool *eof, pv_error *err)
{
	Podvm__Agent__V1__PortReadRequest req = PODVM__AGENT__V1__PORT_READ_REQUEST__INIT;
	req.id = id;
	req.max_bytes = 64 * 1024;
	return read_data(c, "PortRead", &req, data, len, eof, err);
}

static int port_call(struct ttrpc_client *c, const char *method, uint32_t id, pv_error *err)
{
	Podvm__Agent__V1__PortRequest req = PODVM__AGENT__V1__PORT_REQUEST__INIT;
	req.id = id;
	return call(c, method, &req, EMPTY_DESC, NULL, CALL_TIMEOUT_MS, err);
}

int pv_agent_port_shutdown(struct ttrpc_client *c, uint32_t id, pv_error *err)
{
	return port_call(c, "PortShutdown", id, err);
}

int pv_agent_port_close(struct ttrpc_client *c, uint32_t id, pv_error *err)
{
	return port_call(c, "PortClose", id, err);
}

int pv_agent_tpm_identity(struct ttrpc_client *c, int timeout_ms, ProtobufCMessage **resp, pv_error *err)
{
	Podvm__Agent__V1__Empty req = PODVM__AGENT__V1__EMPTY__INIT;
	return call(c, "TpmIdentity", &req, &podvm__agent__v1__tpm_identity_response__descriptor, resp, timeout_ms,
		    err);
}

int pv_agent_tpm_activate(struct ttrpc_client *c, const uint8_t *id_object, size_t id_len, const uint8_t *enc,
			  size_t enc_len, int timeout_ms, ProtobufCMessage **resp, pv_error *err)
{
	Podvm__Agent__V1__TpmActivateRequest req = PODVM__AGENT__V1__TPM_ACTIVATE_REQUEST__INIT;
	req.id_object = (ProtobufCBinaryData){ id_len, (uint8_t *)id_object };
	req.encrypted_secret = (ProtobufCBinaryData){ enc_len, (uint8_t *)enc };
	return call(c, "TpmActivate", &req, &podvm__agent__v1__tpm_activate_response__descriptor, resp, timeout_ms,
		    err);
}

int pv_agent_tpm_quote(struct ttrpc_client *c, const uint8_t *nonce, size_t nonce_len, uint32_t pcr_mask,
		       int timeout_ms, ProtobufCMessage **resp, pv_error *err)
{
	Podvm__Agent__V1__TpmQuoteRequest req = PODVM__AGENT__V1__TPM_QUOTE_REQUEST__INIT;
	req.nonce = (ProtobufCBinaryData){ nonce_len, (uint8_t *)nonce };
	req.pcr_mask = pcr_mask;
	return call(c, "TpmQuote", &req, &podvm__agent__v1__tpm_quote_response__descriptor, resp, timeout_ms, err);
}

int pv_agent_put_secret(struct ttrpc_client *c, const char *id, const char *name, const void *data, size_t len,
			pv_error *err)
{
	Podvm__Agent__V1__SecretRequest req = PODVM__AGENT__V1__SECRET_REQUEST__INIT;
	req.container_id = (char *)id;
	req.name = (char *)name;
	req.data = (ProtobufCBinaryData){ len, (uint8_t *)data };
	return call(c, "PutSecret", &req, EMPTY_DESC, NULL, CALL_TIMEOUT_MS, err);
}
