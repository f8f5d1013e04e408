/* The QEMU command line (src/libpodvm/vmm/qemu.c, pv_vm_argv): accelerator and CPU model,
 * kernel command line, the agent's channel (virtio-serial or vhost-vsock), 9p shares.
 * Nothing is spawned. */
#include "tap.h"
#include "cleanup.h"
#include "vmm/qemu.h"

#include <stdio.h>
#include <string.h>

static const struct pv_vm vm = {
	.qmp_path = "/run/podvm/s1/qmp.sock",
	.agent_path = "/run/podvm/s1/agent.sock",
	.pid_path = "/run/podvm/s1/vmm.pid",
	.console_path = "/run/podvm/s1/console.log",
	.log_path = "/run/podvm/s1/vmm.log",
};

static const struct pv_vm_share shares[] = {
	{ .tag = "rootfs", .host_path = "/var/lib/podvm/c1/rootfs", .readonly = false },
	{ .tag = "vol0", .host_path = "/home/me/data", .readonly = true },
	{ .tag = "vol1", .host_path = "/home/me/cache", .readonly = false },
};

static struct pv_vm_config config(bool kvm, unsigned cid)
{
	return (struct pv_vm_config){
		.qemu = "/usr/bin/qemu-system-x86_64", .kernel = "/usr/share/podvm/vmlinuz",
		.initrd = "/usr/share/podvm/initramfs.cpio.gz", .state_dir = "/run/podvm/s1",
		.vcpus = 2, .mem_mib = 576, .kvm = kvm, .vsock_cid = cid,
		.shares = shares, .n_shares = 3, .ksm = true,
	};
}

static int index_of(char **a, const char *s)
{
	for (int i = 0; a && a[i]; i++)
		if (strcmp(a[i], s) == 0)
			return i;
	return -1;
}

/* The argument after the first `flag`, or "". */
static const char *value_of(char **a, const char *flag)
{
	int i = index_of(a, flag);
	return i >= 0 && a[i + 1] ? a[i + 1] : "";
}

/* True if some `flag` is followed by exactly `value`. */
static bool has_pair(char **a, const char *flag, const char *value)
{
	for (int i = 0; a && a[i] && a[i + 1]; i++)
		if (strcmp(a[i], flag) == 0 && strcmp(a[i + 1], value) == 0)
			return true;
	return false;
}

/* True if some `flag` is followed by a value containing `part`. */
static bool has_pair_containing(char **a, const char *flag, const char *part)
{
	for (int i = 0; a && a[i] && a[i + 1]; i++)
		if (strcmp(a[i], flag) == 0 && strstr(a[i + 1], part))
			return true;
	return false;
}

static int count_of(char **a, const char *s)
{
	int n = 0;
	for (int i = 0; a && a[i]; i++)
		n += strcmp(a[i], s) == 0;
	return n;
}

/* The whole command line on one diagnostic line, for failures. */
static void show(char **a)
{
	char line[4096];
	size_t n = 0;
	line[0] = '\0';
	for (int i = 0; a && a[i] && n < sizeof(line); i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n, "%s%s", i ? " " : "", a[i]);
	diag("%s", line);
}

