#include "rootfs.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define FAIL(rc, ...) (snprintf(msg, msglen, __VA_ARGS__), (rc))

static int open_in_root(int rootfd, const char *path, int flags)
{
	struct open_how how = { .flags = (unsigned long long)(flags | O_CLOEXEC),
				.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
	while (*path == '/')
		path++;
	if (*path == '\0')
		path = ".";
	int fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
	return fd < 0 ? -errno : fd;
}

/* mkdir -p of dest inside the root (symlinks resolve within it); the last component is a
 * directory, or an empty file when want_file. Returns an O_PATH fd of it. */
static int create_in_root(int rootfd, const char *dest, bool want_file)
{
	char partial[4096];
	size_t len = strlen(dest);
	if (len >= sizeof(partial))
		return -ENAMETOOLONG;
	int fd = open_in_root(rootfd, dest, O_PATH);
	if (fd >= 0 || fd != -ENOENT)
		return fd;
	for (size_t i = 1; i <= len; i++) {
		if (dest[i] != '/' && dest[i] != '\0')
			continue;
		memcpy(partial, dest, i);
		partial[i] = '\0';
		int cfd = open_in_root(rootfd, partial, O_PATH);
		if (cfd >= 0) {
			close(cfd);
			continue;
		}
		if (cfd != -ENOENT)
			return cfd;
		/* Create the missing component through its (resolved) parent. */
		char *slash = strrchr(partial, '/');
		*slash = '\0';
		int pfd = open_in_root(rootfd, partial[0] ? partial : "/", O_PATH | O_DIRECTORY);
		if (pfd < 0)
			return pfd;
		int r;
		if (dest[i] == '\0' && want_file)
			r = (r = openat(pfd, slash + 1, O_CREAT | O_WRONLY | O_CLOEXEC, 0644)) >= 0 ? close(r) : -1;
		else
			r = mkdirat(pfd, slash + 1, 0755);
		int saved = errno;
		close(pfd);
		if (r < 0 && saved != EEXIST)
			return -saved;
	}
	return open_in_root(rootfd, dest, O_PATH);
}

static void fd_path(int fd, char *buf, size_t len)
{
	snprintf(buf, len, "/proc/self/fd/%d", fd);
}

static bool source_is_dir(const char *source)
{
	struct stat st;
	return stat(source, &st) < 0 || S_ISDIR(st.st_mode);
}

/* A bind mount takes flags such as ro only on a remount; the remount (and a propagation
 * change) must name the new mount, so the target is resolved again once it is there. */
static int mount_bind(int rootfd, const struct spec_mount *m, const char *target)
{
	unsigned long flags = MS_BIND | (m->recursive ? MS_REC : 0);
	if (mount(m->source, target, NULL, flags, NULL) < 0)
		return -errno;
	unsigned long extra = m->flags & ~(unsigned long)MS_REC;
	if (!extra && !m->propagation)
		return 0;
	int fd = open_in_root(rootfd, m->destination, O_PATH);
	if (fd < 0)
		return fd;
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	int r = 0;
	if (extra && mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | extra, NULL) < 0)
		r = -errno;
	if (r == 0 && m->propagation && mount(NULL, path, NULL, m->propagation, NULL) < 0)
		r = -errno;
	close(fd);
	return r;
}

static int mount_fs(const struct spec_mount *m, const char *target)
{
	const char *type = m->type;
	/* A v1 "cgroup" request is served by cgroup2: the guest runs the unified hierarchy. */
	if (strcmp(type, "cgroup") == 0)
		type = "cgroup2";
	const char *source = m->source ? m->source : type;
	if (mount(source, target, type, m->flags, m->data) < 0)
		return -errno;
	return 0;
}

static int apply_mount(int rootfd, const struct spec_mount *m, char *msg, size_t msglen)
{
	if (m->type == NULL && !m->bind)
		return FAIL(-EINVAL, "mount %s: no type", m->destination);
	bool file = m->bind && !source_is_dir(m->source);
	int fd = create_in_root(rootfd, m->destination, file);
	if (fd < 0)
		return FAIL(fd, "mount %s: create mount point: %s", m->destination, strerror(-fd));
	char target[64];
	fd_path(fd, target, sizeof(target));
	int r = m->bind ? mount_bind(rootfd, m, target) : mount_fs(m, target);
	close(fd);
	if (r < 0)
		return FAIL(r, "mount %s (%s) on %s: %s", m->source ? m->source : "", m->bind ? "bind" : m->type,
			    m->destination, strerror(-r));
	return 0;
}

