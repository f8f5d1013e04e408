/* The verifier of a VM's attestation (src/libpodvm/attest/verifier.c) against a hostile
 * guest. The VM's TPM is made as podvm makes it (pv_tpm_manufacture: node CA, EK
 * certificate, boot measured into PCR 9) from a kernel and a gzip'd cpio initramfs built
 * here, whose reference.json is computed here; the guest is a real swtpm resuming that
 * state, and a fake agent serving TpmIdentity, TpmActivate and TpmQuote over ttrpc with the
 * real TPM client. It "boots" as a guest would: IMA's boot_aggregate and the files it runs
 * extended into PCR 10 and listed, the containers' configs into PCR 11 and the agent's
 * event log; and it lies when told to: old quotes, forged, cut, reordered or garbled logs,
 * files and configs nobody knows, another EK certificate, another or unrestricted AK, a
 * made-up credential, a signature over other bytes. Each lie must be a finding. */
#include "tap.h"
#include "tmp_path.h"
#include "agent.pb-c.h"
#include "attest/crypto.h"
#include "attest/digest_set.h"
#include "attest/event_log.h"
#include "attest/reference.h"
#include "attest/verifier.h"
#include "cleanup.h"
#include "fixture_archive.h"
#include "hostcaps.h"
#include "ima_fixture.h"
#include "sha256.h"
#include "tpm2.h"
#include "ttrpc.h"
#include "util.h"
#include "vmm/qemu.h"
#include "vmm/swtpm.h"
#include "vmm/tpm_manufacture.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define SVC "podvm.agent.v1.Agent"
#define SPEC_C1 "{\"ociVersion\": \"1.1.0\", \"process\": {\"args\": [\"/usr/bin/app\"]}}"
#define SPEC_C2 "{\"ociVersion\": \"1.1.0\", \"process\": {\"args\": [\"/bin/tool\"]}}"
#define APP_PATH "/run/podvm/c1/rootfs/usr/bin/app"

/* What the fake agent lies about (one lie at a time). */
enum lie {
	HONEST,
	LIE_EK_CERT,        /* presents other_cert as its EK certificate */
	LIE_AK_UNRESTRICTED,/* its AK's public area with the restricted bit cleared */
	LIE_AK_OTHER,       /* another key's public area (a coordinate changed) */
	LIE_CREDENTIAL,     /* answers an activation with random bytes */
	LIE_OLD_QUOTE,      /* the quote of the verification before */
	LIE_SIGNED_OTHER,   /* a byte of the quote changed after signing */
};

/* How the guest boots. */
struct plan {
	bool wrong_aggregate, no_aggregate, violation;
	const char *extra_file;   /* run, with content "evil\n" */
	const char *extra_config; /* a container podvm never sent: SPEC_C1 with a space more */
};

static struct guest {
	pthread_mutex_t lock;
	struct pv_swtpm swtpm;
	struct pv_tpm2 tpm;          /* over swtpm's data channel */
	struct ima_fixture ima;      /* IMA's list as the agent presents it */
	char events[1024];           /* the agent's event log */
	enum lie lie;
	uint8_t *other_cert;
	size_t other_cert_len;
	uint8_t *old_attest, *old_sig;
	size_t old_attest_len, old_sig_len;
	int activations;
} g = { .lock = PTHREAD_MUTEX_INITIALIZER, .tpm = { -1 } };

static char swtpm[256];
/* In tmp: the node CA (and another), the guest image and its reference, the VM's state. */
static char ca[300], ca2[300], kernel[300], initrd[300], reference[300], vm[300];
static struct ttrpc_server *server;
static struct ttrpc_client *client;
static pthread_t server_thread;
static int server_fd = -1;

static void digest_of(const char *s, uint8_t d[32])
{
	pv_sha256((const uint8_t *)s, strlen(s), d);
}

/* ---- the fake agent ---- */

