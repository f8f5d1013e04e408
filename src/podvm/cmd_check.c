/* podvm check: what this host can do for podvm. */
#include "commands.h"
#include "cleanup.h"
#include "config.h"
#include "guest_image.h"
#include "hostcaps.h"
#include "paths.h"
#include "sandbox.h"
#include "util.h"

#include <stdio.h>

static const char *yes_no(int v)
{
	return v ? "yes" : "no";
}

static int report_image(const struct pv_paths *paths)
{
	struct pv_guest_image img;
	pv_error err = NULL;
	if (pv_guest_image_open(paths->guest_dir, &img, &err) < 0) {
		printf("guest image:  missing (%s)\n", err->msg);
		pv_error_release(&err);
		return 1;
	}
	long long total = (long long)(img.kernel_size + img.initrd_size);
	printf("guest image:  %s\n", paths->guest_dir);
	printf("  kernel:     %s (%lld bytes)\n", img.kernel_release, (long long)img.kernel_size);
	printf("  initramfs:  %lld bytes\n", (long long)img.initrd_size);
	printf("  total:      %lld bytes (%.1f MB)\n", total, total / 1e6);
	pv_guest_image_clear(&img);
	return 0;
}

/* Which accelerator VMs get and why: the same choice a boot makes (probing KVM when no
 * verdict is cached yet). */
static void report_accel(const struct pv_paths *paths)
{
	struct pv_accel a;
	pv_error err = NULL;
	if (pv_sandbox_accel(paths, &a, &err) < 0) {
		printf("accelerator:  unknown (%s)\n", err->msg);
		pv_error_release(&err);
		return;
	}
	printf("accelerator:  %s (accel = %s: %s)\n", a.kvm ? "kvm" : "tcg (software emulation)",
	       pv_accel_mode_name(a.mode), a.reason);
}

/* Whether the host's KSM merges VMs' equal pages, and whether podvm lets it (config ksm). */
static void report_ksm(void)
{
	struct pv_config cfg;
	pv_error err = NULL;
	if (pv_config_load(&cfg, &err) < 0) {
		printf("memory merge: unknown (%s)\n", err->msg);
		pv_error_release(&err);
		return;
	}
	_cleanup_free_ char *run = NULL;
	bool host_on = pv_read_file("/sys/kernel/mm/ksm/run", 16, &run, NULL, NULL) == 0 && run[0] == '1';
	if (!cfg.ksm)
		printf("memory merge: off (ksm = off: no page of a VM is merged)\n");
	else
		printf("memory merge: %s (ksm = on: all of a VM's memory is mergeable; host KSM %s)\n",
		       host_on ? "on" : "off", host_on ? "running" : "stopped: /sys/kernel/mm/ksm/run = 0");
}

/* Whether VMs get a TPM (config tpm), and the swtpm that emulates it; 1 when it is missing. */
static int report_tpm(const struct pv_config *cfg)
{
	char path[256];
	pv_error err = NULL;
	if (!cfg->tpm) {
		printf("vtpm:         off (tpm = off)\n");
		return 0;
	}
	if (pv_sandbox_find_swtpm(cfg, path, sizeof(path), &err) < 0) {
		printf("vtpm:         on, but %s\n", err->msg);
		pv_error_release(&err);
		return 1;
	}
	printf("vtpm:         on (tpm = on: a TPM 2.0 per VM, swtpm %s)\n", path);
	return 0;
}

int cmd_check(int argc, char **argv)
{
	(void)argv;
	if (argc > 1) {
		fprintf(stderr, "Usage: podvm check\n");
		return 125;
	}
	struct pv_paths paths;
	pv_error err = NULL;
	if (pv_paths_init(&paths, &err) < 0) {
		pv_error_print("podvm", &err);
		return 125;
	}
	struct pv_config cfg;
	pv_error cfg_err = NULL;  /* report_ksm says what is wrong with the config */
	bool cfg_ok = pv_config_load(&cfg, &cfg_err) == 0;
	const char *qemu = cfg_ok && cfg.qemu[0] ? cfg.qemu : paths.qemu;
	pv_error_release(&cfg_err);
	struct pv_host_caps c;
	pv_host_caps_probe(qemu, &c);
	pv_host_caps_probe_qemu_version(&c);
	report_accel(&paths);
	report_ksm();
	printf("kvm device:   %s\n", c.kvm_detail);
	printf("vhost-vsock:  %s (agent channel: %s)\n", yes_no(c.vhost_vsock), c.vhost_vsock ? "vsock" : "virtio-serial");
	printf("intel tdx:    %s\n", yes_no(c.tdx));
	printf("amd sev-snp:  %s\n", yes_no(c.sev_snp));
	if (c.qemu_path[0])
		printf("vmm:          %s (%s)\n", c.qemu_path, c.qemu_version);
	else
		printf("vmm:          %s not found\n", qemu);
	int bad = (cfg_ok && report_tpm(&cfg)) | report_image(&paths) || c.qemu_path[0] == '\0';
	pv_paths_clear(&paths);
	return bad ? 1 : 0;
}
