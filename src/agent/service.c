#include "service.h"
#include "portfwd.h"
#include "agent.pb-c.h"
#include "cleanup.h"
#include "attest.h"
#include "container.h"
#include "identity.h"
#include "log.h"
#include "network.h"
#include "process.h"
#include "stats.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/reboot.h>
#include <sys/utsname.h>
#include <unistd.h>

#define SERVICE "podvm.agent.v1.Agent"

typedef Podvm__Agent__V1__Empty Empty;

static int reply_empty(struct ttrpc_reply *reply)
{
	Empty e = PODVM__AGENT__V1__EMPTY__INIT;
	return ttrpc_reply_set(reply, &e.base);
}

static int reply_pid(struct ttrpc_reply *reply, pid_t pid)
{
	Podvm__Agent__V1__StartResponse r = PODVM__AGENT__V1__START_RESPONSE__INIT;
	r.pid = (uint32_t)pid;
	return ttrpc_reply_set(reply, &r.base);
}

static unsigned count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	unsigned n = 0;
	if (d == NULL)
		return 0;
	for (struct dirent *de; (de = readdir(d)) != NULL;)
		n += de->d_name[0] != '.';
	closedir(d);
	return n > 0 ? n - 1 : 0;  /* not the directory's own fd */
}

/* Threads and VmRSS from /proc/self/status. */
static void own_status(Podvm__Agent__V1__PingResponse *r)
{
	char line[128];
	FILE *f = fopen("/proc/self/status", "re");
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "Threads:", 8) == 0)
			r->threads = (uint32_t)strtoul(line + 8, NULL, 10);
		else if (strncmp(line, "VmRSS:", 6) == 0)
			r->rss_bytes = strtoull(line + 6, NULL, 10) * 1024;
	}
	fclose(f);
}

static int handle_ping(void *ctx, const ProtobufCMessage *msg, struct ttrpc_reply *reply, pv_error *err)
{
	(void)ctx, (void)msg, (void)err;
	struct utsname u;
	uname(&u);
	Podvm__Agent__V1__PingResponse r = PODVM__AGENT__V1__PING_RESPONSE__INIT;
	r.agent_version = (char *)PODVM_VERSION;
	r.kernel_release = u.release;
	r.open_fds = count_fds();
	own_status(&r);
	r.processes = (uint32_t)proc_count();
	r.port_connections = (uint32_t)portfwd_count();
	return ttrpc_reply_set(reply, &r.base);
}

static int handle_create(void *ctx, const ProtobufCMessage *msg, struct ttrpc_reply *reply, pv_error *err)
{
	(void)ctx;
	const Podvm__Agent__V1__CreateContainerRequest *req = (const void *)msg;
	debug("CreateContainer %s", req->container_id);
	size_t n = req->n_shares;
	_cleanup_free_ struct container_share *sh = calloc(n ? n : 1, sizeof(*sh));
	if (sh == NULL)
		return pv_error_set(err, ENOMEM, "create");
	for (size_t i = 0; i < n; i++)
		sh[i] = (struct container_share){ req->shares[i]->tag, req->shares[i]->fstype,
						  req->shares[i]->readonly };
	pid_t pid;
	size_t spec_len = strlen(req->oci_spec_json);
	if (attest_measure_config(req->container_id, req->oci_spec_json, spec_len, err) < 0)
		return -1;
	if (container_create(req->container_id, req->oci_spec_json, spec_len,
			     sh, n, req->stdin, &pid, err) < 0)
		return -1;
	return reply_pid(reply, pid);
}

static int handle_start(void *ctx, const ProtobufCMessage *msg, struct ttrpc_reply *reply, pv_error *err)
{
	(void)ctx;
	const Podvm__Agent__V1__ContainerRequest *req = (const void *)msg;
	pid_t pid;
	if (container_start(req->container_id, &pid, err) < 0)
		return -1;
	return reply_pid(reply, pid);
}

static int handle_exec(void *ctx, const ProtobufCMessage *msg, struct ttrpc_reply *reply, pv_error *err)
{
	(void)ctx;
	const Podvm__Agent__V1__ExecProcessRequest *req = (const void *)msg;
	pid_t pid;
	if (container_exec(req->container_id, req->exec_id, req->process_json,
			   strlen(req->process_json), req->stdin, &pid, err) < 0)
		return -1;
	return reply_pid(reply, pid);
}

static int handle_wait(void *ctx, const ProtobufCMessage *msg, struct ttrpc_reply *reply, pv_error *err)
{
	(void)ctx;
	const Podvm__Agent__V1__ProcessRequest *req = (const void *)msg;
	struct agent_proc *p = proc_get(req->container_id, req->exec_id, err);
	if (p == NULL)
		return -1;
	Podvm__Agent__V1__WaitResponse r = PODVM__AGENT__V1__WAIT_RESPONSE__INIT;
	r.exit_status = (uint32_t)proc_wait(p);
	/* Read before the container can be removed: an OOM-killed init ends it at once. */
	r.oom_kills = stats_oom_kills(req->container_id);
	proc_put(p);
	return ttrpc_reply_set(reply, &r.base);
}

