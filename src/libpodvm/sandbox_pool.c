/* Sandboxes and pools of pre-restored VMs (pool.h): taking a pooled VM for a sandbox, and
 * the detached process that fills a pool. */
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
#define TAP_FILE "tap"

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
	bool ok = pv_mkdir_p(d.data, 0700, NULL) == 0 && stat(d.data, &st) == 0;
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
	if (asprintf(&path, "%s/" TAP_FILE, vm_dir) < 0)
		return pv_error_set(err, ENOMEM, "pool");
	if (pv_read_file(path, 64, &tap, NULL, err) < 0)
		return -1;
	return pv_pod_net_wire_begin(net, tap, err);
}

static int start_pooled(struct pv_sandbox *sb, const struct pv_sandbox_config *cfg, const struct pv_pool_dirs *d,
			const char *entry, const char *vm_dir, pv_error *err)
{
	if (pv_vm_adopt(vm_dir, entry, &sb->vm, err) < 0)
		return -1;
	renice(sb->vm.pid);
	if (move_shares(sb, d, entry, err) < 0 || (cfg->net && begin_wiring_tap(cfg->net, vm_dir, err) < 0) ||
	    pv_vm_set_running(&sb->vm, true, err) < 0)
		return -1;
	int timeout = cfg->boot_timeout_ms > 0 && cfg->boot_timeout_ms < POOL_TIMEOUT_MS ? cfg->boot_timeout_ms
										       : POOL_TIMEOUT_MS;
	return sandbox_connect_agent(sb, 0, timeout, err);
}

static void abandon_pooled(struct pv_sandbox *sb, const struct pv_sandbox_config *cfg, const struct pv_pool_dirs *d,
			   const char *entry, const char *vm_dir)
{
	if (sb->agent)
		ttrpc_client_free(sb->agent);
	sb->agent = NULL;
	if (cfg->net)
		pv_pod_net_unwire(cfg->net);
	pv_vm_stop(&sb->vm);
	pv_vm_clear(&sb->vm);
	memset(&sb->vm, 0, sizeof(sb->vm));
	pv_pool_remove(d, entry, vm_dir);
}

static int take(struct pv_sandbox *sb, const struct pv_sandbox_config *cfg, const struct pv_pool_dirs *d,
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
		if (start_pooled(sb, cfg, d, entry, vm_dir, &start_err) == 0) {
			sb->pooled = sb->restored = true;
			return 0;
		}
		pv_warning("pool VM %s: %s; removed it", entry, start_err->msg);
		pv_error_release(&start_err);
		abandon_pooled(sb, cfg, d, entry, vm_dir);
	}
}

int sandbox_take_from_pool(struct pv_sandbox *sb, const struct pv_sandbox_config *cfg,
			   const struct sandbox_host *h, pv_error *err)
{
	_cleanup_free_ char *key = NULL;
	char hash[17];
	struct pv_pool_dirs d;
	if (sandbox_template_key(sb, cfg, h, &key, err) < 0 || pv_pool_dirs_init(sb->paths, &d, err) < 0)
		return -1;
	pv_template_hash(key, hash);
	pv_error take_err = NULL;
	if (take(sb, cfg, &d, hash, &take_err) < 0) {
		/* The pool is an optimisation: the sandbox restores as without one. */
		pv_warning("VM pool %s: %s", d.state, take_err->msg);
		pv_error_release(&take_err);
	}
	pv_pool_dirs_clear(&d);
	return 0;
}

/* ---- filling a pool, in a process of its own (started by sandbox_refill.c) ---- */

struct fill {
	const struct pv_paths *paths;
	struct pv_pool_dirs dirs;
	struct pv_sandbox_config cfg;
	char **tags;
	size_t n_tags;
	char hash[17];
};

/* The sandbox of a new pool VM: state <pool>/<entry>.tmp, shares <data pool>/<entry>/s<i>. */
static int new_fill_sandbox(struct fill *f, const char *entry, struct pv_sandbox **out, pv_error *err)
{
	_cleanup_free_ char *id = NULL, *data = NULL;
	if (asprintf(&id, "pool/%s.tmp", entry) < 0 || asprintf(&data, "%s/%s", f->dirs.data, entry) < 0)
		return pv_error_set(err, ENOMEM, "pool");
	if (pv_sandbox_new(f->paths, id, out, err) < 0)
		return -1;
	for (size_t i = 0; i < f->n_tags; i++) {
		_cleanup_free_ char *dir = NULL;
		if (asprintf(&dir, "%s/s%zu", data, i) < 0)
			return pv_error_set(err, ENOMEM, "pool");
		if (pv_mkdir_p(dir, 0700, err) < 0 || pv_sandbox_add_share(*out, f->tags[i], dir, false, err) < 0)
			return -1;
	}
	return 0;
}

/* A tap in the host namespace for the VM's NIC; a taker moves it into its pod's. */
static int open_pool_tap(struct pv_sandbox *sb, const char *rnd, int *fd, pv_error *err)
{
	char name[16];
	_cleanup_free_ char *path = NULL;
	snprintf(name, sizeof(name), "pvp%s", rnd);
	if (asprintf(&path, "%s/" TAP_FILE, sb->state_dir) < 0)
		return pv_error_set(err, ENOMEM, "pool");
	if (pv_tap_open(name, fd, err) < 0)
		return -1;
	return pv_write_file(path, name, strlen(name), 0600, err);
}

