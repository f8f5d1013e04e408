/* VM templates on disk (src/libpodvm/template.c), pools of VMs on disk (pool.c) and podvm's
 * config file (config.c): the key, validity checks, install and replace, listing; taking
 * and draining pool entries; config parsing and its errors. */
#include "tap.h"
#include "cleanup.h"
#include "config.h"
#include "pool.h"
#include "vmm/qemu.h"
#include "template.h"
#include "util.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[] = "/tmp/podvm-test-template.XXXXXX";

static void make_file(const char *path, const char *text, off_t size)
{
	(void)pv_write_file(path, text, strlen(text), 0600, NULL);
	if (size > 0)
		(void)truncate(path, size);
}

static const char *const tags[] = { "rootfs", "vol0" };
static const struct pv_template_shape shape = {
	.vcpus = 2, .mem_mib = 4, .has_net = true, .share_tags = tags, .n_shares = 2,
};

static char *key_for(const struct pv_template_shape *s)
{
	char k[512], i[512], q[512];
	snprintf(k, sizeof(k), "%s/vmlinuz", root);
	snprintf(i, sizeof(i), "%s/initrd", root);
	snprintf(q, sizeof(q), "%s/qemu", root);
	char *key = NULL;
	pv_error err = NULL;
	if (pv_template_key(s, k, i, q, &key, &err) < 0) {
		diag("key: %s", err->msg);
		pv_error_release(&err);
	}
	return key;
}

static void test_key(void)
{
	_cleanup_free_ char *a = key_for(&shape), *b = key_for(&shape);
	ok(a && b && strcmp(a, b) == 0, "key: stable");
	ok(a && strstr(a, "vcpus=2 mem=4M net=1 debug=0 tpm=0 shares=rootfs,vol0"), "key: names the shape: %s", a);
	struct pv_template_shape other = shape;
	other.mem_mib = 8;
	_cleanup_free_ char *c = key_for(&other);
	ok(c && strcmp(a, c) != 0, "key: another shape, another key");
	struct pv_template_shape with_tpm = shape;
	with_tpm.tpm = true;
	_cleanup_free_ char *t = key_for(&with_tpm);
	ok(t && strstr(t, " tpm=1 ") && strcmp(a, t) != 0, "key: a VM with a TPM, another key");
	char k[512];
	snprintf(k, sizeof(k), "%s/vmlinuz", root);
	make_file(k, "a new kernel", 0);
	_cleanup_free_ char *d = key_for(&shape);
	ok(d && strcmp(a, d) != 0, "key: a rebuilt kernel, another key");
	pv_error err = NULL;
	char *none = NULL;
	ok(pv_template_key(&shape, "/nonexistent/vmlinuz", k, k, &none, &err) < 0 && err &&
	   strstr(err->msg, "kernel /nonexistent/vmlinuz"), "key: a missing kernel is named");
	pv_error_release(&err);
}

static void count(const char *d, const char *k, long long bytes, void *data)
{
	(void)d, (void)k, (void)bytes;
	(*(int *)data)++;
}

static void test_install_and_valid(void)
{
	char dir[512], tmp[600], path[700];
	snprintf(dir, sizeof(dir), "%s/templates", root);
	_cleanup_free_ char *key = key_for(&shape);
	struct pv_template t;
	pv_error err = NULL;
	ok(pv_template_paths(dir, key, &t, &err) == 0, "paths");
	ok(!pv_template_valid(&t, key, 4), "valid: not before it exists");
	int lock = pv_template_lock(dir, key, &err);
	ok(lock >= 0, "lock");
	snprintf(tmp, sizeof(tmp), "%s.tmp", t.dir);
	mkdir(tmp, 0700);
	snprintf(path, sizeof(path), "%s/state", tmp);
	make_file(path, "device state", 0);
	snprintf(path, sizeof(path), "%s/mem", tmp);
	make_file(path, "", 4 << 20);
	ok(pv_template_install(&t, tmp, key, &err) == 0, "install");
	ok(access(tmp, F_OK) < 0, "install: the .tmp directory is gone");
	ok(pv_template_valid(&t, key, 4), "valid: after install");
	ok(!pv_template_valid(&t, key, 8), "valid: not for another RAM size");
	ok(!pv_template_valid(&t, "another key\n", 4), "valid: not for another key");
	(void)truncate(t.mem_path, 1 << 20);
	ok(!pv_template_valid(&t, key, 4), "valid: not with a truncated RAM file");
	(void)truncate(t.mem_path, 4 << 20);
	int listed = 0;
	ok(pv_template_list(dir, count, &listed, &err) == 0 && listed == 1, "list: one template (%d)", listed);
	pv_template_discard(&t);
	ok(!pv_template_valid(&t, key, 4) && access(t.dir, F_OK) < 0, "discard: removed");
	close(lock);
	ok(pv_template_remove_all(dir, &err) == 0 && access(dir, F_OK) < 0, "remove all");
	listed = 0;
	ok(pv_template_list(dir, count, &listed, &err) == 0 && listed == 0, "list: none when there is no directory");
	pv_template_clear(&t);
}

