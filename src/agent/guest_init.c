#include "guest_init.h"
#include "cleanup.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define NEWROOT "/newroot"

static int copy_file(const char *from, const char *to, mode_t mode, pv_error *err)
{
	_cleanup_close_ int in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return pv_error_set(err, errno, "open %s", from);
	struct stat st;
	if (fstat(in, &st) < 0)
		return pv_error_set(err, errno, "stat %s", from);
	_cleanup_close_ int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (out < 0)
		return pv_error_set(err, errno, "create %s", to);
	for (off_t off = 0; off < st.st_size; ) {
		ssize_t n = sendfile(out, in, &off, (size_t)(st.st_size - off));
		if (n <= 0)
			return pv_error_set(err, n < 0 ? errno : EIO, "copy %s", from);
	}
	return 0;
}

int guest_switch_root(pv_error *err)
{
	if (access("/.podvm-root", F_OK) == 0)
		return 0;  /* already running from the switched root */
	if (mkdir(NEWROOT, 0755) < 0 && errno != EEXIST)
		return pv_error_set(err, errno, "mkdir " NEWROOT);
	if (mount("tmpfs", NEWROOT, "tmpfs", 0, "mode=0755") < 0)
		return pv_error_set(err, errno, "mount tmpfs on " NEWROOT);
	if (copy_file("/init", NEWROOT "/init", 0755, err) < 0)
		return -1;
	if (pv_write_file(NEWROOT "/.podvm-root", "", 0, 0644, err) < 0)
		return -1;
	if (chdir(NEWROOT) < 0 || mount(".", "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0 ||
	    chdir("/") < 0)
		return pv_error_set(err, errno, "switch root to tmpfs");
	return 1;
}

struct basic_mount {
	const char *source, *target, *type;
	unsigned long flags;
	const char *data;
};

static const struct basic_mount basic_mounts[] = {
	{ "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL },
	{ "sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL },
	{ "devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755" },
	{ "devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "mode=0620,ptmxmode=0666,gid=5" },
	{ "shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777" },
	{ "tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755" },
	{ "tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777" },
	{ "cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL },
};

int guest_mount_basics(pv_error *err)
{
	for (size_t i = 0; i < sizeof(basic_mounts) / sizeof(*basic_mounts); i++) {
		const struct basic_mount *m = &basic_mounts[i];
		if (mkdir(m->target, 0755) < 0 && errno != EEXIST)
			return pv_error_set(err, errno, "mkdir %s", m->target);
		if (mount(m->source, m->target, m->type, m->flags, m->data) < 0 && errno != EBUSY)
			return pv_error_set(err, errno, "mount %s on %s", m->type, m->target);
	}
	return 0;
}

int guest_loopback_up(pv_error *err)
{
	_cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return pv_error_set(err, errno, "socket");
	struct ifreq ifr = { 0 };
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return pv_error_set(err, errno, "lo: get flags");
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		return pv_error_set(err, errno, "lo: up");
	return 0;
}

const char *guest_cmdline_param(const char *key)
{
	static char cmdline[4096];
	static char value[256];
	_cleanup_close_ int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	ssize_t n = pv_read_full(fd, cmdline, sizeof(cmdline) - 1);
	if (n <= 0)
		return NULL;
	cmdline[n] = '\0';
	size_t klen = strlen(key);
	for (char *tok = strtok(cmdline, " \n"); tok; tok = strtok(NULL, " \n")) {
		if (strncmp(tok, key, klen) == 0 && tok[klen] == '=') {
			snprintf(value, sizeof(value), "%s", tok + klen + 1);
			return value;
		}
	}
	return NULL;
}
