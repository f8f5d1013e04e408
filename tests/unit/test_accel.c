/* The accelerator choice's pieces that need no VM (src/libpodvm/accel.c, config.c, the log
 * readers of vmm/watch.c and vmm/qemu.c): the `accel` setting and PODVM_ACCEL, the verdict
 * key and its cache file, the lock, what QEMU's log says of a KVM failure, the state
 * directory too long for the VM's sockets; and vmm/qemu.c's kill of a crashed owner's QEMU
 * by its pid file. */
#include "tap.h"
#include "accel.h"
#include "cleanup.h"
#include "config.h"
#include "util.h"
#include "vmm/qemu.h"
#include "vmm/watch.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

static char root[] = "/tmp/podvm-test-accel.XXXXXX";

static char *path_of(const char *name)
{
	char *p = NULL;
	return asprintf(&p, "%s/%s", root, name) < 0 ? NULL : p;
}

static void write_text(const char *name, const char *text)
{
	_cleanup_free_ char *p = path_of(name);
	(void)pv_write_file(p, text, strlen(text), 0600, NULL);
}

static void test_setting(void)
{
	struct pv_config c = { 0 };
	pv_error err = NULL;
	ok(pv_config_parse(&c, "accel = tcg\n", "f", &err) == 0 && c.accel == PV_ACCEL_TCG, "config: accel = tcg");
	ok(pv_config_parse(&c, "accel=KVM", "f", &err) == 0 && c.accel == PV_ACCEL_KVM, "config: accel=KVM");
	ok(pv_config_parse(&c, "accel = auto # probe\n", "f", &err) == 0 && c.accel == PV_ACCEL_AUTO,
	   "config: accel = auto");
	ok(pv_config_parse(&c, "\naccel = hvf\n", "/etc/podvm/podvm.conf", &err) < 0 && err &&
		   strcmp(err->msg, "/etc/podvm/podvm.conf:2: accel = \"hvf\": not auto, kvm or tcg") == 0,
	   "config: a bad accel names file, line and choices: %s", err ? err->msg : "");
	pv_error_release(&err);
	ok(strcmp(pv_accel_mode_name(PV_ACCEL_KVM), "kvm") == 0, "mode name");
	ok(pv_config_parse(&c, "agent_timeout = 30\n", "f", &err) == 0 && c.agent_timeout == 30,
	   "config: agent_timeout = 30");
	ok(pv_config_parse(&c, "agent_timeout = 0\n", "f", &err) == 0 && c.agent_timeout == 0,
	   "config: agent_timeout = 0 (no watchdog)");
	ok(pv_config_parse(&c, "agent_timeout = soon\n", "f", &err) < 0 && err &&
		   strstr(err->msg, "f:1: agent_timeout = \"soon\": not a number of seconds"),
	   "config: a bad agent_timeout: %s", err ? err->msg : "");
	pv_error_release(&err);
	ok(pv_config_parse(&c, "qemu = /opt/qemu/bin/qemu-system-x86_64\n", "f", &err) == 0 &&
		   strcmp(c.qemu, "/opt/qemu/bin/qemu-system-x86_64") == 0, "config: qemu = PATH");
	char long_path[300];
	snprintf(long_path, sizeof(long_path), "qemu = /%0280d\n", 0);
	int r = pv_config_parse(&c, long_path, "f", &err);
	ok(r < 0 && err && strstr(err->msg, "f:1: qemu = \"/000") && strstr(err->msg, "at most 255 bytes"),
	   "config: a qemu path too long is refused, not cut: %s", err ? strstr(err->msg, "\": ") : "");
	pv_error_release(&err);

	write_text("podvm.conf", "accel = kvm\n");
	_cleanup_free_ char *conf = path_of("podvm.conf");
	setenv("PODVM_CONFIG", conf, 1);
	unsetenv("PODVM_ACCEL");
	ok(pv_config_load(&c, &err) == 0 && c.accel == PV_ACCEL_KVM, "load: accel from the file");
	setenv("PODVM_ACCEL", "tcg", 1);
	ok(pv_config_load(&c, &err) == 0 && c.accel == PV_ACCEL_TCG, "load: PODVM_ACCEL overrides the file");
	setenv("PODVM_ACCEL", "fast", 1);
	ok(pv_config_load(&c, &err) < 0 && err && strcmp(err->msg, "PODVM_ACCEL=fast: not auto, kvm or tcg") == 0,
	   "load: a bad PODVM_ACCEL: %s", err ? err->msg : "");
	pv_error_release(&err);
	unsetenv("PODVM_ACCEL");
	setenv("PODVM_CONFIG", "/nonexistent/podvm.conf", 1);
	ok(pv_config_load(&c, &err) == 0 && c.accel == PV_ACCEL_AUTO, "load: auto by default");
	ok(c.agent_timeout == PV_DEFAULT_AGENT_TIMEOUT, "load: agent_timeout %u s by default", c.agent_timeout);
	unsetenv("PODVM_QEMU");
	ok(pv_config_load(&c, &err) == 0 && c.qemu[0] == '\0', "load: no qemu by default (PODVM_QEMU's, paths.h)");
	setenv("PODVM_AGENT_TIMEOUT", "5", 1);
	ok(pv_config_load(&c, &err) == 0 && c.agent_timeout == 5, "load: PODVM_AGENT_TIMEOUT");
	unsetenv("PODVM_AGENT_TIMEOUT");
	ok(c.ksm, "load: ksm on by default");
	setenv("PODVM_KSM", "off", 1);
	ok(pv_config_load(&c, &err) == 0 && !c.ksm, "load: PODVM_KSM=off");
	unsetenv("PODVM_KSM");
	ok(pv_config_parse(&c, "ksm = often\n", "f", &err) < 0 && err &&
		   strstr(err->msg, "f:1: ksm = \"often\": not a boolean"),
	   "config: a bad ksm: %s", err ? err->msg : "");
	pv_error_release(&err);
	unsetenv("PODVM_CONFIG");
}

