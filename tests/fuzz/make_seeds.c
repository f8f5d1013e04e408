/* make_seeds OUTDIR: writes the binary seeds of the fuzz targets (the text ones are in
 * tests/fuzz/corpus) to OUTDIR/<target>/<name>: ttrpc frame streams, agent requests and
 * responses packed with the generated protobuf code, layer tarballs written with libarchive,
 * measurement logs and TPM structures as a guest sends them to the verifier.
 * Deterministic, so that a run can be repeated. */
#include "agent.pb-c.h"
#include "identity_fixture.h"
#include "ima_fixture.h"
#include "ttrpc.h"
#include "ttrpc.pb-c.h"
#include "tpm2.h"
#include "tpm2_marshal.h"
#include "util.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SVC "podvm.agent.v1.Agent"
#define MAX_SEED 8192

static const char *outdir;

/* A seed being built. */
struct buf {
	uint8_t data[MAX_SEED];
	size_t len;
};

static void put(struct buf *b, const void *data, size_t len)
{
	if (len > sizeof(b->data) - b->len)
		abort();
	memcpy(b->data + b->len, data, len);
	b->len += len;
}

static void put_byte(struct buf *b, uint8_t v)
{
	put(b, &v, 1);
}

static void put_msg(struct buf *b, const ProtobufCMessage *m)
{
	uint8_t tmp[MAX_SEED];
	if (protobuf_c_message_get_packed_size(m) > sizeof(tmp))
		abort();
	put(b, tmp, protobuf_c_message_pack(m, tmp));
}

/* A frame whose header says len (which may differ from what follows). */
static void put_header(struct buf *b, uint32_t len, uint32_t stream_id, uint8_t type)
{
	struct ttrpc_frame_header h = { .length = len, .stream_id = stream_id, .type = type };
	uint8_t raw[TTRPC_HEADER_SIZE];
	ttrpc_header_encode(&h, raw);
	put(b, raw, sizeof(raw));
}

static void put_frame(struct buf *b, uint32_t stream_id, uint8_t type, const struct buf *payload)
{
	put_header(b, (uint32_t)payload->len, stream_id, type);
	put(b, payload->data, payload->len);
}

static void save(const char *target, const char *name, const struct buf *b)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", outdir, target);
	if (pv_mkdir_p(path, 0755, NULL) < 0)
		abort();
	snprintf(path, sizeof(path), "%s/%s/%s", outdir, target, name);
	if (pv_write_file(path, b->data, b->len, 0644, NULL) < 0)
		abort();
}

/* ---- requests and responses of the agent ---- */

static void request_envelope(struct buf *b, const char *method, const ProtobufCMessage *m)
{
	struct buf payload = { .len = 0 };
	Ttrpc__Request req = TTRPC__REQUEST__INIT;
	if (m)
		put_msg(&payload, m);
	req.service = SVC;
	req.method = (char *)method;
	req.payload.data = payload.data;
	req.payload.len = payload.len;
	req.timeout_nano = 60000000000;
	put_msg(b, &req.base);
}

static void response_envelope(struct buf *b, int code, const char *message, const ProtobufCMessage *m)
{
	struct buf payload = { .len = 0 };
	Ttrpc__Response resp = TTRPC__RESPONSE__INIT;
	Ttrpc__Status status = TTRPC__STATUS__INIT;
	if (m)
		put_msg(&payload, m);
	status.code = code;
	status.message = (char *)message;
	resp.status = &status;
	resp.payload.data = payload.data;
	resp.payload.len = payload.len;
	put_msg(b, &resp.base);
}

