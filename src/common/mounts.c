#include "mounts.h"
#include "cleanup.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

static int make_target(const char *target, bool dir, pv_error *err)
{
	if (dir)
		return pv_mkdir_p(target, 0755, err);
	int fd = open(target, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	if (fd < 0)
		return pv_error_set(err, errno, "create %s", target);
	close(fd);
	return 0;
}

int pv_bind_into(const char *source, const char *target, unsigned long propagation, bool readonly,
		 pv_error *err)
{
	struct stat st;
	if (stat(source, &st) < 0)
		return pv_error_set(err, errno, "bind source %s", source);
	if (make_target(target, S_ISDIR(st.st_mode), err) < 0)
		return -1;
	if (mount(source, target, NULL, MS_BIND | MS_REC, NULL) < 0)
		return pv_error_set(err, errno, "bind %s on %s", source, target);
	(void)mount(NULL, target, NULL, MS_REC | propagation, NULL);
	/* mount_setattr, not a remount: that would make only the top mount read-only. */
	struct mount_attr ro = { .attr_set = MOUNT_ATTR_RDONLY };
	if (readonly && mount_setattr(AT_FDCWD, target, AT_RECURSIVE, &ro, sizeof(ro)) < 0) {
		int e = errno;
		(void)umount2(target, MNT_DETACH);
		return pv_error_set(err, e, "make %s read-only", target);
	}
	return 0;
}

/* The deepest mount point at or below dir in a /proc/self/mounts text (cut up), or NULL. */
static char *deepest_mount(char *mounts, const char *dir)
{
	char *deepest = NULL, *save = NULL;
	for (char *line = strtok_r(mounts, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *target = strchr(line, ' ');
		if (target == NULL)
			continue;
		target++;
		*strchrnul(target, ' ') = '\0';
		if (pv_path_within(target, dir) && (deepest == NULL || strlen(target) > strlen(deepest)))
			deepest = target;
	}
	return deepest;
}

void pv_unmount_below(const char *dir)
{
	if (dir == NULL)
		return;
	for (int pass = 0; pass < 1024; pass++) {  /* one mount per pass, deepest first */
		_cleanup_free_ char *mounts = NULL;
		if (pv_read_file("/proc/self/mounts", 1 << 22, &mounts, NULL, NULL) < 0)
			return;
		char *deepest = deepest_mount(mounts, dir);
		if (deepest == NULL || umount2(deepest, MNT_DETACH) < 0)
			return;
	}
}

int pv_mount_overlay(const char *lower, const char *upper, const char *work, const char *target, pv_error *err)
{
	const char *paths[] = { lower, upper, work };
	for (size_t i = 0; i < 3; i++)
		if (strpbrk(paths[i], ",:"))
			return pv_error_set_plain(err, EINVAL, "overlay: %s: ',' and ':' cannot be in its options", paths[i]);
	if (pv_mkdir_p(upper, 0755, err) < 0 || pv_mkdir_p(work, 0700, err) < 0 || pv_mkdir_p(target, 0755, err) < 0)
		return -1;
	_cleanup_free_ char *opts = NULL;
	if (asprintf(&opts, "lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work) < 0)
		return pv_error_set(err, ENOMEM, "overlay");
	if (mount("overlay", target, "overlay", 0, opts) < 0)
		return pv_error_set(err, errno, "mount overlay on %s", target);
	return 0;
}

/* Undoes mountinfo's octal escapes (\040 for a space) in place. */
static void unescape_octal(char *s)
{
	char *o = s;
	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

int pv_mountinfo_find(const char *mountinfo, const char *path, char *mount_point, size_t len, bool *shared)
{
	_cleanup_free_ char *text = strdup(mountinfo);
	if (text == NULL)
		return -ENOMEM;
	size_t best = 0;
	bool found = false;
	char *save = NULL;
	/* "36 35 98:0 /root /mnt opts shared:1 master:2 - fstype source superopts" */
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *f[7] = { 0 }, *fs = line;
		for (int i = 0; i < 7 && fs; i++)
			f[i] = strsep(&fs, " ");
		if (f[6] == NULL)
			continue;
		unescape_octal(f[4]);
		size_t n = strlen(f[4]);
		if (!pv_path_within(path, f[4]) || (found && n < best))
			continue;  /* the last of equal mount points is the one on top */
		best = n;
		found = true;
		snprintf(mount_point, len, "%s", f[4]);
		*shared = false;
		for (char *opt = f[6]; opt && strcmp(opt, "-") != 0; opt = strsep(&fs, " "))
			*shared = *shared || strncmp(opt, "shared:", 7) == 0;
	}
	return found ? 0 : -ENOENT;
}

static int find_mount_of(const char *dir, char *mount_point, size_t len, bool *shared, pv_error *err)
{
	_cleanup_free_ char *info = NULL;
	if (pv_read_file("/proc/self/mountinfo", 1 << 24, &info, NULL, err) < 0)
		return -1;
	if (pv_mountinfo_find(info, dir, mount_point, len, shared) < 0)
		return pv_error_set_plain(err, ENOENT, "%s: on no mount", dir);
	return 0;
}

int pv_mount_make_shared(const char *dir, pv_error *err)
{
	char real[PATH_MAX], mount_point[PATH_MAX];
	bool shared = false;
	if (pv_mkdir_p(dir, 0755, err) < 0)
		return -1;
	if (realpath(dir, real) == NULL)
		return pv_error_set(err, errno, "%s", dir);
	if (find_mount_of(real, mount_point, sizeof(mount_point), &shared, err) < 0)
		return -1;
	if (shared)
		return 0;
	/* Two first starts at once would bind it twice. */
	_cleanup_close_ int fd = open(real, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || flock(fd, LOCK_EX) < 0)
		return pv_error_set(err, errno, "lock %s", real);
	if (find_mount_of(real, mount_point, sizeof(mount_point), &shared, err) < 0)
		return -1;
	if (shared)
		return 0;
	if (strcmp(mount_point, real) != 0 && mount(real, real, NULL, MS_BIND, NULL) < 0)
		return pv_error_set(err, errno, "bind %s onto itself", real);
	if (mount(NULL, real, NULL, MS_SHARED, NULL) < 0)
		return pv_error_set(err, errno, "make %s a shared mount", real);
	return 0;
}