static char *key_with(const char *kvm_detail)
{
	_cleanup_free_ char *k = path_of("vmlinuz"), *i = path_of("initrd"), *q = path_of("qemu");
	char *key = NULL;
	pv_error err = NULL;
	if (pv_accel_key(k, i, q, kvm_detail, &key, &err) < 0) {
		diag("key: %s", err->msg);
		pv_error_release(&err);
	}
	return key;
}

static void test_key(void)
{
	_cleanup_free_ char *a = key_with("/dev/kvm (kvm_pvm, API 12)"), *b = key_with("/dev/kvm (kvm_pvm, API 12)");
	_cleanup_free_ char *boot = NULL;
	(void)pv_read_file("/proc/sys/kernel/random/boot_id", 128, &boot, NULL, NULL);
	if (boot)
		boot[strcspn(boot, "\n")] = '\0';
	ok(a && b && strcmp(a, b) == 0, "key: stable");
	ok(a && boot && strstr(a, boot) && strstr(a, "host=") && !strchr(a, '\n'),
	   "key: one line naming the boot id and the kernel release: %s", a ? a : "");
	_cleanup_free_ char *c = key_with("/dev/kvm: No such file or directory");
	ok(c && a && strcmp(a, c) != 0, "key: another /dev/kvm, another key");
	write_text("initrd", "a rebuilt initramfs");
	_cleanup_free_ char *d = key_with("/dev/kvm (kvm_pvm, API 12)");
	ok(d && a && strcmp(a, d) != 0, "key: another guest image, another key");
	_cleanup_free_ char *k = path_of("vmlinuz"), *i = path_of("initrd"), *missing = path_of("nope");
	char *key = NULL;
	pv_error err = NULL;
	ok(pv_accel_key(k, i, missing, "x", &key, &err) < 0 && err && strstr(err->msg, "vmm ") && strstr(err->msg, "nope"),
	   "key: a missing VMM is an error naming it: %s", err ? err->msg : "");
	pv_error_release(&err);
	free(key);
}

