/* Container user resolution (src/libpodvm/user.c) against an image's /etc/passwd and
 * /etc/group, in rootfs trees built in a mkdtemp directory: names, numbers, "user:group",
 * supplementary groups, and symlinks that must resolve inside the rootfs, never on the host. */
#include "tap.h"
#include "user.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmp[] = "/tmp/podvm-test-user-XXXXXX";

static const char passwd[] =
	"root:x:0:0:root:/root:/bin/bash\n"
	"daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
	"\n"
	"short:x:1002\n"
	"app:x:1000:1000:App User:/home/app:/bin/sh\n"
	"nohome:x:1001:1001:::/bin/sh\n"
	"badnum:x:12ab:1000::/x:/bin/sh\n";

static const char group[] =
	"root:x:0:\n"
	"daemon:x:1:\n"
	"app:x:1000:\n"
	"extra:x:2000:app\n"
	"wheel:x:10:root,app\n"
	"staff:x:50:daemon,app\n"
	"broken:x:notanumber:app\n"
	"tooshort:x\n"
	"others:x:3000:daemon,application,ap\n";

static const char *msg_of(pv_error e)
{
	return e && e->msg ? e->msg : "(no message)";
}

static const char *path_of(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *path_of(const char *fmt, ...)
{
	static char bufs[4][PATH_MAX];
	static int next;
	char *b = bufs[next++ % 4];
	int n = snprintf(b, PATH_MAX, "%s/", tmp);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(b + n, PATH_MAX - (size_t)n, fmt, ap);
	va_end(ap);
	return b;
}

/* Creates path (under tmp) with its parents, holding text. */
static int put(const char *rel, const char *text)
{
	pv_error e = NULL;
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", path_of("%s", rel));
	*strrchr(dir, '/') = '\0';
	int r = pv_mkdir_p(dir, 0755, &e);
	if (r == 0)
		r = pv_write_file(path_of("%s", rel), text, strlen(text), 0644, &e);
	if (r < 0)
		diag("fixture %s: %s", rel, msg_of(e));
	pv_error_release(&e);
	return r;
}

static int link_at(const char *target, const char *rel)
{
	pv_error e = NULL;
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", path_of("%s", rel));
	*strrchr(dir, '/') = '\0';
	int r = pv_mkdir_p(dir, 0755, &e);
	pv_error_release(&e);
	if (r == 0 && symlink(target, path_of("%s", rel)) < 0)
		r = -errno;
	if (r < 0)
		diag("fixture link %s: %s", rel, strerror(-r));
	return r;
}

static void groups_str(const struct pv_user *u, char *out, size_t len)
{
	size_t n = 0;
	out[0] = '\0';
	for (size_t i = 0; i < u->n_groups && n < len; i++)
		n += (size_t)snprintf(out + n, len - n, "%s%u", i ? "," : "", (unsigned)u->groups[i]);
}

/* Resolves spec in rootfs root; expects success with uid:gid, home and exactly the n groups
 * given, in that order (the primary group first, as runc and containerd do). */
static bool resolves_to(const char *root, const char *spec, uid_t uid, gid_t gid, const char *home,
			size_t n, va_list ap)
{
	pv_error e = NULL;
	struct pv_user u;
	int r = pv_user_resolve(path_of("%s", root), spec, &u, &e);
	spec = spec ? spec : "(null)";
	if (!ok(r == 0, "%s: \"%s\" resolves: %s", root, spec, e ? msg_of(e) : "ok")) {
		pv_error_release(&e);
		return false;
	}
	char gs[128];
	groups_str(&u, gs, sizeof(gs));
	bool groups_ok = u.n_groups == n;
	for (size_t i = 0; i < n; i++) {
		gid_t g = va_arg(ap, gid_t);
		groups_ok = groups_ok && u.groups[i] == g;
	}
	bool same = u.uid == uid && u.gid == gid && u.home && strcmp(u.home, home) == 0 && groups_ok;
	diag("%s: \"%s\" -> %u:%u home %s groups {%s}", root, spec, (unsigned)u.uid, (unsigned)u.gid,
	     u.home ? u.home : "(null)", gs);
	pv_user_clear(&u);
	return same;
}

static void user_is(const char *root, const char *spec, uid_t uid, gid_t gid, const char *home, size_t n, ...)
{
	va_list ap;
	va_start(ap, n);
	bool same = resolves_to(root, spec, uid, gid, home, n, ap);
	va_end(ap);
	ok(same, "%s: \"%s\" -> %u:%u, home %s, %zu groups as expected", root, spec ? spec : "(null)",
	   (unsigned)uid, (unsigned)gid, home, n);
}

static void user_fails(const char *root, const char *spec, int errnum, const char *want)
{
	pv_error e = NULL;
	struct pv_user u;
	int r = pv_user_resolve(path_of("%s", root), spec, &u, &e);
	ok(r < 0 && e && e->errnum == errnum && strstr(msg_of(e), want) && u.home == NULL && u.groups == NULL,
	   "%s: \"%s\" fails (%d, %s): %s", root, spec, r, strerror(errnum), msg_of(e));
	pv_error_release(&e);
}

static void test_names_and_numbers(void)
{
	const gid_t G = 0;  /* (gid_t) casts for the variadic group lists */
	user_is("r1", "", 0, 0, "/root", 2, G + 0, G + 10);
	user_is("r1", NULL, 0, 0, "/root", 2, G + 0, G + 10);
	user_is("r1", "root", 0, 0, "/root", 2, G + 0, G + 10);
	user_is("r1", "0", 0, 0, "/root", 2, G + 0, G + 10);
	user_is("r1", "app", 1000, 1000, "/home/app", 4, G + 1000, G + 2000, G + 10, G + 50);
	user_is("r1", "1000", 1000, 1000, "/home/app", 4, G + 1000, G + 2000, G + 10, G + 50);
	user_is("r1", "app:extra", 1000, 2000, "/home/app", 3, G + 2000, G + 10, G + 50);
	user_is("r1", "1000:2000", 1000, 2000, "/home/app", 3, G + 2000, G + 10, G + 50);
	user_is("r1", "app:staff", 1000, 50, "/home/app", 3, G + 50, G + 2000, G + 10);
	user_is("r1", "app:wheel", 1000, 10, "/home/app", 3, G + 10, G + 2000, G + 50);
	user_is("r1", "app:5555", 1000, 5555, "/home/app", 4, G + 5555, G + 2000, G + 10, G + 50);
	user_is("r1", "daemon", 1, 1, "/usr/sbin", 3, G + 1, G + 50, G + 3000);
	user_is("r1", "nohome", 1001, 1001, "/", 1, G + 1001);
	user_is("r1", "4242", 4242, 0, "/", 1, G + 0);
	user_is("r1", "4242:extra", 4242, 2000, "/", 1, G + 2000);
	user_is("r1", "4242:7", 4242, 7, "/", 1, G + 7);
	user_is("r1", "4294967294", 4294967294u, 0, "/", 1, G + 0);

	user_fails("r1", "nobody-here", ENOENT, "user nobody-here: no such user");
	user_fails("r1", "app:nogroup", ENOENT, "group nogroup: no such group");
	user_fails("r1", "nobody-here:extra", ENOENT, "nobody-here");
	user_fails("r1", "app:", ENOENT, "no such group");
	user_fails("r1", "short", ENOENT, "short");
	user_fails("r1", "4294967295", ENOENT, "4294967295");
	user_fails("r1", "-1", ENOENT, "-1");
	user_fails("r1", "badnum", EINVAL, "user badnum: bad /etc/passwd entry");
	user_fails("no-such-rootfs", "0", ENOENT, "no-such-rootfs");

	pv_error e = NULL;
	struct pv_user u;
	int r = pv_user_resolve(path_of("r1"), "app", &u, &e);
	pv_user_clear(&u);
	ok(r == 0 && u.groups == NULL && u.n_groups == 0 && u.home == NULL, "pv_user_clear");
	pv_error_release(&e);
}

/* Symlinks in the image resolve inside the rootfs (RESOLVE_IN_ROOT), never on the host. */
static void test_symlinks(void)
{
	/* A link to a file of the rootfs itself, by an absolute path: followed. */
	const gid_t G = 0;
	user_is("r-inlink", "app", 1000, 1000, "/home/app", 4, G + 1000, G + 2000, G + 10, G + 50);

	/* Links to host files outside the rootfs (absolute, relative with .., a linked etc/):
	 * inside the rootfs they lead nowhere, so names fail and numbers still work. */
	static const char *roots[] = { "r-abs", "r-dotdot", "r-etcdir" };
	for (size_t i = 0; i < sizeof(roots) / sizeof(*roots); i++) {
		user_fails(roots[i], "hostuser", ENOENT, "user hostuser: no such user");
		user_is(roots[i], "777", 777, 0, "/", 1, G + 0);
		user_fails(roots[i], "777:hostgroup", ENOENT, "group hostgroup");
		user_is(roots[i], "777:778", 777, 778, "/", 1, G + 778);
	}

	/* etc/passwd -> /etc/passwd: the host's file by name. Inside the rootfs the link
	 * points at itself, so the host's root entry (home /root) must not be found. */
	pv_error e = NULL;
	struct pv_user u;
	int r = pv_user_resolve(path_of("r-hostetc"), "root", &u, &e);
	ok(r < 0, "r-hostetc: \"root\" is not read from the host's /etc/passwd: %s", r ? msg_of(e) : "resolved");
	pv_error_release(&e);
	pv_user_clear(&u);
	r = pv_user_resolve(path_of("r-hostetc"), "0", &u, &e);
	ok((r < 0 && e && e->errnum == ELOOP) || (r == 0 && strcmp(u.home, "/") == 0),
	   "r-hostetc: \"0\" fails with ELOOP or resolves numerically, never from the host (%s)",
	   r ? msg_of(e) : u.home);
	pv_error_release(&e);
	pv_user_clear(&u);
}

/* No etc/passwd or etc/group at all: numbers work, names fail. */
static void test_missing_files(void)
{
	const gid_t G = 0;
	user_is("r-empty", "", 0, 0, "/", 1, G + 0);
	user_is("r-empty", "1000", 1000, 0, "/", 1, G + 0);
	user_is("r-empty", "1000:2000", 1000, 2000, "/", 1, G + 2000);
	user_fails("r-empty", "app", ENOENT, "user app: no such user");
	user_fails("r-empty", "0:wheel", ENOENT, "group wheel: no such group");
	/* passwd without group: the user's primary gid, no supplementary groups. */
	user_is("r-nogroup", "app", 1000, 1000, "/home/app", 1, G + 1000);
	user_fails("r-nogroup", "app:extra", ENOENT, "group extra");
}

static int build_fixtures(void)
{
	const char *host = path_of("host");  /* host files that no rootfs may read */
	char host_passwd[PATH_MAX], host_group[PATH_MAX], dotdot[PATH_MAX + 64];
	snprintf(host_passwd, sizeof(host_passwd), "%s/etc/passwd", host);
	snprintf(host_group, sizeof(host_group), "%s/etc/group", host);
	snprintf(dotdot, sizeof(dotdot), "../../../../../../../..%s", host_passwd);
	char host_etc[PATH_MAX];
	snprintf(host_etc, sizeof(host_etc), "%s/etc", host);
	int r = 0;
	r |= put("host/etc/passwd", "hostuser:x:777:777::/hosthome:/bin/sh\n");
	r |= put("host/etc/group", "hostgroup:x:777:hostuser\n");
	r |= put("r1/etc/passwd", passwd);
	r |= put("r1/etc/group", group);
	r |= put("r-inlink/usr/lib/passwd", passwd);
	r |= put("r-inlink/usr/lib/group", group);
	r |= link_at("/usr/lib/passwd", "r-inlink/etc/passwd");
	r |= link_at("../usr/lib/group", "r-inlink/etc/group");
	r |= link_at(host_passwd, "r-abs/etc/passwd");
	r |= link_at(host_group, "r-abs/etc/group");
	r |= link_at(dotdot, "r-dotdot/etc/passwd");
	r |= link_at(host_group, "r-dotdot/etc/group");
	r |= link_at(host_etc, "r-etcdir/etc");
	r |= link_at("/etc/passwd", "r-hostetc/etc/passwd");
	r |= put("r-empty/bin/sh", "");
	r |= put("r-nogroup/etc/passwd", passwd);
	return r;
}

int main(void)
{
	if (mkdtemp(tmp) == NULL) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	if (!ok(build_fixtures() == 0, "rootfs fixtures in %s", tmp))
		return done_testing();
	test_names_and_numbers();
	test_symlinks();
	test_missing_files();
	pv_error e = NULL;
	ok(pv_rm_rf(tmp, &e) == 0, "cleanup: %s", msg_of(e));
	pv_error_release(&e);
	return done_testing();
}