static bool dev_is_tmpfs(const struct spec *s)
{
	for (size_t i = 0; i < s->n_mounts; i++)
		if (strcmp(s->mounts[i].destination, "/dev") == 0 && !s->mounts[i].bind)
			return true;
	return false;
}

/* Whether the guest's kernel has the device: containerd lists the host's devices for a
 * privileged container; the guest's own (tun, fuse, ...) are those it gets. */
static bool guest_has_device(const struct spec_device *d)
{
	char path[64];
	if (d->type == S_IFIFO)
		return true;
	snprintf(path, sizeof(path), "/sys/dev/%s/%u:%u", d->type == S_IFBLK ? "block" : "char", d->major, d->minor);
	return access(path, F_OK) == 0;
}

/* mkdir -p of the directories above name (relative to dfd, /dev). */
static int make_parents(int dfd, const char *name)
{
	char dir[256];
	for (const char *slash = strchr(name, '/'); slash; slash = strchr(slash + 1, '/')) {
		size_t n = (size_t)(slash - name);
		if (n == 0 || n >= sizeof(dir))
			continue;
		memcpy(dir, name, n);
		dir[n] = '\0';
		if (mkdirat(dfd, dir, 0755) < 0 && errno != EEXIST)
			return -errno;
	}
	return 0;
}

static int make_spec_devices(const struct spec *s, int dfd, char *msg, size_t msglen)
{
	for (size_t i = 0; i < s->n_devices; i++) {
		const struct spec_device *d = &s->devices[i];
		if (strncmp(d->path, "/dev/", 5) != 0 || strstr(d->path, "..") || !guest_has_device(d))
			continue;
		const char *name = d->path + 5;
		int r = make_parents(dfd, name);
		if (r == 0 && mknodat(dfd, name, d->type | d->mode, makedev(d->major, d->minor)) < 0 && errno != EEXIST)
			r = -errno;
		if (r == 0 && fchownat(dfd, name, d->uid, d->gid, AT_SYMLINK_NOFOLLOW) < 0)
			r = -errno;
		if (r < 0)
			return FAIL(r, "mknod %s: %s", d->path, strerror(-r));
	}
	return 0;
}

static int make_devices(const struct spec *s, int rootfd, char *msg, size_t msglen)
{
	static const struct { const char *name; unsigned maj, min; } devs[] = {
		{ "null", 1, 3 }, { "zero", 1, 5 }, { "full", 1, 7 },
		{ "random", 1, 8 }, { "urandom", 1, 9 }, { "tty", 5, 0 },
	};
	static const struct { const char *name, *target; } links[] = {
		{ "fd", "/proc/self/fd" }, { "stdin", "/proc/self/fd/0" },
		{ "stdout", "/proc/self/fd/1" }, { "stderr", "/proc/self/fd/2" },
		{ "ptmx", "pts/ptmx" }, { "core", "/proc/kcore" },
	};
	int dfd = open_in_root(rootfd, "/dev", O_DIRECTORY | O_RDONLY);
	if (dfd < 0)
		return FAIL(dfd, "open /dev: %s", strerror(-dfd));
	mode_t old = umask(0);
	int r = 0;
	for (size_t i = 0; i < sizeof(devs) / sizeof(*devs) && r == 0; i++)
		if (mknodat(dfd, devs[i].name, S_IFCHR | 0666, makedev(devs[i].maj, devs[i].min)) < 0 && errno != EEXIST)
			r = FAIL(-errno, "mknod /dev/%s: %s", devs[i].name, strerror(errno));
	for (size_t i = 0; i < sizeof(links) / sizeof(*links) && r == 0; i++)
		if (symlinkat(links[i].target, dfd, links[i].name) < 0 && errno != EEXIST)
			r = FAIL(-errno, "symlink /dev/%s: %s", links[i].name, strerror(errno));
	if (r == 0)
		r = make_spec_devices(s, dfd, msg, msglen);
	umask(old);
	close(dfd);
	return r;
}