static void test_config(void)
{
	struct pv_config c = { .templates = true };
	pv_error err = NULL;
	ok(pv_config_parse(&c, "# comment\n\n  templates = off  # trailing\n", "f", &err) == 0 && !c.templates,
	   "config: templates = off");
	ok(pv_config_parse(&c, "templates=yes", "f", &err) == 0 && c.templates, "config: templates=yes");
	ok(pv_config_parse(&c, "\ntemplates = maybe\n", "/etc/podvm/podvm.conf", &err) < 0 && err &&
	   strcmp(err->msg, "/etc/podvm/podvm.conf:2: templates = \"maybe\": not a boolean") == 0,
	   "config: a bad value names file and line: %s", err ? err->msg : "");
	pv_error_release(&err);
	ok(pv_config_parse(&c, "pool = 3\n", "f", &err) == 0 && c.pool == 3, "config: pool = 3");
	ok(pv_config_parse(&c, "pool = 17\n", "f", &err) < 0 && err &&
	   strcmp(err->msg, "f:1: pool = \"17\": not auto or a number from 0 to 16") == 0, "config: pool too large: %s",
	   err ? err->msg : "");
	pv_error_release(&err);
	ok(pv_config_parse(&c, "pool = -1\n", "f", &err) < 0 && err, "config: pool negative");
	pv_error_release(&err);
	ok(pv_config_parse(&c, "pool = AUTO\npool_max = 4\npool_idle = 30\n", "f", &err) == 0 && c.pool_auto &&
		   c.pool_max == 4 && c.pool_idle == 30, "config: pool = auto, its cap and quiet period");
	ok(pv_config_parse(&c, "pool = 2\n", "f", &err) == 0 && !c.pool_auto && c.pool == 2, "config: a fixed pool");
	ok(pv_config_parse(&c, "pool_max = 0\n", "f", &err) < 0 && err &&
		   strcmp(err->msg, "f:1: pool_max = \"0\": not a number from 1 to 16") == 0, "config: pool_max 0: %s",
	   err ? err->msg : "");
	pv_error_release(&err);
	struct pv_config d;
	unsetenv("PODVM_POOL");
	setenv("PODVM_CONFIG", "/nonexistent/podvm.conf", 1);
	ok(pv_config_load(&d, &err) == 0 && d.pool_auto && d.pool_max == PV_DEFAULT_POOL_MAX &&
		   d.pool_idle == PV_DEFAULT_POOL_IDLE && pv_config_pool_on(&d), "config: pools are on by default (auto)");
	setenv("PODVM_POOL", "0", 1);
	ok(pv_config_load(&d, &err) == 0 && !pv_config_pool_on(&d), "config: PODVM_POOL=0 turns them off");
	setenv("PODVM_POOL", "auto", 1);
	setenv("PODVM_TEMPLATES", "0", 1);
	ok(pv_config_load(&d, &err) == 0 && !pv_config_pool_on(&d), "config: without templates, no pools");
	unsetenv("PODVM_POOL");
	unsetenv("PODVM_TEMPLATES");
	unsetenv("PODVM_CONFIG");
	ok(pv_config_parse(&c, "pools = 3\n", "f", &err) < 0 && err && strstr(err->msg, "unknown setting \"pools\""),
	   "config: unknown setting");
	pv_error_release(&err);
	ok(pv_config_parse(&c, "templates\n", "f", &err) < 0 && err && strstr(err->msg, "f:1: expected key = value"),
	   "config: a line without =");
	pv_error_release(&err);
}

