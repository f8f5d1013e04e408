#include "qemu.h"
#include "qmp.h"
#include "cleanup.h"
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <poll.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define QUIT_GRACE_MS 3000
#define TPM_END_GRACE_MS 1000  /* swtpm ends once QEMU has: it only notices */

static int push(char ***argv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int push(char ***argv, const char *fmt, ...)
{
	_cleanup_free_ char *s = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return n < 0 ? -ENOMEM : pv_strv_push(argv, s);
}

/* QEMU splits option values at commas; a literal comma in a path is written ",,". Returns
 * a malloc'd copy (NULL on allocation failure). */
static char *escape_commas(const char *path)
{
	size_t n = strlen(path), extra = 0;
	for (size_t i = 0; i < n; i++)
		extra += path[i] == ',';
	char *out = malloc(n + extra + 1), *o = out;
	for (size_t i = 0; out && i <= n; i++) {
		*o++ = path[i];
		if (path[i] == ',')
			*o++ = ',';
	}
	return out;
}

/* Appends an option whose one %s is a path (escaped). */
static int push_path_opt(char ***a, const char *fmt_before, const char *path, const char *after)
{
	_cleanup_free_ char *e = escape_commas(path);
	return e ? push(a, "%s%s%s", fmt_before, e, after) : -ENOMEM;
}

/* Appends one formatted argument; returns from the caller on allocation failure. */
#define ARG(...) do { if (push(a, __VA_ARGS__) < 0) return -ENOMEM; } while (0)

static int push_machine(char ***a, const struct pv_vm_config *c)
{
	/* acpi=off: with ACPI the kernel does not find the virtio-mmio devices. The option
	 * ROMs stay: they load the bzImage. */
	ARG("-M");
	ARG("microvm,acpi=off,rtc=on%s%s", c->mem_path ? ",memory-backend=mem0" : "", c->ksm ? "" : ",mem-merge=off");
	if (c->mem_path) {
		ARG("-object");
		_cleanup_free_ char *opts = NULL;
		if (asprintf(&opts, ",size=%uM,share=%s%s", c->mem_mib, c->mem_shared ? "on" : "off",
			     c->ksm ? "" : ",merge=off") < 0 ||
		    push_path_opt(a, "memory-backend-file,id=mem0,mem-path=", c->mem_path, opts) < 0)
			return -ENOMEM;
	}
	if (c->incoming) {
		ARG("-incoming");
		ARG("defer");
	}
	ARG("-accel");
	ARG(c->kvm ? "kvm" : "tcg");
	ARG("-cpu");
	ARG(c->kvm ? "host" : "max");
	ARG("-smp");
	ARG("%u", c->vcpus);
	ARG("-m");
	ARG("%uM", c->mem_mib);
	ARG("-nodefaults");
	ARG("-no-user-config");
	ARG("-display");
	ARG("none");
	ARG("-no-reboot");  /* a guest reboot (agent shutdown, panic) ends the VM */
	if (c->jail) {
		/* QEMU's own seccomp filter: no exec or fork (spawn), no set*id, no scheduler or
		 * resource changes, no obsolete system calls. */
		ARG("-sandbox");
		ARG("on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
	}
	return 0;
}

static int push_boot(char ***a, const struct pv_vm_config *c)
{
	ARG("-kernel");
	ARG("%s", c->kernel);
	ARG("-initrd");
	ARG("%s", c->initrd);
	ARG("-append");
	_cleanup_free_ char *cmdline = NULL;
	if (pv_vm_kernel_cmdline(c, &cmdline) < 0)
		return -ENOMEM;
	return pv_strv_push(a, cmdline);
}

static int push_agent_channel(char ***a, const struct pv_vm_config *c, const struct pv_vm *vm)
{
	if (c->vsock_cid) {
		ARG("-device");
		ARG("vhost-vsock-device,guest-cid=%u", c->vsock_cid);
		return 0;
	}
	ARG("-device");
	ARG("virtio-serial-device,max_ports=2");
	ARG("-chardev");
	if (push_path_opt(a, "socket,id=agent,path=", vm->agent_path, ",server=on,wait=off") < 0)
		return -ENOMEM;
	ARG("-device");
	ARG("virtserialport,chardev=agent,name=podvm.agent");
	return 0;
}

static int push_share(char ***a, const struct pv_vm_share *s, size_t i)
{
	ARG("-fsdev");
	_cleanup_free_ char *path = escape_commas(s->host_path);
	if (path == NULL)
		return -ENOMEM;
	/* multidevs=remap: an export may hold other mounts (the shim's per-container rootfs). */
	ARG("local,id=fs%zu,path=%s,security_model=passthrough,multidevs=remap%s", i, path,
	    s->readonly ? ",readonly=on" : "");
	ARG("-device");
	ARG("virtio-9p-device,fsdev=fs%zu,mount_tag=%s", i, s->tag);
	return 0;
}

static int push_devices(char ***a, const struct pv_vm_config *c, const struct pv_vm *vm)
{
	ARG("-chardev");
	if (push_path_opt(a, "file,id=console,path=", vm->console_path, "") < 0)
		return -ENOMEM;
	ARG("-serial");
	ARG("chardev:console");
	ARG("-qmp");
	if (push_path_opt(a, "unix:", vm->qmp_path, ",server=on,wait=off") < 0)
		return -ENOMEM;
	ARG("-object");
	ARG("rng-random,id=rng0,filename=/dev/urandom");
	ARG("-device");
	ARG("virtio-rng-device,rng=rng0");
	if (push_agent_channel(a, c, vm) < 0)
		return -ENOMEM;
	if (c->has_net) {
		/* The tap fd is inherited (see exec_child); vhost-net needs /dev/vhost-net. */
		if (c->tap_fd >= 0) {
			ARG("-netdev");
			ARG("tap,id=net0,fd=%d", c->tap_fd);
		}
		ARG("-device");
		ARG("virtio-net-device%s,mac=%s", c->tap_fd >= 0 ? ",netdev=net0" : "", c->mac);
	}
	for (size_t i = 0; i < c->n_shares; i++)
		if (push_share(a, &c->shares[i], i) < 0)
			return -ENOMEM;
	if (c->swtpm) {
		/* swtpm's control channel, inherited like the tap (see exec_child). */
		ARG("-chardev");
		ARG("socket,id=tpmctrl,fd=%d", vm->tpm.qemu_fd);
		ARG("-tpmdev");
		ARG("emulator,id=tpm0,chardev=tpmctrl");
		ARG("-device");
		ARG("tpm-tis,tpmdev=tpm0");
	}
	return 0;
}

/* microvm has 8 virtio-mmio transports, on IRQs 5-12, and fills them from the top; the
 * fifth device would get IRQ 8, the RTC's, which the guest cannot share (its probe fails
 * with EBUSY). So every virtio-mmio device is placed explicitly, skipping that transport:
 * seven devices at most (past that QEMU places them, as before). */
static int place_on_transports(char **a)
{
	static const int transports[] = { 7, 6, 5, 4, 2, 1, 0 };
	size_t next = 0;
	for (size_t i = 0; a[i] && a[i + 1] && next < sizeof(transports) / sizeof(*transports); i++) {
		const char *dev = a[i + 1], *comma = strchr(dev, ',');
		size_t len = comma ? (size_t)(comma - dev) : strlen(dev);
		bool mmio = len > 7 && strncmp(dev + len - 7, "-device", 7) == 0;  /* not virtserialport */
		if (strcmp(a[i], "-device") != 0 || !mmio)
			continue;
		char *placed = NULL;
		if (asprintf(&placed, "%s,bus=virtio-mmio-bus.%d", dev, transports[next++]) < 0)
			return -ENOMEM;
		free(a[i + 1]);
		a[i + 1] = placed;
	}
	return 0;
}

char **pv_vm_argv(const struct pv_vm_config *c, const struct pv_vm *vm)
{
	char **a = NULL;
	if (push(&a, "%s", c->qemu) < 0 || push_machine(&a, c) < 0 || push_boot(&a, c) < 0 ||
	    push_devices(&a, c, vm) < 0 || place_on_transports(a) < 0) {
		pv_strv_free(a);
		return NULL;
	}
	return a;
}

#define LONGEST_SOCKET "/agent.sock"

int pv_vm_check_state_dir(const char *dir, pv_error *err)
{
	/* Else QEMU's own "Path must be less than 108 bytes" would be all the user sees. */
	size_t limit = sizeof(((struct sockaddr_un *)0)->sun_path) - 1;
	size_t need = strlen(dir) + strlen(LONGEST_SOCKET);
	if (need > limit)
		return pv_error_set_plain(err, ENAMETOOLONG,
					  "state directory %s: too long for the VM's unix sockets (%zu bytes, at most %zu)",
					  dir, need, limit);
	return 0;
}

static int set_paths(struct pv_vm *vm, const char *dir, pv_error *err)
{
	if (pv_vm_check_state_dir(dir, err) < 0)
		return -1;
	if ((vm->state_dir = strdup(dir)) == NULL || asprintf(&vm->qmp_path, "%s/qmp.sock", dir) < 0 ||
	    asprintf(&vm->agent_path, "%s" LONGEST_SOCKET, dir) < 0 ||
	    asprintf(&vm->console_path, "%s/console.log", dir) < 0 ||
	    asprintf(&vm->log_path, "%s/vmm.log", dir) < 0 ||
	    asprintf(&vm->pid_path, "%s/vmm.pid", dir) < 0)
		return pv_error_set(err, ENOMEM, "VMM");
	return 0;
}

#ifndef PR_SET_MEMORY_MERGE
#define PR_SET_MEMORY_MERGE 67  /* Linux 6.4; older kernels refuse it, which is fine */
#endif

/* Written here, not by QEMU: in its PID namespace QEMU is 1. */
static int write_pid_file(struct pv_vm *vm)
{
	char text[32];
	int n = snprintf(text, sizeof(text), "%d\n", (int)vm->pid);
	pv_error e = NULL;
	if (pv_write_file(vm->pid_path, text, (size_t)n, 0644, &e) < 0)
		pv_error_release(&e);  /* only cleanup after a crash of our own reads it */
	return 0;
}

struct vmm_child {
	const struct pv_vm_config *c;
	const struct pv_vm *vm;
};

/* In the child (system calls only): the fds QEMU takes by number stay open across exec. */
static int before_jail(void *arg)
{
	const struct vmm_child *v = arg;
	const struct pv_vm_config *c = v->c;
	if (c->has_net && c->tap_fd >= 0 && fcntl(c->tap_fd, F_SETFD, 0) < 0)  /* the tap */
		return -errno;
	if (c->swtpm && fcntl(v->vm->tpm.qemu_fd, F_SETFD, 0) < 0)  /* swtpm's control channel */
		return -errno;
	/* Survives exec: the host's KSM may merge any page of QEMU's, its translation cache
	 * and heap (mostly alike between VMs of a template) as well as guest RAM. */
	if (c->ksm)
		(void)prctl(PR_SET_MEMORY_MERGE, 1, 0, 0, 0);
	return 0;
}

static int spawn(char **argv, const struct pv_vm_config *c, const struct pv_jail *jail, struct pv_vm *vm,
		 pv_error *err)
{
	struct vmm_child v = { c, vm };
	struct pv_jail_child child = { .before = before_jail, .arg = &v, .log_path = vm->log_path,
				       .die_with_thread = !c->outlive_thread };
	return pv_jail_spawn(jail, argv, &child, "VMM", &vm->pid, err) < 0 ? -1 : write_pid_file(vm);
}

static bool adopted_alive(struct pv_vm *vm)
{
	struct pollfd p = { .fd = vm->pidfd, .events = POLLIN };
	if (poll(&p, 1, 0) == 0)
		return true;
	vm->pid = 0;  /* exited; its status went to its parent */
	return false;
}

bool pv_vm_alive(struct pv_vm *vm)
{
	if (vm->pid <= 0)
		return false;
	if (vm->adopted)
		return adopted_alive(vm);
	pid_t r = waitpid(vm->pid, &vm->wait_status, WNOHANG);
	if (r == vm->pid || (r < 0 && errno == ECHILD)) {
		vm->pid = 0;
		return false;
	}
	return true;
}

void pv_vm_describe_exit(const struct pv_vm *vm, char *out, size_t len)
{
	if (vm->adopted)  /* its status went to its parent */
		snprintf(out, len, "exited");
	else if (WIFSIGNALED(vm->wait_status))
		snprintf(out, len, "killed by signal %d", WTERMSIG(vm->wait_status));
	else
		snprintf(out, len, "exited with status %d", WEXITSTATUS(vm->wait_status));
}

void pv_vm_last_line(const char *path, char *out, size_t len)
{
	out[0] = '\0';
	_cleanup_free_ char *text = NULL;
	size_t n = 0;
	if (path == NULL || pv_read_file(path, 1 << 20, &text, &n, NULL) < 0)
		return;
	while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' '))
		text[--n] = '\0';
	char *start = text + n;
	while (start > text && start[-1] != '\n')
		start--;
	pv_one_line(start, out, len);  /* a guest writes the console */
}

