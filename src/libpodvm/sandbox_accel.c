/* Choosing the accelerator VMs run under (accel.h): the config's, or for `auto` a verdict a
 * probe VM proved. The probe is one more way a VM starts: a cold boot of the installed guest
 * image, with nothing of a pod, under KVM, over the steps of sandbox_vm.c. */
#include "sandbox-internal.h"
#include "cleanup.h"
#include "sizing.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Under KVM the guest answers in well under a second (TCG: 1-2 s); a KVM that needs longer
 * is no use to podvm. */
#define PROBE_TIMEOUT_MS 10000

/* A failure that names KVM (an internal error the watch saw, QEMU's KVM code giving up, in
 * its message or anywhere in QEMU's log) is KVM's; any other one may be the guest image's
 * or the VMM's. */
static bool names_kvm(const char *text)
{
	return strstr(text, "KVM") || strstr(text, "kvm_") || strstr(text, "kvm.c") || strstr(text, "initialize kvm");
}

static bool log_names_kvm(const char *log_path)
{
	_cleanup_free_ char *text = NULL;
	return log_path && pv_read_file(log_path, 1 << 20, &text, NULL, NULL) == 0 && names_kvm(text);
}

/* Boots a probe VM under KVM (kvm) or TCG and stops it: 0 when its agent answered (*ms
 * after the start), 1 when it did not (the short why in why; *kvm_named when that or
 * QEMU's log names KVM), -1 with *err when no VM could be tried. */
static int probe_boot(const struct pv_paths *paths, const struct sandbox_host *h, bool kvm, char *why, size_t len,
		      bool *kvm_named, long long *ms, pv_error *err)
{
	char id[64], rnd[9];
	if (pv_random_hex(rnd, 4) < 0)
		return pv_error_set(err, EIO, "random");
	snprintf(id, sizeof(id), "accel-probe-%s", rnd);
	struct pv_sandbox *sb = NULL;
	if (pv_sandbox_new(paths, id, &sb, err) < 0)
		return pv_error_prefix(err, "accelerator probe");
	struct sandbox_host ph = *h;  /* shallow: only the accelerator differs */
	ph.accel.kvm = kvm;
	struct pv_sandbox_config cfg = { .vcpus = 1, .mem_mib = PV_MIN_MEM_MIB };
	struct boot_request req = { .cfg = &cfg, .host = &ph, .tap_fd = -1 };
	struct sandbox_vm_variant v = { 0 };
	long long t0 = pv_now_ms();
	pv_error boot_err = NULL;
	int r = sandbox_boot_vm(sb, &req, &v, PROBE_TIMEOUT_MS, &boot_err);
	*ms = pv_now_ms() - t0;
	if (r < 0) {
		snprintf(why, len, "%s", sb->boot_failure[0] ? sb->boot_failure : boot_err->msg);
		*kvm_named = names_kvm(why) || log_names_kvm(sb->vm.log_path);
	}
	pv_error_release(&boot_err);
	pv_sandbox_destroy(sb);
	return r < 0 ? 1 : 0;
}

/* The verdict for a host whose /dev/kvm opens. *conclusive is false when the guest boots
 * under neither accelerator: then the guest or the VMM is at fault, not KVM, and nothing
 * is cached (the boot that follows, under TCG, says what is wrong). */
static int probe(const struct pv_paths *paths, const struct sandbox_host *h, struct pv_accel *v, bool *conclusive,
		 pv_error *err)
{
	char why[256] = "", tcg_why[256] = "";
	long long ms;
	bool kvm_named = false, unused;
	*conclusive = true;
	int r = probe_boot(paths, h, true, why, sizeof(why), &kvm_named, &ms, err);
	if (r < 0)
		return -1;
	if (r == 0) {
		v->kvm = true;
		snprintf(v->reason, sizeof(v->reason), "a probe VM reached its agent under KVM in %lld ms", ms);
		return 0;
	}
	v->kvm = false;
	snprintf(v->reason, sizeof(v->reason), "/dev/kvm (%s) cannot run the guest (%s)", h->caps.kvm_module, why);
	if (kvm_named)
		return 0;
	r = probe_boot(paths, h, false, tcg_why, sizeof(tcg_why), &unused, &ms, err);
	*conclusive = r == 0;
	return r < 0 ? -1 : 0;
}

static int choose_auto(const struct pv_paths *paths, struct sandbox_host *h, bool warn, pv_error *err)
{
	_cleanup_free_ char *dir = NULL, *key = NULL;
	if (pv_accel_dir(paths, &dir, err) < 0 ||
	    pv_accel_key(h->img.kernel, h->img.initrd, h->caps.qemu_path, h->caps.kvm_detail, &key, err) < 0)
		return -1;
	if (pv_accel_load(dir, key, &h->accel))
		return 0;
	_cleanup_close_ int lock = pv_accel_lock(dir, key, err);
	if (lock < 0)
		return -1;
	if (pv_accel_load(dir, key, &h->accel))
		return 0;  /* probed while we waited */
	bool conclusive = true;
	if (h->caps.kvm_device) {
		if (probe(paths, h, &h->accel, &conclusive, err) < 0)
			return -1;
	} else {
		h->accel = (struct pv_accel){ .kvm = false };
		snprintf(h->accel.reason, sizeof(h->accel.reason), "%s", h->caps.kvm_detail);
	}
	if (!conclusive)
		return 0;
	if (pv_accel_store(dir, key, &h->accel, err) < 0)
		return -1;
	if (warn && !h->accel.kvm)
		pv_warning("%s; using TCG", h->accel.reason);
	return 0;
}

static int choose(const struct pv_paths *paths, struct sandbox_host *h, bool warn, pv_error *err)
{
	switch (h->config.accel) {
	case PV_ACCEL_TCG:
		h->accel = (struct pv_accel){ .kvm = false, .reason = "as configured" };
		return 0;
	case PV_ACCEL_KVM:
		if (!h->caps.kvm_device)
			return pv_error_set_plain(err, ENODEV, "accel = kvm: %s", h->caps.kvm_detail);
		h->accel = (struct pv_accel){ .kvm = true, .reason = "as configured" };
		return 0;
	default:
		return choose_auto(paths, h, warn, err);
	}
}

int sandbox_choose_accel(const struct pv_paths *paths, struct sandbox_host *h, bool warn, pv_error *err)
{
	int r = choose(paths, h, warn, err);
	h->accel.mode = h->config.accel;
	return r;
}

int pv_sandbox_accel(const struct pv_paths *paths, struct pv_accel *out, pv_error *err)
{
	struct sandbox_host h = { 0 };
	int r = sandbox_probe_host(paths, false, &h, err);
	if (r == 0)
		*out = h.accel;
	sandbox_host_clear(&h);
	return r;
}