/* Restored, then paused with no agent connection: the taker connects. */
static int park(struct pv_sandbox *sb, pv_error *err)
{
	ttrpc_client_free(sb->agent);
	sb->agent = NULL;
	return pv_vm_set_running(&sb->vm, false, err);
}

static int fill_one(struct fill *f, pv_error *err)
{
	char rnd[9];
	_cleanup_free_ char *entry = NULL, *ready = NULL, *data = NULL;
	int r = pv_random_hex(rnd, 4);
	if (r < 0)
		return pv_error_set(err, -r, "random");
	if (asprintf(&entry, "%s-%s", f->hash, rnd) < 0 || asprintf(&ready, "%s/%s", f->dirs.state, entry) < 0 ||
	    asprintf(&data, "%s/%s", f->dirs.data, entry) < 0)
		return pv_error_set(err, ENOMEM, "pool");
	struct pv_sandbox *sb = NULL;
	struct pv_sandbox_config cfg = f->cfg;
	cfg.pool_tap_fd = -1;
	r = new_fill_sandbox(f, entry, &sb, err);
	if (r == 0 && cfg.template_nic)
		r = open_pool_tap(sb, rnd, &cfg.pool_tap_fd, err);
	if (r == 0)
		r = pv_sandbox_boot(sb, &cfg, err);
	if (cfg.pool_tap_fd >= 0)
		close(cfg.pool_tap_fd);  /* QEMU holds it now */
	if (r == 0)
		r = sandbox_warm_up(sb, err);
	if (r == 0)
		r = park(sb, err);
	if (r == 0 && rename(sb->state_dir, ready) < 0)
		r = pv_error_set(err, errno, "pool entry %s", ready);
	if (r < 0) {
		pv_sandbox_destroy(sb);
		(void)pv_rm_rf(data, NULL);
		return pv_error_prefix(err, "pool VM %s", entry);
	}
	sandbox_release(sb);
	return 0;
}

static int fill_hash(struct fill *f, pv_error *err)
{
	struct sandbox_host h = { 0 };
	_cleanup_free_ struct share *shares = calloc(f->n_tags + 1, sizeof(*shares));
	_cleanup_free_ char *key = NULL;
	if (shares == NULL)
		return pv_error_set(err, ENOMEM, "pool");
	for (size_t i = 0; i < f->n_tags; i++)
		shares[i].tag = f->tags[i];
	/* Only what the key reads of a sandbox. */
	struct pv_sandbox shape = { .shares = shares, .n_shares = f->n_tags, .debug = getenv("PODVM_DEBUG") != NULL };
	int r = sandbox_probe_host(f->paths, PV_BOOT_POOL_FILL, &h, err);
	if (r == 0)
		r = sandbox_template_key(&shape, &f->cfg, &h, &key, err);
	if (r == 0)
		pv_template_hash(key, f->hash);
	pv_guest_image_clear(&h.img);
	return r;
}

static int fill(struct fill *f, unsigned target, pv_error *err)
{
	if (fill_hash(f, err) < 0 || pv_mkdir_p(f->dirs.data, 0700, err) < 0)
		return -1;
	_cleanup_close_ int lock = pv_pool_lock(&f->dirs, f->hash, err);
	if (lock < 0)
		return -1;
	while (pv_pool_count(&f->dirs, f->hash) < target)
		if (fill_one(f, err) < 0)
			return -1;
	return 0;
}

static int parse_args(int argc, char **argv, struct fill *f, unsigned *target, pv_error *err)
{
	unsigned long long v[5];
	if (argc < 7)
		return pv_error_set_plain(err, EINVAL, "%s: too few arguments", PV_POOL_FILL_ARG);
	for (int i = 0; i < 5; i++)
		if (pv_parse_u64(argv[2 + i], &v[i]) < 0 || v[i] > 1u << 30)
			return pv_error_set_plain(err, EINVAL, "%s: bad argument %s", PV_POOL_FILL_ARG, argv[2 + i]);
	*target = v[0] > PV_POOL_MAX ? PV_POOL_MAX : (unsigned)v[0];
	f->cfg = (struct pv_sandbox_config){ .source = PV_BOOT_POOL_FILL, .vcpus = (unsigned)v[1],
					     .mem_mib = (unsigned)v[2], .template_nic = v[3] != 0,
					     .boot_timeout_ms = (int)v[4], .outlive_thread = true };
	f->tags = argv + 7;
	f->n_tags = (size_t)(argc - 7);
	return 0;
}

int pv_pool_fill_main(int argc, char **argv)
{
	struct pv_paths paths = { 0 };
	struct fill f = { .paths = &paths };
	unsigned target = 0;
	pv_error err = NULL;
	int r = parse_args(argc, argv, &f, &target, &err);
	if (r == 0)
		r = pv_paths_init(&paths, &err);
	if (r == 0)
		r = pv_pool_dirs_init(&paths, &f.dirs, &err);
	if (r == 0)
		r = fill(&f, target, &err);
	if (r < 0)
		pv_error_print("podvm: VM pool", &err);
	pv_pool_dirs_clear(&f.dirs);
	pv_paths_clear(&paths);
	return r < 0 ? 1 : 0;
}