static int reply_identity(struct ttrpc_reply *reply, const uint8_t *cert, size_t cert_len,
			  struct pv_tpm2_public *ak)
{
	Podvm__Agent__V1__TpmIdentityResponse r = PODVM__AGENT__V1__TPM_IDENTITY_RESPONSE__INIT;
	if (g.lie == LIE_EK_CERT)
		cert = g.other_cert, cert_len = g.other_cert_len;
	if (g.lie == LIE_AK_UNRESTRICTED)
		ak->area[5] ^= PV_TPMA_RESTRICTED >> 16;  /* TPMA_OBJECT: bytes 4-7, big-endian */
	if (g.lie == LIE_AK_OTHER)
		ak->area[ak->area_len - 1] ^= 1;          /* y's last byte */
	r.ek_cert = (ProtobufCBinaryData){ cert_len, (uint8_t *)cert };
	r.ak_public = (ProtobufCBinaryData){ ak->area_len, ak->area };
	return ttrpc_reply_set(reply, &r.base);
}

static int on_identity(void *ctx, const ProtobufCMessage *req, struct ttrpc_reply *reply, pv_error *err)
{
	(void)ctx, (void)req;
	_cleanup_free_ uint8_t *cert = NULL;
	size_t cert_len = 0;
	struct pv_tpm2_public ak;
	uint32_t h;
	pthread_mutex_lock(&g.lock);
	int r = pv_tpm2_nv_load(&g.tpm, PV_TPM2_EK_CERT_NV_ECC, &cert, &cert_len, err);
	if (r == 0)
		r = pv_tpm2_create_ak(&g.tpm, &h, &ak, err);
	if (r == 0)
		r = pv_tpm2_flush(&g.tpm, h, err);
	if (r == 0)
		r = reply_identity(reply, cert, cert_len, &ak);
	pthread_mutex_unlock(&g.lock);
	return r;
}

static int activate(const Podvm__Agent__V1__TpmActivateRequest *q, uint8_t out[64], size_t *out_len, pv_error *err)
{
	struct pv_tpm2_public ek, ak;
	uint32_t ek_h, ak_h;
	if (pv_tpm2_create_ek(&g.tpm, &ek_h, &ek, err) < 0)
		return -1;
	int r = pv_tpm2_create_ak(&g.tpm, &ak_h, &ak, err);
	if (r == 0) {
		r = pv_tpm2_activate_credential(&g.tpm, ak_h, ek_h, q->id_object.data, q->id_object.len,
						q->encrypted_secret.data, q->encrypted_secret.len, out, 64, out_len, err);
		(void)pv_tpm2_flush(&g.tpm, ak_h, NULL);
	}
	(void)pv_tpm2_flush(&g.tpm, ek_h, NULL);
	return r;
}

static int on_activate(void *ctx, const ProtobufCMessage *req, struct ttrpc_reply *reply, pv_error *err)
{
	(void)ctx;
	Podvm__Agent__V1__TpmActivateResponse r = PODVM__AGENT__V1__TPM_ACTIVATE_RESPONSE__INIT;
	uint8_t out[64];
	size_t len = 32;
	pthread_mutex_lock(&g.lock);
	g.activations++;
	int ret = g.lie == LIE_CREDENTIAL ? pv_attest_random(out, len, err) : activate((const void *)req, out, &len, err);
	pthread_mutex_unlock(&g.lock);
	if (ret < 0)
		return ret;
	r.credential = (ProtobufCBinaryData){ len, out };
	return ttrpc_reply_set(reply, &r.base);
}

static int quote(const Podvm__Agent__V1__TpmQuoteRequest *q, uint8_t **attest, size_t *attest_len, uint8_t **sig,
		 size_t *sig_len, pv_error *err)
{
	struct pv_tpm2_public ak;
	uint32_t h;
	if (pv_tpm2_create_ak(&g.tpm, &h, &ak, err) < 0)
		return -1;
	int r = pv_tpm2_quote(&g.tpm, h, q->nonce.data, q->nonce.len, q->pcr_mask, attest, attest_len, sig, sig_len,
			      err);
	(void)pv_tpm2_flush(&g.tpm, h, NULL);
	return r;
}

