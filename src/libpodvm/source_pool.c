/* A VM taken from a pool of pre-restored, warmed-up VMs (pool.h; pool_fill.c fills it): the
 * pod adopts its QEMU, takes its share directories and its tap, and resumes it. */
#include "sandbox-internal.h"
#include "cleanup.h"
#include "pool.h"
#include "template.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define POOL_TIMEOUT_MS 10000

static bool empty_dir_on(const char *path, dev_t dev)
{
	struct stat st;
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_dev != dev)
		return false;
	DIR *d = opendir(path);
	if (d == NULL)
		return false;
	struct dirent *de;
	bool empty = true;
	while (empty && (de = readdir(d)) != NULL)
		empty = strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0;
	closedir(d);
	return empty;
}

bool sandbox_poolable(struct pv_sandbox *sb)
{
	struct pv_pool_dirs d;
	struct stat st;
	if (pv_pool_dirs_init(sb->paths, &d, NULL) < 0)
		return false;
	/* The pool's data dir, or where it will be: shares move from there by rename. */
	bool ok = stat(d.data, &st) == 0 || stat(sb->paths->data_root, &st) == 0;
	for (size_t i = 0; ok && i < sb->n_shares; i++)
		ok = !sb->shares[i].readonly && empty_dir_on(sb->shares[i].host_path, st.st_dev);
	pv_pool_dirs_clear(&d);
	return ok;
}

/* ---- taking a pooled VM ---- */

/* The filler ran its VM as an idle-time task; the pod's VM runs as any other. Every QEMU
 * thread. */
static void renice(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	if (d == NULL)
		return;
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.') {
			struct sched_param normal = { 0 };
			(void)sched_setscheduler(atoi(de->d_name), SCHED_OTHER, &normal);
			(void)setpriority(PRIO_PROCESS, (id_t)atoi(de->d_name), 0);
		}
	closedir(d);
}

/* The pooled VM's share directories take the place of the sandbox's (empty) ones. */
static int move_shares(struct pv_sandbox *sb, const struct pv_pool_dirs *d, const char *entry, pv_error *err)
{
	_cleanup_free_ char *dir = NULL;
	if (asprintf(&dir, "%s/%s", d->data, entry) < 0)
		return pv_error_set(err, ENOMEM, "pool");
	for (size_t i = 0; i < sb->n_shares; i++) {
		_cleanup_free_ char *src = NULL;
		if (asprintf(&src, "%s/s%zu", dir, i) < 0)
			return pv_error_set(err, ENOMEM, "pool");
		if (rename(src, sb->shares[i].host_path) < 0)
			return pv_error_set(err, errno, "share %s", src);
	}
	(void)rmdir(dir);
	return 0;
}

/* Starts moving the VM's tap into the pod's namespace and wiring it; the boot waits for it
 * after the guest has its identity and network (sandbox.c). */
static int begin_wiring_tap(struct pv_pod_net *net, const char *vm_dir, pv_error *err)
{
	_cleanup_free_ char *path = NULL, *tap = NULL;
	if (asprintf(&path, "%s/" PV_POOL_TAP_FILE, vm_dir) < 0)
		return pv_error_set(err, ENOMEM, "pool");
	if (pv_read_file(path, 64, &tap, NULL, err) < 0)
		return -1;
	return pv_pod_net_wire_begin(net, tap, err);
}

static int start_pooled(struct pv_sandbox *sb, const struct boot_request *req, const struct pv_pool_dirs *d,
			const char *entry, const char *vm_dir, pv_error *err)
{
	const struct pv_sandbox_config *cfg = req->cfg;
	if (pv_vm_adopt(vm_dir, entry, &sb->vm, err) < 0)
		return -1;
	renice(sb->vm.pid);
	if (move_shares(sb, d, entry, err) < 0 || (cfg->net && begin_wiring_tap(cfg->net, vm_dir, err) < 0) ||
	    pv_vm_set_running(&sb->vm, true, err) < 0)
		return -1;
	return sandbox_connect_agent(sb, 0, sandbox_boot_timeout(cfg, POOL_TIMEOUT_MS), err);
}

static void abandon_pooled(struct pv_sandbox *sb, const struct pv_sandbox_config *cfg, const struct pv_pool_dirs *d,
			   const char *entry, const char *vm_dir)
{
	if (cfg->net)
		pv_pod_net_unwire(cfg->net);
	sandbox_abandon_vm(sb);
	pv_pool_remove(d, entry, vm_dir);
}

static int take(struct pv_sandbox *sb, const struct boot_request *req, const struct pv_pool_dirs *d,
		const char *hash, pv_error *err)
{
	_cleanup_free_ char *vm_dir = NULL;
	if (asprintf(&vm_dir, "%s/vm", sb->state_dir) < 0)
		return pv_error_set(err, ENOMEM, "pool");
	for (;;) {
		_cleanup_free_ char *entry = NULL;
		int r = pv_pool_take(d, hash, vm_dir, &entry, err);
		if (r <= 0)
			return r;
		pv_error start_err = NULL;
		if (start_pooled(sb, req, d, entry, vm_dir, &start_err) == 0)
			return 1;
		pv_warning("pool VM %s: %s; removed it", entry, start_err->msg);
		pv_error_release(&start_err);
		abandon_pooled(sb, req->cfg, d, entry, vm_dir);
	}
}

/* 1: a pooled VM runs; 0: none to take (or none that started): restore instead. */
static int start_from_pool(struct pv_sandbox *sb, const struct boot_request *req, pv_error *err)
{
	_cleanup_free_ char *key = NULL;
	char hash[17];
	struct pv_pool_dirs d;
	if (sandbox_template_key(sb, req, &key, err) < 0 || pv_pool_dirs_init(sb->paths, &d, err) < 0)
		return -1;
	pv_template_hash(key, hash);
	if (req->host->config.pool_auto)
		pv_pool_note_start(&d, hash);  /* the demand that sizes the pool */
	pv_error take_err = NULL;
	int r = take(sb, req, &d, hash, &take_err);
	if (r < 0) {
		/* The pool is an optimisation: the sandbox restores as without one. */
		pv_warning("VM pool %s: %s", d.state, take_err->msg);
		pv_error_release(&take_err);
		r = 0;
	}
	pv_pool_dirs_clear(&d);
	return r;
}

const struct vm_source sandbox_source_pool = { .how = "taken from the pool", .new_tap = false, .start = start_from_pool };