void pv_vm_log_find(const char *path, const char *needle, char *out, size_t len)
{
	_cleanup_free_ char *text = NULL;
	if (path && pv_read_file(path, 1 << 20, &text, NULL, NULL) == 0) {
		for (char *line = text, *next; *line; line = next) {
			next = line + strcspn(line, "\n");
			if (*next)
				*next++ = '\0';
			if (strstr(line, needle)) {
				pv_one_line(line, out, len);
				return;
			}
		}
	}
	pv_vm_last_line(path, out, len);
}

static int exited_error(struct pv_vm *vm, pv_error *err)
{
	char line[300];
	pv_vm_last_line(vm->log_path, line, sizeof(line));
	return pv_error_set_plain(err, ECHILD, "VMM exited during start%s%s", line[0] ? ": " : "", line);
}

static int wait_for_sockets(struct pv_vm *vm, const struct pv_vm_config *c, int timeout_ms, pv_error *err)
{
	long long deadline = pv_now_ms() + timeout_ms;
	for (;;) {
		bool ready = access(vm->qmp_path, F_OK) == 0 && (c->vsock_cid || access(vm->agent_path, F_OK) == 0);
		if (ready)
			return 0;
		if (!pv_vm_alive(vm))
			return exited_error(vm, err);
		if (pv_now_ms() > deadline)
			return pv_error_set_plain(err, ETIMEDOUT, "VMM did not create its sockets within %d ms", timeout_ms);
		usleep(5000);
	}
}

