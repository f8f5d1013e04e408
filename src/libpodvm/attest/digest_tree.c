/* pv_digest_set_add_tree: the digests of a directory tree's regular files, as the guest
 * would measure them when it runs them. Names are taken in sorted order, so that the set
 * (and its file) is the same for the same tree. */
#include "digest_set.h"
#include "hasher.h"
#include "cleanup.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct walk {
	struct pv_digest_set *set;
	dev_t dev;              /* the tree's filesystem: mounts below are not its content */
	char path[PATH_MAX];    /* of the current directory, relative, "" or "/a/b" */
};

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in dirfd, sorted. */
static int list_dir(int dirfd, char ***names)
{
	DIR *d = pv_opendir_dup(dirfd);
	if (d == NULL)
		return -errno;
	struct dirent *de;
	int r = 0;
	while (r == 0 && (errno = 0, de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			r = pv_strv_push(names, de->d_name);
	}
	if (r == 0 && errno != 0)
		r = -errno;
	closedir(d);
	if (r == 0 && *names)
		qsort(*names, pv_strv_len(*names), sizeof(**names), cmp_names);
	return r;
}

static int add_file(struct walk *w, int dirfd, const char *name, pv_error *err)
{
	uint8_t digest[32];
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return pv_error_set(err, errno, "%s/%s", w->path, name);
	if (pv_sha256_fd(fd, digest, err) < 0)
		return pv_error_prefix(err, "%s/%s", w->path, name);
	_cleanup_free_ char *path = NULL;
	if (asprintf(&path, "%s/%s", w->path, name) < 0) {
		path = NULL;
		return pv_error_set(err, ENOMEM, "%s/%s", w->path, name);
	}
	return pv_digest_set_add(w->set, digest, path, err);
}

static int walk_dir(struct walk *w, int dirfd, pv_error *err);

static int enter_dir(struct walk *w, int dirfd, const char *name, pv_error *err)
{
	size_t len = strlen(w->path);
	if (len + 1 + strlen(name) >= sizeof(w->path))
		return pv_error_set(err, ENAMETOOLONG, "%s/%s", w->path, name);
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return pv_error_set(err, errno, "%s/%s", w->path, name);
	snprintf(w->path + len, sizeof(w->path) - len, "/%s", name);
	int r = walk_dir(w, fd, err);
	w->path[len] = '\0';
	return r;
}

static int walk_entry(struct walk *w, int dirfd, const char *name, pv_error *err)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : pv_error_set(err, errno, "%s/%s", w->path, name);
	if (st.st_dev != w->dev)
		return 0;
	if (S_ISDIR(st.st_mode))
		return enter_dir(w, dirfd, name, err);
	return S_ISREG(st.st_mode) ? add_file(w, dirfd, name, err) : 0;
}

static int walk_dir(struct walk *w, int dirfd, pv_error *err)
{
	_cleanup_strv_ char **names = NULL;
	int r = list_dir(dirfd, &names);
	if (r < 0)
		return pv_error_set(err, -r, "%s/", w->path);
	for (size_t i = 0; r == 0 && names && names[i]; i++)
		r = walk_entry(w, dirfd, names[i], err);
	return r;
}

int pv_digest_set_add_tree(struct pv_digest_set *set, const char *dir, pv_error *err)
{
	struct walk w = { .set = set };
	struct stat st;
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		return pv_error_set(err, errno, "digests of %s", dir);
	w.dev = st.st_dev;
	if (walk_dir(&w, fd, err) < 0)
		return pv_error_prefix(err, "digests of %s", dir);
	return 0;
}