static void count_entries(const char *entry, bool ready, void *data)
{
	int *n = data;
	n[ready ? 0 : 1]++;
	(void)entry;
}

/* Appends n starts, a millisecond apart from first_ms on, to the shape's record. */
static void add_starts(const char *path, long long first_ms, int n)
{
	FILE *f = fopen(path, "a");
	for (int i = 0; f && i < n; i++)
		fprintf(f, "%lld\n", first_ms + i);
	if (f)
		fclose(f);
}

/* A shape that keeps starting: its keeper trims the record, or it grows a line a start for
 * as long as the starts go on (past pv_pool_demand's read limit: no pool any more). */
static void test_trim_starts(const struct pv_pool_dirs *d, const char *hash, const char *path)
{
	struct pv_pool_demand dm;
	long long old = pv_pool_now_ms() - PV_POOL_DEMAND_WINDOW_MS - 10000;
	unlink(path);
	add_starts(path, old, PV_POOL_STALE_STARTS);
	add_starts(path, pv_pool_now_ms(), 2);
	pv_pool_demand(d, hash, &dm);
	ok(dm.total == PV_POOL_STALE_STARTS + 2 && dm.recent == 2, "trim: %u starts on record, 2 recent", dm.total);
	pv_pool_trim_starts(d, hash, &dm);
	pv_pool_demand(d, hash, &dm);
	ok(dm.total == PV_POOL_STALE_STARTS + 2, "trim: not before more than %d stale starts", PV_POOL_STALE_STARTS);
	add_starts(path, old - 1000, 1);
	pv_pool_demand(d, hash, &dm);
	long long last = dm.last_ms;
	pv_pool_trim_starts(d, hash, &dm);
	pv_pool_demand(d, hash, &dm);
	ok(dm.total == 2 && dm.recent == 2 && dm.last_ms == last, "trim: the stale starts forgotten, the recent kept");
	unlink(path);
	add_starts(path, old, 3 * PV_POOL_STALE_STARTS);
	pv_pool_demand(d, hash, &dm);
	pv_pool_trim_starts(d, hash, &dm);
	pv_pool_demand(d, hash, &dm);
	ok(dm.total == 1 && dm.recent == 0 && dm.last_ms == old + 3 * PV_POOL_STALE_STARTS - 1,
	   "trim: none recent: the last start kept (pool_idle counts from it)");
	unlink(path);
}

