/* The guest reference (src/libpodvm/attest/reference.c, reference_file.c): digests of a
 * kernel and of a gzip'd newc initramfs built here, of every file in it, and of the kernel
 * command lines (exactly the four non-debug ones with a TPM, each the very text pv_vm_argv
 * passes after -append); the JSON file round-trips, and a garbled or missing one is one
 * line of error. */
#include "tap.h"
#include "cleanup.h"
#include "fixture_archive.h"
#include "reference.h"
#include "hasher.h"
#include "sha256.h"
#include "util.h"
#include "vmm/qemu.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmp[] = "/tmp/podvm-test-reference-XXXXXX";
static char kernel[PATH_MAX], initramfs[PATH_MAX], file[PATH_MAX];

static const struct pv_vm vm = {
	.qmp_path = "/run/podvm/s1/qmp.sock", .agent_path = "/run/podvm/s1/agent.sock",
	.pid_path = "/run/podvm/s1/vmm.pid", .console_path = "/run/podvm/s1/console.log",
	.log_path = "/run/podvm/s1/vmm.log",
};

static void digest_of(const char *s, uint8_t d[32])
{
	pv_sha256((const uint8_t *)s, strlen(s), d);
}

static void make_image(void)
{
	snprintf(kernel, sizeof(kernel), "%s/vmlinuz", tmp);
	snprintf(initramfs, sizeof(initramfs), "%s/initramfs.cpio.gz", tmp);
	snprintf(file, sizeof(file), "%s/" PV_GUEST_REFERENCE, tmp);
	pv_write_file(kernel, "kernel image\n", 13, 0644, NULL);
	fixture_initramfs(initramfs);
}

static bool file_digest_is(const char *path, const char *kind, const struct pv_guest_reference *ref)
{
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	uint8_t d[32];
	if (pv_read_file(path, 1 << 20, &data, &len, NULL) < 0)
		return false;
	pv_sha256((const uint8_t *)data, len, d);
	const char *k = pv_guest_reference_boot_item(ref, d);
	return k && strcmp(k, kind) == 0;
}

static size_t count_kind(const struct pv_guest_reference *ref, const char *kind)
{
	const char *k, *text;
	const uint8_t *d;
	size_t n = 0;
	for (size_t i = 0; (k = pv_guest_reference_item(ref, i, &text, &d)) != NULL; i++)
		n += strcmp(k, kind) == 0;
	return n;
}

/* The -append value of a VM of this shape, and whether the reference lists it (text and
 * digest). */
static bool listed(const struct pv_guest_reference *ref, bool kvm, unsigned cid, bool debug, const char *swtpm)
{
	struct pv_vm_config c = {
		.qemu = "qemu", .kernel = kernel, .initrd = initramfs, .state_dir = "/run/podvm/s1", .vcpus = 1,
		.mem_mib = 256, .kvm = kvm, .vsock_cid = cid, .debug = debug, .swtpm = swtpm,
	};
	_cleanup_strv_ char **argv = pv_vm_argv(&c, &vm);
	const char *append = NULL, *k, *text;
	const uint8_t *d;
	uint8_t want[32];
	for (size_t i = 0; argv && argv[i] && argv[i + 1]; i++)
		if (strcmp(argv[i], "-append") == 0)
			append = argv[i + 1];
	if (append == NULL)
		return false;
	digest_of(append, want);
	for (size_t i = 0; (k = pv_guest_reference_item(ref, i, &text, &d)) != NULL; i++) {
		if (strcmp(k, "cmdline") == 0 && strcmp(text, append) == 0)
			return memcmp(d, want, 32) == 0;
	}
	return false;
}

static void test_compute(const struct pv_guest_reference *ref)
{
	const struct pv_digest_set *files = pv_guest_reference_files(ref);
	uint8_t d[32];
	ok(file_digest_is(kernel, "kernel", ref) && file_digest_is(initramfs, "initramfs", ref),
	   "kernel and initramfs files' digests");
	digest_of("the agent\n", d);
	ok(pv_digest_set_count(files) == 2 && pv_digest_set_find(files, d) &&
	   strcmp(pv_digest_set_find(files, d), "/init") == 0, "initramfs members: regular files, \"./init\" is /init");
	digest_of("a tool\n", d);
	ok(pv_digest_set_find(files, d) && strcmp(pv_digest_set_find(files, d), "/bin/tool") == 0, "/bin/tool");
	ok(pv_guest_reference_boot_item(ref, d) == NULL, "a member is no boot item");
	ok(count_kind(ref, "cmdline") == 4, "four command lines");
	ok(listed(ref, false, 0, false, "swtpm") && listed(ref, true, 0, false, "swtpm") &&
	   listed(ref, false, 7, false, "swtpm") && listed(ref, true, 42, false, "swtpm"),
	   "tcg/kvm x serial/vsock with a TPM: each exactly what -append gets, with its digest");
	ok(!listed(ref, false, 0, true, "swtpm") && !listed(ref, true, 3, true, "swtpm"), "debug VMs: not listed");
	ok(!listed(ref, false, 0, false, NULL), "a VM without a TPM: not listed");
}

