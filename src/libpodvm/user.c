#include "user.h"
#include "cleanup.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Reads a file of the rootfs with symlinks resolved inside it. Missing file: *out NULL. */
static int read_in_root(const char *rootfs, const char *path, char **out, pv_error *err)
{
	*out = NULL;
	_cleanup_close_ int root = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return pv_error_set(err, errno, "rootfs %s", rootfs);
	struct open_how how = { .flags = O_RDONLY | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT };
	_cleanup_close_ int fd = (int)syscall(SYS_openat2, root, path, &how, sizeof(how));
	if (fd < 0)
		return errno == ENOENT ? 0 : pv_error_set(err, errno, "image %s", path);
	if (pv_read_fd(fd, 4 << 20, out, NULL, err) < 0)
		return pv_error_prefix(err, "image %s", path);
	return 0;
}

/* Splits a colon-separated line in place into at most n fields. */
static size_t split_fields(char *line, char **f, size_t n)
{
	size_t i = 0;
	f[i++] = line;
	for (char *p = line; *p && i < n; p++)
		if (*p == ':') {
			*p = '\0';
			f[i++] = p + 1;
		}
	return i;
}

static bool is_number(const char *s)
{
	unsigned long long v;
	return pv_parse_u64(s, &v) == 0;
}

/* Finds the passwd entry whose name or uid matches key. */
static bool find_passwd(char *passwd, const char *key, char **f)
{
	for (char *save = NULL, *line = strtok_r(passwd, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (split_fields(line, f, 7) < 7)
			continue;
		if (strcmp(f[0], key) == 0 || (is_number(key) && strcmp(f[2], key) == 0))
			return true;
	}
	return false;
}

static bool in_member_list(char *members, const char *name)
{
	for (char *save = NULL, *m = strtok_r(members, ",", &save); m; m = strtok_r(NULL, ",", &save))
		if (strcmp(m, name) == 0)
			return true;
	return false;
}

static int add_group(struct pv_user *u, gid_t g)
{
	for (size_t i = 0; i < u->n_groups; i++)
		if (u->groups[i] == g)
			return 0;
	gid_t *ng = realloc(u->groups, (u->n_groups + 1) * sizeof(gid_t));
	if (ng == NULL)
		return -ENOMEM;
	ng[u->n_groups++] = g;
	u->groups = ng;
	return 0;
}

static int add_group_first(struct pv_user *u, gid_t g)
{
	if (add_group(u, g) < 0)
		return -ENOMEM;
	size_t i = 0;
	while (u->groups[i] != g)
		i++;
	memmove(u->groups + 1, u->groups, i * sizeof(gid_t));
	u->groups[0] = g;
	return 0;
}

/* Resolves the group part, and collects supplementary groups of `name`. */
static int scan_groups(char *group, const char *gspec, const char *name, struct pv_user *u,
		       bool *found, pv_error *err)
{
	*found = false;
	for (char *save = NULL, *line = strtok_r(group, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *f[4];
		if (split_fields(line, f, 4) < 4)
			continue;
		unsigned long long gid;
		if (pv_parse_u64(f[2], &gid) < 0)
			continue;
		if (gspec && (strcmp(f[0], gspec) == 0 || strcmp(f[2], gspec) == 0)) {
			u->gid = (gid_t)gid;
			*found = true;
		}
		if (name && in_member_list(f[3], name) && add_group(u, (gid_t)gid) < 0)
			return pv_error_set(err, ENOMEM, "groups");
	}
	return 0;
}

static int resolve_user_part(const char *rootfs, const char *uspec, struct pv_user *u,
			     char **name, pv_error *err)
{
	_cleanup_free_ char *passwd = NULL;
	if (read_in_root(rootfs, "/etc/passwd", &passwd, err) < 0)
		return -1;
	char *f[7];
	if (passwd && find_passwd(passwd, uspec, f)) {
		unsigned long long uid, gid;
		if (pv_parse_u64(f[2], &uid) < 0 || pv_parse_u64(f[3], &gid) < 0)
			return pv_error_set_plain(err, EINVAL, "user %s: bad /etc/passwd entry in the image", uspec);
		u->uid = (uid_t)uid;
		u->gid = (gid_t)gid;
		u->home = strdup(f[5][0] ? f[5] : "/");
		*name = strdup(f[0]);
		return u->home && *name ? 0 : pv_error_set(err, ENOMEM, "user");
	}
	unsigned long long uid;
	if (pv_parse_u64(uspec, &uid) < 0 || uid > 0xfffffffeULL)
		return pv_error_set_plain(err, ENOENT, "user %s: no such user in the image's /etc/passwd", uspec);
	u->uid = (uid_t)uid;
	u->gid = 0;
	u->home = strdup("/");
	return u->home ? 0 : pv_error_set(err, ENOMEM, "user");
}

static int resolve_group_part(const char *rootfs, const char *gspec, const char *name,
			      struct pv_user *u, pv_error *err)
{
	_cleanup_free_ char *group = NULL;
	if (read_in_root(rootfs, "/etc/group", &group, err) < 0)
		return -1;
	bool found = false;
	if (group && scan_groups(group, gspec, name, u, &found, err) < 0)
		return -1;
	if (gspec == NULL || found)
		return 0;
	unsigned long long gid;
	if (pv_parse_u64(gspec, &gid) < 0 || gid > 0xfffffffeULL)
		return pv_error_set_plain(err, ENOENT, "group %s: no such group in the image's /etc/group", gspec);
	u->gid = (gid_t)gid;
	return 0;
}

int pv_user_resolve(const char *rootfs, const char *spec, struct pv_user *out, pv_error *err)
{
	memset(out, 0, sizeof(*out));
	_cleanup_free_ char *copy = strdup(spec && *spec ? spec : "0");
	_cleanup_free_ char *name = NULL;
	if (copy == NULL)
		return pv_error_set(err, ENOMEM, "user");
	char *colon = strchr(copy, ':');
	if (colon)
		*colon = '\0';
	int r = resolve_user_part(rootfs, copy, out, &name, err);
	if (r == 0)
		r = resolve_group_part(rootfs, colon ? colon + 1 : NULL, name, out, err);
	/* As runc: the primary group leads the supplementary ones. */
	if (r == 0 && add_group_first(out, out->gid) < 0)
		r = pv_error_set(err, ENOMEM, "groups");
	if (r < 0)
		pv_user_clear(out);
	return r;
}

void pv_user_clear(struct pv_user *u)
{
	free(u->groups);
	free(u->home);
	memset(u, 0, sizeof(*u));
}
