/* src/libpodvm/vmm/jail.c (the plan: links, bound directories, missing paths; and, as root,
 * a child that enters one) and pv_mountinfo_find (src/common/mounts.c). */
#include "tap.h"
#include "tmp_path.h"
#include "mounts.h"
#include "util.h"
#include "vmm/jail.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>


static const struct pv_jail_op *op_at(const struct pv_jail *j, const char *path)
{
	for (size_t i = 0; i < j->n_ops; i++)
		if (strcmp(j->ops[i].path, path) == 0)
			return &j->ops[i];
	return NULL;
}

static void test_mountinfo(void)
{
	const char *info =
		"21 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
		"30 21 0:30 / /tmp/x rw,relatime - tmpfs tmpfs rw\n"
		"31 21 0:31 / /tmp/x\\040y rw,relatime shared:7 master:2 - tmpfs tmpfs rw\n"
		"32 30 0:32 / /tmp/x rw,relatime shared:9 - tmpfs tmpfs rw\n";
	char mp[256] = "";
	bool shared = false;
	ok(pv_mountinfo_find(info, "/var/lib", mp, sizeof(mp), &shared) == 0 && strcmp(mp, "/") == 0 && shared,
	   "mountinfo: / holds /var/lib, shared (%s)", mp);
	ok(pv_mountinfo_find(info, "/tmp/x y/z", mp, sizeof(mp), &shared) == 0 && strcmp(mp, "/tmp/x y") == 0 && shared,
	   "mountinfo: an escaped space, and shared among other tags (%s)", mp);
	ok(pv_mountinfo_find(info, "/tmp/xy", mp, sizeof(mp), &shared) == 0 && strcmp(mp, "/") == 0,
	   "mountinfo: /tmp/x does not hold /tmp/xy");
	ok(pv_mountinfo_find(info, "/tmp/x/a", mp, sizeof(mp), &shared) == 0 && strcmp(mp, "/tmp/x") == 0 && shared,
	   "mountinfo: of two mounts on one point, the later (on top) counts");
	ok(pv_mountinfo_find("", "/a", mp, sizeof(mp), &shared) == -ENOENT, "mountinfo: none");
}

static void fixture(void)
{
	mkdir(at("a"), 0755);
	mkdir(at("a/b"), 0755);
	close(open(at("a/b/f"), O_CREAT | O_WRONLY, 0644));
	(void)!symlink("a", at("rel"));
	(void)!symlink(at("a/b"), at("abs"));
	(void)!symlink("loop2", at("loop1"));
	(void)!symlink("loop1", at("loop2"));
}

static void test_plan(void)
{
	struct pv_jail j;
	pv_error e = NULL;
	ok(pv_jail_init(&j, at("root"), &e) == 0, "init");
	ok(pv_jail_add(&j, at("rel/b/f"), PV_JAIL_READONLY, &e) == 0, "add through a relative link");
	const struct pv_jail_op *link = op_at(&j, at("rel")), *file = op_at(&j, at("a/b/f"));
	ok(link && link->kind == PV_JAIL_SYMLINK && strcmp(link->source, "a") == 0, "the link is made again, as it was");
	ok(file && file->kind == PV_JAIL_BIND_FILE && (file->flags & PV_JAIL_READONLY) && strcmp(file->source, at("a/b/f")) == 0,
	   "the file it leads to is bound, read-only");
	ok(op_at(&j, at("a")) && op_at(&j, at("a"))->kind == PV_JAIL_MKDIR, "directories on the way are made");
	char target[300];
	snprintf(target, sizeof(target), "%s%s", at("root"), at("a/b/f"));
	ok(file && strcmp(file->target, target) == 0, "a target under the new root");
	ok(pv_jail_add(&j, at("abs/f"), 0, &e) == 0 && op_at(&j, at("abs")) && op_at(&j, at("abs"))->source[0] == '/',
	   "add through an absolute link");
	size_t n = j.n_ops;
	ok(pv_jail_add(&j, at("a/b/f"), 0, &e) == 0 && j.n_ops == n, "a path added twice is one op");
	struct pv_jail k;
	ok(pv_jail_init(&k, at("root2"), &e) == 0 && pv_jail_add(&k, at("a"), 0, &e) == 0, "bind a directory");
	n = k.n_ops;
	ok(pv_jail_add(&k, at("a/b/f"), 0, &e) == 0 && k.n_ops == n, "nothing is made inside a bound directory");
	ok(pv_jail_add(&k, at("missing"), PV_JAIL_OPTIONAL, &e) == 0 && k.n_ops == n, "an optional missing path: skipped");
	bool failed = pv_jail_add(&k, at("missing"), 0, &e) < 0;
	ok(failed && e && strstr(e->msg, "missing") && e->errnum == ENOENT, "a missing path: an error naming it (%s)",
	   e ? e->msg : "none");
	pv_error_release(&e);
	ok(pv_jail_add(&k, at("loop1/x"), 0, &e) < 0 && e && e->errnum == ELOOP, "a loop of links: ELOOP");
	pv_error_release(&e);
	ok(pv_jail_add(&k, "relative/path", 0, &e) < 0 && e && e->errnum == EINVAL, "a relative path: EINVAL");
	pv_error_release(&e);
	pv_jail_clear(&k);
	pv_jail_clear(&j);
}