/* The quote to send: the one made now, or with LIE_OLD_QUOTE the one kept from the last
 * call; the one made now is kept for the next. */
static void lie_about_quote(uint8_t **attest, size_t *attest_len, uint8_t **sig, size_t *sig_len)
{
	if (g.lie == LIE_SIGNED_OTHER)
		(*attest)[*attest_len - 1] ^= 1;  /* in the PCR digest */
	if (g.lie != LIE_OLD_QUOTE || g.old_attest == NULL) {
		free(g.old_attest);
		free(g.old_sig);
		g.old_attest = *attest, g.old_attest_len = *attest_len, g.old_sig = *sig, g.old_sig_len = *sig_len;
		return;
	}
	uint8_t *a = *attest, *s = *sig;
	size_t al = *attest_len, sl = *sig_len;
	*attest = g.old_attest, *attest_len = g.old_attest_len, *sig = g.old_sig, *sig_len = g.old_sig_len;
	g.old_attest = a, g.old_attest_len = al, g.old_sig = s, g.old_sig_len = sl;
}

static int on_quote(void *ctx, const ProtobufCMessage *req, struct ttrpc_reply *reply, pv_error *err)
{
	(void)ctx;
	Podvm__Agent__V1__TpmQuoteResponse r = PODVM__AGENT__V1__TPM_QUOTE_RESPONSE__INIT;
	uint8_t *attest = NULL, *sig = NULL;
	size_t attest_len = 0, sig_len = 0;
	pthread_mutex_lock(&g.lock);
	int ret = quote((const void *)req, &attest, &attest_len, &sig, &sig_len, err);
	if (ret == 0) {
		lie_about_quote(&attest, &attest_len, &sig, &sig_len);
		r.attest = (ProtobufCBinaryData){ attest_len, attest };
		r.signature = (ProtobufCBinaryData){ sig_len, sig };
		r.ima_log = (ProtobufCBinaryData){ g.ima.len, g.ima.data };
		r.event_log = g.events;
		ret = ttrpc_reply_set(reply, &r.base);
	}
	if (attest != g.old_attest) {  /* the quote sent was the old one (the new one is kept) */
		free(attest);
		free(sig);
	}
	pthread_mutex_unlock(&g.lock);
	return ret;
}

static const struct ttrpc_method methods[] = {
	{ SVC, "TpmIdentity", &podvm__agent__v1__empty__descriptor, on_identity },
	{ SVC, "TpmActivate", &podvm__agent__v1__tpm_activate_request__descriptor, on_activate },
	{ SVC, "TpmQuote", &podvm__agent__v1__tpm_quote_request__descriptor, on_quote },
};

static void *serve(void *arg)
{
	(void)arg;
	(void)ttrpc_server_serve_fd(server, server_fd, NULL);
	return NULL;
}

static bool start_agent(void)
{
	int sv[2];
	pv_error err = NULL;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return ok(false, "socketpair");
	server_fd = sv[1];
	int r = ttrpc_server_new(methods, sizeof(methods) / sizeof(methods[0]), NULL, &server, &err);
	if (r == 0 && pthread_create(&server_thread, NULL, serve, NULL) != 0)
		r = pv_error_set(&err, EAGAIN, "pthread_create");
	if (r == 0)
		r = ttrpc_client_new(sv[0], &client, &err);
	else
		close(sv[0]);
	ok_err(r == 0, err, "fake agent serving over ttrpc");
	return r == 0;
}

static void stop_agent(void)
{
	if (client) {
		ttrpc_client_free(client);  /* the server sees EOF */
		client = NULL;
		pthread_join(server_thread, NULL);
	}
	if (server)
		ttrpc_server_free(server);
	server = NULL;
	if (server_fd >= 0)
		close(server_fd);
	server_fd = -1;
}

/* ---- the VM: made by podvm, booted by the guest ---- */

static void stop_guest(void)
{
	pv_swtpm_reap(&g.swtpm, 0);
	g.tpm.fd = -1;
	ima_fixture_clear(&g.ima);
	g.events[0] = '\0';
}