int rootfs_bind_console(const char *pts_path)
{
	int fd = open("/dev/console", O_CREAT | O_WRONLY | O_NOCTTY | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	close(fd);
	return mount(pts_path, "/dev/console", NULL, MS_BIND, NULL) < 0 ? -errno : 0;
}

static int pivot(const char *root, char *msg, size_t msglen)
{
	if (chdir(root) < 0)
		return FAIL(-errno, "chdir %s: %s", root, strerror(errno));
	/* pivot_root(".", ".") stacks the old root under the new one; detach it right away. */
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return FAIL(-errno, "pivot_root %s: %s", root, strerror(errno));
	if (umount2(".", MNT_DETACH) < 0)
		return FAIL(-errno, "detach old root: %s", strerror(errno));
	if (chdir("/") < 0)
		return FAIL(-errno, "chdir /: %s", strerror(errno));
	return 0;
}

static int write_sysctls(char *const *sysctl, char *msg, size_t msglen)
{
	for (size_t i = 0; sysctl && sysctl[i]; i++) {
		char path[512];
		const char *eq = strchr(sysctl[i], '=');
		if (eq == NULL)
			continue;
		int n = snprintf(path, sizeof(path), "/proc/sys/%.*s", (int)(eq - sysctl[i]), sysctl[i]);
		for (char *p = path + 10; p < path + n; p++)
			if (*p == '.')
				*p = '/';
		int fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, eq + 1, strlen(eq + 1)) < 0)
			return FAIL(-errno, "sysctl %s: %s", sysctl[i], strerror(errno));
		close(fd);
	}
	return 0;
}

static int mask_paths(char *const *paths, char *msg, size_t msglen)
{
	for (size_t i = 0; paths && paths[i]; i++) {
		struct stat st;
		if (stat(paths[i], &st) < 0)
			continue;  /* nothing there to hide */
		int r = S_ISDIR(st.st_mode)
			? mount("tmpfs", paths[i], "tmpfs", MS_RDONLY, "size=0k")
			: mount("/dev/null", paths[i], NULL, MS_BIND, NULL);
		if (r < 0)
			return FAIL(-errno, "mask %s: %s", paths[i], strerror(errno));
	}
	return 0;
}

static int readonly_paths(char *const *paths, char *msg, size_t msglen)
{
	for (size_t i = 0; paths && paths[i]; i++) {
		if (mount(paths[i], paths[i], NULL, MS_BIND | MS_REC, NULL) < 0) {
			if (errno == ENOENT)
				continue;
			return FAIL(-errno, "bind %s: %s", paths[i], strerror(errno));
		}
		if (mount(NULL, paths[i], NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
			return FAIL(-errno, "make %s read-only: %s", paths[i], strerror(errno));
	}
	return 0;
}

static int mount_spec_mounts(const struct spec *s, int rootfd, char *msg, size_t msglen)
{
	for (size_t i = 0; i < s->n_mounts; i++) {
		int r = apply_mount(rootfd, &s->mounts[i], msg, msglen);
		if (r < 0)
			return r;
	}
	return dev_is_tmpfs(s) ? make_devices(s, rootfd, msg, msglen) : 0;
}

int rootfs_setup(const struct spec *s, char *msg, size_t msglen)
{
	const char *root = s->root_path;
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return FAIL(-errno, "make mounts private: %s", strerror(errno));
	if (mount(root, root, NULL, MS_BIND | MS_REC, NULL) < 0)
		return FAIL(-errno, "bind rootfs %s: %s", root, strerror(errno));
	int rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return FAIL(-errno, "open rootfs %s: %s", root, strerror(errno));
	int r = mount_spec_mounts(s, rootfd, msg, msglen);
	close(rootfd);
	if (r == 0)
		r = pivot(root, msg, msglen);
	if (r == 0)
		r = write_sysctls(s->sysctl, msg, msglen);
	if (r == 0)
		r = mask_paths(s->masked_paths, msg, msglen);
	if (r == 0)
		r = readonly_paths(s->readonly_paths, msg, msglen);
	if (r == 0 && s->root_readonly && mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
		r = FAIL(-errno, "make rootfs read-only: %s", strerror(errno));
	return r;
}
