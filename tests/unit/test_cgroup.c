/* The host cgroup of a pod's VMM (src/libpodvm/cgroup.c): an OCI linux.cgroupsPath made a
 * path (the cgroupfs form, and the systemd form as runc lays it out without systemd), and
 * the cgroup hierarchies found in mountinfo text (v1, hybrid, v2 only); as root, a process
 * joining a new cgroup on this host's hierarchies, and its removal. */
#include "tap.h"
#include "cgroup.h"
#include "cleanup.h"
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *msg_of(pv_error e)
{
	return e && e->msg ? e->msg : "(no message)";
}

static void path_ok(const char *in, const char *want)
{
	pv_error e = NULL;
	char *got = NULL;
	int r = pv_cgroup_path(in, &got, &e);
	ok(r == 0 && got && strcmp(got, want) == 0, "pv_cgroup_path(\"%s\") = %s (want %s) %s", in, got ? got : "NULL",
	   want, e ? msg_of(e) : "");
	free(got);
	pv_error_release(&e);
}

static void path_bad(const char *in, const char *why)
{
	pv_error e = NULL;
	char *got = NULL;
	int r = pv_cgroup_path(in, &got, &e);
	ok(r == -EINVAL && got == NULL && e && strstr(msg_of(e), in) && strstr(msg_of(e), why),
	   "pv_cgroup_path(\"%s\") rejected: %s", in, msg_of(e));
	free(got);
	pv_error_release(&e);
}

static void test_cgroupfs_form(void)
{
	path_ok("/kubepods/burstable/pod1/abc", "/kubepods/burstable/pod1/abc");
	path_ok("/podvm-cri-x/abc", "/podvm-cri-x/abc");
	path_ok("//a//b/", "/a/b");
	path_ok("a/b", "/a/b");  /* relative: from the root, as crun takes it */
	path_ok("/", "/");
	path_ok("/a:b:c", "/a:b:c");  /* a path, not the systemd form */
	path_ok("a:b", "/a:b");
	path_bad("/a/../b", "'..' are not allowed");
	path_bad("/a/./b", "'..' are not allowed");
	path_bad("../x", "'..' are not allowed");
}

static void test_systemd_form(void)
{
	path_ok("kubepods-burstable-pod1.slice:cri-containerd:abc",
		"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/cri-containerd-abc.scope");
	path_ok("kubepods.slice:cri-containerd:abc", "/kubepods.slice/cri-containerd-abc.scope");
	path_ok("-.slice:p:n", "/p-n.scope");
	path_ok(":p:n", "/system.slice/p-n.scope");
	path_ok("a-b.slice:p:c.slice", "/a.slice/a-b.slice/c.slice");
	path_bad("kubepods:p:n", "the slice must be NAME.slice");
	path_bad(".slice:p:n", "the slice must be NAME.slice");
	path_bad("a--b.slice:p:n", "empty component");
	path_bad("-a.slice:p:n", "empty component");
	path_bad("a-.slice:p:n", "empty component");
	path_bad("a.slice:p:", "needs a name");
	path_bad("a.slice:p:x/y", "no '/'");
	path_bad("a.slice:p/q:n", "no '/'");
}

/* The hierarchies of a mountinfo text, "MOUNT[+cpuset] ..." in order. */
static char *hierarchies_of(const char *mountinfo)
{
	struct pv_cgroup_hierarchies h;
	pv_error e = NULL;
	if (pv_cgroup_hierarchies_parse(mountinfo, &h, &e) < 0) {
		char *m = strdup(msg_of(e));
		pv_error_release(&e);
		return m;
	}
	char *out = calloc(1, 4096);
	for (size_t i = 0; i < h.n; i++) {
		strcat(out, i ? " " : "");
		strcat(out, h.v[i].mount);
		strcat(out, h.v[i].cpuset ? "+cpuset" : "");
	}
	pv_cgroup_hierarchies_clear(&h);
	return out;
}

static void hierarchies_ok(const char *what, const char *mountinfo, const char *want)
{
	char *got = hierarchies_of(mountinfo);
	ok(strcmp(got, want) == 0, "hierarchies: %s: %s (want %s)", what, got, want);
	free(got);
}

#define SYSFS "22 28 0:20 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw\n"
#define TMPFS "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"

