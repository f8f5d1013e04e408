/* The steps every way of starting a sandbox's VM is made of (sandbox-internal.h): what the
 * host offers, spawning the VMM, connecting the agent (failing fast when the guest stops),
 * the guest's identity, the note of how it started. */
#include "sandbox-internal.h"
#include "attest/crypto.h"
#include "agent_client.h"
#include "cleanup.h"
#include "util.h"
#include "template.h"
#include "mounts.h"
#include "vmm/watch.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <linux/vm_sockets.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#define AGENT_VSOCK_PORT 1024
#define IDENTITY_TIMEOUT_MS 10000

int pv_sandbox_find_swtpm(const struct pv_config *c, char *out, size_t len, pv_error *err)
{
	const char *swtpm = c->swtpm[0] ? c->swtpm : PV_DEFAULT_SWTPM;
	if (pv_find_executable(swtpm, out, len) < 0)
		return pv_error_set_plain(err, ENOENT, "vTPM: swtpm %s: not found (apt-get install swtpm, set PODVM_SWTPM, or tpm = off)",
					  swtpm);
	return 0;
}

int sandbox_probe_host(const struct pv_paths *paths, bool warn, struct sandbox_host *h, pv_error *err)
{
	if (pv_config_load(&h->config, err) < 0)
		return -1;
	const char *qemu = h->config.qemu[0] ? h->config.qemu : paths->qemu;
	pv_host_caps_probe(qemu, &h->caps);
	if (h->caps.qemu_path[0] == '\0')
		return pv_error_set_plain(err, ENOENT, "VMM %s: not found (apt-get install qemu-system-x86, or set PODVM_QEMU)",
					  qemu);
	if (h->config.tpm && pv_sandbox_find_swtpm(&h->config, h->swtpm_path, sizeof(h->swtpm_path), err) < 0)
		return -1;
	if (pv_guest_image_open(paths->guest_dir, &h->img, err) < 0)
		return -1;
	return sandbox_choose_accel(paths, h, warn, err);
}

void sandbox_host_clear(struct sandbox_host *h)
{
	pv_guest_image_clear(&h->img);
}

int sandbox_boot_timeout(const struct pv_sandbox_config *cfg, int cap_ms)
{
	int t = cfg->boot_timeout_ms > 0 ? cfg->boot_timeout_ms : PV_DEFAULT_BOOT_TIMEOUT_MS;
	return cap_ms > 0 && t > cap_ms ? cap_ms : t;
}

int sandbox_ca_dir(const struct pv_paths *paths, char **dir, pv_error *err)
{
	if (asprintf(dir, "%s/ca", paths->data_root) < 0)
		return pv_error_set(err, ENOMEM, "node CA");
	return 0;
}

/* The node CA, made at install (podvm ca init), else here on first use. */
static int ensure_ca(const char *dir, pv_error *err)
{
	return pv_attest_ca_create(dir, err) < 0 ? pv_error_prefix(err, "node CA %s", dir) : 0;
}

/* How a VM's TPM is made: a cold boot's measures what QEMU loads; a restored one's replays
 * its template's. */
static int tpm_birth(struct pv_sandbox *sb, const struct sandbox_vm_variant *v, struct pv_tpm_birth *b, char **ca,
		     char **events, char **ima, pv_error *err)
{
	if (sandbox_ca_dir(sb->paths, ca, err) < 0 || ensure_ca(*ca, err) < 0)
		return -1;
	*b = (struct pv_tpm_birth){ .ca_dir = *ca, .name = sb->id };
	if (v->template_dir == NULL)
		return 0;
	if (asprintf(events, "%s/boot_events", v->template_dir) < 0 || asprintf(ima, "%s/ima_log", v->template_dir) < 0)
		return pv_error_set(err, ENOMEM, "template");
	b->boot_events = *events;
	b->ima_log = *ima;
	return 0;
}