static void cleanup(void)
{
	stop_agent();
	stop_guest();
	free(g.other_cert);
	free(g.old_attest);
	free(g.old_sig);
	if (tmp[0])
		(void)pv_rm_rf(tmp, NULL);
}

/* Regular files of directory from copied into to (made). */
static int copy_dir(const char *from, const char *to, pv_error *err)
{
	DIR *d = opendir(from);
	struct dirent *e;
	int r = d ? pv_mkdir_p(to, 0700, err) : pv_error_set(err, errno, "%s", from);
	while (r == 0 && (e = readdir(d)) != NULL) {
		_cleanup_free_ char *src = NULL, *dst = NULL, *data = NULL;
		size_t len;
		if (e->d_type != DT_REG)
			continue;
		if (asprintf(&src, "%s/%s", from, e->d_name) < 0 || asprintf(&dst, "%s/%s", to, e->d_name) < 0)
			r = pv_error_set(err, ENOMEM, "copy");
		else
			r = pv_read_file(src, 1 << 20, &data, &len, err) < 0 ? -1 : pv_write_file(dst, data, len, 0600, err);
	}
	if (d)
		closedir(d);
	return r;
}

static void make_image(void)
{
	pv_write_file(kernel, "kernel image\n", 13, 0644, NULL);
	fixture_initramfs(initrd);
}

/* The reference of the image, and the command line of a TCG VM with a TPM and the agent
 * on virtio-serial, one of those it lists. */
static int make_reference(char **cmdline, pv_error *err)
{
	_cleanup_guest_reference_ struct pv_guest_reference *ref = NULL;
	struct pv_vm_config c = { .qemu = "qemu", .kernel = kernel, .initrd = initrd, .state_dir = vm, .vcpus = 1,
				  .mem_mib = 256, .swtpm = swtpm };
	if (pv_guest_reference_compute(kernel, initrd, &ref, err) < 0 || pv_guest_reference_save(ref, reference, err) < 0)
		return -1;
	return pv_vm_kernel_cmdline(&c, cmdline) < 0 ? pv_error_set(err, ENOMEM, "cmdline") : 0;
}

/* The image of container c1: one file, /usr/bin/app. */
static int make_app_set(pv_error *err)
{
	_cleanup_digest_set_ struct pv_digest_set *set = NULL;
	uint8_t d[32];
	digest_of("app binary\n", d);
	if (pv_digest_set_new(&set, err) < 0 || pv_digest_set_add(set, d, "/usr/bin/app", err) < 0)
		return -1;
	return pv_digest_set_save(set, at("app.set"), err);
}

/* What podvm does for a VM with a TPM: the node CA, the TPM made (kept in tpm-made to boot
 * from), the containers recorded as they are created. */
static bool make_vm(void)
{
	_cleanup_free_ char *cmdline = NULL;
	pv_error err = NULL;
	make_image();
	int r = pv_attest_ca_create(ca, &err) < 0 || pv_attest_ca_create(ca2, &err) < 0 ||
			make_reference(&cmdline, &err) < 0 || make_app_set(&err) < 0 || pv_mkdir_p(vm, 0700, &err) < 0
		? -1 : 0;
	struct pv_swtpm_config c = { .swtpm = swtpm, .state_dir = vm };
	struct pv_tpm_birth b = { .ca_dir = ca, .name = "vm-test", .kernel = kernel, .initrd = initrd,
				  .cmdline = cmdline };
	if (r == 0)
		r = pv_tpm_manufacture(&c, &b, &err);
	if (r == 0)
		r = copy_dir(at("vm/tpm"), at("tpm-made"), &err);
	if (r == 0)
		r = pv_attest_record_container(vm, "c1", SPEC_C1, at("app.set"), &err);
	if (r == 0)
		r = pv_attest_record_container(vm, "c2", SPEC_C2, NULL, &err);
	ok_err(r == 0, err, "VM made: CA, reference, TPM manufactured, 2 containers recorded");
	return r == 0;
}