static void test_tcg_serial(void)
{
	struct pv_vm_config c = config(false, 0);
	_cleanup_strv_ char **a = pv_vm_argv(&c, &vm);
	if (!ok(a != NULL, "tcg, serial: pv_vm_argv"))
		return;
	ok(strcmp(a[0], c.qemu) == 0, "argv[0] is the QEMU binary");
	ok(has_pair(a, "-accel", "tcg"), "kvm=false: -accel tcg");
	ok(has_pair(a, "-cpu", "max"), "kvm=false: -cpu max");
	const char *append = value_of(a, "-append");
	ok(strstr(append, "tsc=reliable") != NULL, "kvm=false: tsc=reliable on the kernel command line");
	ok(strstr(append, "podvm.channel=serial") != NULL, "vsock_cid=0: podvm.channel=serial");
	ok(strstr(append, "console=ttyS0") && strstr(append, "quiet") && !strstr(append, "podvm.debug"),
	   "kernel command line: console=ttyS0, quiet without debug: %s", append);
	ok(has_pair(a, "-device", "virtio-serial-device,max_ports=2,bus=virtio-mmio-bus.6"), "vsock_cid=0: virtio-serial-device");
	ok(has_pair(a, "-device", "virtserialport,chardev=agent,name=podvm.agent"),
	   "vsock_cid=0: virtserialport name=podvm.agent");
	ok(has_pair(a, "-chardev", "socket,id=agent,path=/run/podvm/s1/agent.sock,server=on,wait=off"),
	   "vsock_cid=0: chardev socket at vm->agent_path");
	ok(!has_pair_containing(a, "-device", "vhost-vsock"), "vsock_cid=0: no vhost-vsock device");
	ok(has_pair(a, "-smp", "2") && has_pair(a, "-m", "576M"), "-smp 2 -m 576M");
	ok(index_of(a, "-no-reboot") > 0, "-no-reboot");
	ok(index_of(a, "-nodefaults") > 0 && has_pair(a, "-display", "none"), "-nodefaults -display none");
	ok(has_pair(a, "-M", "microvm,acpi=off,rtc=on"), "-M microvm");
	ok(has_pair(a, "-kernel", c.kernel) && has_pair(a, "-initrd", c.initrd), "-kernel and -initrd");
	ok(has_pair(a, "-qmp", "unix:/run/podvm/s1/qmp.sock,server=on,wait=off"), "-qmp at vm->qmp_path");
	ok(has_pair(a, "-chardev", "file,id=console,path=/run/podvm/s1/console.log") &&
	   has_pair(a, "-serial", "chardev:console"), "serial console to vm->console_path");

	ok(count_of(a, "-fsdev") == 3, "one -fsdev per share (%d)", count_of(a, "-fsdev"));
	ok(has_pair(a, "-fsdev", "local,id=fs0,path=/var/lib/podvm/c1/rootfs,security_model=passthrough,multidevs=remap"),
	   "share 0: rw -fsdev, no readonly");
	ok(has_pair(a, "-fsdev", "local,id=fs1,path=/home/me/data,security_model=passthrough,multidevs=remap,readonly=on"),
	   "share 1: readonly=on");
	ok(has_pair(a, "-fsdev", "local,id=fs2,path=/home/me/cache,security_model=passthrough,multidevs=remap"),
	   "share 2: rw");
	ok(has_pair(a, "-device", "virtio-9p-device,fsdev=fs0,mount_tag=rootfs,bus=virtio-mmio-bus.5") &&
	   has_pair(a, "-device", "virtio-9p-device,fsdev=fs1,mount_tag=vol0,bus=virtio-mmio-bus.4") &&
	   has_pair(a, "-device", "virtio-9p-device,fsdev=fs2,mount_tag=vol1,bus=virtio-mmio-bus.2"), "a virtio-9p-device per share with its mount_tag");
	ok(has_pair(a, "-device", "virtio-rng-device,rng=rng0,bus=virtio-mmio-bus.7") &&
	   !has_pair_containing(a, "-device", "bus=virtio-mmio-bus.3") &&
	   !has_pair_containing(a, "-device", "virtserialport,chardev=agent,name=podvm.agent,"),
	   "virtio-mmio devices on transports from the top, skipping bus 3 (IRQ 8, the RTC's)");
	int readonly = 0;
	for (int i = 0; a[i]; i++)
		readonly += strstr(a[i], "readonly=on") != NULL;
	ok(readonly == 1, "readonly=on only for the readonly share (%d)", readonly);
	if (tap_failed)
		show(a);
}

static void test_kvm_vsock(void)
{
	struct pv_vm_config c = config(true, 42);
	c.vcpus = 4;
	c.mem_mib = 1088;
	c.debug = true;
	_cleanup_strv_ char **a = pv_vm_argv(&c, &vm);
	if (!ok(a != NULL, "kvm, vsock: pv_vm_argv"))
		return;
	ok(has_pair(a, "-accel", "kvm") && !has_pair(a, "-accel", "tcg"), "kvm=true: -accel kvm");
	ok(has_pair(a, "-cpu", "host"), "kvm=true: -cpu host");
	const char *append = value_of(a, "-append");
	ok(strstr(append, "tsc=reliable") == NULL, "kvm=true: no tsc=reliable");
	ok(strstr(append, "podvm.channel=vsock:1024") != NULL, "vsock_cid=42: podvm.channel=vsock:1024");
	ok(strstr(append, "podvm.debug=1") && !strstr(append, "quiet"), "debug: podvm.debug=1, not quiet: %s", append);
	ok(has_pair(a, "-device", "vhost-vsock-device,guest-cid=42,bus=virtio-mmio-bus.6"), "vsock_cid=42: vhost-vsock-device,guest-cid=42");
	ok(!has_pair_containing(a, "-device", "virtserialport") && !has_pair_containing(a, "-device", "virtio-serial"),
	   "vsock: no virtio-serial device or port");
	ok(!has_pair_containing(a, "-chardev", "id=agent"), "vsock: no agent chardev");
	ok(has_pair(a, "-smp", "4") && has_pair(a, "-m", "1088M"), "-smp 4 -m 1088M");
	ok(index_of(a, "-no-reboot") > 0, "-no-reboot");
}

static void test_no_shares(void)
{
	struct pv_vm_config c = config(false, 0);
	c.n_shares = 0;
	c.shares = NULL;
	_cleanup_strv_ char **a = pv_vm_argv(&c, &vm);
	ok(a && count_of(a, "-fsdev") == 0 && !has_pair_containing(a, "-device", "virtio-9p"),
	   "no shares: no -fsdev, no virtio-9p-device");
}

/* A TPM: swtpm's control channel as an inherited fd, a tpm-tis device (not on a
 * virtio-mmio transport), and the guest told where to find it; none without. */
