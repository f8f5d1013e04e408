/* Layer unpacking (src/libpodvm/image: pv_layer_apply, image.h): the input is a layer
 * tarball (plain, gzip or zstd), applied twice onto a fresh rootfs (the second time over what
 * the first left, as an upper layer over a lower one). Besides the sanitizers' findings, the
 * target aborts when anything was made, changed or removed outside the rootfs: the rootfs has
 * a sibling "sentinel" directory holding one file, which must stay as it was, and the
 * working directory during the run is the sentinel, so that a relative write that escapes
 * the rootfs lands there. */
#include "fuzz.h"
#include "image.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>

#define KEEP_TEXT "sentinel\n"

static void escaped(const char *base, const char *what)
{
	fprintf(stderr, "fuzz_image_layer: an entry escaped the rootfs %s/rootfs: %s\n", base, what);
	abort();
}

/* The names in dir other than "." and "..", as a sorted "a,b,c" list. */
static void list_dir(const char *dir, char *out, size_t size)
{
	struct dirent **names = NULL;
	int n = scandir(dir, &names, NULL, alphasort);
	size_t len = 0;
	out[0] = '\0';
	for (int i = 0; i < n; i++) {
		const char *d = names[i]->d_name;
		if (strcmp(d, ".") != 0 && strcmp(d, "..") != 0 && len < size)
			len += (size_t)snprintf(out + len, size - len, "%s%s", len ? "," : "", d);
		free(names[i]);
	}
	free(names);
	if (n < 0)
		snprintf(out, size, "(cannot list %s)", dir);
}

static bool same_inode_state(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_mode == b->st_mode && a->st_uid == b->st_uid &&
	       a->st_gid == b->st_gid && a->st_nlink == b->st_nlink && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

struct outside {
	struct stat base, sentinel, keep;
};

static void stat_or_escaped(const char *base, const char *path, struct stat *st)
{
	if (lstat(path, st) < 0)
		escaped(base, path);
}

static void snapshot(const char *base, struct outside *o)
{
	char path[512];
	stat_or_escaped(base, base, &o->base);
	snprintf(path, sizeof(path), "%s/sentinel", base);
	stat_or_escaped(base, path, &o->sentinel);
	snprintf(path, sizeof(path), "%s/sentinel/keep", base);
	stat_or_escaped(base, path, &o->keep);
}

static void check_outside(const char *base, const struct outside *before)
{
	char path[512], names[512];
	struct outside now;
	snapshot(base, &now);
	list_dir(base, names, sizeof(names));
	if (strcmp(names, "layer.tar,rootfs,sentinel") != 0)
		escaped(base, names);
	snprintf(path, sizeof(path), "%s/sentinel", base);
	list_dir(path, names, sizeof(names));
	if (strcmp(names, "keep") != 0)
		escaped(base, names);
	/* base's mtime changes with nothing but an entry made or removed, seen above. */
	if (!same_inode_state(&now.sentinel, &before->sentinel) || !same_inode_state(&now.keep, &before->keep) ||
	    now.base.st_mode != before->base.st_mode || now.base.st_uid != before->base.st_uid)
		escaped(base, "sentinel/keep or a directory above the rootfs changed");
	_cleanup_free_ char *text = NULL;
	snprintf(path, sizeof(path), "%s/sentinel/keep", base);
	if (pv_read_file(path, 64, &text, NULL, NULL) < 0 || strcmp(text, KEEP_TEXT) != 0)
		escaped(base, "sentinel/keep was rewritten");
}

/* A layer may leave directories no one may enter (mode 000): opened up before removal. */
static int open_up(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)ftw;
	if (type == FTW_D || type == FTW_DNR)
		chmod(path, (st->st_mode & 07777) | 0700);
	return 0;
}

static void remove_tree(const char *base)
{
	if (pv_rm_rf(base, NULL) == 0)
		return;
	nftw(base, open_up, 16, FTW_PHYS);
	fuzz_rmdir(base);
}

static void apply(const char *base, const char *layer)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/rootfs", base);
	int rootfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		escaped(base, "the rootfs is gone");
	pv_error err = NULL;
	if (pv_layer_apply(layer, rootfd, &err) < 0 && (err == NULL || err->msg == NULL))
		abort();  /* a failure says why */
	pv_error_release(&err);
	close(rootfd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char base[256], path[512], layer[512];
	fuzz_mkdtemp(base);
	snprintf(path, sizeof(path), "%s/rootfs", base);
	if (mkdir(path, 0755) < 0)
		abort();
	snprintf(path, sizeof(path), "%s/sentinel", base);
	if (mkdir(path, 0755) < 0)
		abort();
	snprintf(path, sizeof(path), "%s/sentinel/keep", base);
	fuzz_write(path, KEEP_TEXT, strlen(KEEP_TEXT));
	snprintf(layer, sizeof(layer), "%s/layer.tar", base);
	fuzz_write(layer, data, size);
	struct outside before;
	snapshot(base, &before);
	int cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	snprintf(path, sizeof(path), "%s/sentinel", base);
	if (cwd < 0 || chdir(path) < 0)
		abort();
	apply(base, layer);
	apply(base, layer);
	if (fchdir(cwd) < 0)
		abort();
	close(cwd);
	check_outside(base, &before);
	remove_tree(base);
	return 0;
}