int sandbox_start_vm(struct pv_sandbox *sb, const struct boot_request *req, const struct sandbox_vm_variant *v,
		     pv_error *err)
{
	_cleanup_free_ struct pv_vm_share *shares = calloc(sb->n_shares + 1, sizeof(*shares));
	if (shares == NULL)
		return pv_error_set(err, ENOMEM, "VM config");
	for (size_t i = 0; i < sb->n_shares; i++)
		shares[i] = (struct pv_vm_share){ sb->shares[i].tag, sb->shares[i].host_path, sb->shares[i].readonly };
	const struct pv_sandbox_config *cfg = req->cfg;
	const struct sandbox_host *h = req->host;
	struct pv_vm_config vc = {
		.qemu = h->caps.qemu_path, .kernel = h->img.kernel, .initrd = h->img.initrd,
		.state_dir = sb->state_dir, .vcpus = cfg->vcpus, .mem_mib = cfg->mem_mib,
		.kvm = h->accel.kvm, .vsock_cid = v->cid, .shares = shares, .n_shares = sb->n_shares,
		.debug = sb->debug, .ksm = h->config.ksm, .outlive_thread = cfg->outlive_thread,
		.has_net = req->nic, .tap_fd = cfg->net ? cfg->net->tap_fd : req->tap_fd,
		.mac = cfg->net ? cfg->net->mac : PV_TEMPLATE_MAC,
		.mem_path = v->mem_path, .mem_shared = v->mem_shared, .incoming = v->incoming,
		.jail = h->config.jail, .swtpm = h->config.tpm ? h->swtpm_path : NULL,
	};
	struct pv_tpm_birth birth;
	_cleanup_free_ char *ca = NULL, *events = NULL, *ima = NULL;
	if (vc.swtpm) {
		if (tpm_birth(sb, v, &birth, &ca, &events, &ima, err) < 0)
			return -1;
		vc.tpm_birth = &birth;
	}
	/* The host's later mounts in the VM's shares (containers' rootfs, volumes) must reach
	 * the jail's copies of them. */
	if (vc.jail && geteuid() == 0 && sb->n_shares > 0 && pv_mount_make_shared(sb->paths->data_root, err) < 0)
		return pv_error_prefix(err, "VMM jail");
	return pv_vm_start(&vc, &sb->vm, 10000, err);
}

/* QEMU creates the socket file at bind() and listens a moment later: retry a refusal. */
static int connect_serial(struct pv_sandbox *sb, long long deadline, pv_error *err)
{
	for (;;) {
		int fd = pv_unix_connect(sb->vm.agent_path, err);
		if (fd >= 0)
			return fd;
		int e = (*err)->errnum;
		bool retry = (e == ECONNREFUSED || e == ENOENT) && pv_vm_alive(&sb->vm) && pv_now_ms() < deadline;
		if (!retry)
			return pv_error_prefix(err, "agent socket");
		pv_error_release(err);
		usleep(2000);
	}
}

/* The guest listens only once booted: retry until then. */
static int connect_vsock(struct pv_sandbox *sb, unsigned cid, long long deadline, pv_error *err)
{
	for (;;) {
		int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return pv_error_set(err, errno, "vsock socket");
		struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = cid, .svm_port = AGENT_VSOCK_PORT };
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		int e = errno;
		close(fd);
		if (!pv_vm_alive(&sb->vm) || pv_now_ms() > deadline)
			return pv_error_set(err, e, "connect to the agent at vsock %u:%d", cid, AGENT_VSOCK_PORT);
		usleep(10000);
	}
}

/* *reached: the connection was made, so a failure is the agent's answer (or silence). */
static int connect_and_ping(struct pv_sandbox *sb, unsigned cid, int timeout_ms, bool *reached, pv_error *err)
{
	long long deadline = pv_now_ms() + timeout_ms;
	int fd = cid ? connect_vsock(sb, cid, deadline, err) : connect_serial(sb, deadline, err);
	if (fd < 0)
		return -1;
	if (ttrpc_client_new(fd, &sb->agent, err) < 0)
		return -1;
	*reached = true;
	int left = (int)(deadline - pv_now_ms());
	return pv_agent_ping(sb->agent, left > 0 ? left : 1, NULL, 0, err);
}

/* One line for a boot that got no answer, or a wrong one, and sb->boot_failure, the short
 * why: what the watch saw (a stopped or reset guest), how the VMM ended, what was wrong
 * with the agent's answer (a guest may send anything), or the timeout. */
