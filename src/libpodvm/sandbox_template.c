/* Booting a sandbox from a VM template (template.h): made on first use by a cold boot of
 * an identical VM with no pod attached, then restored for every sandbox of that shape. */
#include "sandbox-internal.h"
#include "cleanup.h"
#include "template.h"
#include "util.h"
#include "vmm/snapshot.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RESTORE_TIMEOUT_MS 10000

int sandbox_template_key(struct pv_sandbox *sb, const struct pv_sandbox_config *cfg,
			 const struct sandbox_host *h, char **key, pv_error *err)
{
	_cleanup_free_ const char **tags = calloc(sb->n_shares + 1, sizeof(*tags));
	if (tags == NULL)
		return pv_error_set(err, ENOMEM, "template");
	for (size_t i = 0; i < sb->n_shares; i++)
		tags[i] = sb->shares[i].tag;
	struct pv_template_shape shape = {
		.vcpus = cfg->vcpus, .mem_mib = cfg->mem_mib, .has_net = sandbox_has_nic(cfg),
		.kvm = h->caps.kvm, .debug = sb->debug, .share_tags = tags, .n_shares = sb->n_shares,
	};
	return pv_template_key(&shape, h->img.kernel, h->img.initrd, h->caps.qemu_path, key, err);
}

/* A sandbox like sb but with nothing of a pod: its shares export an empty directory. */
static int new_template_sandbox(struct pv_sandbox *sb, const char *tmp_dir, struct pv_sandbox **out,
				pv_error *err)
{
	_cleanup_free_ char *id = NULL, *empty = NULL;
	if (asprintf(&id, "template-%s-%d", strrchr(tmp_dir, '/') + 1, (int)getpid()) < 0 ||
	    asprintf(&empty, "%s/empty", tmp_dir) < 0)
		return pv_error_set(err, ENOMEM, "template");
	if (mkdir(empty, 0700) < 0)
		return pv_error_set(err, errno, "template %s", empty);
	if (pv_sandbox_new(sb->paths, id, out, err) < 0)
		return -1;
	for (size_t i = 0; i < sb->n_shares; i++)
		if (pv_sandbox_add_share(*out, sb->shares[i].tag, empty, true, err) < 0)
			return -1;
	return 0;
}

static int make_template(struct pv_sandbox *sb, const struct pv_sandbox_config *cfg, const char *key,
			 const struct pv_template *t, pv_error *err)
{
	_cleanup_free_ char *tmp = NULL, *mem = NULL, *state = NULL;
	if (asprintf(&tmp, "%s.tmp", t->dir) < 0 || asprintf(&mem, "%s/mem", tmp) < 0 ||
	    asprintf(&state, "%s/state", tmp) < 0)
		return pv_error_set(err, ENOMEM, "template");
	/* Under the lock any leftover .tmp is a dead maker's. */
	if (pv_rm_rf(tmp, err) < 0)
		return -1;
	if (mkdir(tmp, 0700) < 0)
		return pv_error_set(err, errno, "template %s", tmp);
	struct pv_sandbox *tsb = NULL;
	struct pv_sandbox_config tcfg = {
		.source = PV_BOOT_MAKE_TEMPLATE, .template_mem_path = mem, .template_nic = sandbox_has_nic(cfg),
		.vcpus = cfg->vcpus, .mem_mib = cfg->mem_mib, .boot_timeout_ms = cfg->boot_timeout_ms,
		.outlive_thread = cfg->outlive_thread,
	};
	int r = new_template_sandbox(sb, tmp, &tsb, err);
	if (r == 0)
		r = pv_sandbox_boot(tsb, &tcfg, err);
	if (r == 0)
		r = pv_sandbox_save(tsb, state, err);
	pv_sandbox_destroy(tsb);
	if (r == 0)
		r = pv_template_install(t, tmp, key, err);
	if (r < 0) {
		(void)pv_rm_rf(tmp, NULL);
		return pv_error_prefix(err, "make VM template");
	}
	return 0;
}

/* The template for key, made if missing, under a lock shared with other podvm processes. */
static int find_or_make(struct pv_sandbox *sb, const struct pv_sandbox_config *cfg, const char *key,
			struct pv_template *t, pv_error *err)
{
	_cleanup_free_ char *dir = NULL;
	if (pv_templates_dir(sb->paths, &dir, err) < 0 || pv_template_paths(dir, key, t, err) < 0)
		return -1;
	_cleanup_close_ int lock = pv_template_lock(dir, key, err);
	if (lock < 0)
		return -1;
	if (pv_template_valid(t, key, cfg->mem_mib))
		return 0;
	return make_template(sb, cfg, key, t, err);
}

static int restore(struct pv_sandbox *sb, const struct pv_sandbox_config *cfg, const struct sandbox_host *h,
		   const struct pv_template *t, pv_error *err)
{
	struct sandbox_vm_variant v = { .mem_path = t->mem_path, .mem_shared = false, .incoming = true };
	int timeout = cfg->boot_timeout_ms > 0 && cfg->boot_timeout_ms < RESTORE_TIMEOUT_MS ? cfg->boot_timeout_ms
											     : RESTORE_TIMEOUT_MS;
	if (sandbox_start_vm(sb, cfg, h, &v, err) < 0 || pv_vm_restore(&sb->vm, t->state_path, timeout, err) < 0 ||
	    sandbox_connect_agent(sb, 0, timeout, err) < 0)
		return -1;
	return 0;
}

/* Undoes a failed restore so that a cold boot can follow in the same state directory. */
static void abandon_restore(struct pv_sandbox *sb)
{
	if (sb->agent)
		ttrpc_client_free(sb->agent);
	sb->agent = NULL;
	pv_vm_stop(&sb->vm);
	pv_vm_clear(&sb->vm);
}

int sandbox_boot_from_template(struct pv_sandbox *sb, const struct pv_sandbox_config *cfg,
			       const struct sandbox_host *h, pv_error *err)
{
	_cleanup_free_ char *key = NULL;
	struct pv_template t = { 0 };
	if (sandbox_template_key(sb, cfg, h, &key, err) < 0 || find_or_make(sb, cfg, key, &t, err) < 0) {
		pv_template_clear(&t);
		return -1;
	}
	pv_error restore_err = NULL;
	if (restore(sb, cfg, h, &t, &restore_err) == 0) {
		sb->restored = true;
	} else {
		pv_warning("VM template %s: %s; removed it, booting cold", t.dir, restore_err->msg);
		pv_error_release(&restore_err);
		abandon_restore(sb);
		pv_template_discard(&t);
	}
	pv_template_clear(&t);
	return 0;
}
