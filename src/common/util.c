#include "util.h"
#include "cleanup.h"

#include <dirent.h>
#include <errno.h>
#include <sys/file.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

void pv_strv_free(char **v)
{
	if (v == NULL)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

ssize_t pv_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	size_t done = 0;
	while (done < len) {
		ssize_t n = write(fd, p + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

ssize_t pv_read_full(int fd, void *buf, size_t len)
{
	char *p = buf;
	size_t done = 0;
	while (done < len) {
		ssize_t n = read(fd, p + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

int pv_read_fd(int fd, size_t max, char **out, size_t *len, pv_error *err)
{
	/* The buffer grows to max + 1 bytes at most: filling that extra byte tells a file of
	 * exactly max bytes (accepted) from a longer one (EFBIG). */
	size_t cap = max < 4096 ? max + 1 : 4096, used = 0;
	_cleanup_free_ char *buf = malloc(cap + 1);
	if (buf == NULL)
		return pv_error_set(err, ENOMEM, "read");
	for (;;) {
		if (used == cap) {
			if (cap > max)
				return pv_error_set_plain(err, EFBIG, "larger than %zu bytes", max);
			cap = cap * 2 > max ? max + 1 : cap * 2;
			char *nb = realloc(buf, cap + 1);
			if (nb == NULL)
				return pv_error_set(err, ENOMEM, "read");
			buf = nb;
		}
		ssize_t n = read(fd, buf + used, cap - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return pv_error_set(err, errno, "read");
		if (n == 0)
			break;
		used += (size_t)n;
	}
	buf[used] = '\0';
	if (len)
		*len = used;
	*out = steal_pointer(&buf);
	return 0;
}

int pv_read_file(const char *path, size_t max, char **out, size_t *len, pv_error *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return pv_error_set(err, errno, "open %s", path);
	if (pv_read_fd(fd, max, out, len, err) < 0)
		return pv_error_prefix(err, "%s", path);
	return 0;
}

int pv_write_file(const char *path, const void *data, size_t len, mode_t mode, pv_error *err)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return pv_error_set(err, errno, "open %s", path);
	ssize_t n = pv_write_all(fd, data, len);
	if (n < 0)
		return pv_error_set(err, (int)-n, "write %s", path);
	return 0;
}

static int write_synced(int fd, const void *data, size_t len, mode_t mode)
{
	ssize_t n = pv_write_all(fd, data, len);
	if (n < 0)
		return (int)n;
	return fchmod(fd, mode) < 0 || fsync(fd) < 0 ? -errno : 0;
}

int pv_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, pv_error *err)
{
	_cleanup_free_ char *tmp = NULL;
	if (asprintf(&tmp, "%s.tmp-XXXXXX", path) < 0) {
		tmp = NULL;
		return pv_error_set(err, ENOMEM, "write %s", path);
	}
	_cleanup_close_ int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return pv_error_set(err, errno, "write %s", path);
	int r = write_synced(fd, data, len, mode);
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		(void)unlink(tmp);
		return pv_error_set(err, -r, "write %s", path);
	}
	return 0;
}

int pv_unix_listen(const char *path, int backlog, bool cloexec, pv_error *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return pv_error_set_plain(err, ENAMETOOLONG, "listen on %s: path too long", path);
	strcpy(sa.sun_path, path);
	unlink(path);  /* a dead owner's socket */
	int fd = socket(AF_UNIX, SOCK_STREAM | (cloexec ? SOCK_CLOEXEC : 0), 0);
	if (fd < 0)
		return pv_error_set(err, errno, "socket");
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, backlog) < 0) {
		int e = errno;
		close(fd);
		return pv_error_set(err, e, "listen on %s", path);
	}
	return fd;
}

int pv_unix_connect(const char *path, pv_error *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return pv_error_set_plain(err, ENAMETOOLONG, "connect %s: path too long", path);
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return pv_error_set(err, errno, "socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		return pv_error_set(err, e, "connect %s", path);
	}
	return fd;
}

int pv_mkdir_p(const char *path, mode_t mode, pv_error *err)
{
	char buf[PATH_MAX];
	if (path[0] == '\0')
		return pv_error_set(err, ENOENT, "mkdir: empty path");
	if (strlen(path) >= sizeof(buf))
		return pv_error_set(err, ENAMETOOLONG, "mkdir %s", path);
	strcpy(buf, path);
	for (char *p = buf + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;
		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return pv_error_set(err, errno, "mkdir %s", buf);
		*p = saved;
		if (saved == '\0')
			break;
	}
	return 0;
}

static int rm_dir_contents(int dirfd, dev_t dev, pv_error *err);

static int rm_entry_at(int dirfd, const char *name, dev_t dev, pv_error *err)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : pv_error_set(err, errno, "stat %s", name);
	if (!S_ISDIR(st.st_mode)) {
		if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
			return pv_error_set(err, errno, "unlink %s", name);
		return 0;
	}
	if (st.st_dev != dev)
		return pv_error_set(err, EBUSY, "remove %s: is a mount point", name);
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return pv_error_set(err, errno, "open %s", name);
	if (rm_dir_contents(fd, dev, err) < 0)
		return pv_error_prefix(err, "%s", name);
	if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return pv_error_set(err, errno, "rmdir %s", name);
	return 0;
}

/* A bind mount from the same filesystem has the same st_dev: only statx tells it. */
static bool is_mount_root(int dirfd, const char *name)
{
	struct statx stx;
	if (statx(dirfd, name, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx) < 0)
		return false;
	return (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) && (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

DIR *pv_opendir_dup(int dirfd)
{
	int fd = dup(dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (d == NULL && fd >= 0) {
		int e = errno;
		close(fd);
		errno = e;
	}
	return d;
}

static int rm_dir_contents(int dirfd, dev_t dev, pv_error *err)
{
	DIR *d = pv_opendir_dup(dirfd);
	if (d == NULL)
		return pv_error_set(err, errno, "opendir");
	int r = 0;
	struct dirent *de;
	while (r == 0 && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (is_mount_root(dirfd, de->d_name))
			r = pv_error_set_plain(err, EBUSY, "remove %s: is a mount point", de->d_name);
		else
			r = rm_entry_at(dirfd, de->d_name, dev, err);
	}
	closedir(d);
	return r;
}

int pv_rm_rf_at(int dirfd, const char *name, pv_error *err)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : pv_error_set(err, errno, "stat %s", name);
	return rm_entry_at(dirfd, name, st.st_dev, err);
}

int pv_rm_rf(const char *path, pv_error *err)
{
	return pv_rm_rf_at(AT_FDCWD, path, err);
}

size_t pv_strv_len(char *const *v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	return n;
}

int pv_strv_push(char ***v, const char *s)
{
	size_t n = pv_strv_len(*v);
	char *copy = strdup(s);
	if (copy == NULL)
		return -ENOMEM;
	char **nv = realloc(*v, (n + 2) * sizeof(char *));
	if (nv == NULL) {
		free(copy);
		return -ENOMEM;
	}
	nv[n] = copy;
	nv[n + 1] = NULL;
	*v = nv;
	return 0;
}

char **pv_strv_dup(char *const *v)
{
	char **out = calloc(pv_strv_len(v) + 1, sizeof(char *));
	if (out == NULL)
		return NULL;
	for (size_t i = 0; v && v[i]; i++) {
		out[i] = strdup(v[i]);
		if (out[i] == NULL) {
			pv_strv_free(out);
			return NULL;
		}
	}
	return out;
}

static size_t key_len(const char *kv)
{
	const char *eq = strchr(kv, '=');
	return eq ? (size_t)(eq - kv) : strlen(kv);
}

int pv_env_set(char ***env, const char *kv)
{
	size_t klen = key_len(kv);
	for (size_t i = 0; *env && (*env)[i]; i++) {
		if (key_len((*env)[i]) == klen && strncmp((*env)[i], kv, klen) == 0) {
			char *copy = strdup(kv);
			if (copy == NULL)
				return -ENOMEM;
			free((*env)[i]);
			(*env)[i] = copy;
			return 0;
		}
	}
	return pv_strv_push(env, kv);
}

const char *pv_env_get(char *const *env, const char *key)
{
	size_t klen = strlen(key);
	for (size_t i = 0; env && env[i]; i++)
		if (strncmp(env[i], key, klen) == 0 && env[i][klen] == '=')
			return env[i] + klen + 1;
	return NULL;
}

bool pv_str_has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool pv_path_within(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	if (n > 0 && dir[n - 1] == '/')  /* "/" itself */
		n--;
	return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

void pv_one_line(const char *in, char *out, size_t size)
{
	size_t n = 0;
	for (; in[n] && n + 1 < size; n++) {
		unsigned char ch = (unsigned char)in[n];
		out[n] = ch == '\t' || ch == '\n' || ch == '\r' ? ' ' : ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
	}
	out[n] = '\0';
	if (in[n])
		memcpy(out + size - 4, "...", 4);
}

int pv_parse_u64(const char *s, unsigned long long *out)
{
	if (s == NULL || *s < '0' || *s > '9')
		return -EINVAL;
	char *end = NULL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -EINVAL;
	*out = v;
	return 0;
}

int pv_file_identity(const char *what, const char *path, char **out, pv_error *err)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return pv_error_set(err, errno, "%s %s", what, path);
	if (asprintf(out, "%s=%s:%lld:%lld.%09ld:%llu", what, path, (long long)st.st_size,
		     (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec, (unsigned long long)st.st_ino) < 0)
		return pv_error_set(err, ENOMEM, "%s %s", what, path);
	return 0;
}

void pv_hash_hex(const char *s, char out[17])
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		h = (h ^ *p) * 0x100000001b3ULL;
	snprintf(out, 17, "%016llx", (unsigned long long)h);
}

void pv_child_reset_signals(void)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
}

int pv_process_starttime(pid_t pid, unsigned long long *ticks)
{
	char path[64];
	_cleanup_free_ char *stat = NULL;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (pv_read_file(path, 4096, &stat, NULL, NULL) < 0)
		return -ESRCH;
	char *p = strrchr(stat, ')');
	if (p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'))
		return -ESRCH;  /* dead, not yet reaped */
	/* Field 22 (starttime) is the 20th after the command name. */
	for (int field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	if (p == NULL)
		return -EINVAL;
	*ticks = strtoull(p + 1, NULL, 10);
	return 0;
}

long long pv_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int pv_random_hex(char *out, size_t bytes)
{
	unsigned char raw[64];
	if (bytes > sizeof(raw))
		return -EINVAL;
	if (getrandom(raw, bytes, 0) != (ssize_t)bytes)
		return -errno;
	pv_hex_encode(raw, bytes, out);
	return 0;
}

static int lock_file(const char *dir, const char *name, const char *what, int how, pv_error *err)
{
	_cleanup_free_ char *path = NULL;
	if (pv_mkdir_p(dir, 0700, err) < 0)
		return -1;
	if (asprintf(&path, "%s/%s", dir, name) < 0)
		return pv_error_set(err, ENOMEM, "%s", what);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || flock(fd, how) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return e == EWOULDBLOCK ? -EWOULDBLOCK : pv_error_set(err, e, "%s %s", what, path);
	}
	return fd;
}

int pv_lock_file(const char *dir, const char *name, const char *what, pv_error *err)
{
	return lock_file(dir, name, what, LOCK_EX, err);
}

int pv_try_lock_file(const char *dir, const char *name, const char *what, pv_error *err)
{
	return lock_file(dir, name, what, LOCK_EX | LOCK_NB, err);
}

void pv_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

uint32_t pv_get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void pv_hex_encode(const uint8_t *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int pv_hex_decode(const char *hex, size_t hex_len, uint8_t *out, size_t out_len)
{
	if (hex_len != 2 * out_len)
		return -EINVAL;
	for (size_t i = 0; i < out_len; i++) {
		int hi = hex_value(hex[2 * i]), lo = hi < 0 ? -1 : hex_value(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}