static bool same(const struct pv_guest_reference *a, const struct pv_guest_reference *b)
{
	const char *ka, *kb, *ta, *tb;
	const uint8_t *da, *db;
	size_t i = 0;
	for (; (ka = pv_guest_reference_item(a, i, &ta, &da)) != NULL; i++) {
		kb = pv_guest_reference_item(b, i, &tb, &db);
		if (!kb || strcmp(ka, kb) || strcmp(ta, tb) || memcmp(da, db, 32))
			return false;
	}
	const struct pv_digest_set *fa = pv_guest_reference_files(a), *fb = pv_guest_reference_files(b);
	for (size_t j = 0; (ta = pv_digest_set_entry(fa, j, &da)) != NULL; j++) {
		tb = pv_digest_set_find(fb, da);
		if (!tb || strcmp(ta, tb))
			return false;
	}
	return pv_guest_reference_item(b, i, &tb, &db) == NULL && pv_digest_set_count(fa) == pv_digest_set_count(fb);
}

/* The error of loading file with this text (NULL: loaded). */
static char *load_error(const char *text)
{
	_cleanup_guest_reference_ struct pv_guest_reference *ref = NULL;
	pv_error err = NULL;
	if (text)
		pv_write_file(file, text, strlen(text), 0644, NULL);
	else
		unlink(file);
	char *msg = pv_guest_reference_load(file, &ref, &err) < 0 ? strdup(err->msg) : NULL;
	pv_error_release(&err);
	return msg;
}

static void test_file(const struct pv_guest_reference *ref)
{
	_cleanup_guest_reference_ struct pv_guest_reference *back = NULL;
	pv_error err = NULL;
	_cleanup_free_ char *where = NULL;
	ok(pv_guest_reference_file(initramfs, &where, NULL) == 0 && strcmp(where, file) == 0,
	   "the reference lives beside the initramfs");
	ok(pv_guest_reference_save(ref, file, &err) == 0 && pv_guest_reference_load(file, &back, &err) == 0,
	   "save, load: %s", err ? err->msg : "ok");
	ok(back && same(ref, back), "the same reference back");
	pv_error_release(&err);
	static const struct {
		const char *text, *want;
	} bad[] = {
		{ "{\"version\": 1,\n \"kernel\": ", "line 2" },
		{ "[]", "not a JSON object" },
		{ "{\"version\": 2}", "version" },
		{ "{\"version\": 1, \"kernel\": {\"path\": \"k\", \"sha256\": \"00\"}}", "kernel: no \"sha256\"" },
		{ "{\"version\": 1, \"kernel\": {\"path\": \"k\", \"sha256\": \"" "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
		  "\"}, \"initramfs\": {\"path\": \"i\", \"sha256\": \"5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03\"}, "
		  "\"cmdlines\": [{\"text\": \"x\", \"sha256\": \"5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03\"}], \"files\": []}",
		  "cmdlines[0]: \"sha256\" is not the digest" },
		{ NULL, "No such file" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		_cleanup_free_ char *msg = load_error(bad[i].text);
		ok(msg && strstr(msg, file) && strstr(msg, bad[i].want) && !strchr(msg, '\n'), "refused: %s",
		   msg ? msg : "(loaded)");
	}
}

int main(void)
{
	_cleanup_guest_reference_ struct pv_guest_reference *ref = NULL;
	pv_error err = NULL;
	if (!mkdtemp(tmp))
		return 1;
	make_image();
	if (ok(pv_guest_reference_compute(kernel, initramfs, &ref, &err) == 0, "compute: %s", err ? err->msg : "ok")) {
		test_compute(ref);
		test_file(ref);
	}
	pv_error_release(&err);
	char bad[PATH_MAX];
	snprintf(bad, sizeof(bad), "%s/not-an-initramfs", tmp);
	pv_write_file(bad, "garbage", 7, 0644, NULL);
	pv_guest_reference_free(steal_pointer(&ref));
	ok(pv_guest_reference_compute(kernel, bad, &ref, &err) < 0 && strstr(err->msg, bad), "a garbled initramfs: %s",
	   err ? err->msg : "(computed)");
	pv_error_release(&err);
	pv_rm_rf(tmp, NULL);
	return done_testing();
}
