#include "pool.h"
#include "cleanup.h"
#include "util.h"
#include "vmm/qemu.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#define KILL_WAIT_MS 3000

int pv_pool_dirs_init(const struct pv_paths *paths, struct pv_pool_dirs *d, pv_error *err)
{
	memset(d, 0, sizeof(*d));
	if (asprintf(&d->state, "%s/pool", paths->state_root) < 0 || asprintf(&d->data, "%s/pool", paths->data_root) < 0) {
		pv_pool_dirs_clear(d);
		return pv_error_set(err, ENOMEM, "pool");
	}
	return 0;
}

void pv_pool_dirs_clear(struct pv_pool_dirs *d)
{
	free(d->state);
	free(d->data);
	memset(d, 0, sizeof(*d));
}

static bool is_tmp(const char *name)
{
	size_t n = strlen(name);
	return n > 4 && strcmp(name + n - 4, ".tmp") == 0;
}

static bool is_entry(const char *name)
{
	return name[0] != '.' && strchr(name, '-') != NULL;
}

/* Ready entries of hash's pool, in directory order. */
static char **ready_entries(const struct pv_pool_dirs *d, const char *hash)
{
	char **names = pv_strv_dup(NULL);
	DIR *dir = opendir(d->state);
	if (dir == NULL || names == NULL) {
		if (dir)
			closedir(dir);
		return names;
	}
	size_t hl = strlen(hash);
	struct dirent *de;
	while ((de = readdir(dir)) != NULL)
		if (strncmp(de->d_name, hash, hl) == 0 && de->d_name[hl] == '-' && !is_tmp(de->d_name) &&
		    pv_strv_push(&names, de->d_name) < 0)
			break;
	closedir(dir);
	return names;
}

unsigned pv_pool_count(const struct pv_pool_dirs *d, const char *hash)
{
	_cleanup_strv_ char **names = ready_entries(d, hash);
	return (unsigned)pv_strv_len(names);
}

int pv_pool_take(const struct pv_pool_dirs *d, const char *hash, const char *dest, char **entry, pv_error *err)
{
	_cleanup_strv_ char **names = ready_entries(d, hash);
	if (names == NULL)
		return pv_error_set(err, ENOMEM, "pool");
	for (size_t i = 0; names[i]; i++) {
		_cleanup_free_ char *src = NULL;
		if (asprintf(&src, "%s/%s", d->state, names[i]) < 0)
			return pv_error_set(err, ENOMEM, "pool");
		if (rename(src, dest) == 0) {
			*entry = strdup(names[i]);
			return *entry ? 1 : pv_error_set(err, ENOMEM, "pool");
		}
		if (errno != ENOENT)  /* ENOENT: another taker was first */
			return pv_error_set(err, errno, "take pool VM %s", src);
	}
	return 0;
}

int pv_pool_lock(const struct pv_pool_dirs *d, const char *hash, pv_error *err)
{
	char name[64];
	snprintf(name, sizeof(name), "%.32s.lock", hash);
	return pv_lock_file(d->state, name, "pool lock", err);
}

static void kill_entry_vm(const char *entry, const char *state_dir)
{
	struct pv_vm vm;
	if (pv_vm_adopt(state_dir, entry, &vm, NULL) == 0) {
		pv_vm_kill(&vm);
		(void)pv_vm_wait_exit(&vm, KILL_WAIT_MS);
	}
	pv_vm_clear(&vm);
}

void pv_pool_remove(const struct pv_pool_dirs *d, const char *entry, const char *state_dir)
{
	_cleanup_free_ char *base = strdup(entry), *data = NULL;
	if (base == NULL)
		return;
	if (is_tmp(base))
		base[strlen(base) - 4] = '\0';
	kill_entry_vm(base, state_dir);
	(void)pv_rm_rf(state_dir, NULL);
	if (asprintf(&data, "%s/%s", d->data, base) >= 0)
		(void)pv_rm_rf(data, NULL);
}

int pv_pool_list(const struct pv_pool_dirs *d, void (*fn)(const char *entry, bool ready, void *data), void *data,
		 pv_error *err)
{
	DIR *dir = opendir(d->state);
	if (dir == NULL)
		return errno == ENOENT ? 0 : pv_error_set(err, errno, "pool %s", d->state);
	struct dirent *de;
	while ((de = readdir(dir)) != NULL)
		if (is_entry(de->d_name) && !strstr(de->d_name, ".lock"))
			fn(de->d_name, !is_tmp(de->d_name), data);
	closedir(dir);
	return 0;
}

struct drain {
	const struct pv_pool_dirs *d;
	char **names;
};