static bool extend_ima(const char *path, const uint8_t digest[32], bool violation)
{
	uint8_t e[32];
	ima_fixture_add_entry(&g.ima, PV_PCR_IMA, "ima-ng", path, digest, violation, e);
	return pv_tpm2_pcr_extend(&g.tpm, PV_PCR_IMA, e, NULL) == 0;
}

static bool run_file(const char *path, const char *content)
{
	uint8_t d[32];
	digest_of(content, d);
	return extend_ima(path, d, false);
}

/* IMA's first entry: SHA-256 of PCRs 0-9 as the guest kernel reads them. */
static bool boot_aggregate(bool wrong)
{
	uint8_t pcrs[10 * 32], d[32];
	for (unsigned i = 0; i < 10; i++)
		if (pv_tpm2_pcr_read(&g.tpm, i, pcrs + 32 * i, NULL) < 0)
			return false;
	pv_sha256(pcrs, sizeof(pcrs), d);
	d[7] ^= wrong;
	return extend_ima("boot_aggregate", d, false);
}

static bool run_container(const char *id, const char *spec)
{
	uint8_t d[32];
	char hex[65];
	size_t n = strlen(g.events);
	digest_of(spec, d);
	pv_hex_encode(d, 32, hex);
	snprintf(g.events + n, sizeof(g.events) - n, "%d %s container-config %s\n", PV_PCR_CONFIG, hex, id);
	return pv_tpm2_pcr_extend(&g.tpm, PV_PCR_CONFIG, d, NULL) == 0;
}

static bool guest_runs(const struct plan *p)
{
	uint8_t zero[32] = { 0 };
	return (p->no_aggregate || boot_aggregate(p->wrong_aggregate)) && run_file("/init", "the agent\n") &&
	       run_file("/bin/tool", "a tool\n") && (!p->violation || extend_ima("/bin/tool", zero, true)) &&
	       run_container("c1", SPEC_C1) && run_file(APP_PATH, "app binary\n") && run_container("c2", SPEC_C2) &&
	       (!p->extra_file || run_file(p->extra_file, "evil\n")) &&
	       (!p->extra_config || run_container(p->extra_config, SPEC_C1 " "));
}

/* The VM's swtpm on the TPM as podvm made it, and the guest's boot on it. */
static bool boot(const struct plan *p)
{
	pv_error err = NULL;
	pthread_mutex_lock(&g.lock);
	stop_guest();
	g.lie = HONEST;
	struct pv_swtpm_config c = { .swtpm = swtpm, .state_dir = vm, .data_channel = true };
	int r = pv_rm_rf(at("vm/tpm"), &err) < 0 || copy_dir(at("tpm-made"), at("vm/tpm"), &err) < 0 ||
			pv_swtpm_start(&c, &g.swtpm, &err) < 0 ? -1 : 0;
	g.tpm.fd = g.swtpm.data_fd;
	if (r == 0)
		r = pv_tpm2_startup_clear(&g.tpm, &err);
	if (r == 0 && !guest_runs(p))
		r = pv_error_set_plain(&err, EIO, "guest: measuring");
	pthread_mutex_unlock(&g.lock);
	if (r < 0)
		ok_err(false, err, "guest booted");
	return r == 0;
}

/* ---- verifications ---- */

static int verify(struct pv_attest_result *res, pv_error *err)
{
	struct pv_attest_request req = { .agent = client, .state_dir = vm, .ca_dir = ca, .reference = reference,
					 .timeout_ms = 20000 };
	return pv_attest_verify(&req, res, err);
}

static bool passes(const char *what, size_t measurements)
{
	struct pv_attest_result res;
	pv_error err = NULL;
	int r = verify(&res, &err);
	bool good = ok(r == 0 && res.pass && res.measurements == measurements, "%s: passes, %zu measurements (%s%s, %lld ms)",
		       what, res.measurements, err ? err->msg : "", res.finding, res.ms);
	pv_error_release(&err);
	return good;
}