#define TPM_BLOB_TIMEOUT_MS 5000

/* An swtpm that did not answer: its log's last line says why. */
static int tpm_failed(const struct pv_vm_config *c, pv_error *err)
{
	char line[300] = "";
	_cleanup_free_ char *log = NULL;
	if (asprintf(&log, "%s/tpm.log", c->state_dir) >= 0)
		pv_vm_last_line(log, line, sizeof(line));
	if (line[0])
		pv_error_prefix(err, "%s", line);
	return pv_error_prefix(err, "swtpm %s", c->swtpm);
}

static int manufacture_tpm(const struct pv_vm_config *c, const struct pv_swtpm_config *tc, pv_error *err)
{
	_cleanup_free_ char *cmdline = NULL;
	if (pv_vm_kernel_cmdline(c, &cmdline) < 0)
		return pv_error_set(err, ENOMEM, "kernel command line");
	struct pv_tpm_birth b = *c->tpm_birth;
	b.kernel = c->kernel, b.initrd = c->initrd, b.cmdline = cmdline;
	return pv_tpm_manufacture(tc, &b, err);
}

/* The VM's swtpm; for an incoming VM, its fresh state blobs too, read over the control
 * channel before QEMU holds it (swtpm serves one client, and QEMU never lets go). */
static int start_tpm(const struct pv_vm_config *c, struct pv_vm *vm, pv_error *err)
{
	struct pv_swtpm_config tc = { .swtpm = c->swtpm, .state_dir = c->state_dir, .jail = c->jail,
				       .outlive_thread = c->outlive_thread };
	if (c->tpm_birth && manufacture_tpm(c, &tc, err) < 0)
		return tpm_failed(c, err);
	if (pv_swtpm_start(&tc, &vm->tpm, err) < 0)
		return -1;
	if (c->incoming &&
	    (pv_tpm_ctrl_get_blob(vm->tpm.qemu_fd, PV_TPM_BLOB_PERMANENT, TPM_BLOB_TIMEOUT_MS, &vm->tpm_permanent, err) < 0 ||
	     pv_tpm_ctrl_get_blob(vm->tpm.qemu_fd, PV_TPM_BLOB_VOLATILE, TPM_BLOB_TIMEOUT_MS, &vm->tpm_volatile, err) < 0)) {
		pv_swtpm_reap(&vm->tpm, 0);
		return tpm_failed(c, err);
	}
	return 0;
}