static int handle_signal(void *ctx, const ProtobufCMessage *msg, struct ttrpc_reply *reply, pv_error *err)
{
	(void)ctx;
	const Podvm__Agent__V1__SignalRequest *req = (const void *)msg;
	if (container_signal(req->container_id, req->exec_id, (int)req->signal, req->all, err) < 0)
		return -1;
	return reply_empty(reply);
}

static int handle_write_stdin(void *ctx, const ProtobufCMessage *msg, struct ttrpc_reply *reply, pv_error *err)
{
	(void)ctx;
	const Podvm__Agent__V1__WriteStdinRequest *req = (const void *)msg;
	struct agent_proc *p = proc_get(req->container_id, req->exec_id, err);
	if (p == NULL)
		return -1;
	int n = proc_write_stdin(p, req->data.data, req->data.len, err);
	proc_put(p);
	if (n < 0)
		return -1;
	Podvm__Agent__V1__WriteStdinResponse r = PODVM__AGENT__V1__WRITE_STDIN_RESPONSE__INIT;
	r.written = (uint32_t)n;
	return ttrpc_reply_set(reply, &r.base);
}

static int handle_close_stdin(void *ctx, const ProtobufCMessage *msg, struct ttrpc_reply *reply, pv_error *err)
{
	(void)ctx;
	const Podvm__Agent__V1__ProcessRequest *req = (const void *)msg;
	struct agent_proc *p = proc_get(req->container_id, req->exec_id, err);
	if (p == NULL)
		return -1;
	int r = proc_close_stdin(p, err);
	proc_put(p);
	return r < 0 ? -1 : reply_empty(reply);
}

/* A ReadOutputResponse (ReadOutput, PortRead): the data read, or the end. */
static int reply_data(struct ttrpc_reply *reply, char *data, size_t len, bool eof)
{
	Podvm__Agent__V1__ReadOutputResponse resp = PODVM__AGENT__V1__READ_OUTPUT_RESPONSE__INIT;
	resp.data.data = (uint8_t *)data;
	resp.data.len = len;
	resp.eof = eof;
	return ttrpc_reply_set(reply, &resp.base);
}

static int handle_read_output(void *ctx, const ProtobufCMessage *msg, struct ttrpc_reply *reply, pv_error *err)
{
	(void)ctx;
	const Podvm__Agent__V1__ReadOutputRequest *req = (const void *)msg;
	struct agent_proc *p = proc_get(req->container_id, req->exec_id, err);
	if (p == NULL)
		return -1;
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	bool eof = false;
	int r = proc_read_output(p, (int)req->stream, req->max_bytes, &data, &len, &eof, err);
	proc_put(p);
	return r < 0 ? -1 : reply_data(reply, data, len, eof);
}

static int handle_resize(void *ctx, const ProtobufCMessage *msg, struct ttrpc_reply *reply, pv_error *err)
{
	(void)ctx;
	const Podvm__Agent__V1__ResizeTtyRequest *req = (const void *)msg;
	struct agent_proc *p = proc_get(req->container_id, req->exec_id, err);
	if (p == NULL)
		return -1;
	int r = proc_resize(p, req->rows, req->cols, err);
	proc_put(p);
	return r < 0 ? -1 : reply_empty(reply);
}

static int handle_remove(void *ctx, const ProtobufCMessage *msg, struct ttrpc_reply *reply, pv_error *err)
{
	(void)ctx;
	const Podvm__Agent__V1__ContainerRequest *req = (const void *)msg;
	if (container_remove(req->container_id, err) < 0)
		return -1;
	return reply_empty(reply);
}

static int handle_remove_process(void *ctx, const ProtobufCMessage *msg, struct ttrpc_reply *reply, pv_error *err)
{
	(void)ctx;
	const Podvm__Agent__V1__ProcessRequest *req = (const void *)msg;
	if (container_remove_process(req->container_id, req->exec_id, err) < 0)
		return -1;
	return reply_empty(reply);
}

static void *power_off(void *arg)
{
	(void)arg;
	usleep(100 * 1000);  /* let the reply reach the host first */
	sync();
	/* QEMU runs with -no-reboot: a reboot ends the VM (there is no ACPI to power off). */
	reboot(RB_AUTOBOOT);
	return NULL;
}

static int handle_shutdown(void *ctx, const ProtobufCMessage *msg, struct ttrpc_reply *reply, pv_error *err)
{
	(void)ctx, (void)msg;
	pthread_t t;
	int r = pthread_create(&t, NULL, power_off, NULL);
	if (r != 0)
		return pv_error_set(err, r, "shutdown");
	pthread_detach(t);
	return reply_empty(reply);
}