static void test_tpm(void)
{
	struct pv_vm_config c = config(false, 0);
	_cleanup_strv_ char **none = pv_vm_argv(&c, &vm);
	ok(none && index_of(none, "-tpmdev") < 0 && !strstr(value_of(none, "-append"), "tpm_tis"), "no tpm: no TPM device");
	c.swtpm = "/usr/bin/swtpm";
	struct pv_vm v = vm;
	v.tpm.qemu_fd = 7;
	_cleanup_strv_ char **a = pv_vm_argv(&c, &v);
	ok(a && has_pair(a, "-chardev", "socket,id=tpmctrl,fd=7") && has_pair(a, "-tpmdev", "emulator,id=tpm0,chardev=tpmctrl") &&
	   has_pair(a, "-device", "tpm-tis,tpmdev=tpm0"), "tpm: control channel fd 7, emulator backend, tpm-tis");
	ok(a && strstr(value_of(a, "-append"), " tpm_tis.force=1 tpm_tis.interrupts=0 "), "tpm: the kernel probes tpm-tis, polled");
	if (!a)
		show(a);
}

/* QEMU splits option values at commas; a literal comma is written ",,". */
static void test_comma_in_path(void)
{
	static const struct pv_vm_share s[] = { { .tag = "vol0", .host_path = "/data/a,b", .readonly = false } };
	struct pv_vm_config c = config(false, 0);
	c.shares = s;
	c.n_shares = 1;
	_cleanup_strv_ char **a = pv_vm_argv(&c, &vm);
	ok(a && has_pair(a, "-fsdev", "local,id=fs0,path=/data/a,,b,security_model=passthrough,multidevs=remap"), "a share path with a comma is escaped as ,,");
}

/* A template being made: RAM written through to a shared file, a NIC with no backend. */
static void test_template_maker(void)
{
	struct pv_vm_config c = config(false, 0);
	c.mem_path = "/var/lib/podvm/templates/ab/mem";
	c.mem_shared = true;
	c.has_net = true;
	c.tap_fd = -1;
	c.mac = "02:70:76:00:00:01";
	_cleanup_strv_ char **a = pv_vm_argv(&c, &vm);
	ok(has_pair(a, "-M", "microvm,acpi=off,rtc=on,memory-backend=mem0"), "template: machine uses the memory backend");
	ok(has_pair(a, "-object", "memory-backend-file,id=mem0,mem-path=/var/lib/podvm/templates/ab/mem,size=576M,share=on"),
	   "template: RAM in the file, shared");
	ok(has_pair_containing(a, "-device", "virtio-net-device,mac=02:70:76:00:00:01,bus="), "template: NIC without a backend");
	ok(index_of(a, "-netdev") < 0, "template: no netdev");
	ok(index_of(a, "-incoming") < 0, "template: boots");
}

/* Restored from a template: the same file mapped privately, waiting for the stream. */
static void test_restore(void)
{
	struct pv_vm_config c = config(false, 0);
	c.mem_path = "/var/lib/podvm/templates/ab/mem";
	c.incoming = true;
	c.has_net = true;
	c.tap_fd = 5;
	c.mac = "0a:58:0a:58:00:05";
	_cleanup_strv_ char **a = pv_vm_argv(&c, &vm);
	ok(has_pair(a, "-object", "memory-backend-file,id=mem0,mem-path=/var/lib/podvm/templates/ab/mem,size=576M,share=off"),
	   "restore: RAM file mapped copy-on-write");
	ok(has_pair(a, "-incoming", "defer"), "restore: waits for migrate-incoming");
	ok(has_pair(a, "-netdev", "tap,id=net0,fd=5"), "restore: the pod's tap");
	ok(has_pair_containing(a, "-device", "virtio-net-device,netdev=net0,mac=0a:58:0a:58:00:05,bus="), "restore: NIC on the tap");
}

/* A plain boot has anonymous RAM. */
static void test_plain_memory(void)
{
	struct pv_vm_config c = config(false, 0);
	_cleanup_strv_ char **a = pv_vm_argv(&c, &vm);
	ok(has_pair(a, "-M", "microvm,acpi=off,rtc=on"), "plain: no memory backend");
	ok(index_of(a, "-incoming") < 0, "plain: no -incoming");
}

/* ksm = off: no page of the VM is mergeable, guest RAM in a file or anonymous. */
static void test_no_ksm(void)
{
	struct pv_vm_config c = config(false, 0);
	c.ksm = false;
	_cleanup_strv_ char **a = pv_vm_argv(&c, &vm);
	ok(has_pair(a, "-M", "microvm,acpi=off,rtc=on,mem-merge=off"), "ksm off: mem-merge=off");
	c.mem_path = "/var/lib/podvm/templates/ab/mem";
	_cleanup_strv_ char **b = pv_vm_argv(&c, &vm);
	ok(has_pair(b, "-M", "microvm,acpi=off,rtc=on,memory-backend=mem0,mem-merge=off") &&
	   has_pair(b, "-object", "memory-backend-file,id=mem0,mem-path=/var/lib/podvm/templates/ab/mem,size=576M,share=off,merge=off"),
	   "ksm off: the RAM file's backend too (merge=off)");
}

int main(void)
{
	test_no_ksm();
	test_tpm();
	test_template_maker();
	test_restore();
	test_plain_memory();
	test_tcg_serial();
	test_kvm_vsock();
	test_no_shares();
	test_comma_in_path();
	return done_testing();
}