static int spawn_vmm(const struct pv_vm_config *c, struct pv_vm *vm, pv_error *err)
{
	_cleanup_strv_ char **argv = pv_vm_argv(c, vm);
	if (argv == NULL)
		return pv_error_set(err, ENOMEM, "VMM arguments");
	struct pv_jail jail = { 0 };
	if (c->jail && pv_vm_jail_plan(c, &jail, err) < 0)
		return -1;
	int r = spawn(argv, c, c->jail ? &jail : NULL, vm, err);
	pv_jail_clear(&jail);
	return r;
}

int pv_vm_start(const struct pv_vm_config *c, struct pv_vm *vm, int timeout_ms, pv_error *err)
{
	memset(vm, 0, sizeof(*vm));
	if (set_paths(vm, c->state_dir, err) < 0)
		return -1;
	/* A VM started again in the same directory (a cold boot after a failed restore) must
	 * not take its predecessor's sockets for its own. */
	unlink(vm->qmp_path);
	unlink(vm->agent_path);
	unlink(vm->pid_path);
	vm->tpm.qemu_fd = vm->tpm.data_fd = -1;
	if (c->swtpm && start_tpm(c, vm, err) < 0)
		return -1;
	int r = spawn_vmm(c, vm, err);
	if (vm->tpm.qemu_fd >= 0)
		close(steal_fd(&vm->tpm.qemu_fd));  /* QEMU's now: swtpm ends when QEMU does */
	if (r < 0) {
		pv_swtpm_reap(&vm->tpm, 0);
		return -1;
	}
	if (wait_for_sockets(vm, c, timeout_ms, err) < 0) {
		pv_vm_stop(vm);
		return -1;
	}
	return 0;
}

