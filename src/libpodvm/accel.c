#include "accel.h"
#include "cleanup.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

#define KEY_FORMAT "podvm-accel-1"
#define BOOT_ID_PATH "/proc/sys/kernel/random/boot_id"

int pv_accel_key(const char *kernel, const char *initrd, const char *qemu, const char *kvm_detail, char **key,
		 pv_error *err)
{
	_cleanup_free_ char *k = NULL, *i = NULL, *q = NULL, *boot = NULL;
	struct utsname u;
	if (pv_file_identity("kernel", kernel, &k, err) < 0 || pv_file_identity("initrd", initrd, &i, err) < 0 ||
	    pv_file_identity("vmm", qemu, &q, err) < 0)
		return -1;
	if (uname(&u) < 0)
		return pv_error_set(err, errno, "uname");
	if (pv_read_file(BOOT_ID_PATH, 128, &boot, NULL, err) < 0)
		return -1;
	boot[strcspn(boot, "\n")] = '\0';
	if (asprintf(key, "%s %s %s %s host=%s boot=%s dev=%s", KEY_FORMAT, k, i, q, u.release, boot, kvm_detail) < 0)
		return pv_error_set(err, ENOMEM, "accelerator key");
	/* One line in the cache file. */
	for (char *p = *key; *p; p++)
		if (*p == '\n')
			*p = ' ';
	return 0;
}

int pv_accel_dir(const struct pv_paths *paths, char **dir, pv_error *err)
{
	if (asprintf(dir, "%s/accel", paths->state_root) < 0)
		return pv_error_set(err, ENOMEM, "accelerator verdicts");
	return 0;
}

static int verdict_path(const char *dir, const char *key, const char *suffix, char **path)
{
	char hash[17];
	pv_hash_hex(key, hash);
	return asprintf(path, "%s/%s%s", dir, hash, suffix) < 0 ? -ENOMEM : 0;
}

int pv_accel_lock(const char *dir, const char *key, pv_error *err)
{
	char hash[17], name[32];
	pv_hash_hex(key, hash);
	snprintf(name, sizeof(name), "%s.lock", hash);
	return pv_lock_file(dir, name, "accelerator lock", err);
}

/* The file: the key, "kvm" or "tcg", the reason; one line each. */
int pv_accel_load(const char *dir, const char *key, struct pv_accel *v)
{
	_cleanup_free_ char *path = NULL, *text = NULL;
	if (verdict_path(dir, key, "", &path) < 0 || pv_read_file(path, 64 * 1024, &text, NULL, NULL) < 0)
		return 0;
	char *accel = strchr(text, '\n');
	if (accel == NULL)
		return 0;
	*accel++ = '\0';
	char *reason = strchr(accel, '\n');
	if (reason == NULL || strcmp(text, key) != 0)
		return 0;
	*reason++ = '\0';
	reason[strcspn(reason, "\n")] = '\0';
	if (strcmp(accel, "kvm") != 0 && strcmp(accel, "tcg") != 0)
		return 0;
	v->kvm = strcmp(accel, "kvm") == 0;
	snprintf(v->reason, sizeof(v->reason), "%s", reason);
	return 1;
}

int pv_accel_store(const char *dir, const char *key, const struct pv_accel *v, pv_error *err)
{
	_cleanup_free_ char *path = NULL, *tmp = NULL, *text = NULL;
	if (verdict_path(dir, key, "", &path) < 0 || verdict_path(dir, key, ".tmp", &tmp) < 0 ||
	    asprintf(&text, "%s\n%s\n%s\n", key, v->kvm ? "kvm" : "tcg", v->reason) < 0)
		return pv_error_set(err, ENOMEM, "accelerator verdict");
	if (pv_mkdir_p(dir, 0700, err) < 0 || pv_write_file(tmp, text, strlen(text), 0600, err) < 0)
		return -1;
	if (rename(tmp, path) < 0)
		return pv_error_set(err, errno, "accelerator verdict %s", path);
	return 0;
}