/* A child enters a jail holding a/b/f only; exit 0 when it sees just that, as a uid of
 * its own with no capabilities. */
static int jailed_child(const struct pv_jail *j)
{
	int step = 0;
	if (pv_jail_enter(j, &step) < 0)
		return 10;
	if (access(at("a/b/f"), R_OK) != 0)
		return 11;
	if (access("/etc/passwd", F_OK) == 0 || access(at("rel"), F_OK) == 0 || access("/proc/2", F_OK) == 0)
		return 12;
	if (getpid() != 1 || getuid() < j->uid_base || getgid() != getuid())
		return 13;
	if (access("/proc/self/fd", F_OK) != 0 || access("/proc/sys", F_OK) == 0)  /* its own, pids only */
		return 15;
	if (open(at("a/b/f"), O_WRONLY) >= 0 || errno != EACCES)  /* not its file, no DAC_OVERRIDE */
		return 14;
	return 0;
}

static void *idle_thread(void *arg)
{
	char c;
	(void)!read(*(int *)arg, &c, 1);
	return NULL;
}

static void test_enter(void)
{
	if (geteuid() != 0) {
		diag("entering a jail: skipped, needs root");
		return;
	}
	struct pv_jail j;
	pv_error e = NULL;
	ok(pv_jail_init(&j, at("root3"), &e) == 0 && pv_jail_add(&j, at("a/b/f"), 0, &e) == 0, "plan");
	j.uid_base = 0x60000000;
	j.keep_caps = 0;
	/* The parent has another thread, as the shim has: the child must not wait for it
	 * (glibc's set*id wrappers would, forever). */
	int p[2];
	pthread_t idle;
	ok(pipe(p) == 0 && pthread_create(&idle, NULL, idle_thread, &p[0]) == 0, "a second thread");
	pid_t pid = (pid_t)syscall(SYS_clone, SIGCHLD | pv_jail_clone_flags(&j), NULL, NULL, NULL, NULL);
	if (pid == 0)
		_exit(jailed_child(&j));
	int status = -1;
	for (int i = 0; i < 1000 && waitpid(pid, &status, WNOHANG) == 0; i++)
		usleep(10000);
	if (waitpid(pid, &status, WNOHANG) == 0) {  /* stuck: 10 s */
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	close(p[1]);
	pthread_join(idle, NULL);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "a child in the jail (PID 1) sees only its file and its own /proc, as a uid of its own (exit %d)",
	   WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	struct stat st;
	ok(stat(at("root3"), &st) == 0 && rmdir(at("root3")) == 0, "the jail's root on the host stays an empty directory");
	pv_jail_clear(&j);
}

int main(void)
{
	snprintf(tmp, sizeof(tmp), "/tmp/test_jail.XXXXXX");
	if (mkdtemp(tmp) == NULL)
		return 1;
	chmod(tmp, 0755);
	fixture();
	test_mountinfo();
	test_plan();
	test_enter();
	pv_error e = NULL;
	ok(pv_rm_rf(tmp, &e) == 0, "cleanup");
	pv_error_release(&e);
	return done_testing();
}