bool pv_vm_wait_exit(struct pv_vm *vm, int timeout_ms)
{
	long long deadline = pv_now_ms() + timeout_ms;
	while (pv_vm_alive(vm)) {
		if (pv_now_ms() > deadline)
			return false;
		usleep(2000);
	}
	return true;
}

void pv_vm_kill(struct pv_vm *vm)
{
	if (vm->pid > 0 && vm->adopted)
		(void)pidfd_send_signal(vm->pidfd, SIGKILL, NULL, 0);
	else if (vm->pid > 0)
		kill(vm->pid, SIGKILL);
}

static void stop_vmm(struct pv_vm *vm)
{
	if (vm->pid <= 0)
		return;
	struct pv_qmp *q = NULL;
	if (pv_qmp_connect(vm->qmp_path, 1000, &q, NULL) == 0) {
		(void)pv_qmp_execute(q, "quit", NULL, NULL, NULL);
		pv_qmp_close(q);
	}
	if (!pv_vm_wait_exit(vm, QUIT_GRACE_MS)) {
		pv_vm_kill(vm);
		if (vm->adopted)
			(void)pv_vm_wait_exit(vm, QUIT_GRACE_MS);
		else
			waitpid(vm->pid, NULL, 0);
		vm->pid = 0;
	}
}

void pv_vm_stop(struct pv_vm *vm)
{
	stop_vmm(vm);
	pv_swtpm_reap(&vm->tpm, TPM_END_GRACE_MS);
}

void pv_vm_clear(struct pv_vm *vm)
{
	/* swtpm is not reaped here: a released VM (a pooled one) keeps running, and so does
	 * its swtpm. */
	pv_tpm_blob_clear(&vm->tpm_permanent);
	pv_tpm_blob_clear(&vm->tpm_volatile);
	free(vm->state_dir);
	free(vm->qmp_path);
	free(vm->agent_path);
	free(vm->console_path);
	free(vm->log_path);
	free(vm->pid_path);
	if (vm->adopted && vm->pidfd >= 0)
		close(vm->pidfd);
	memset(vm, 0, sizeof(*vm));
}