static char spec_json[] =
	"{\"process\": {\"args\": [\"sh\"], \"env\": [\"PATH=/bin\"], \"cwd\": \"/\","
	" \"user\": {\"uid\": 0, \"gid\": 0}, \"capabilities\": {\"bounding\": [\"CAP_KILL\"]},"
	" \"rlimits\": [{\"type\": \"RLIMIT_NOFILE\", \"hard\": 1024, \"soft\": 1024}]},"
	" \"root\": {\"path\": \"/run/podvm/rootfs/c1\"},"
	" \"mounts\": [{\"destination\": \"/proc\", \"type\": \"proc\", \"source\": \"proc\"},"
	"  {\"destination\": \"/data\", \"type\": \"bind\", \"source\": \"/run/podvm/shares/s0\","
	"   \"options\": [\"rbind\", \"ro\"]}],"
	" \"linux\": {\"namespaces\": [{\"type\": \"pid\"}, {\"type\": \"mount\"},"
	"  {\"type\": \"ipc\", \"path\": \"podvm:container/sandbox\"}],"
	"  \"resources\": {\"memory\": {\"limit\": 268435456}, \"pids\": {\"limit\": 64}}}}";
static char process_json[] = "{\"args\": [\"ls\", \"-l\"], \"terminal\": true, \"consoleSize\": {\"height\": 24, \"width\": 80}}";
static char resources_json[] = "{\"memory\": {\"limit\": 536870912, \"swap\": -1}, \"cpu\": {\"quota\": 50000, \"period\": 100000}}";

/* The requests of the seeds, by method. */
struct request_seed {
	const char *method;
	const ProtobufCMessage *msg;
};

