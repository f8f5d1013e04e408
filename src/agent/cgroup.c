#include "cgroup.h"
#include "cleanup.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int write_at(int dirfd, const char *file, const char *value, pv_error *err)
{
	_cleanup_close_ int fd = openat(dirfd, file, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return pv_error_set(err, errno, "cgroup %s", file);
	if (pv_write_all(fd, value, strlen(value)) < 0)
		return pv_error_set(err, errno, "cgroup %s: write %s", file, value);
	return 0;
}

int cgroup_init(pv_error *err)
{
	_cleanup_close_ int root = open(CGROUP_ROOT, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (root < 0)
		return pv_error_set(err, errno, "open %s", CGROUP_ROOT);
	if (mkdirat(root, "podvm", 0755) < 0 && errno != EEXIST)
		return pv_error_set(err, errno, "mkdir %s/podvm", CGROUP_ROOT);
	const char *ctl = "+cpu +cpuset +memory +pids +io";
	if (write_at(root, "cgroup.subtree_control", ctl, err) < 0)
		return -1;
	_cleanup_close_ int pod = openat(root, "podvm", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (pod < 0)
		return pv_error_set(err, errno, "open %s/podvm", CGROUP_ROOT);
	return write_at(pod, "cgroup.subtree_control", ctl, err);
}

static void path_of(const char *id, char *buf, size_t len)
{
	snprintf(buf, len, CGROUP_ROOT "/podvm/%s", id);
}

static unsigned long long weight_from_shares(unsigned long long shares)
{
	/* The conversion runc and crun use for cpu.shares -> cpu.weight. */
	if (shares < 2)
		shares = 2;
	if (shares > 262144)
		shares = 262144;
	return 1 + ((shares - 2) * 9999) / 262142;
}

static int apply_limits(int dirfd, const struct spec_resources *r, pv_error *err)
{
	char v[64];
	if (r->memory_limit > 0) {
		snprintf(v, sizeof(v), "%lld", r->memory_limit);
		if (write_at(dirfd, "memory.max", v, err) < 0)
			return -1;
	}
	if (r->memory_limit > 0 && r->memory_swap >= r->memory_limit) {
		snprintf(v, sizeof(v), "%lld", r->memory_swap - r->memory_limit);
		(void)write_at(dirfd, "memory.swap.max", v, NULL);  /* no swap in the guest: best effort */
	}
	if (r->cpu_quota > 0 || r->cpu_period > 0) {
		unsigned long long period = r->cpu_period ? r->cpu_period : 100000;
		if (r->cpu_quota > 0)
			snprintf(v, sizeof(v), "%lld %llu", r->cpu_quota, period);
		else
			snprintf(v, sizeof(v), "max %llu", period);
		if (write_at(dirfd, "cpu.max", v, err) < 0)
			return -1;
	}
	if (r->cpu_shares) {
		snprintf(v, sizeof(v), "%llu", weight_from_shares(r->cpu_shares));
		if (write_at(dirfd, "cpu.weight", v, err) < 0)
			return -1;
	}
	if (r->pids_limit > 0) {
		snprintf(v, sizeof(v), "%lld", r->pids_limit);
		if (write_at(dirfd, "pids.max", v, err) < 0)
			return -1;
	}
	return 0;
}

int cgroup_open(const char *id, pv_error *err)
{
	char path[512];
	path_of(id, path, sizeof(path));
	int fd = open(path, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return pv_error_set(err, errno, "open cgroup %s", path);
	return fd;
}

int cgroup_create(const char *id, const struct spec_resources *res, pv_error *err)
{
	char path[512];
	path_of(id, path, sizeof(path));
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return pv_error_set(err, errno, "mkdir cgroup %s", path);
	int fd = cgroup_open(id, err);
	if (fd < 0)
		return fd;
	if (apply_limits(fd, res, err) < 0) {
		close(fd);
		rmdir(path);
		return pv_error_prefix(err, "container %s", id);
	}
	return fd;
}

int cgroup_update(const char *id, const struct spec_resources *res, pv_error *err)
{
	_cleanup_close_ int fd = cgroup_open(id, err);
	if (fd < 0)
		return -1;
	if (apply_limits(fd, res, err) < 0)
		return pv_error_prefix(err, "container %s", id);
	return 0;
}

static bool frozen_now(int dirfd)
{
	_cleanup_close_ int fd = openat(dirfd, "cgroup.events", O_RDONLY | O_CLOEXEC);
	_cleanup_free_ char *text = NULL;
	return fd >= 0 && pv_read_fd(fd, 4096, &text, NULL, NULL) == 0 && strstr(text, "frozen 1") != NULL;
}

int cgroup_freeze(const char *id, bool frozen, pv_error *err)
{
	_cleanup_close_ int fd = cgroup_open(id, err);
	if (fd < 0)
		return -1;
	if (write_at(fd, "cgroup.freeze", frozen ? "1" : "0", err) < 0)
		return pv_error_prefix(err, "container %s", id);
	for (int i = 0; i < 500; i++) {  /* freezing waits for every task to stop */
		if (frozen_now(fd) == frozen)
			return 0;
		usleep(10000);
	}
	return pv_error_set_plain(err, ETIMEDOUT, "container %s: %s did not complete", id, frozen ? "freeze" : "thaw");
}

int cgroup_destroy(const char *id, pv_error *err)
{
	char path[512];
	path_of(id, path, sizeof(path));
	_cleanup_close_ int fd = open(path, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : pv_error_set(err, errno, "open cgroup %s", path);
	(void)write_at(fd, "cgroup.kill", "1", NULL);
	/* Killed processes leave the cgroup asynchronously: retry the rmdir for a while. */
	for (int i = 0; i < 200; i++) {
		if (rmdir(path) == 0 || errno == ENOENT)
			return 0;
		if (errno != EBUSY)
			break;
		usleep(10000);
	}
	return pv_error_set(err, errno, "remove cgroup %s", path);
}