static int boot_failed(struct pv_sandbox *sb, const char *stopped, bool killed, bool reached, int timeout_ms,
		       pv_error *err)
{
	char console[300], log[160], how[64], *why = sb->boot_failure;
	size_t len = sizeof(sb->boot_failure);
	/* A refused or reset connection may be the VMM dying: give it a moment to be reaped. */
	bool timed_out = *err && (*err)->errnum == ETIMEDOUT;
	bool alive = !pv_vm_wait_exit(&sb->vm, timed_out && !stopped[0] ? 0 : 1000);
	if (alive && !stopped[0] && reached && !timed_out && *err) {
		snprintf(why, len, "guest agent: %s", (*err)->msg);
		return pv_error_prefix(err, "sandbox %s: guest agent", sb->id);
	}
	pv_vm_log_find(sb->vm.console_path, "Kernel panic", console, sizeof(console));
	const char *sep = console[0] ? "; console: " : "";
	pv_error_release(err);
	/* QEMU (-no-reboot) ends by itself, status 0, when its guest resets or shuts down: what
	 * the watch says, unless QEMU was gone before the watch could connect. */
	if (!stopped[0] && !alive && !sb->vm.adopted && WIFEXITED(sb->vm.wait_status) && WEXITSTATUS(sb->vm.wait_status) == 0)
		stopped = strstr(console, "Kernel panic") ? "the guest reset (a kernel panic reboots it)" : "the guest shut down";
	if (stopped[0]) {
		snprintf(why, len, "%s", stopped);
		return pv_error_set_plain(err, ECHILD, "%s: %s%s%s",
					  killed ? "guest stopped while booting" : "VMM exited while the guest booted",
					  why, sep, console);
	}
	if (alive) {
		snprintf(why, len, "guest agent did not answer within %d ms", timeout_ms);
		return pv_error_set_plain(err, ETIMEDOUT, "sandbox %s: %s%s%s", sb->id, why, sep, console);
	}
	pv_vm_describe_exit(&sb->vm, how, sizeof(how));
	pv_vm_log_find(sb->vm.log_path, "error", log, sizeof(log));
	snprintf(why, len, "VMM %s%s%s", how, log[0] ? ": " : "", log);
	return pv_error_set_plain(err, ECHILD, "VMM exited while the guest booted (%s)%s%s%s%s", how,
				  log[0] ? ": " : "", log, sep, console);
}

int sandbox_connect_agent(struct pv_sandbox *sb, unsigned cid, int timeout_ms, pv_error *err)
{
	struct pv_vm_watch *watch = NULL;
	char stopped[256] = "";
	bool killed = false, reached = false;
	sb->boot_failure[0] = '\0';
	/* Without a watch the boot still ends, at its timeout at the latest. */
	if (pv_vm_watch_begin(&sb->vm, &watch, NULL) < 0)
		watch = NULL;
	int r = connect_and_ping(sb, cid, timeout_ms, &reached, err);
	if (watch)
		pv_vm_watch_end(watch, stopped, sizeof(stopped), &killed);
	return r < 0 ? boot_failed(sb, stopped, killed, reached, timeout_ms, err) : 0;
}

int sandbox_boot_vm(struct pv_sandbox *sb, const struct boot_request *req, const struct sandbox_vm_variant *v,
		    int timeout_ms, pv_error *err)
{
	if (sandbox_start_vm(sb, req, v, err) < 0)
		return -1;
	return sandbox_connect_agent(sb, v->cid, timeout_ms, err);
}

void sandbox_abandon_vm(struct pv_sandbox *sb)
{
	if (sb->agent)
		ttrpc_client_free(sb->agent);
	sb->agent = NULL;
	pv_vm_stop(&sb->vm);
	pv_vm_clear(&sb->vm);
}

int sandbox_send_identity(struct pv_sandbox *sb, const char *hostname, const char *from_mac, const char *to_mac,
			  const struct pv_pod_net *net, bool rehearse, pv_error *err)
{
	uint8_t seed[64];
	if (getrandom(seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
		return pv_error_set(err, errno, "random seed");
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	struct pv_identity id = {
		.seed = seed, .seed_len = sizeof(seed), .hostname = hostname,
		.realtime_ns = (long long)now.tv_sec * 1000000000LL + now.tv_nsec,
		.nic_from_mac = from_mac, .nic_to_mac = to_mac, .net = net, .rehearse_network = rehearse,
	};
	return pv_agent_adopt_identity(sb->agent, &id, IDENTITY_TIMEOUT_MS, err);
}

void sandbox_note_boot(struct pv_sandbox *sb, const char *how, long long ms)
{
	char line[128];
	_cleanup_free_ char *path = NULL;
	int n = snprintf(line, sizeof(line), "%s in %lld ms\n", how, ms);
	if (asprintf(&path, "%s/boot", sb->state_dir) >= 0)
		(void)pv_write_file(path, line, (size_t)n, 0644, NULL);
	if (sb->debug)
		fprintf(stderr, "podvm: sandbox %s: %s", sb->id, line);
}