static void agent_seeds(void)
{
	static Podvm__Agent__V1__Share share = PODVM__AGENT__V1__SHARE__INIT, *shares[1] = { &share };
	Podvm__Agent__V1__CreateContainerRequest create = PODVM__AGENT__V1__CREATE_CONTAINER_REQUEST__INIT;
	Podvm__Agent__V1__ContainerRequest container = PODVM__AGENT__V1__CONTAINER_REQUEST__INIT;
	Podvm__Agent__V1__ProcessRequest process = PODVM__AGENT__V1__PROCESS_REQUEST__INIT;
	Podvm__Agent__V1__ExecProcessRequest exec = PODVM__AGENT__V1__EXEC_PROCESS_REQUEST__INIT;
	Podvm__Agent__V1__SignalRequest sig = PODVM__AGENT__V1__SIGNAL_REQUEST__INIT;
	Podvm__Agent__V1__WriteStdinRequest in = PODVM__AGENT__V1__WRITE_STDIN_REQUEST__INIT;
	Podvm__Agent__V1__ReadOutputRequest out = PODVM__AGENT__V1__READ_OUTPUT_REQUEST__INIT;
	Podvm__Agent__V1__ResizeTtyRequest resize = PODVM__AGENT__V1__RESIZE_TTY_REQUEST__INIT;
	Podvm__Agent__V1__UpdateContainerRequest update = PODVM__AGENT__V1__UPDATE_CONTAINER_REQUEST__INIT;
	static struct identity_fixture identity;
	Podvm__Agent__V1__PortConnectRequest connect = PODVM__AGENT__V1__PORT_CONNECT_REQUEST__INIT;
	Podvm__Agent__V1__PortDataRequest pdata = PODVM__AGENT__V1__PORT_DATA_REQUEST__INIT;
	Podvm__Agent__V1__PortReadRequest pread = PODVM__AGENT__V1__PORT_READ_REQUEST__INIT;
	Podvm__Agent__V1__PortRequest port = PODVM__AGENT__V1__PORT_REQUEST__INIT;
	Podvm__Agent__V1__Empty empty = PODVM__AGENT__V1__EMPTY__INIT;
	share.tag = "s0";
	share.fstype = "9p";
	create.container_id = "c1";
	create.oci_spec_json = spec_json;
	create.n_shares = 1;
	create.shares = shares;
	container.container_id = "c1";
	process.container_id = "c1";
	process.exec_id = "e1";
	exec.container_id = "c1";
	exec.exec_id = "e1";
	exec.process_json = process_json;
	sig.container_id = "c1";
	sig.signal = 9;
	sig.all = true;
	in.container_id = "c1";
	in.data.data = (uint8_t *)"hello\n";
	in.data.len = 6;
	out.container_id = "c1";
	out.stream = 1;
	out.max_bytes = 65536;
	resize.container_id = "c1";
	resize.rows = 24;
	resize.cols = 80;
	update.container_id = "c1";
	update.resources_json = resources_json;
	identity_fixture_init(&identity);
	connect.port = 8080;
	pdata.id = 1;
	pdata.data = in.data;
	pread.id = 1;
	pread.max_bytes = 4096;
	port.id = 1;
	const struct request_seed seeds[] = {
		{ "Ping", &empty.base }, { "CreateContainer", &create.base },
		{ "StartContainer", &container.base }, { "ExecProcess", &exec.base },
		{ "WaitProcess", &process.base }, { "SignalProcess", &sig.base },
		{ "WriteStdin", &in.base }, { "CloseStdin", &process.base },
		{ "ReadOutput", &out.base }, { "ResizeTty", &resize.base },
		{ "RemoveContainer", &container.base }, { "RemoveProcess", &process.base },
		{ "UpdateContainer", &update.base }, { "PauseContainer", &container.base },
		{ "StatsContainer", &container.base }, { "WaitOomEvent", &empty.base },
		{ "AdoptIdentity", &identity.req.base }, { "PortConnect", &connect.base },
		{ "PortWrite", &pdata.base }, { "PortRead", &pread.base },
		{ "PortShutdown", &port.base }, { "PortClose", &port.base },
	};
	const ProtobufCServiceDescriptor *svc = &podvm__agent__v1__agent__descriptor;
	struct buf stream = { .len = 0 };
	for (size_t i = 0; i < sizeof(seeds) / sizeof(*seeds); i++) {
		const ProtobufCMethodDescriptor *m = protobuf_c_service_descriptor_get_method_by_name(svc, seeds[i].method);
		struct buf b = { .len = 0 }, env = { .len = 0 };
		put_byte(&b, (uint8_t)(m - svc->methods));
		put_msg(&b, seeds[i].msg);
		save("agent_request", seeds[i].method, &b);
		/* The same requests as frames, for the server, a few to a connection. */
		request_envelope(&env, seeds[i].method, seeds[i].msg);
		if (stream.len + env.len + TTRPC_HEADER_SIZE > 2048) {
			char name[32];
			snprintf(name, sizeof(name), "requests-%zu", i);
			save("ttrpc_server", name, &stream);
			stream.len = 0;
		}
		put_frame(&stream, 2 * (uint32_t)i + 1, TTRPC_TYPE_REQUEST, &env);
	}
	save("ttrpc_server", "requests-last", &stream);
}