static void test_pool(void)
{
	struct pv_paths paths = { 0 };
	char state[512], data[512], p[700], dest[600];
	snprintf(state, sizeof(state), "%s/state", root);
	snprintf(data, sizeof(data), "%s/data", root);
	paths.state_root = state;
	paths.data_root = data;
	struct pv_pool_dirs d;
	pv_error err = NULL;
	ok(pv_pool_dirs_init(&paths, &d, &err) == 0, "pool: dirs");
	const char *hash = "0123456789abcdef";
	ok(pv_pool_count(&d, hash) == 0, "pool: no directory, no VM");
	int lock = pv_pool_lock(&d, hash, &err);
	ok(lock >= 0, "pool: lock (creates the directory)");
	static const char *const entries[] = { "0123456789abcdef-aaaa0001", "0123456789abcdef-aaaa0002.tmp",
					       "fedcba9876543210-aaaa0003" };
	for (size_t i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s/%s", d.state, entries[i]);
		mkdir(p, 0700);
	}
	ok(pv_pool_count(&d, hash) == 1, "pool: counts ready entries of its hash only");
	int n[2] = { 0, 0 };
	ok(pv_pool_list(&d, count_entries, n, &err) == 0 && n[0] == 2 && n[1] == 1,
	   "pool: list: 2 ready, 1 being filled");
	snprintf(dest, sizeof(dest), "%s/taken", root);
	char *entry = NULL;
	ok(pv_pool_take(&d, hash, dest, &entry, &err) == 1 && entry && strcmp(entry, entries[0]) == 0 &&
	   access(dest, F_OK) == 0, "pool: take renames the ready entry");
	free(entry);
	entry = NULL;
	ok(pv_pool_take(&d, hash, dest, &entry, &err) == 0 && entry == NULL, "pool: nothing left to take");
	/* An entry's pid file naming a process that is not its QEMU: not adopted, not killed. */
	snprintf(p, sizeof(p), "%s/vmm.pid", dest);
	char self[16];
	snprintf(self, sizeof(self), "%d", (int)getpid());
	make_file(p, self, 0);
	struct pv_vm vm;
	ok(pv_vm_adopt(dest, entries[0], &vm, &err) < 0 && err && strstr(err->msg, "pid reused"),
	   "pool: a pid file naming another process is refused");
	pv_error_release(&err);
	pv_vm_clear(&vm);
	pv_pool_remove(&d, entries[0], dest);
	ok(access(dest, F_OK) < 0, "pool: remove an entry");

	/* Demand (pool = auto): starts are counted in the window, the last one remembered. */
	struct pv_pool_demand dm;
	pv_pool_demand(&d, hash, &dm);
	ok(dm.recent == 0 && dm.last_ms == 0, "demand: none before a start");
	long long t0 = pv_pool_now_ms();
	pv_pool_note_start(&d, hash);
	pv_pool_note_start(&d, hash);
	pv_pool_demand(&d, hash, &dm);
	ok(dm.recent == 2 && dm.last_ms >= t0, "demand: two starts");
	snprintf(p, sizeof(p), "%s/%.32s.starts", d.state, hash);
	char old_start[64];
	int len = snprintf(old_start, sizeof(old_start), "%lld\n", t0 - PV_POOL_DEMAND_WINDOW_MS - 1000);
	int fd = open(p, O_WRONLY | O_APPEND);
	ok(fd >= 0 && write(fd, old_start, (size_t)len) == len, "demand: an old start added");
	if (fd >= 0)
		close(fd);
	pv_pool_demand(&d, hash, &dm);
	ok(dm.recent == 2, "demand: a start before the window is not counted");
	pv_pool_forget_starts(&d, hash, t0 - 1);
	char *text = NULL;
	(void)pv_read_file(p, 4096, &text, NULL, NULL);
	ok(text && strchr(text, '\n') && strchr(text, '\n') != strrchr(text, '\n') && !strstr(text, old_start),
	   "demand: forgetting drops the old start, keeps the two");
	free(text);
	pv_pool_demand(&d, "fedcba9876543210", &dm);
	ok(dm.recent == 0, "demand: per shape");
	test_trim_starts(&d, hash, p);
	/* Shrinking takes and removes ready entries, never one being filled. */
	for (int i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s/%s-bbbb000%d", d.state, hash, i);
		mkdir(p, 0700);
	}
	pv_pool_shrink(&d, hash, 1);
	snprintf(p, sizeof(p), "%s/%s", d.state, entries[1]);
	ok(pv_pool_count(&d, hash) == 1 && access(p, F_OK) == 0, "shrink: to one; the entry being filled stays");
	pv_pool_shrink(&d, hash, 0);
	ok(pv_pool_count(&d, hash) == 0, "shrink: to none");
	close(lock);
	ok(pv_pool_drain(&d, &err) == 0 && access(d.state, F_OK) < 0 && access(d.data, F_OK) < 0,
	   "pool: drain removes the entries and the directories");
	pv_pool_dirs_clear(&d);
}

int main(void)
{
	if (mkdtemp(root) == NULL)
		return 1;
	char p[512];
	snprintf(p, sizeof(p), "%s/vmlinuz", root);
	make_file(p, "kernel", 0);
	snprintf(p, sizeof(p), "%s/initrd", root);
	make_file(p, "initrd", 0);
	snprintf(p, sizeof(p), "%s/qemu", root);
	make_file(p, "qemu", 0);
	test_key();
	test_install_and_valid();
	test_config();
	test_pool();
	(void)pv_rm_rf(root, NULL);
	return done_testing();
}