static void collect(const char *entry, bool ready, void *data)
{
	(void)ready;
	struct drain *dr = data;
	(void)pv_strv_push(&dr->names, entry);
}

int pv_pool_drain(const struct pv_pool_dirs *d, pv_error *err)
{
	struct drain dr = { d, pv_strv_dup(NULL) };
	if (dr.names == NULL)
		return pv_error_set(err, ENOMEM, "pool");
	int r = pv_pool_list(d, collect, &dr, err);
	for (size_t i = 0; r == 0 && dr.names[i]; i++) {
		_cleanup_free_ char *state = NULL;
		if (asprintf(&state, "%s/%s", d->state, dr.names[i]) >= 0)
			pv_pool_remove(d, dr.names[i], state);
	}
	pv_strv_free(dr.names);
	/* Data directories whose state went missing (a filler killed half way), lock files. */
	if (r == 0)
		r = pv_rm_rf(d->data, err);
	if (r == 0)
		r = pv_rm_rf(d->state, err);
	return r;
}

long long pv_pool_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_BOOTTIME, &ts);  /* the state root lives as long as this boot */
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *starts_path(const struct pv_pool_dirs *d, const char *hash)
{
	char *p = NULL;
	return asprintf(&p, "%s/%.32s.starts", d->state, hash) < 0 ? NULL : p;
}

void pv_pool_note_start(const struct pv_pool_dirs *d, const char *hash)
{
	_cleanup_free_ char *path = starts_path(d, hash);
	if (path == NULL || pv_mkdir_p(d->state, 0700, NULL) < 0)
		return;
	char line[32];
	int n = snprintf(line, sizeof(line), "%lld\n", pv_pool_now_ms());
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd >= 0)
		(void)!write(fd, line, (size_t)n);  /* one write: appends never interleave */
}

void pv_pool_demand(const struct pv_pool_dirs *d, const char *hash, struct pv_pool_demand *out)
{
	*out = (struct pv_pool_demand){ 0, 0, 0 };
	_cleanup_free_ char *path = starts_path(d, hash), *text = NULL;
	if (path == NULL || pv_read_file(path, 1 << 20, &text, NULL, NULL) < 0)
		return;
	long long since = pv_pool_now_ms() - PV_POOL_DEMAND_WINDOW_MS;
	for (char *p = text; *p;) {
		long long t = strtoll(p, &p, 10);
		if (t > out->last_ms)
			out->last_ms = t;
		out->recent += t > since;
		out->total++;
		while (*p == '\n')
			p++;
		if (*p && (*p < '0' || *p > '9'))
			break;  /* not ours */
	}
}

void pv_pool_forget_starts(const struct pv_pool_dirs *d, const char *hash, long long keep_after_ms)
{
	_cleanup_free_ char *path = starts_path(d, hash), *tmp = NULL, *text = NULL, *kept = NULL;
	if (path == NULL || asprintf(&tmp, "%s.tmp", path) < 0 || pv_read_file(path, 1 << 20, &text, NULL, NULL) < 0)
		return;
	size_t n = 0;
	kept = calloc(1, strlen(text) + 1);
	for (char *line = strtok(text, "\n"); kept && line; line = strtok(NULL, "\n"))
		if (strtoll(line, NULL, 10) > keep_after_ms)
			n += (size_t)sprintf(kept + n, "%s\n", line);
	/* A start appended meanwhile to the old file is lost: it only sizes the pool. */
	if (kept && pv_write_file(tmp, kept, n, 0600, NULL) == 0)
		(void)rename(tmp, path);
}

void pv_pool_trim_starts(const struct pv_pool_dirs *d, const char *hash, const struct pv_pool_demand *dm)
{
	if (dm->total - dm->recent <= PV_POOL_STALE_STARTS)
		return;
	long long keep_after = pv_pool_now_ms() - PV_POOL_DEMAND_WINDOW_MS;
	pv_pool_forget_starts(d, hash, dm->last_ms - 1 < keep_after ? dm->last_ms - 1 : keep_after);
}

void pv_pool_shrink(const struct pv_pool_dirs *d, const char *hash, unsigned keep)
{
	while (pv_pool_count(d, hash) > keep) {
		_cleanup_free_ char *dest = NULL, *entry = NULL;
		char rnd[9];
		if (pv_random_hex(rnd, 4) < 0 || asprintf(&dest, "%s/.gone-%s", d->state, rnd) < 0)
			return;
		if (pv_pool_take(d, hash, dest, &entry, NULL) <= 0)
			return;
		pv_pool_remove(d, entry, dest);  /* taken first: no pod can take it meanwhile */
	}
}