/* What each pv_agent_* call of fuzz_agent_response.c gets back, in its order. */
static void response_seeds(void)
{
	Podvm__Agent__V1__PingResponse ping = PODVM__AGENT__V1__PING_RESPONSE__INIT;
	Podvm__Agent__V1__StartResponse start = PODVM__AGENT__V1__START_RESPONSE__INIT;
	Podvm__Agent__V1__WaitResponse wait = PODVM__AGENT__V1__WAIT_RESPONSE__INIT;
	Podvm__Agent__V1__WriteStdinResponse written = PODVM__AGENT__V1__WRITE_STDIN_RESPONSE__INIT;
	Podvm__Agent__V1__ReadOutputResponse data = PODVM__AGENT__V1__READ_OUTPUT_RESPONSE__INIT;
	Podvm__Agent__V1__StatsResponse stats = PODVM__AGENT__V1__STATS_RESPONSE__INIT;
	Podvm__Agent__V1__OomEvent oom = PODVM__AGENT__V1__OOM_EVENT__INIT;
	Podvm__Agent__V1__PortConnectResponse connect = PODVM__AGENT__V1__PORT_CONNECT_RESPONSE__INIT;
	Podvm__Agent__V1__Empty empty = PODVM__AGENT__V1__EMPTY__INIT;
	ping.agent_version = "0.1.0";
	ping.kernel_release = "6.12.0-podvm";
	ping.open_fds = 12;
	ping.rss_bytes = 1 << 20;
	start.pid = 42;
	wait.exit_status = 137;
	wait.oom_kills = 1;
	written.written = 1;
	data.data.data = (uint8_t *)"output\n";
	data.data.len = 7;
	stats.cgroup_v2_metrics.data = (uint8_t *)"\x0a\x02\x08\x01";
	stats.cgroup_v2_metrics.len = 4;
	oom.container_id = "c1";
	connect.id = 7;
	const ProtobufCMessage *answers[] = {
		&ping.base, &ping.base, &start.base, &start.base, &start.base, &wait.base, &empty.base,
		&written.base, &empty.base, &data.base, &empty.base, &empty.base, &empty.base,
		&empty.base, &empty.base, &stats.base, &oom.base, &empty.base, &connect.base,
		&empty.base, &data.base, &empty.base, &empty.base,
	};
	for (size_t i = 0; i < sizeof(answers) / sizeof(*answers); i++) {
		struct buf b = { .len = 0 };
		char name[32];
		put_byte(&b, (uint8_t)i);
		put_byte(&b, 0);
		put_msg(&b, answers[i]);
		snprintf(name, sizeof(name), "call-%02zu", i);
		save("agent_response", name, &b);
		b.len = 0;
		put_byte(&b, (uint8_t)i);
		put_byte(&b, 1);
		response_envelope(&b, i % 2 ? TTRPC_NOT_FOUND : TTRPC_OK, i % 2 ? "container c1: not found" : "",
				  answers[i]);
		snprintf(name, sizeof(name), "call-%02zu-envelope", i);
		save("agent_response", name, &b);
	}
}

/* ---- ttrpc frame streams ---- */

static void server_seeds(void)
{
	struct buf b = { .len = 0 }, env = { .len = 0 };
	put_header(&b, 4, 3, TTRPC_TYPE_REQUEST);
	put(&b, "\xff\xff\xff\xff", 4);
	put_header(&b, 4, 5, 0x7f);
	put(&b, "junk", 4);
	put_header(&b, 4, 7, TTRPC_TYPE_DATA);
	put(&b, "data", 4);
	put_header(&b, 2, 9, TTRPC_TYPE_REQUEST);
	put(&b, "\x0a\x05", 2);  /* a truncated service string */
	request_envelope(&env, "Nope", NULL);
	put_frame(&b, 11, TTRPC_TYPE_REQUEST, &env);
	save("ttrpc_server", "odd-frames", &b);
	b.len = 0;
	put_header(&b, TTRPC_MAX_MESSAGE + 1, 1, TTRPC_TYPE_REQUEST);
	save("ttrpc_server", "oversize", &b);
	b.len = 0;
	put_header(&b, 100, 1, TTRPC_TYPE_REQUEST);
	put(&b, "\x0a", 1);
	save("ttrpc_server", "cut-short", &b);
}