/* The pid file's process, if it is a QEMU whose command line names `name`. */
static int find_adoptee(struct pv_vm *vm, const char *name, pv_error *err)
{
	_cleanup_free_ char *text = NULL, *cmdline_path = NULL, *cmdline = NULL;
	size_t n = 0;
	if (pv_read_file(vm->pid_path, 64, &text, NULL, err) < 0)
		return -1;
	int pid = atoi(text);
	if (pid <= 1 || asprintf(&cmdline_path, "/proc/%d/cmdline", pid) < 0)
		return pv_error_set_plain(err, ESRCH, "VMM pid file %s: no pid", vm->pid_path);
	if (pv_read_file(cmdline_path, 1 << 16, &cmdline, &n, NULL) < 0)
		return pv_error_set_plain(err, ESRCH, "VMM %d: gone", pid);
	for (size_t i = 0; i < n; i++)
		if (cmdline[i] == '\0')
			cmdline[i] = ' ';
	if (strstr(cmdline, "qemu") == NULL || strstr(cmdline, name) == NULL)
		return pv_error_set_plain(err, ESRCH, "VMM %d: gone (pid reused)", pid);
	return pid;
}

int pv_vm_adopt(const char *state_dir, const char *name, struct pv_vm *vm, pv_error *err)
{
	memset(vm, 0, sizeof(*vm));
	vm->pidfd = -1;
	if (set_paths(vm, state_dir, err) < 0)
		return -1;
	int pid = find_adoptee(vm, name, err);
	if (pid < 0)
		return -1;
	int fd = pidfd_open(pid, 0);
	if (fd < 0)
		return pv_error_set(err, errno, "pidfd of VMM %d", pid);
	vm->pid = pid;
	vm->pidfd = fd;
	vm->adopted = true;
	return 0;
}

/* When the system booted (/proc/stat btime), in seconds since the epoch. */
static long long boot_time(void)
{
	_cleanup_free_ char *text = NULL;
	if (pv_read_file("/proc/stat", 1 << 20, &text, NULL, NULL) < 0)
		return -1;
	const char *b = strstr(text, "\nbtime ");
	return b ? strtoll(b + 7, NULL, 10) : -1;
}

static bool is_qemu(pid_t pid)
{
	char path[64];
	_cleanup_free_ char *cmd = NULL;
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	return pv_read_file(path, 4096, &cmd, NULL, NULL) == 0 && strstr(cmd, "qemu") != NULL;
}

int pv_vm_kill_pidfile(const char *pid_path)
{
	_cleanup_free_ char *text = NULL;
	struct stat st;
	if (pv_read_file(pid_path, 64, &text, NULL, NULL) < 0 || stat(pid_path, &st) < 0)
		return -ESRCH;
	pid_t pid = (pid_t)atoi(text);
	if (pid <= 1)
		return -ESRCH;
	_cleanup_close_ int pidfd = pidfd_open(pid, 0);  /* from here on, that very process */
	unsigned long long ticks;
	long long btime = boot_time();
	long hz = sysconf(_SC_CLK_TCK);
	if (pidfd < 0 || btime < 0 || hz <= 0 || !is_qemu(pid) || pv_process_starttime(pid, &ticks) < 0)
		return -ESRCH;
	/* Whole seconds on both sides: one second of slack. */
	if (btime + (long long)(ticks / (unsigned long long)hz) > (long long)st.st_mtim.tv_sec + 1)
		return -ESRCH;
	return pidfd_send_signal(pidfd, SIGKILL, NULL, 0) < 0 ? -errno : 0;
}

int pv_vm_set_running(struct pv_vm *vm, bool running, pv_error *err)
{
	struct pv_qmp *q = NULL;
	if (pv_qmp_connect(vm->qmp_path, 1000, &q, err) < 0)
		return -1;
	int r = pv_qmp_execute(q, running ? "cont" : "stop", NULL, NULL, err);
	pv_qmp_close(q);
	return r;
}
