#include "template.h"
#include "cleanup.h"
#include "util.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_FORMAT "podvm-template-1"

int pv_templates_dir(const struct pv_paths *paths, char **dir, pv_error *err)
{
	if (asprintf(dir, "%s/templates", paths->data_root) < 0)
		return pv_error_set(err, ENOMEM, "templates directory");
	return 0;
}

static int describe_shares(const struct pv_template_shape *s, char **out)
{
	_cleanup_free_ char *tags = strdup("");
	for (size_t i = 0; tags && i < s->n_shares; i++) {
		char *more = NULL;
		if (asprintf(&more, "%s%s%s", tags, i ? "," : "", s->share_tags[i]) < 0)
			return -ENOMEM;
		free(tags);
		tags = more;
	}
	return tags ? (*out = steal_pointer(&tags), 0) : -ENOMEM;
}

int pv_template_key(const struct pv_template_shape *s, const char *kernel, const char *initrd,
		    const char *qemu, char **key, pv_error *err)
{
	_cleanup_free_ char *k = NULL, *i = NULL, *q = NULL, *tags = NULL;
	if (pv_file_identity("kernel", kernel, &k, err) < 0 || pv_file_identity("initrd", initrd, &i, err) < 0 ||
	    pv_file_identity("vmm", qemu, &q, err) < 0)
		return -1;
	if (describe_shares(s, &tags) < 0 ||
	    asprintf(key, "%s %s %s %s accel=%s vcpus=%u mem=%uM net=%d debug=%d tpm=%d shares=%s\n", KEY_FORMAT,
		     k, i, q, s->kvm ? "kvm" : "tcg", s->vcpus, s->mem_mib, s->has_net, s->debug, s->tpm, tags) < 0)
		return pv_error_set(err, ENOMEM, "template key");
	return 0;
}

/* The hash names the directory; the key file inside settles collisions. */
void pv_template_hash(const char *key, char out[17])
{
	pv_hash_hex(key, out);
}

int pv_template_paths(const char *templates_dir, const char *key, struct pv_template *t, pv_error *err)
{
	memset(t, 0, sizeof(*t));
	char hash[17];
	pv_hash_hex(key, hash);
	if (asprintf(&t->dir, "%s/%s", templates_dir, hash) < 0 ||
	    asprintf(&t->state_path, "%s/state", t->dir) < 0 || asprintf(&t->mem_path, "%s/mem", t->dir) < 0) {
		pv_template_clear(t);
		return pv_error_set(err, ENOMEM, "template");
	}
	return 0;
}

bool pv_template_valid(const struct pv_template *t, const char *key, unsigned mem_mib)
{
	_cleanup_free_ char *path = NULL, *saved = NULL;
	struct stat st;
	if (asprintf(&path, "%s/key", t->dir) < 0 || pv_read_file(path, 64 * 1024, &saved, NULL, NULL) < 0)
		return false;
	if (strcmp(saved, key) != 0)
		return false;
	if (stat(t->state_path, &st) < 0 || st.st_size == 0)
		return false;
	return stat(t->mem_path, &st) == 0 && st.st_size == (off_t)mem_mib << 20;
}

int pv_template_lock(const char *templates_dir, const char *key, pv_error *err)
{
	char hash[17], name[32];
	pv_hash_hex(key, hash);
	snprintf(name, sizeof(name), "%s.lock", hash);
	return pv_lock_file(templates_dir, name, "template lock", err);
}

int pv_template_install(const struct pv_template *t, const char *tmp_dir, const char *key, pv_error *err)
{
	_cleanup_free_ char *key_path = NULL;
	if (asprintf(&key_path, "%s/key", tmp_dir) < 0)
		return pv_error_set(err, ENOMEM, "template");
	/* The key is written last: a template without one is incomplete, never used. */
	if (pv_write_file(key_path, key, strlen(key), 0600, err) < 0)
		return -1;
	if (pv_rm_rf(t->dir, err) < 0)
		return -1;
	if (rename(tmp_dir, t->dir) < 0)
		return pv_error_set(err, errno, "template %s", t->dir);
	return 0;
}

void pv_template_discard(const struct pv_template *t)
{
	(void)pv_rm_rf(t->dir, NULL);
}

void pv_template_clear(struct pv_template *t)
{
	free(t->dir);
	free(t->state_path);
	free(t->mem_path);
	memset(t, 0, sizeof(*t));
}

static long long disk_bytes(const char *dir, const char *name)
{
	_cleanup_free_ char *path = NULL;
	struct stat st;
	if (asprintf(&path, "%s/%s", dir, name) < 0 || stat(path, &st) < 0)
		return 0;
	return (long long)st.st_blocks * 512;
}

int pv_template_list(const char *templates_dir,
		     void (*fn)(const char *dir, const char *key, long long disk_bytes, void *data),
		     void *data, pv_error *err)
{
	DIR *d = opendir(templates_dir);
	if (d == NULL)
		return errno == ENOENT ? 0 : pv_error_set(err, errno, "templates %s", templates_dir);
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		_cleanup_free_ char *dir = NULL, *key_path = NULL, *key = NULL;
		if (de->d_name[0] == '.' || strchr(de->d_name, '.'))
			continue;  /* locks and half-made templates */
		if (asprintf(&dir, "%s/%s", templates_dir, de->d_name) < 0 ||
		    asprintf(&key_path, "%s/key", dir) < 0) {
			closedir(d);
			return pv_error_set(err, ENOMEM, "templates");
		}
		if (pv_read_file(key_path, 64 * 1024, &key, NULL, NULL) < 0)
			continue;
		key[strcspn(key, "\n")] = '\0';
		fn(dir, key, disk_bytes(dir, "mem") + disk_bytes(dir, "state"), data);
	}
	closedir(d);
	return 0;
}

int pv_template_remove_all(const char *templates_dir, pv_error *err)
{
	return pv_rm_rf(templates_dir, err);
}
