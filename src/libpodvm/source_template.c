/* A VM restored from a template (template.h): made on first use by a cold boot of an
 * identical VM with no pod attached, saved paused, then restored for every sandbox of that
 * shape. */
#include "sandbox-internal.h"
#include "cleanup.h"
#include "template.h"
#include "agent_client.h"
#include "agent.pb-c.h"
#include "util.h"
#include "vmm/snapshot.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RESTORE_TIMEOUT_MS 10000

int sandbox_template_key(struct pv_sandbox *sb, const struct boot_request *req, char **key, pv_error *err)
{
	_cleanup_free_ const char **tags = calloc(sb->n_shares + 1, sizeof(*tags));
	if (tags == NULL)
		return pv_error_set(err, ENOMEM, "template");
	for (size_t i = 0; i < sb->n_shares; i++)
		tags[i] = sb->shares[i].tag;
	const struct sandbox_host *h = req->host;
	struct pv_template_shape shape = {
		.vcpus = req->cfg->vcpus, .mem_mib = req->cfg->mem_mib, .has_net = req->nic,
		.kvm = h->accel.kvm, .debug = sb->debug, .tpm = h->config.tpm, .share_tags = tags, .n_shares = sb->n_shares,
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

/* A template VM's TPM measurements, for each VM restored from it to replay into its own
 * fresh TPM (vmm/tpm_manufacture.h): the boot events its TPM was made with, and IMA's list
 * as the snapshot will hold it. */
static int keep_measurements(struct pv_sandbox *tsb, const char *tmp_dir, pv_error *err)
{
	_cleanup_free_ char *from = NULL, *events = NULL, *to = NULL, *ima_path = NULL;
	size_t len;
	if (asprintf(&from, "%s/attest/boot_events", pv_sandbox_vm_dir(tsb)) < 0 ||
	    asprintf(&to, "%s/boot_events", tmp_dir) < 0 || asprintf(&ima_path, "%s/ima_log", tmp_dir) < 0)
		return pv_error_set(err, ENOMEM, "template");
	if (pv_read_file(from, 1u << 20, &events, &len, err) < 0 || pv_write_file(to, events, len, 0600, err) < 0)
		return -1;
	ProtobufCMessage *m = NULL;
	if (pv_agent_tpm_quote(tsb->agent, NULL, 0, 0, 10000, &m, err) < 0)
		return pv_error_prefix(err, "template's IMA log");
	const Podvm__Agent__V1__TpmQuoteResponse *r = (const void *)m;
	int ret = pv_write_file(ima_path, r->ima_log.data, r->ima_log.len, 0600, err);
	protobuf_c_message_free_unpacked(m, NULL);
	return ret;
}

/* A cold boot with its RAM written through to mem, NIC unbacked; then the agent connection
 * dropped (the guest waits for its next host end: a restored VM's) and the VM saved. */
static int boot_and_save(struct pv_sandbox *tsb, const struct boot_request *req, const char *tmp, const char *mem,
			 const char *state, pv_error *err)
{
	struct pv_sandbox_config tcfg = *req->cfg;
	tcfg.net = NULL;
	struct boot_request treq = { .cfg = &tcfg, .host = req->host, .nic = req->nic, .tap_fd = -1 };
	struct sandbox_vm_variant v = { .mem_path = mem, .mem_shared = true };
	long long t0 = pv_now_ms();
	if (sandbox_boot_vm(tsb, &treq, &v, sandbox_boot_timeout(&tcfg, 0), err) < 0)
		return -1;
	sandbox_note_boot(tsb, sandbox_source_cold.how, pv_now_ms() - t0);
	if (req->host->config.tpm && keep_measurements(tsb, tmp, err) < 0)
		return -1;
	ttrpc_client_free(tsb->agent);
	tsb->agent = NULL;
	return pv_vm_save(&tsb->vm, state, err);
}

static int make_template(struct pv_sandbox *sb, const struct boot_request *req, const char *key,
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
	int r = new_template_sandbox(sb, tmp, &tsb, err);
	if (r == 0)
		r = boot_and_save(tsb, req, tmp, mem, state, err);
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
static int find_or_make(struct pv_sandbox *sb, const struct boot_request *req, const char *key,
			struct pv_template *t, pv_error *err)
{
	_cleanup_free_ char *dir = NULL;
	if (pv_templates_dir(sb->paths, &dir, err) < 0 || pv_template_paths(dir, key, t, err) < 0)
		return -1;
	_cleanup_close_ int lock = pv_template_lock(dir, key, err);
	if (lock < 0)
		return -1;
	if (pv_template_valid(t, key, req->cfg->mem_mib))
		return 0;
	return make_template(sb, req, key, t, err);
}

static int restore(struct pv_sandbox *sb, const struct boot_request *req, const struct pv_template *t,
		   pv_error *err)
{
	/* Templates are restored over virtio-serial, whose host end is a plain socket path. */
	struct sandbox_vm_variant v = { .mem_path = t->mem_path, .mem_shared = false, .incoming = true,
					.template_dir = req->host->config.tpm ? t->dir : NULL };
	int timeout = sandbox_boot_timeout(req->cfg, RESTORE_TIMEOUT_MS);
	if (sandbox_start_vm(sb, req, &v, err) < 0 || pv_vm_restore(&sb->vm, t->state_path, timeout, err) < 0 ||
	    sandbox_connect_agent(sb, 0, timeout, err) < 0)
		return -1;
	return 0;
}

/* 1: restored; 0: the template was broken (removed, with a warning); -1: no template could
 * be made. */
static int start_from_template(struct pv_sandbox *sb, const struct boot_request *req, pv_error *err)
{
	_cleanup_free_ char *key = NULL;
	struct pv_template t = { 0 };
	if (sandbox_template_key(sb, req, &key, err) < 0 || find_or_make(sb, req, key, &t, err) < 0) {
		pv_template_clear(&t);
		return -1;
	}
	pv_error restore_err = NULL;
	int r = restore(sb, req, &t, &restore_err) == 0;
	if (!r) {
		pv_warning("VM template %s: %s; removed it, booting cold", t.dir, restore_err->msg);
		pv_error_release(&restore_err);
		sandbox_abandon_vm(sb);
		pv_template_discard(&t);
	}
	pv_template_clear(&t);
	return r;
}

const struct vm_source sandbox_source_template = {
	.how = "restored from a template", .new_tap = true, .start = start_from_template,
};