static void test_cache(void)
{
	_cleanup_free_ char *dir = path_of("accel");
	struct pv_accel v = { 0 };
	pv_error err = NULL;
	ok(pv_accel_load(dir, "key one", &v) == 0, "cache: nothing before a store");
	struct pv_accel tcg = { .kvm = false, .reason = "/dev/kvm (kvm_pvm) cannot run the guest (x)" };
	ok(pv_accel_store(dir, "key one", &tcg, &err) == 0, "cache: store creates the directory");
	ok(pv_accel_load(dir, "key one", &v) == 1 && !v.kvm && strcmp(v.reason, tcg.reason) == 0,
	   "cache: the verdict and its reason come back");
	ok(pv_accel_load(dir, "key two", &v) == 0, "cache: another key finds nothing");
	struct pv_accel kvm = { .kvm = true, .reason = "a probe VM reached its agent under KVM in 90 ms" };
	ok(pv_accel_store(dir, "key one", &kvm, &err) == 0 && pv_accel_load(dir, "key one", &v) == 1 && v.kvm,
	   "cache: a new verdict replaces the old");
	/* A corrupt file is no verdict: the next boot probes again. */
	char hash[17];
	pv_hash_hex("key one", hash);
	_cleanup_free_ char *file = NULL;
	if (asprintf(&file, "%s/%s", dir, hash) > 0)
		(void)pv_write_file(file, "key one\nmaybe\nwhy\n", 18, 0600, NULL);
	ok(pv_accel_load(dir, "key one", &v) == 0, "cache: a corrupt verdict is ignored");
	if (file)
		(void)pv_write_file(file, "key one\n", 8, 0600, NULL);
	ok(pv_accel_load(dir, "key one", &v) == 0, "cache: a truncated verdict is ignored");
	/* A key that hashes the same but differs is told apart by the key kept in the file. */
	if (file)
		(void)pv_write_file(file, "other key\ntcg\nwhy\n", 18, 0600, NULL);
	ok(pv_accel_load(dir, "key one", &v) == 0, "cache: the key in the file must match");
}

static void test_lock(void)
{
	_cleanup_free_ char *dir = path_of("accel");
	pv_error err = NULL;
	int fd = pv_accel_lock(dir, "key one", &err);
	ok(fd >= 0, "lock: taken");
	pid_t pid = fork();
	if (pid == 0) {
		char hash[17], path[512];
		pv_hash_hex("key one", hash);
		snprintf(path, sizeof(path), "%s/%s.lock", dir, hash);
		int other = open(path, O_RDWR);
		_exit(other >= 0 && flock(other, LOCK_EX | LOCK_NB) < 0 ? 0 : 1);
	}
	int status = -1;
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "lock: another process cannot take it meanwhile");
	if (fd >= 0)
		close(fd);
}

static void test_logs(void)
{
	char out[256];
	_cleanup_free_ char *log = path_of("vmm.log");
	write_text("vmm.log", "KVM internal error. Suberror: 1\nextra data[0]: 0x1\nemulation failure\nRAX=0\n");
	pv_vm_kvm_error(log, out, sizeof(out));
	ok(strcmp(out, "KVM internal error, emulation failure") == 0, "KVM internal error: %s", out);
	write_text("vmm.log", "KVM internal error. Suberror: 9\n");
	pv_vm_kvm_error(log, out, sizeof(out));
	ok(strcmp(out, "KVM internal error, suberror 9") == 0, "KVM internal error, unknown suberror: %s", out);
	write_text("vmm.log", "qemu: terminating on signal 15\n");
	pv_vm_kvm_error(log, out, sizeof(out));
	ok(out[0] == '\0', "no KVM internal error in the log");
	write_text("vmm.log", "qemu: error: failed to set MSR 0x10a to 0x69\nqemu: kvm.c:3183: Assertion failed.\n");
	pv_vm_log_find(log, "error", out, sizeof(out));
	ok(strcmp(out, "qemu: error: failed to set MSR 0x10a to 0x69") == 0, "log: the first error line: %s", out);
	write_text("vmm.log", "qemu: -device foo: not a valid device model name\n\n");
	pv_vm_log_find(log, "error", out, sizeof(out));
	ok(strcmp(out, "qemu: -device foo: not a valid device model name") == 0, "log: else the last line: %s", out);
	write_text("console.log", "List of all bdev filesystems:\n\nKernel panic - not syncing: VFS: Unable to mount root fs\n"
				  "Kernel Offset: disabled\n");
	_cleanup_free_ char *console = path_of("console.log");
	pv_vm_log_find(console, "Kernel panic", out, sizeof(out));
	ok(strcmp(out, "Kernel panic - not syncing: VFS: Unable to mount root fs") == 0, "console: the panic line: %s", out);
}