/* Refused with a finding that says want (and, if set, want2). */
static void refused(const char *what, const char *want, const char *want2)
{
	struct pv_attest_result res;
	pv_error err = NULL;
	int r = verify(&res, &err);
	ok(r == 0 && !res.pass && strstr(res.finding, want) && (!want2 || strstr(res.finding, want2)),
	   "%s: refused (%s)", what, r == 0 ? res.finding : err->msg);
	pv_error_release(&err);
}

/* Refused while the agent tells lie l. */
static void lies(enum lie l, const char *what, const char *want, const char *want2)
{
	g.lie = l;
	refused(what, want, want2);
	g.lie = HONEST;
}

static const struct plan honest;
#define MEASUREMENTS (3 + 4 + 2)  /* boot; boot_aggregate, /init, /bin/tool, app; 2 configs */

static void unpin_ak(void)
{
	unlink(at("vm/attest/ak.pub"));
}

static void test_honest(void)
{
	struct stat st;
	if (!boot(&honest))
		return;
	g.activations = 0;
	passes("honest guest", MEASUREMENTS);
	ok(g.activations == 1 && stat(at("vm/attest/ak.pub"), &st) == 0, "honest guest: AK activated once, pinned");
	passes("honest guest, again", MEASUREMENTS);
	ok(g.activations == 1, "honest guest, again: the pinned AK, no activation (%d)", g.activations);
	uint8_t d[32];
	digest_of("evil\n", d);
	pthread_mutex_lock(&g.lock);
	ima_fixture_add(&g.ima, "/tmp/after-the-quote", d, NULL);  /* logged, not yet extended */
	pthread_mutex_unlock(&g.lock);
	passes("IMA's list ahead of the quote", MEASUREMENTS);
}

static void test_quote_lies(void)
{
	if (!boot(&honest) || !passes("honest guest (its quote kept)", MEASUREMENTS))
		return;
	lies(LIE_OLD_QUOTE, "the quote of the verification before", "replayed", NULL);
	lies(LIE_SIGNED_OTHER, "a quote changed after signing", "quote: ", "signature");
}

/* Entry i's template data digest (at a fixed offset: "ima-ng" entries) changed; its template
 * hash made to match or not. */
static void forge_entry(size_t i, bool rehash)
{
	size_t start = i ? g.ima.ends[i - 1] : 0, data = start + 4 + 32 + 4 + 6 + 4;
	g.ima.data[data + 4 + 8] ^= 1;
	if (rehash)
		pv_sha256(g.ima.data + data, g.ima.ends[i] - data, g.ima.data + start + 4);
}

static void swap_entries(size_t i)
{
	size_t a = i ? g.ima.ends[i - 1] : 0, b = g.ima.ends[i], c = g.ima.ends[i + 1];
	_cleanup_free_ uint8_t *first = malloc(b - a);
	memcpy(first, g.ima.data + a, b - a);
	memmove(g.ima.data + a, g.ima.data + b, c - b);
	memcpy(g.ima.data + a + (c - b), first, b - a);
	g.ima.ends[i] = a + (c - b);
}

static void test_ima_lies(void)
{
	if (!boot(&honest))
		return;
	size_t len = g.ima.len;
	g.ima.len = g.ima.ends[g.ima.n - 2];
	refused("IMA's list without its last quoted entry", "do not replay", NULL);
	g.ima.len = len - 3;
	refused("IMA's list garbled (cut inside an entry)", "IMA log: entry 4", NULL);
	g.ima.len = len;
	forge_entry(2, true);
	refused("IMA: /bin/tool's digest forged (template hash too)", "do not replay", NULL);
	forge_entry(2, true);
	forge_entry(1, false);
	refused("IMA: /init's digest forged (template hash kept)", "entry 2: /init: template hash", NULL);
	forge_entry(1, false);
	swap_entries(1);
	refused("IMA: /init and /bin/tool reordered", "do not replay", NULL);
	swap_entries(1);
	passes("IMA's list put back", MEASUREMENTS);
}