static void test_hierarchies(void)
{
	hierarchies_ok("hybrid (v1 controllers, cgroup2 at unified)",
		       SYSFS TMPFS
		       "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct\n"
		       "34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime shared:10 - cgroup cgroup rw,cpuset\n"
		       "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
		       "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd\n"
		       "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate\n",
		       "/sys/fs/cgroup/cpu,cpuacct /sys/fs/cgroup/cpuset+cpuset /sys/fs/cgroup/memory "
		       "/sys/fs/cgroup/systemd /sys/fs/cgroup/unified");
	hierarchies_ok("cgroup v2 only (its cpuset is no v1 cpuset)",
		       SYSFS "30 22 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 "
		       "rw,nsdelegate,memory_recursiveprot\n",
		       "/sys/fs/cgroup");
	hierarchies_ok("a v1 option that only starts with cpuset is not cpuset",
		       "35 31 0:40 / /cg/x rw - cgroup cgroup rw,cpusetx\n", "/cg/x");
	hierarchies_ok("the same hierarchy twice: the mount of its root is kept, wherever it is",
		       "50 31 0:32 /kubepods/pod1 /var/lib/x/memory rw - cgroup cgroup rw,memory\n"
		       "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
		       "51 31 0:32 / /mnt/memory rw - cgroup cgroup rw,memory\n",
		       "/sys/fs/cgroup/memory");
	hierarchies_ok("only a mount below the root: that one",
		       "50 31 0:32 /kubepods/pod1 /var/lib/x/memory rw - cgroup cgroup rw,memory\n",
		       "/var/lib/x/memory");
	hierarchies_ok("escaped characters in the mount point",
		       "60 31 0:45 / /mnt/my\\040cgroups\\134x rw - cgroup2 cgroup2 rw\n", "/mnt/my cgroups\\x");
	hierarchies_ok("none", SYSFS TMPFS, "");
	hierarchies_ok("lines of another shape are skipped", "garbage\n1 2 3\n\n", "");
}

/* How many lines of /proc/PID/cgroup name the cgroup path (one per mounted hierarchy). */
static size_t lines_naming(pid_t pid, const char *path)
{
	char file[64];
	_cleanup_free_ char *text = NULL;
	snprintf(file, sizeof(file), "/proc/%d/cgroup", (int)pid);
	if (pv_read_file(file, 1 << 16, &text, NULL, NULL) < 0)
		return 0;
	size_t n = 0, len = strlen(path);
	char *save = NULL;
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		n += strlen(l) > len && l[strlen(l) - len - 1] == ':' && strcmp(l + strlen(l) - len, path) == 0;
	return n;
}

/* In every hierarchy: how many have the cgroup path. */
static size_t hierarchies_with(const struct pv_cgroup_hierarchies *h, const char *path)
{
	size_t n = 0;
	for (size_t i = 0; i < h->n; i++) {
		_cleanup_free_ char *dir = NULL;
		n += asprintf(&dir, "%s%s", h->v[i].mount, path) > 0 && access(dir, F_OK) == 0;
	}
	return n;
}

static void test_join_and_remove(void)
{
	char parent[64], leaf[80];
	snprintf(parent, sizeof(parent), "/podvm-unit-%d", (int)getpid());
	snprintf(leaf, sizeof(leaf), "%s/pod", parent);
	_cleanup_free_ char *mountinfo = NULL;
	struct pv_cgroup_hierarchies h = { 0 };
	if (geteuid() != 0 || pv_read_file("/proc/self/mountinfo", 1 << 22, &mountinfo, NULL, NULL) < 0 ||
	    pv_cgroup_hierarchies_parse(mountinfo, &h, NULL) < 0 || h.n == 0) {
		printf("ok %d # SKIP join: needs root and a mounted cgroup hierarchy\n", ++tap_run);
		return;
	}
	pid_t child = fork();
	if (child == 0) {
		pause();
		_exit(0);
	}
	pv_error e = NULL;
	int r = pv_cgroup_join(leaf, child, &e);
	ok(r == 0 && lines_naming(child, leaf) == h.n, "join: a process is in %s in all %zu hierarchies %s", leaf, h.n,
	   e ? msg_of(e) : "");
	pv_error_release(&e);
	r = pv_cgroup_join(leaf, 999999999, &e);
	ok(r < 0 && strstr(msg_of(e), leaf) && strstr(msg_of(e), "cgroup.procs"),
	   "join: a process that is not there: the error names the cgroup: %s", msg_of(e));
	pv_error_release(&e);
	kill(child, SIGKILL);  /* pv_cgroup_remove waits for it to leave */
	pv_cgroup_remove(leaf);
	ok(hierarchies_with(&h, leaf) == 0 && hierarchies_with(&h, parent) == h.n,
	   "remove: the leaf is gone, its parent stays");
	waitpid(child, NULL, 0);
	for (size_t i = 0; i < h.n; i++) {
		_cleanup_free_ char *dir = NULL;
		if (asprintf(&dir, "%s%s", h.v[i].mount, parent) > 0)
			rmdir(dir);
	}
	pv_cgroup_hierarchies_clear(&h);
}

int main(void)
{
	test_cgroupfs_form();
	test_systemd_form();
	test_hierarchies();
	test_join_and_remove();
	return done_testing();
}