static void client_seeds(void)
{
	Podvm__Agent__V1__PingResponse ping = PODVM__AGENT__V1__PING_RESPONSE__INIT;
	ping.agent_version = "0.1.0";
	ping.kernel_release = "6.12.0-podvm";
	struct buf b = { .len = 0 }, env = { .len = 0 };
	response_envelope(&env, TTRPC_OK, "", &ping.base);
	put_frame(&b, 1, TTRPC_TYPE_RESPONSE, &env);
	save("ttrpc_client", "ok", &b);
	b.len = 0;
	put_header(&b, 4, 1, TTRPC_TYPE_DATA);
	put(&b, "data", 4);
	put_frame(&b, 3, TTRPC_TYPE_RESPONSE, &env);
	put_frame(&b, 1, TTRPC_TYPE_RESPONSE, &env);
	put_frame(&b, 1, TTRPC_TYPE_RESPONSE, &env);
	save("ttrpc_client", "stray-frames", &b);
	b.len = 0;
	env.len = 0;
	response_envelope(&env, TTRPC_UNAVAILABLE, "agent going away", NULL);
	put_frame(&b, 1, TTRPC_TYPE_RESPONSE, &env);
	save("ttrpc_client", "error", &b);
	b.len = 0;
	put_header(&b, TTRPC_MAX_MESSAGE + 1, 1, TTRPC_TYPE_RESPONSE);
	save("ttrpc_client", "oversize", &b);
}

/* ---- attestation: what a guest sends the verifier ---- */

/* A seed of fuzz_attest_logs or fuzz_tpm2_parse: the selector byte, then data. */
static void save_selected(const char *target, const char *name, uint8_t selector, const void *data, size_t len)
{
	struct buf b = { .len = 0 };
	put_byte(&b, selector);
	put(&b, data, len);
	save(target, name, &b);
}

static void attest_log_seeds(void)
{
	static const char events[] =
		"9 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef kernel /usr/share/podvm/vmlinuz\n"
		"9 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff initramfs /x/initramfs.cpio.gz\n"
		"9 ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100 cmdline console=hvc0 quiet\n"
		"11 5555555555555555555555555555555555555555555555555555555555555555 container-config c1\n";
	struct ima_fixture f = { 0 };
	uint8_t d[32];
	save_selected("attest_logs", "event-log", 0, events, sizeof(events) - 1);
	memset(d, 0x11, sizeof(d));
	ima_fixture_add(&f, "boot_aggregate", d, NULL);
	memset(d, 0x22, sizeof(d));
	ima_fixture_add(&f, "/init", d, NULL);
	ima_fixture_add_entry(&f, 10, "ima-ng", "/bin/changing", d, true, NULL);
	ima_fixture_add(&f, "/run/podvm/c1/rootfs/usr/bin/app", d, NULL);
	save_selected("attest_logs", "ima-log", 1, f.data, f.len);
	ima_fixture_clear(&f);
}

static void put_tpm2b(struct pv_tpm2_w *w, uint8_t fill, size_t n)
{
	uint8_t bytes[64];
	memset(bytes, fill, n);
	pv_tpm2_w_b2b(w, bytes, n);
}

/* An AK (ECDSA-SHA256, restricted signing) and an EK (AES-128-CFB, restricted decrypt). */
static void tpm2_public_seeds(void)
{
	for (int ek = 0; ek < 2; ek++) {
		struct pv_tpm2_w w = { .len = 0 };
		pv_tpm2_w_u16(&w, 0x0023);  /* TPM_ALG_ECC */
		pv_tpm2_w_u16(&w, 0x000b);  /* SHA-256 */
		pv_tpm2_w_u32(&w, ek ? 0x000300b2 : PV_TPM2_AK_ATTRIBUTES);
		put_tpm2b(&w, 0x83, ek ? 32 : 0);  /* authPolicy */
		pv_tpm2_w_u16(&w, ek ? 0x0006 : 0x0010);  /* symmetric: AES or NULL */
		if (ek) {
			pv_tpm2_w_u16(&w, 128);
			pv_tpm2_w_u16(&w, 0x0043);  /* CFB */
		}
		pv_tpm2_w_u16(&w, ek ? 0x0010 : 0x0018);  /* scheme: NULL or ECDSA */
		if (!ek)
			pv_tpm2_w_u16(&w, 0x000b);
		pv_tpm2_w_u16(&w, 0x0003);  /* NIST P-256 */
		pv_tpm2_w_u16(&w, 0x0010);  /* kdf: NULL */
		put_tpm2b(&w, 0x5a, 32);
		put_tpm2b(&w, 0xa5, 32);
		save_selected("tpm2_parse", ek ? "public-ek" : "public-ak", 0, w.buf, w.len);
	}
}

