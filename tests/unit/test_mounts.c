/* src/common/mounts.c, and pv_rm_rf next to bind mounts. Needs mounts: in a mount namespace
 * of its own (unshare(CLONE_NEWNS), everything private), so nothing reaches the host's. */
#include "tap.h"
#include "tmp_path.h"
#include "mounts.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>


static bool exists(const char *p)
{
	struct stat st;
	return lstat(p, &st) == 0;
}

static int mounts_below(const char *dir)
{
	char *text = NULL;
	int n = 0;
	if (pv_read_file("/proc/self/mounts", 1 << 22, &text, NULL, NULL) < 0)
		return -1;
	for (char *p = text; (p = strstr(p, dir)) != NULL; p++)
		n++;
	free(text);
	return n;
}

static void fixture(void)
{
	pv_error e = NULL;
	pv_mkdir_p(at("vol/sub"), 0755, &e);
	pv_write_file(at("vol/sub/precious"), "p", 1, 0644, &e);
	pv_write_file(at("file"), "f", 1, 0644, &e);
	pv_mkdir_p(at("share"), 0700, &e);
	ok(e == NULL, "fixture: %s", e ? e->msg : "");
	pv_error_release(&e);
}

static void test_bind(void)
{
	pv_error e = NULL;
	int r = pv_bind_into(at("vol"), at("share/v0"), MS_PRIVATE, false, &e);
	ok(r == 0 && exists(at("share/v0/sub/precious")), "bind a directory (target made): %s", e ? e->msg : "");
	pv_error_release(&e);
	r = pv_bind_into(at("file"), at("share/v1"), MS_PRIVATE, true, &e);
	ok(r == 0 && exists(at("share/v1")), "bind a file read-only (target made as a file): %s", e ? e->msg : "");
	pv_error_release(&e);
	int fd = open(at("share/v1"), O_WRONLY | O_CLOEXEC);
	ok(fd < 0 && errno == EROFS, "the read-only bind refuses writes (%s)", strerror(errno));
	if (fd >= 0)
		close(fd);
	r = pv_bind_into(at("missing"), at("share/v2"), MS_PRIVATE, false, &e);
	ok(r < 0 && e && strstr(e->msg, "missing") && !exists(at("share/v2")),
	   "a missing source: an error naming it, no target: %s", e ? e->msg : "");
	pv_error_release(&e);
}

/* A bind from the same filesystem has the same st_dev: rm_rf must still stop there. */
static void test_rm_rf_stops_at_binds(void)
{
	pv_error e = NULL;
	int r = pv_rm_rf(at("share"), &e);
	ok(r < 0 && e && e->errnum == EBUSY, "pv_rm_rf refuses to descend into a bind mount: %s",
	   e ? e->msg : "(no error)");
	ok(exists(at("vol/sub/precious")) && exists(at("file")), "... and the bound volume is intact");
	pv_error_release(&e);
}

static void test_unmount_below(void)
{
	pv_error e = NULL;
	pv_bind_into(at("vol"), at("share/nested"), MS_PRIVATE, false, &e);
	pv_bind_into(at("file"), at("share/nested/sub/precious"), MS_PRIVATE, false, &e);
	ok(e == NULL && mounts_below(at("share")) == 4, "four mounts below share/, one on another");
	pv_error_release(&e);
	pv_unmount_below(at("share"));
	ok(mounts_below(at("share")) == 0, "pv_unmount_below unmounts them all, deepest first");
	ok(pv_rm_rf(at("share"), &e) == 0 && !exists(at("share")), "then pv_rm_rf removes the share: %s",
	   e ? e->msg : "");
	pv_error_release(&e);
	ok(exists(at("vol/sub/precious")) && exists(at("file")), "... and nothing of the volumes");
	pv_unmount_below(at("share"));
	pv_unmount_below(NULL);
	ok(true, "pv_unmount_below of nothing mounted, or NULL, does nothing");
}

int main(void)
{
	if (geteuid() != 0 || unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		printf("1..0 # SKIP needs a mount namespace of its own (root): %s\n", strerror(errno));
		return 0;
	}
	snprintf(tmp, sizeof(tmp), "/tmp/test_mounts.XXXXXX");
	if (mkdtemp(tmp) == NULL)
		return 1;
	fixture();
	test_bind();
	test_rm_rf_stops_at_binds();
	test_unmount_below();
	pv_error e = NULL;
	ok(pv_rm_rf(tmp, &e) == 0, "cleanup");
	pv_error_release(&e);
	return done_testing();
}
