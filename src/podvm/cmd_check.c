/* podvm check: what this host can do for podvm. */
#include "commands.h"
#include "attest/reference.h"
#include "cleanup.h"
#include "config.h"
#include "guest_image.h"
#include "hostcaps.h"
#include "paths.h"
#include "sandbox.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>
#include <string.h>

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

/* Attestation's mode, and what it stands on: the node CA and the guest image's references;
 * 1 when attestation is on and either is missing. */
static int report_attestation(const struct pv_config *cfg, const struct pv_paths *paths)
{
	_cleanup_free_ char *ca = NULL, *reference = NULL;
	struct pv_guest_image img;
	if (cfg->attestation == PV_ATTEST_OFF) {
		printf("attestation:  off (attestation = off)\n");
		return 0;
	}
	if (asprintf(&ca, "%s/ca/ca.pem", paths->data_root) < 0)
		return 1;
	bool have_ca = access(ca, R_OK) == 0, have_ref = false;
	if (pv_guest_image_open(paths->guest_dir, &img, NULL) == 0) {
		have_ref = pv_guest_reference_file(img.initrd, &reference, NULL) == 0 && access(reference, R_OK) == 0;
		pv_guest_image_clear(&img);
	}
	printf("attestation:  %s (every %u s; node CA %s%s; references %s%s)\n", pv_attestation_mode_name(cfg->attestation),
	       cfg->attestation_period, ca, have_ca ? "" : ": missing (podvm ca init; made on first use)",
	       reference ? reference : paths->guest_dir, have_ref ? "" : ": missing (podvm reference --write)");
	return have_ref ? 0 : 1;
}

/* What one confidential-VM technology needs of the host, named as the reasons name it. */
struct cc_names {
	const char *label, *flag, *module, *param, *since, *object;
};

static void print_kvm_param(const struct cc_names *n, enum pv_param_state s)
{
	switch (s) {
	case PV_PARAM_UNLOADED:
		printf("%s: not loaded", n->module);
		break;
	case PV_PARAM_ABSENT:
		printf("%s: no %s parameter (kernel older than %s)", n->module, n->param, n->since);
		break;
	default:
		printf("%s: %s=%s", n->module, n->param, s == PV_PARAM_ON ? "Y" : "N");
	}
}

static void print_qemu(const struct cc_names *n, const struct pv_host_caps *c, int listed)
{
	char ver[16] = "";
	if (pv_qemu_version_short(c->qemu_version, ver, sizeof(ver)) < 0)
		snprintf(ver, sizeof(ver), "?");
	if (listed == -ETIMEDOUT)
		printf("qemu: %s -object help: no answer within 2 s", c->qemu_path);
	else if (listed < 0)
		printf("qemu: %s -object help: %s", c->qemu_path[0] ? c->qemu_path : "(not found)", strerror(-listed));
	else
		printf("qemu %s: %s%s%s", ver, listed ? "" : "no ", n->object, listed ? "" : " object");
}

static void print_firmware(const struct pv_cc_caps *cc)
{
	static const char *const names[] = { "TDX metadata", "SNP metadata", "a kernel-hashes table" };
	if (cc->firmware[0] == '\0') {
		printf("firmware: no OVMF image found");
		return;
	}
	int missing = cc->firmware_needs & ~cc->firmware_has;
	printf("firmware: %s %s", cc->firmware, missing ? "lacks " : "(");
	const char *sep = "";
	for (int i = 0; i < 3; i++)
		if ((missing ? missing : cc->firmware_needs) & (1 << i)) {
			printf("%s%s", sep, names[i]);
			sep = ", ";
		}
	if (!missing)
		printf(")");
}

/* One line per technology: yes or no, and what each part of the host says. */
static void report_cc(const struct cc_names *n, const struct pv_cc_caps *cc, const struct pv_host_caps *c)
{
	printf("%s %s (cpu: %s%s%s; ", n->label, yes_no(cc->usable), cc->cpu ? "" : "no ", n->flag,
	       cc->cpu ? "" : " flag");
	print_kvm_param(n, cc->kvm);
	printf("; ");
	print_qemu(n, c, cc->qemu_object);
	printf("; ");
	print_firmware(cc);
	printf(")\n");
}

static const struct cc_names tdx_names = {
	"intel tdx:   ", "tdx_host_platform", "kvm_intel", "tdx", "6.16", "tdx-guest",
};
static const struct cc_names snp_names = {
	"amd sev-snp: ", "sev_snp", "kvm_amd", "sev_snp", "6.11", "sev-snp-guest",
};

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
	pv_host_caps_probe_cc(&c);
	report_accel(&paths);
	report_ksm();
	printf("kvm device:   %s\n", c.kvm_detail);
	printf("vhost-vsock:  %s (agent channel: %s)\n", yes_no(c.vhost_vsock), c.vhost_vsock ? "vsock" : "virtio-serial");
	report_cc(&tdx_names, &c.tdx, &c);
	report_cc(&snp_names, &c.sev_snp, &c);
	if (c.qemu_path[0])
		printf("vmm:          %s (%s)\n", c.qemu_path, c.qemu_version);
	else
		printf("vmm:          %s not found\n", qemu);
	int bad = (cfg_ok && (report_tpm(&cfg) | report_attestation(&cfg, &paths))) | report_image(&paths) ||
		  c.qemu_path[0] == '\0';
	pv_paths_clear(&paths);
	return bad ? 1 : 0;
}