static void tpm2_quote_seeds(void)
{
	struct pv_tpm2_w w = { .len = 0 };
	uint8_t select[3] = { 0x00, 0x0e, 0x00 };  /* PCRs 9, 10, 11 */
	pv_tpm2_w_u32(&w, 0xff544347);  /* TPM_GENERATED_VALUE */
	pv_tpm2_w_u16(&w, 0x8018);      /* TPM_ST_ATTEST_QUOTE */
	put_tpm2b(&w, 0x0b, 34);        /* qualifiedSigner */
	put_tpm2b(&w, 0x42, 32);        /* extraData: the nonce */
	pv_tpm2_w_bytes(&w, "\0\0\0\0\0\0\x12\x34", 8);  /* clock */
	pv_tpm2_w_u32(&w, 1);           /* resetCount */
	pv_tpm2_w_u32(&w, 0);           /* restartCount */
	pv_tpm2_w_u8(&w, 1);            /* safe */
	pv_tpm2_w_bytes(&w, "\x20\x19\x10\x23\0\x16\x36\x36", 8);  /* firmwareVersion */
	pv_tpm2_w_u32(&w, 1);           /* one selection */
	pv_tpm2_w_u16(&w, 0x000b);
	pv_tpm2_w_u8(&w, sizeof(select));
	pv_tpm2_w_bytes(&w, select, sizeof(select));
	put_tpm2b(&w, 0xd1, 32);        /* pcrDigest */
	save_selected("tpm2_parse", "quote", 1, w.buf, w.len);
	w.len = 0;
	pv_tpm2_w_u16(&w, 0x0018);  /* ECDSA */
	pv_tpm2_w_u16(&w, 0x000b);
	put_tpm2b(&w, 0x71, 32);
	put_tpm2b(&w, 0x17, 31);    /* a scalar with a leading zero dropped */
	save_selected("tpm2_parse", "signature", 2, w.buf, w.len);
}

/* ---- layer tarballs ---- */

/* One entry: 'f' file (data: content), 'd' dir, 'l' symlink and 'h' hard link (data:
 * target), 'c' character device, 'p' fifo; mode 0 for 0755 (a dir) or 0644. */
struct ent {
	char type;
	const char *path;
	const char *data;
	mode_t mode;
};

static void add_entry(struct archive *a, const struct ent *e)
{
	struct archive_entry *ae = archive_entry_new();
	mode_t type = e->type == 'd' ? AE_IFDIR : e->type == 'l' ? AE_IFLNK : e->type == 'c' ? AE_IFCHR :
		      e->type == 'p' ? AE_IFIFO : AE_IFREG;
	archive_entry_set_pathname(ae, e->path);
	archive_entry_set_filetype(ae, type);
	archive_entry_set_perm(ae, e->mode ? e->mode : e->type == 'd' ? 0755 : 0644);
	archive_entry_set_mtime(ae, 1700000000, 0);
	if (e->type == 'l')
		archive_entry_set_symlink(ae, e->data);
	if (e->type == 'h')
		archive_entry_set_hardlink(ae, e->data);
	if (e->type == 'c')
		archive_entry_set_rdev(ae, 0x0103);
	if (e->type == 'f')
		archive_entry_set_size(ae, (la_int64_t)strlen(e->data));
	if (archive_write_header(a, ae) != ARCHIVE_OK)
		abort();
	if (e->type == 'f' && archive_write_data(a, e->data, strlen(e->data)) < 0)
		abort();
	archive_entry_free(ae);
}