static void test_event_log_lies(void)
{
	uint8_t d[32];
	char hex[65];
	if (!boot(&honest))
		return;
	digest_of(SPEC_C2, d);  /* c1's line says c2's config */
	pv_hex_encode(d, 32, hex);
	memcpy(g.events + 3, hex, 64);
	refused("agent's event log forged (a config's digest)", "do not replay", NULL);
	if (boot(&(struct plan){ .extra_config = "c3" }))
		refused("a config podvm never sent, measured", "config of container c3", "not one podvm sent");
}

static void test_boot_lies(void)
{
	char hex[65], want[200];
	uint8_t d[32];
	digest_of("evil\n", d);
	pv_hex_encode(d, 32, hex);
	snprintf(want, sizeof(want), "IMA: /tmp/evil sha256:%s: not in the references", hex);
	if (boot(&(struct plan){ .extra_file = "/tmp/evil" }))
		refused("a file that is no reference, run and measured", want, NULL);
	if (boot(&(struct plan){ .wrong_aggregate = true }))
		refused("a boot_aggregate not of the measured boot", "boot_aggregate", "not the measured boot's");
	if (boot(&(struct plan){ .no_aggregate = true }))
		refused("no boot_aggregate", "boot_aggregate", NULL);
	if (boot(&(struct plan){ .violation = true }))
		refused("a measurement violation", "/bin/tool: a measurement violation", NULL);
}

/* The host's boot_events with one digest changed. */
static void test_host_boot_events(void)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	if (!boot(&honest) || pv_read_file(at("vm/attest/boot_events"), 1 << 20, &text, &len, NULL) < 0)
		return;
	char was = text[2];  /* the kernel's digest's first hex digit */
	text[2] = was == '0' ? '1' : '0';
	pv_write_file(at("vm/attest/boot_events"), text, len, 0600, NULL);
	refused("the host's boot events tampered with", "do not replay", NULL);
	text[2] = was;
	pv_write_file(at("vm/attest/boot_events"), text, len, 0600, NULL);
	passes("the host's boot events put back", MEASUREMENTS);
}

/* The EK certificate of the guest's EK from ca2, and the node CA's for another key. */
static void test_ek_lies(void)
{
	_cleanup_free_ char *pinned = NULL;
	size_t pinned_len = 0;
	struct pv_tpm2_public ek, ak;
	uint32_t h1, h2;
	pv_error err = NULL;
	if (!boot(&honest) || pv_read_file(at("vm/attest/ek.der"), 1 << 20, &pinned, &pinned_len, NULL) < 0)
		return;
	pthread_mutex_lock(&g.lock);
	int r = pv_tpm2_create_ek(&g.tpm, &h1, &ek, &err) < 0 || pv_tpm2_create_ak(&g.tpm, &h2, &ak, &err) < 0 ||
			pv_tpm2_flush(&g.tpm, h1, &err) < 0 || pv_tpm2_flush(&g.tpm, h2, &err) < 0 ||
			pv_attest_ca_issue_ek_cert(ca2, &ek, "vm-test", &g.other_cert, &g.other_cert_len, &err) < 0
		? -1 : 0;
	pthread_mutex_unlock(&g.lock);
	ok_err(r == 0, err, "an EK certificate of another CA");
	/* The EK is asked for until an AK is activated and pinned (then the AK alone counts). */
	unpin_ak();
	lies(LIE_EK_CERT, "the EK's certificate from another CA", "EK certificate: not the one made for this VM", NULL);
	pv_write_file(at("vm/attest/ek.der"), g.other_cert, g.other_cert_len, 0600, NULL);
	lies(LIE_EK_CERT, "the EK's certificate from another CA, pinned too", "EK certificate: ", NULL);
	free(g.other_cert);
	g.other_cert = NULL;
	r = pv_attest_ca_issue_ek_cert(ca, &ak, "vm-test", &g.other_cert, &g.other_cert_len, &err);
	ok_err(r == 0, err, "the node CA's EK certificate for another key");
	pv_write_file(at("vm/attest/ek.der"), pinned, pinned_len, 0600, NULL);
	lies(LIE_EK_CERT, "the node CA's certificate of another key", "EK certificate: not the one made for this VM",
	     NULL);
	pv_write_file(at("vm/attest/ek.der"), g.other_cert, g.other_cert_len, 0600, NULL);
	unpin_ak();
	lies(LIE_EK_CERT, "the node CA's certificate of another key, pinned too", "attestation key: ", "credential");
	pv_write_file(at("vm/attest/ek.der"), pinned, pinned_len, 0600, NULL);
	passes("the EK certificate put back", MEASUREMENTS);
}

