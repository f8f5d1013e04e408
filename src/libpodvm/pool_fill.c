/* Filling a pool of pre-restored VMs (pool.h), in a process of its own: started detached by
 * sandbox_refill.c as `<program> --podvm-pool-fill ...` (pv_pool_fill_main). Each pool VM is
 * restored from its shape's template, warmed up (sandbox_warmup.c) and parked paused. */
#include "sandbox-internal.h"
#include "cleanup.h"
#include "pool.h"
#include "template.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct fill {
	struct pv_paths *paths;
	struct pv_pool_dirs dirs;
	struct sandbox_host host;
	struct pv_sandbox_config cfg;
	bool nic;
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
	if (asprintf(&path, "%s/" PV_POOL_TAP_FILE, sb->state_dir) < 0)
		return pv_error_set(err, ENOMEM, "pool");
	if (pv_tap_open(name, fd, err) < 0)
		return -1;
	return pv_write_file(path, name, strlen(name), 0600, err);
}

/* Restored from the template (made first if missing); a pool has no use for a cold boot. */
static int restore(struct fill *f, struct pv_sandbox *sb, int tap_fd, pv_error *err)
{
	struct boot_request req = { .cfg = &f->cfg, .host = &f->host, .nic = f->nic, .tap_fd = tap_fd };
	long long t0 = pv_now_ms();
	int r = sandbox_source_template.start(sb, &req, err);
	if (r == 0)
		return pv_error_set_plain(err, EIO, "no VM template to restore");  /* the warning said why */
	if (r > 0)
		sandbox_note_boot(sb, sandbox_source_template.how, pv_now_ms() - t0);
	return r < 0 ? -1 : 0;
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
	int tap_fd = -1;
	r = new_fill_sandbox(f, entry, &sb, err);
	if (r == 0 && f->nic)
		r = open_pool_tap(sb, rnd, &tap_fd, err);
	if (r == 0)
		r = restore(f, sb, tap_fd, err);
	if (tap_fd >= 0)
		close(tap_fd);  /* QEMU holds it now */
	if (r == 0)
		r = sandbox_warm_up(sb, f->nic, f->host.config.attestation != PV_ATTEST_OFF, err);
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

/* The host, and the hash of the pool's template key. */
static int fill_hash(struct fill *f, pv_error *err)
{
	_cleanup_free_ struct share *shares = calloc(f->n_tags + 1, sizeof(*shares));
	_cleanup_free_ char *key = NULL;
	if (shares == NULL)
		return pv_error_set(err, ENOMEM, "pool");
	for (size_t i = 0; i < f->n_tags; i++)
		shares[i].tag = f->tags[i];
	/* Only what the key reads of a sandbox. */
	struct pv_sandbox shape = { .shares = shares, .n_shares = f->n_tags, .debug = getenv("PODVM_DEBUG") != NULL };
	struct boot_request req = { .cfg = &f->cfg, .host = &f->host, .nic = f->nic, .tap_fd = -1 };
	if (sandbox_probe_host(f->paths, true, &f->host, err) < 0 || sandbox_template_key(&shape, &req, &key, err) < 0)
		return -1;
	pv_template_hash(key, f->hash);
	return 0;
}

/* `pool = auto`: as many VMs as the shape had starts in the demand window, at least one
 * while it started within pool_idle, none after; at most pool_max. */
static unsigned auto_target(const struct fill *f, const struct pv_pool_demand *dm)
{
	const struct pv_config *c = &f->host.config;
	if (dm->last_ms == 0 || pv_pool_now_ms() - dm->last_ms >= (long long)c->pool_idle * 1000)
		return 0;
	unsigned n = dm->recent > 0 ? dm->recent : 1;
	return n < c->pool_max ? n : c->pool_max;
}

static unsigned target(const struct fill *f)
{
	if (!f->host.config.pool_auto)
		return f->host.config.pool;
	struct pv_pool_demand dm;
	pv_pool_demand(&f->dirs, f->hash, &dm);
	return auto_target(f, &dm);
}

static int fill(struct fill *f, pv_error *err)
{
	_cleanup_close_ int lock = pv_pool_lock(&f->dirs, f->hash, err);
	if (lock < 0)
		return -1;
	while (pv_pool_count(&f->dirs, f->hash) < target(f))  /* demand may grow meanwhile */
		if (fill_one(f, err) < 0)
			return -1;
	return 0;
}

/* How often the keeper looks at its shape's demand. */
#define KEEP_CHECK_MS 5000

/* `pool = auto`: the first filler of a shape stays, idle, as its pool's keeper: it shrinks
 * the pool as the shape's starts thin out, empties it once none came for pool_idle, and
 * goes; so an idle node keeps no VM and no process for it. Later fillers only fill. */
static void keep(struct fill *f)
{
	char name[64];
	snprintf(name, sizeof(name), "%.32s.keeper", f->hash);
	_cleanup_close_ int keeper = pv_try_lock_file(f->dirs.state, name, "pool keeper", NULL);
	if (keeper < 0)
		return;  /* another one keeps it */
	for (;;) {
		/* The VMs this filler started are its children: one a pod took and stopped
		 * would stay a zombie (and look alive) while the keeper lives. */
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		struct pv_pool_demand dm;
		pv_pool_demand(&f->dirs, f->hash, &dm);
		unsigned want = auto_target(f, &dm);
		int lock = pv_pool_lock(&f->dirs, f->hash, NULL);
		if (lock >= 0) {
			pv_pool_shrink(&f->dirs, f->hash, want);
			close(lock);
		}
		if (want == 0)
			break;
		pv_pool_trim_starts(&f->dirs, f->hash, &dm);
		long long left = dm.last_ms + (long long)f->host.config.pool_idle * 1000 - pv_pool_now_ms();
		usleep((useconds_t)(left < KEEP_CHECK_MS ? (left > 0 ? left : 1) : KEEP_CHECK_MS) * 1000);
	}
	pv_pool_forget_starts(&f->dirs, f->hash, pv_pool_now_ms());
}

/* <program> --podvm-pool-fill STATE_ROOT VCPUS MEM NIC TIMEOUT TAG... (sandbox_refill.c). The
 * state root is the pool's (and names it to ps); the pool's size is the config's. */
static int parse_args(int argc, char **argv, struct fill *f, pv_error *err)
{
	unsigned long long v[4];
	if (argc < 7)
		return pv_error_set_plain(err, EINVAL, "%s: too few arguments", PV_POOL_FILL_ARG);
	for (int i = 0; i < 4; i++)
		if (pv_parse_u64(argv[3 + i], &v[i]) < 0 || v[i] > 1u << 30)
			return pv_error_set_plain(err, EINVAL, "%s: bad argument %s", PV_POOL_FILL_ARG, argv[3 + i]);
	free(f->paths->state_root);
	if ((f->paths->state_root = strdup(argv[2])) == NULL)
		return pv_error_set(err, ENOMEM, "pool");
	f->cfg = (struct pv_sandbox_config){ .vcpus = (unsigned)v[0], .mem_mib = (unsigned)v[1],
					     .boot_timeout_ms = (int)v[3], .outlive_thread = true };
	f->nic = v[2] != 0;
	f->tags = argv + 7;
	f->n_tags = (size_t)(argc - 7);
	return 0;
}

int pv_pool_fill_main(int argc, char **argv)
{
	struct pv_paths paths = { 0 };
	struct fill f = { .paths = &paths };
	pv_error err = NULL;
	int r = pv_paths_init(&paths, &err);
	if (r == 0)
		r = parse_args(argc, argv, &f, &err);
	if (r == 0)
		r = pv_pool_dirs_init(&paths, &f.dirs, &err);
	if (r == 0)
		r = fill_hash(&f, &err);
	if (r == 0)
		r = pv_mkdir_p(f.dirs.data, 0700, &err);
	if (r == 0)
		r = fill(&f, &err);
	if (r == 0 && f.host.config.pool_auto)
		keep(&f);
	if (r < 0)
		pv_error_print("podvm: VM pool", &err);
	sandbox_host_clear(&f.host);
	pv_pool_dirs_clear(&f.dirs);
	pv_paths_clear(&paths);
	return r < 0 ? 1 : 0;
}