static int handle_update(void *ctx, const ProtobufCMessage *msg, struct ttrpc_reply *reply, pv_error *err)
{
	(void)ctx;
	const Podvm__Agent__V1__UpdateContainerRequest *req = (const void *)msg;
	if (container_update(req->container_id, req->resources_json, strlen(req->resources_json), err) < 0)
		return -1;
	return reply_empty(reply);
}

static int pause_or_resume(const ProtobufCMessage *msg, bool pause, struct ttrpc_reply *reply, pv_error *err)
{
	const Podvm__Agent__V1__ContainerRequest *req = (const void *)msg;
	if (container_pause(req->container_id, pause, err) < 0)
		return -1;
	return reply_empty(reply);
}

static int handle_pause(void *ctx, const ProtobufCMessage *msg, struct ttrpc_reply *reply, pv_error *err)
{
	(void)ctx;
	return pause_or_resume(msg, true, reply, err);
}

static int handle_resume(void *ctx, const ProtobufCMessage *msg, struct ttrpc_reply *reply, pv_error *err)
{
	(void)ctx;
	return pause_or_resume(msg, false, reply, err);
}

static int handle_stats(void *ctx, const ProtobufCMessage *msg, struct ttrpc_reply *reply, pv_error *err)
{
	(void)ctx;
	const Podvm__Agent__V1__ContainerRequest *req = (const void *)msg;
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len = 0;
	if (stats_collect(req->container_id, &buf, &len, err) < 0)
		return -1;
	Podvm__Agent__V1__StatsResponse resp = PODVM__AGENT__V1__STATS_RESPONSE__INIT;
	resp.cgroup_v2_metrics.data = buf;
	resp.cgroup_v2_metrics.len = len;
	return ttrpc_reply_set(reply, &resp.base);
}

static int handle_wait_oom(void *ctx, const ProtobufCMessage *msg, struct ttrpc_reply *reply, pv_error *err)
{
	(void)ctx, (void)msg, (void)err;
	_cleanup_free_ char *id = oom_wait_event();
	Podvm__Agent__V1__OomEvent ev = PODVM__AGENT__V1__OOM_EVENT__INIT;
	ev.container_id = id;
	return ttrpc_reply_set(reply, &ev.base);
}

static int handle_adopt_identity(void *ctx, const ProtobufCMessage *msg, struct ttrpc_reply *reply,
				 pv_error *err)
{
	(void)ctx;
	const Podvm__Agent__V1__IdentityRequest *req = (const void *)msg;
	debug("AdoptIdentity: hostname %s, %zu NICs", req->hostname, req->n_nics);
	if (identity_adopt(req, err) < 0)
		return -1;
	return reply_empty(reply);
}

/* ---- port forwarding (portfwd.h) ---- */

static int handle_port_connect(void *ctx, const ProtobufCMessage *msg, struct ttrpc_reply *reply, pv_error *err)
{
	(void)ctx;
	const Podvm__Agent__V1__PortConnectRequest *req = (const void *)msg;
	Podvm__Agent__V1__PortConnectResponse resp = PODVM__AGENT__V1__PORT_CONNECT_RESPONSE__INIT;
	if (portfwd_connect(req->port, req->ipv6, &resp.id, err) < 0)
		return -1;
	return ttrpc_reply_set(reply, &resp.base);
}

static int handle_port_write(void *ctx, const ProtobufCMessage *msg, struct ttrpc_reply *reply, pv_error *err)
{
	(void)ctx;
	const Podvm__Agent__V1__PortDataRequest *req = (const void *)msg;
	return portfwd_write(req->id, req->data.data, req->data.len, err) < 0 ? -1 : reply_empty(reply);
}

static int handle_port_read(void *ctx, const ProtobufCMessage *msg, struct ttrpc_reply *reply, pv_error *err)
{
	(void)ctx;
	const Podvm__Agent__V1__PortReadRequest *req = (const void *)msg;
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	bool eof = false;
	if (portfwd_read(req->id, req->max_bytes, &data, &len, &eof, err) < 0)
		return -1;
	return reply_data(reply, data, len, eof);
}

static int handle_port_shutdown(void *ctx, const ProtobufCMessage *msg, struct ttrpc_reply *reply, pv_error *err)
{
	(void)ctx;
	const Podvm__Agent__V1__PortRequest *req = (const void *)msg;
	return portfwd_shutdown(req->id, err) < 0 ? -1 : reply_empty(reply);
}

static int handle_port_close(void *ctx, const ProtobufCMessage *msg, struct ttrpc_reply *reply, pv_error *err)
{
	(void)ctx;
	const Podvm__Agent__V1__PortRequest *req = (const void *)msg;
	return portfwd_close(req->id, err) < 0 ? -1 : reply_empty(reply);
}