/* filter: 'n' none, 'g' gzip. */
static void layer(const char *name, char filter, const struct ent *ents, size_t n)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/image_layer", outdir);
	if (pv_mkdir_p(path, 0755, NULL) < 0)
		abort();
	snprintf(path, sizeof(path), "%s/image_layer/%s", outdir, name);
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	if (filter == 'g')
		archive_write_add_filter_gzip(a);
	if (archive_write_open_filename(a, path) != ARCHIVE_OK)
		abort();
	for (size_t i = 0; i < n; i++)
		add_entry(a, &ents[i]);
	archive_write_close(a);
	archive_write_free(a);
}
#define LAYER(name, filter, ents) layer(name, filter, ents, sizeof(ents) / sizeof(*ents))
/* Designated initializers: -Wextra objects to partly positional ones. */
#define E(t, p, d, m) { .type = (t), .path = (p), .data = (d), .mode = (m) }

static void layer_seeds(void)
{
	const struct ent tree[] = {
		E('d', "etc", NULL, 0), E('f', "etc/passwd", "root:x:0:0::/root:/bin/sh\n", 0),
		E('d', "bin", NULL, 0), E('f', "bin/busybox", "#!/bin/sh\n", 0), E('l', "bin/sh", "busybox", 0),
		E('h', "bin/ash", "bin/busybox", 0), E('c', "dev/null", NULL, 0), E('p', "run/fifo", NULL, 0),
		E('d', "./tmp/", NULL, 0), E('f', "./tmp//x", "x", 0),
	};
	const struct ent whiteouts[] = {
		E('f', "etc/.wh.passwd", "", 0), E('d', "bin", NULL, 0), E('f', "bin/.wh..wh..opq", "", 0),
		E('f', "bin/new", "new", 0), E('f', ".wh..wh.plnk/1", "aufs", 0), E('f', ".wh.tmp", "", 0),
	};
	/* What must be refused: each tries to reach the rootfs's sibling "sentinel". */
	const struct ent symlink_escape[] = {
		E('l', "evil", "../sentinel", 0), E('f', "evil/planted", "x", 0),
		E('l', "abs", "/", 0), E('f', "abs/tmp/planted", "x", 0),
	};
	const struct ent hardlink_escape[] = {
		E('l', "up", "..", 0), E('h', "stolen", "up/sentinel/keep", 0), E('f', "stolen", "overwritten", 0),
	};
	const struct ent dotdot[] = {
		E('f', "../sentinel/planted", "x", 0), E('f', "a/../../planted", "x", 0), E('f', "/planted", "x", 0),
	};
	const struct ent whiteout_escape[] = {
		E('l', "link", "../sentinel", 0), E('f', "link/.wh.keep", "", 0), E('f', ".wh...", "", 0),
	};
	/* A directory's mode is set when the tar ends: by then a symlink has taken its place. */
	const struct ent late_mode[] = {
		E('d', "d", NULL, 0700), E('f', "x", "x", 0), E('l', "d", "../sentinel", 0),
	};
	const struct ent through_links[] = {
		E('l', "s", "../sentinel/keep", 0), E('h', "h", "s", 0), E('f', "h", "overwritten", 0),
		E('f', "s", "overwritten", 0), E('d', "s", NULL, 0777),
	};
	LAYER("tree.tar", 'n', tree);
	LAYER("tree.tar.gz", 'g', tree);
	LAYER("whiteouts.tar", 'n', whiteouts);
	LAYER("symlink-escape.tar", 'n', symlink_escape);
	LAYER("hardlink-escape.tar", 'n', hardlink_escape);
	LAYER("dotdot.tar", 'n', dotdot);
	LAYER("whiteout-escape.tar", 'n', whiteout_escape);
	LAYER("late-mode.tar", 'n', late_mode);
	LAYER("through-links.tar", 'n', through_links);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
		return 2;
	}
	outdir = argv[1];
	agent_seeds();
	response_seeds();
	server_seeds();
	client_seeds();
	layer_seeds();
	attest_log_seeds();
	tpm2_public_seeds();
	tpm2_quote_seeds();
	return 0;
}