/* A state directory whose socket paths would pass sun_path's 108 bytes: podvm's own error,
 * before QEMU runs. */
static void test_long_state_dir(void)
{
	char dir[200];
	memset(dir, 'd', sizeof(dir));
	memcpy(dir, "/tmp/", 5);
	dir[120] = '\0';
	struct pv_vm_config c = { .qemu = "/bin/true", .state_dir = dir, .vcpus = 1, .mem_mib = 128, .tap_fd = -1 };
	struct pv_vm vm;
	pv_error err = NULL;
	ok(pv_vm_start(&c, &vm, 1000, &err) < 0 && err && strstr(err->msg, "state directory /tmp/ddd") &&
		   strstr(err->msg, "too long for the VM's unix sockets (131 bytes, at most 107)"),
	   "a state directory too long for unix sockets: %s", err ? err->msg : "");
	pv_error_release(&err);
	pv_vm_clear(&vm);
}

/* A child that looks like a QEMU (argv[0] says so), sleeping. */
static pid_t fake_qemu(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		execl("/bin/sleep", "qemu-system-fake", "30", (char *)NULL);
		_exit(127);
	}
	usleep(100 * 1000);  /* exec'd */
	return pid;
}

static int reap(pid_t pid)
{
	int st = 0;
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return st;
}

/* Cleanup after a crash kills the QEMU a pid file names, never a process that got its pid
 * later, nor one that is no QEMU. */
static void test_kill_pidfile(void)
{
	_cleanup_free_ char *path = path_of("vmm.pid");
	char text[32];
	pid_t q = fake_qemu();
	snprintf(text, sizeof(text), "%d", (int)q);
	(void)pv_write_file(path, text, strlen(text), 0600, NULL);
	int st = 0;
	ok(pv_vm_kill_pidfile(path) == 0 && waitpid(q, &st, 0) == q && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
	   "pid file: its QEMU is killed");
	q = fake_qemu();
	snprintf(text, sizeof(text), "%d", (int)q);
	(void)pv_write_file(path, text, strlen(text), 0600, NULL);
	struct timespec old[2] = { { .tv_sec = time(NULL) - 3600 }, { .tv_sec = time(NULL) - 3600 } };
	(void)utimensat(AT_FDCWD, path, old, 0);
	ok(pv_vm_kill_pidfile(path) == -ESRCH && waitpid(q, &st, WNOHANG) == 0,
	   "pid file older than its process: a reused pid, left alone");
	reap(q);
	pid_t other = fork();
	if (other == 0) {
		execl("/bin/sleep", "sleep", "30", (char *)NULL);
		_exit(127);
	}
	usleep(100 * 1000);
	snprintf(text, sizeof(text), "%d", (int)other);
	(void)pv_write_file(path, text, strlen(text), 0600, NULL);
	ok(pv_vm_kill_pidfile(path) == -ESRCH && waitpid(other, &st, WNOHANG) == 0, "a process that is no QEMU: left alone");
	reap(other);
	ok(pv_vm_kill_pidfile("/nonexistent/vmm.pid") == -ESRCH, "no pid file: nothing");
}

int main(void)
{
	if (mkdtemp(root) == NULL)
		return 1;
	write_text("vmlinuz", "kernel");
	write_text("initrd", "initrd");
	write_text("qemu", "qemu");
	test_setting();
	test_key();
	test_cache();
	test_lock();
	test_logs();
	test_long_state_dir();
	test_kill_pidfile();
	(void)pv_rm_rf(root, NULL);
	return done_testing();
}