static int handle_tpm_identity(void *ctx, const ProtobufCMessage *msg, struct ttrpc_reply *reply, pv_error *err)
{
	(void)ctx, (void)msg;
	Podvm__Agent__V1__TpmIdentityResponse r = PODVM__AGENT__V1__TPM_IDENTITY_RESPONSE__INIT;
	if (attest_identity(&r.ek_cert.data, &r.ek_cert.len, &r.ak_public.data, &r.ak_public.len, err) < 0)
		return -1;
	int ret = ttrpc_reply_set(reply, &r.base);
	free(r.ek_cert.data);
	free(r.ak_public.data);
	return ret;
}

static int handle_tpm_activate(void *ctx, const ProtobufCMessage *msg, struct ttrpc_reply *reply, pv_error *err)
{
	(void)ctx;
	const Podvm__Agent__V1__TpmActivateRequest *req = (const void *)msg;
	uint8_t credential[64];
	Podvm__Agent__V1__TpmActivateResponse r = PODVM__AGENT__V1__TPM_ACTIVATE_RESPONSE__INIT;
	if (attest_activate(req->id_object.data, req->id_object.len, req->encrypted_secret.data,
			    req->encrypted_secret.len, credential, sizeof(credential), &r.credential.len, err) < 0)
		return -1;
	r.credential.data = credential;
	return ttrpc_reply_set(reply, &r.base);
}

static int handle_tpm_quote(void *ctx, const ProtobufCMessage *msg, struct ttrpc_reply *reply, pv_error *err)
{
	(void)ctx;
	const Podvm__Agent__V1__TpmQuoteRequest *req = (const void *)msg;
	struct attest_evidence ev;
	if (attest_quote(req->nonce.data, req->nonce.len, req->pcr_mask, &ev, err) < 0)
		return -1;
	Podvm__Agent__V1__TpmQuoteResponse r = PODVM__AGENT__V1__TPM_QUOTE_RESPONSE__INIT;
	r.attest = (ProtobufCBinaryData){ ev.attest_len, ev.attest };
	r.signature = (ProtobufCBinaryData){ ev.sig_len, ev.sig };
	r.ima_log = (ProtobufCBinaryData){ ev.ima_log_len, ev.ima_log };
	r.event_log = ev.event_log;
	int ret = ttrpc_reply_set(reply, &r.base);
	attest_evidence_clear(&ev);
	return ret;
}

static int handle_put_secret(void *ctx, const ProtobufCMessage *msg, struct ttrpc_reply *reply, pv_error *err)
{
	(void)ctx;
	const Podvm__Agent__V1__SecretRequest *req = (const void *)msg;
	if (container_put_secret(req->container_id, req->name, req->data.data, req->data.len, err) < 0)
		return -1;
	return reply_empty(reply);
}

#define M(name, desc, fn) { SERVICE, name, &podvm__agent__v1__##desc##__descriptor, fn }

const struct ttrpc_method agent_methods[] = {
	M("Ping", ping_request, handle_ping),
	M("CreateContainer", create_container_request, handle_create),
	M("StartContainer", container_request, handle_start),
	M("ExecProcess", exec_process_request, handle_exec),
	M("WaitProcess", process_request, handle_wait),
	M("SignalProcess", signal_request, handle_signal),
	M("WriteStdin", write_stdin_request, handle_write_stdin),
	M("CloseStdin", process_request, handle_close_stdin),
	M("ReadOutput", read_output_request, handle_read_output),
	M("ResizeTty", resize_tty_request, handle_resize),
	M("RemoveContainer", container_request, handle_remove),
	M("RemoveProcess", process_request, handle_remove_process),
	M("Shutdown", empty, handle_shutdown),
	M("UpdateContainer", update_container_request, handle_update),
	M("PauseContainer", container_request, handle_pause),
	M("ResumeContainer", container_request, handle_resume),
	M("StatsContainer", container_request, handle_stats),
	M("WaitOomEvent", empty, handle_wait_oom),
	M("AdoptIdentity", identity_request, handle_adopt_identity),
	M("PortConnect", port_connect_request, handle_port_connect),
	M("PortWrite", port_data_request, handle_port_write),
	M("PortRead", port_read_request, handle_port_read),
	M("PortShutdown", port_request, handle_port_shutdown),
	M("PortClose", port_request, handle_port_close),
	M("TpmIdentity", empty, handle_tpm_identity),
	M("TpmActivate", tpm_activate_request, handle_tpm_activate),
	M("TpmQuote", tpm_quote_request, handle_tpm_quote),
	M("PutSecret", secret_request, handle_put_secret),
};
const size_t agent_n_methods = sizeof(agent_methods) / sizeof(*agent_methods);
