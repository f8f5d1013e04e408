/* VM templates on disk (src/libpodvm/template.c) and podvm's config file (config.c): the
 * key, validity checks, install and replace, listing; config parsing and its errors. */
#include "tap.h"
#include "cleanup.h"
#include "config.h"
#include "template.h"
#include "util.h"

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
	ok(a && strstr(a, "vcpus=2 mem=4M net=1 debug=0 shares=rootfs,vol0"), "key: names the shape: %s", a);
	struct pv_template_shape other = shape;
	other.mem_mib = 8;
	_cleanup_free_ char *c = key_for(&other);
	ok(c && strcmp(a, c) != 0, "key: another shape, another key");
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
	ok(pv_config_parse(&c, "pool = 3\n", "f", &err) < 0 && err && strstr(err->msg, "unknown setting \"pool\""),
	   "config: unknown setting");
	pv_error_release(&err);
	ok(pv_config_parse(&c, "templates\n", "f", &err) < 0 && err && strstr(err->msg, "f:1: expected key = value"),
	   "config: a line without =");
	pv_error_release(&err);
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
	(void)pv_rm_rf(root, NULL);
	return done_testing();
}