static void test_ak_lies(void)
{
	if (!boot(&honest) || !passes("honest guest (AK pinned)", MEASUREMENTS))
		return;
	/* Pinned, the AK is not asked for again: what the guest would show is never read... */
	g.lie = LIE_AK_OTHER;
	passes("AK pinned: the guest's identity is not asked again", MEASUREMENTS);
	g.lie = HONEST;
	/* ... and a quote the pinned AK did not sign is refused (here the pin names the EK). */
	_cleanup_free_ char *pinned = NULL;
	size_t pinned_len;
	struct pv_tpm2_public ek;
	uint32_t h;
	pv_error err = NULL;
	pthread_mutex_lock(&g.lock);
	int r = pv_read_file(at("vm/attest/ak.pub"), 4096, &pinned, &pinned_len, &err) < 0 ||
			pv_tpm2_create_ek(&g.tpm, &h, &ek, &err) < 0 || pv_tpm2_flush(&g.tpm, h, &err) < 0
		? -1 : 0;
	pthread_mutex_unlock(&g.lock);
	ok_err(r == 0, err, "another key's public area");
	pv_write_file(at("vm/attest/ak.pub"), ek.area, ek.area_len, 0600, NULL);
	refused("a quote not signed by the pinned AK", "quote: ", NULL);
	pv_write_file(at("vm/attest/ak.pub"), pinned, pinned_len, 0600, NULL);
	passes("the pinned AK put back", MEASUREMENTS);
	unpin_ak();
	lies(LIE_AK_OTHER, "another AK, not of the EK's TPM", "attestation key: credential activation failed", NULL);
	lies(LIE_AK_UNRESTRICTED, "an unrestricted AK", "attestation key: not a restricted signing key", NULL);
	lies(LIE_AK_UNRESTRICTED, "an unrestricted AK, none pinned", "attestation key: not a restricted signing key",
	     NULL);
	lies(LIE_CREDENTIAL, "a credential made up", "attestation key: not of the TPM that holds the EK", NULL);
	struct stat st;
	ok(stat(at("vm/attest/ak.pub"), &st) < 0, "no AK pinned after failed activations");
	passes("the AK activated at last", MEASUREMENTS);
}

int main(void)
{
	if (pv_find_executable("swtpm", swtpm, sizeof(swtpm)) < 0) {
		diag("swtpm not installed: the verifier's tests skipped");  /* as test_tpm2 does */
		return done_testing();
	}
	snprintf(tmp, sizeof(tmp), "/tmp/podvm-test-verifier.XXXXXX");
	if (!ok(mkdtemp(tmp) != NULL, "temporary directory"))
		return done_testing();
	atexit(cleanup);
	snprintf(ca, sizeof(ca), "%s/ca", tmp);
	snprintf(ca2, sizeof(ca2), "%s/ca2", tmp);
	snprintf(kernel, sizeof(kernel), "%s/vmlinuz", tmp);
	snprintf(initrd, sizeof(initrd), "%s/initramfs.cpio.gz", tmp);
	snprintf(reference, sizeof(reference), "%s/" PV_GUEST_REFERENCE, tmp);
	snprintf(vm, sizeof(vm), "%s/vm", tmp);
	if (!make_vm() || !start_agent())
		return done_testing();
	test_honest();
	test_quote_lies();
	test_ima_lies();
	test_event_log_lies();
	test_boot_lies();
	test_host_boot_events();
	test_ek_lies();
	test_ak_lies();
	return done_testing();
}
