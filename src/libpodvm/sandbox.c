#include "sandbox.h"
#include "sandbox-internal.h"
#include "cleanup.h"
#include "guest_image.h"
#include "hostcaps.h"
#include "util.h"
#include "agent_client.h"
#include "vmm/qemu.h"
#include "vmm/snapshot.h"
#include "template.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <linux/vm_sockets.h>
#include <unistd.h>

#define AGENT_VSOCK_PORT 1024
#define IDENTITY_TIMEOUT_MS 10000

/* "PID STARTTIME" of a process: the start time tells a reused pid apart. */
static int process_identity(pid_t pid, char *out, size_t len)
{
	char path[64];
	_cleanup_free_ char *stat = NULL;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (pv_read_file(path, 4096, &stat, NULL, NULL) < 0)
		return -ESRCH;
	char *p = strrchr(stat, ')');
	if (p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'))
		return -ESRCH;  /* dead, not yet reaped */
	/* Field 22 (starttime) is the 20th after the command name. */
	for (int field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	if (p == NULL)
		return -EINVAL;
	snprintf(out, len, "%d %llu", (int)pid, strtoull(p + 1, NULL, 10));
	return 0;
}

static bool owner_alive(const char *state_dir)
{
	char now[64];
	_cleanup_free_ char *owner = NULL, *path = NULL;
	if (asprintf(&path, "%s/owner", state_dir) < 0)
		return true;
	if (pv_read_file(path, 64, &owner, NULL, NULL) < 0)
		return true;  /* being created, or not ours: leave it */
	int pid = atoi(owner);
	return pid > 0 && process_identity(pid, now, sizeof(now)) == 0 && strcmp(now, owner) == 0;
}

void pv_sandbox_gc(const struct pv_paths *paths)
{
	DIR *d = opendir(paths->state_root);
	if (d == NULL)
		return;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		_cleanup_free_ char *state = NULL, *data = NULL;
		if (asprintf(&state, "%s/%s", paths->state_root, de->d_name) < 0)
			break;
		if (owner_alive(state) || asprintf(&data, "%s/%s", paths->data_root, de->d_name) < 0)
			continue;
		(void)pv_rm_rf(data, NULL);
		(void)pv_rm_rf(state, NULL);
	}
	closedir(d);
}

static int write_owner(struct pv_sandbox *sb, pv_error *err)
{
	char id[64];
	_cleanup_free_ char *path = NULL;
	int r = process_identity(getpid(), id, sizeof(id));
	if (r < 0)
		return pv_error_set(err, -r, "identify podvm process");
	if (asprintf(&path, "%s/owner", sb->state_dir) < 0)
		return pv_error_set(err, ENOMEM, "owner");
	return pv_write_file(path, id, strlen(id), 0600, err);
}

int pv_sandbox_new(const struct pv_paths *paths, const char *id, struct pv_sandbox **out, pv_error *err)
{
	struct pv_sandbox *sb = calloc(1, sizeof(*sb));
	if (sb == NULL || (sb->id = strdup(id)) == NULL ||
	    asprintf(&sb->state_dir, "%s/%s", paths->state_root, id) < 0) {
		if (sb)
			free(sb->id);
		free(sb);
		return pv_error_set(err, ENOMEM, "sandbox %s", id);
	}
	sb->paths = paths;
	sb->debug = getenv("PODVM_DEBUG") != NULL;
	if (pv_mkdir_p(paths->state_root, 0711, err) < 0 || mkdir(sb->state_dir, 0700) < 0) {
		if (*err == NULL)
			pv_error_set(err, errno, "state directory %s", sb->state_dir);
		free(sb->state_dir);
		free(sb->id);
		free(sb);
		return -1;
	}
	if (write_owner(sb, err) < 0) {
		pv_sandbox_destroy(sb);
		return -1;
	}
	*out = sb;
	return 0;
}

int pv_sandbox_add_share(struct pv_sandbox *sb, const char *tag, const char *host_path,
			 bool readonly, pv_error *err)
{
	struct share *ns = realloc(sb->shares, (sb->n_shares + 1) * sizeof(*ns));
	if (ns == NULL)
		return pv_error_set(err, ENOMEM, "share %s", tag);
	sb->shares = ns;
	struct share *s = &ns[sb->n_shares];
	s->tag = strdup(tag);
	s->host_path = strdup(host_path);
	s->readonly = readonly;
	if (s->tag == NULL || s->host_path == NULL) {
		free(s->tag);
		free(s->host_path);
		return pv_error_set(err, ENOMEM, "share %s", tag);
	}
	sb->n_shares++;
	return 0;
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

static unsigned pick_vsock_cid(const struct pv_host_caps *caps)
{
	const char *forced = getenv("PODVM_CHANNEL");
	if (!caps->vhost_vsock || (forced && strcmp(forced, "serial") == 0))
		return 0;
	unsigned cid = 0;
	char hex[9];
	if (pv_random_hex(hex, 4) == 0)
		cid = (unsigned)strtoul(hex, NULL, 16);
	return 3 + cid % 0x7ffffff0u;  /* CIDs 0-2 are reserved */
}

static int boot_failed(struct pv_sandbox *sb, int timeout_ms, pv_error *err)
{
	char line[300];
	/* A refused or reset connection may be the VMM dying: give it a moment to be reaped. */
	bool timed_out = *err && (*err)->errnum == ETIMEDOUT;
	bool alive = !pv_vm_wait_exit(&sb->vm, timed_out ? 0 : 1000);
	pv_vm_last_line(alive ? sb->vm.console_path : sb->vm.log_path, line, sizeof(line));
	if (!alive && line[0] == '\0')
		pv_vm_last_line(sb->vm.console_path, line, sizeof(line));
	pv_error_release(err);
	if (alive)
		return pv_error_set_plain(err, ETIMEDOUT, "guest agent did not answer within %d ms%s%s",
					  timeout_ms, line[0] ? "; console: " : "", line);
	return pv_error_set_plain(err, ECHILD, "VMM exited while the guest booted%s%s",
				  line[0] ? ": " : "", line);
}

int sandbox_start_vm(struct pv_sandbox *sb, const struct pv_sandbox_config *cfg,
		     const struct sandbox_host *host, const struct sandbox_vm_variant *v, pv_error *err)
{
	_cleanup_free_ struct pv_vm_share *shares = calloc(sb->n_shares + 1, sizeof(*shares));
	if (shares == NULL)
		return pv_error_set(err, ENOMEM, "VM config");
	bool pool_fill = cfg->source == PV_BOOT_POOL_FILL;
	for (size_t i = 0; i < sb->n_shares; i++)
		shares[i] = (struct pv_vm_share){ sb->shares[i].tag, sb->shares[i].host_path, sb->shares[i].readonly };
	struct pv_vm_config vc = {
		.qemu = host->caps.qemu_path, .kernel = host->img.kernel, .initrd = host->img.initrd,
		.state_dir = sb->state_dir, .vcpus = cfg->vcpus, .mem_mib = cfg->mem_mib,
		.kvm = host->caps.kvm, .vsock_cid = host->cid, .shares = shares, .n_shares = sb->n_shares,
		.debug = sb->debug, .outlive_thread = cfg->outlive_thread,
		.has_net = sandbox_has_nic(cfg),
		.tap_fd = cfg->net ? cfg->net->tap_fd : pool_fill && cfg->template_nic ? cfg->pool_tap_fd : -1,
		.mac = cfg->net ? cfg->net->mac : PV_TEMPLATE_MAC,
		.mem_path = v->mem_path, .mem_shared = v->mem_shared, .incoming = v->incoming,
	};
	return pv_vm_start(&vc, &sb->vm, 10000, err);
}

int sandbox_connect_agent(struct pv_sandbox *sb, unsigned cid, int timeout_ms, pv_error *err)
{
	long long deadline = pv_now_ms() + timeout_ms;
	int fd = cid ? connect_vsock(sb, cid, deadline, err) : connect_serial(sb, deadline, err);
	if (fd < 0)
		return -1;
	if (ttrpc_client_new(fd, &sb->agent, err) < 0)
		return -1;
	int left = (int)(deadline - pv_now_ms());
	if (pv_agent_ping(sb->agent, left > 0 ? left : 1, NULL, 0, err) < 0)
		return boot_failed(sb, timeout_ms, err);
	return 0;
}

int sandbox_probe_host(const struct pv_paths *paths, enum pv_boot_source source, struct sandbox_host *h,
		       pv_error *err)
{
	pv_host_caps_probe(paths, &h->caps);
	if (h->caps.qemu_path[0] == '\0')
		return pv_error_set_plain(err, ENOENT, "VMM %s: not found (apt-get install qemu-system-x86, or set PODVM_QEMU)",
					  paths->qemu);
	if (pv_config_load(&h->config, err) < 0)
		return -1;
	/* Templates are restored over virtio-serial, whose host end is a plain socket path. */
	bool templated = source == PV_BOOT_MAKE_TEMPLATE || source == PV_BOOT_POOL_FILL ||
			 (source == PV_BOOT_AUTO && h->config.templates);
	h->cid = templated ? 0 : pick_vsock_cid(&h->caps);
	return pv_guest_image_open(paths->guest_dir, &h->img, err);
}

static int boot_cold(struct pv_sandbox *sb, const struct pv_sandbox_config *cfg, const struct sandbox_host *h,
		     pv_error *err)
{
	struct sandbox_vm_variant v = { 0 };
	if (cfg->source == PV_BOOT_MAKE_TEMPLATE)
		v = (struct sandbox_vm_variant){ .mem_path = cfg->template_mem_path, .mem_shared = true };
	if (sandbox_start_vm(sb, cfg, h, &v, err) < 0)
		return -1;
	int timeout = cfg->boot_timeout_ms > 0 ? cfg->boot_timeout_ms : PV_DEFAULT_BOOT_TIMEOUT_MS;
	return sandbox_connect_agent(sb, h->cid, timeout, err);
}

int sandbox_send_identity(struct pv_sandbox *sb, const char *hostname, const char *from_mac, const char *to_mac,
			  const struct pv_pod_net *net, pv_error *err)
{
	uint8_t seed[64];
	if (getrandom(seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
		return pv_error_set(err, errno, "random seed");
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	struct pv_identity id = {
		.seed = seed, .seed_len = sizeof(seed), .hostname = hostname,
		.realtime_ns = (long long)now.tv_sec * 1000000000LL + now.tv_nsec,
		.nic_from_mac = from_mac, .nic_to_mac = to_mac, .net = net,
	};
	return pv_agent_adopt_identity(sb->agent, &id, IDENTITY_TIMEOUT_MS, err);
}

/* Fresh randomness, the time and a hostname for every VM; the pod's MAC for a restored one;
 * the pod's network configured in the guest. */
static int adopt_identity(struct pv_sandbox *sb, const struct pv_sandbox_config *cfg, pv_error *err)
{
	char hostname[64];
	snprintf(hostname, sizeof(hostname), "%s", sb->id);
	bool readdress = sb->restored && cfg->net;
	if (sandbox_send_identity(sb, hostname, readdress ? PV_TEMPLATE_MAC : NULL, readdress ? cfg->net->mac : NULL,
				  cfg->net, err) < 0)
		return pv_error_prefix(err, "sandbox %s", sb->id);
	return 0;
}

/* How the VM started, in its state directory (`boot`) for operators and tests, and on
 * stderr under PODVM_DEBUG. */
static void note_boot(struct pv_sandbox *sb, long long ms)
{
	const char *how = sb->pooled ? "taken from the pool" : sb->restored ? "restored from a template" : "booted cold";
	char line[128];
	_cleanup_free_ char *path = NULL;
	int n = snprintf(line, sizeof(line), "%s in %lld ms\n", how, ms);
	if (asprintf(&path, "%s/boot", sb->state_dir) >= 0)
		(void)pv_write_file(path, line, (size_t)n, 0644, NULL);
	if (sb->debug)
		fprintf(stderr, "podvm: sandbox %s: %s", sb->id, line);
}

/* A template restore (for a pool, or when templates are on), else a cold boot. */
static int restore_or_boot(struct pv_sandbox *sb, const struct pv_sandbox_config *cfg, const struct sandbox_host *h,
			   bool templated, pv_error *err)
{
	bool fill = cfg->source == PV_BOOT_POOL_FILL;
	if (cfg->net && !cfg->net->wired && pv_pod_net_wire(cfg->net, NULL, err) < 0)
		return -1;
	if ((templated || fill) && sandbox_boot_from_template(sb, cfg, h, err) < 0)
		return -1;
	if (sb->restored)
		return 0;
	if (fill)  /* a pool has no use for a cold-booted VM; the warning said why */
		return pv_error_set_plain(err, EIO, "no VM template to restore");
	return boot_cold(sb, cfg, h, err);
}

int pv_sandbox_boot(struct pv_sandbox *sb, struct pv_sandbox_config *cfg, pv_error *err)
{
	struct sandbox_host h = { 0 };
	long long t0 = pv_now_ms();
	int r = sandbox_probe_host(sb->paths, cfg->source, &h, err);
	bool templated = cfg->source == PV_BOOT_AUTO && h.config.templates;
	bool pool = r == 0 && templated && h.config.pool > 0 && sandbox_poolable(sb);
	sb->restored = sb->pooled = false;
	if (pool)
		r = sandbox_take_from_pool(sb, cfg, &h, err);
	if (r == 0 && !sb->pooled)
		r = restore_or_boot(sb, cfg, &h, templated, err);
	if (r == 0 && cfg->source != PV_BOOT_MAKE_TEMPLATE && cfg->source != PV_BOOT_POOL_FILL)
		r = adopt_identity(sb, cfg, err);
	if (cfg->net && pv_pod_net_wire_end(cfg->net, r == 0 ? err : NULL) < 0)  /* a pooled VM's tap */
		r = -1;
	if (r == 0)
		note_boot(sb, pv_now_ms() - t0);
	if (r == 0 && pool)
		sandbox_schedule_pool_refill(sb, cfg, h.config.pool);
	pv_guest_image_clear(&h.img);
	return r;
}

int pv_sandbox_save(struct pv_sandbox *sb, const char *state_path, pv_error *err)
{
	/* The guest sees its host end close and waits for the next one: a restored VM's. */
	if (sb->agent)
		ttrpc_client_free(sb->agent);
	sb->agent = NULL;
	return pv_vm_save(&sb->vm, state_path, err);
}

bool pv_sandbox_restored(struct pv_sandbox *sb)
{
	return sb->restored;
}

bool pv_sandbox_pooled(struct pv_sandbox *sb)
{
	return sb->pooled;
}

struct ttrpc_client *pv_sandbox_agent(struct pv_sandbox *sb)
{
	return sb->agent;
}

int pv_sandbox_explain_failure(struct pv_sandbox *sb, pv_error *err)
{
	/* A dying VMM closes its sockets a moment before it can be reaped. */
	if (!pv_vm_wait_exit(&sb->vm, 1000))
		return 0;
	char how[64], line[300];
	pv_vm_describe_exit(&sb->vm, how, sizeof(how));
	pv_vm_last_line(sb->vm.log_path, line, sizeof(line));
	pv_error_release(err);
	return pv_error_set_plain(err, ECHILD, "sandbox %s: VMM exited (%s)%s%s", sb->id, how,
				  line[0] ? ": " : "", line);
}

const char *pv_sandbox_state_dir(struct pv_sandbox *sb)
{
	return sb->state_dir;
}

void pv_sandbox_kill(struct pv_sandbox *sb)
{
	pv_vm_kill(&sb->vm);
}

static void dump_console(struct pv_sandbox *sb)
{
	_cleanup_free_ char *text = NULL;
	if (sb->vm.console_path && pv_read_file(sb->vm.console_path, 1 << 20, &text, NULL, NULL) == 0)
		fprintf(stderr, "---- guest console (%s) ----\n%s---- end of guest console ----\n", sb->id, text);
}

void pv_sandbox_stop(struct pv_sandbox *sb)
{
	pv_vm_stop(&sb->vm);
}

void sandbox_release(struct pv_sandbox *sb)
{
	if (sb == NULL)
		return;
	sandbox_finish_pool_refill(sb);
	if (sb->agent)
		ttrpc_client_free(sb->agent);
	pv_vm_clear(&sb->vm);
	for (size_t i = 0; i < sb->n_shares; i++) {
		free(sb->shares[i].tag);
		free(sb->shares[i].host_path);
	}
	free(sb->shares);
	free(sb->state_dir);
	free(sb->id);
	free(sb);
}

void pv_sandbox_destroy(struct pv_sandbox *sb)
{
	if (sb == NULL)
		return;
	pv_vm_stop(&sb->vm);
	if (sb->agent)
		ttrpc_client_free(sb->agent);
	sb->agent = NULL;
	if (sb->debug)
		dump_console(sb);
	(void)pv_rm_rf(sb->state_dir, NULL);
	sandbox_release(sb);
}
