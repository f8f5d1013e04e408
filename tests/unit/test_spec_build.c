/* The config.json that `podvm run` sends to the agent (src/libpodvm/spec_build.c): checked
 * field by field with jansson, then parsed by the agent's own parser (src/agent/spec.c) to
 * be sure both ends agree. */
#include "tap.h"
#include "spec_build.h"
#include "spec.h"
#include "caps.h"

#include <errno.h>
#include <jansson.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>

static const char *const default_caps[] = {
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE", NULL,
};

static char *const args[] = { "sh", "-c", "echo hi", NULL };
static char *const env[] = { "PATH=/usr/local/bin:/usr/bin:/bin", "TERM=xterm", NULL };

static const struct pv_spec_mount volumes[] = {
	{ .source = "/run/podvm/shares/1", .destination = "/data", .readonly = true },
	{ .source = "/run/podvm/shares/2", .destination = "/cache", .readonly = false },
};

static const char *msg_of(pv_error e)
{
	return e && e->msg ? e->msg : "(no message)";
}

static struct pv_spec_input base_input(const struct pv_user *user)
{
	return (struct pv_spec_input){
		.args = args, .env = env, .cwd = "/app", .user = user,
		.terminal = true, .rows = 24, .cols = 80, .hostname = "pod1",
		.root_path = "/run/podvm/rootfs", .cpus = 1.5, .memory = 512ULL << 20,
		.mounts = volumes, .n_mounts = 2,
	};
}

static json_t *build(const struct pv_spec_input *in, char **text)
{
	pv_error e = NULL;
	*text = pv_spec_build(in, &e);
	if (*text == NULL) {
		diag("pv_spec_build: %s", msg_of(e));
		pv_error_release(&e);
		return NULL;
	}
	json_error_t jerr;
	json_t *root = json_loads(*text, 0, &jerr);
	if (root == NULL)
		diag("output is not JSON: line %d: %s", jerr.line, jerr.text);
	return root;
}

static bool str_array_is(json_t *a, const char *const *want)
{
	size_t n = 0;
	while (want[n])
		n++;
	if (!json_is_array(a) || json_array_size(a) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!json_is_string(json_array_get(a, i)) || strcmp(json_string_value(json_array_get(a, i)), want[i]) != 0)
			return false;
	return true;
}

static bool array_has_str(json_t *a, const char *s)
{
	size_t i;
	json_t *v;
	json_array_foreach(a, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
			return true;
	return false;
}

static json_t *mount_at(json_t *root, const char *dest)
{
	size_t i;
	json_t *m;
	json_array_foreach(json_object_get(root, "mounts"), i, m) {
		const char *d = json_string_value(json_object_get(m, "destination"));
		if (d && strcmp(d, dest) == 0)
			return m;
	}
	return NULL;
}

static const char *str_at(json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));
	return s ? s : "";
}

static long long int_at(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	return json_is_integer(v) ? (long long)json_integer_value(v) : -12345;
}

static void check_process(json_t *root)
{
	json_t *p = json_object_get(root, "process");
	ok(json_is_object(p), "process object");
	ok(str_array_is(json_object_get(p, "args"), (const char *const *)args), "process.args");
	ok(str_array_is(json_object_get(p, "env"), (const char *const *)env), "process.env");
	ok(strcmp(str_at(p, "cwd"), "/app") == 0, "process.cwd");
	ok(json_is_true(json_object_get(p, "terminal")), "process.terminal");
	json_t *cs = json_object_get(p, "consoleSize");
	ok(int_at(cs, "height") == 24 && int_at(cs, "width") == 80, "process.consoleSize 24x80");
	ok(json_is_false(json_object_get(p, "noNewPrivileges")), "process.noNewPrivileges false");
	json_t *rl = json_array_get(json_object_get(p, "rlimits"), 0);
	ok(strcmp(str_at(rl, "type"), "RLIMIT_NOFILE") == 0 && int_at(rl, "soft") == 1048576 &&
	   int_at(rl, "hard") == 1048576, "process.rlimits: RLIMIT_NOFILE 1048576");
}

static void check_root_user(json_t *root)
{
	json_t *p = json_object_get(root, "process");
	json_t *u = json_object_get(p, "user");
	ok(int_at(u, "uid") == 0 && int_at(u, "gid") == 0 && json_array_size(json_object_get(u, "additionalGids")) == 0,
	   "root: process.user 0:0, no additionalGids");
	json_t *c = json_object_get(p, "capabilities");
	ok(str_array_is(json_object_get(c, "bounding"), default_caps), "root: bounding = the default set");
	ok(json_equal(json_object_get(c, "effective"), json_object_get(c, "bounding")) &&
	   json_equal(json_object_get(c, "permitted"), json_object_get(c, "bounding")),
	   "root: effective == permitted == bounding");
	ok(json_array_size(json_object_get(c, "inheritable")) == 0, "root: inheritable empty");
	ok(json_object_get(c, "ambient") == NULL, "root: no ambient set");
}

static void check_nonroot_user(json_t *root)
{
	json_t *p = json_object_get(root, "process");
	json_t *u = json_object_get(p, "user");
	json_t *g = json_object_get(u, "additionalGids");
	ok(int_at(u, "uid") == 1000 && int_at(u, "gid") == 1000 && json_array_size(g) == 2 &&
	   json_integer_value(json_array_get(g, 0)) == 2000 && json_integer_value(json_array_get(g, 1)) == 10,
	   "non-root: process.user 1000:1000, additionalGids [2000, 10]");
	json_t *c = json_object_get(p, "capabilities");
	ok(json_is_array(json_object_get(c, "effective")) && json_array_size(json_object_get(c, "effective")) == 0 &&
	   json_is_array(json_object_get(c, "permitted")) && json_array_size(json_object_get(c, "permitted")) == 0,
	   "non-root: effective and permitted empty");
	ok(str_array_is(json_object_get(c, "bounding"), default_caps), "non-root: bounding = the default set");
}

static void check_mounts(json_t *root)
{
	static const char *const want[][2] = {
		{ "/proc", "proc" }, { "/dev", "tmpfs" }, { "/dev/pts", "devpts" }, { "/dev/shm", "tmpfs" },
		{ "/dev/mqueue", "mqueue" }, { "/sys", "sysfs" }, { "/sys/fs/cgroup", "cgroup" },
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(*want); i++) {
		json_t *m = mount_at(root, want[i][0]);
		ok(m && strcmp(str_at(m, "type"), want[i][1]) == 0, "mount %s of type %s", want[i][0], want[i][1]);
	}
	json_t *sys = mount_at(root, "/sys");
	ok(array_has_str(json_object_get(sys, "options"), "ro"), "/sys is read-only");
	json_t *m = mount_at(root, "/data");
	json_t *o = json_object_get(m, "options");
	ok(m && strcmp(str_at(m, "type"), "bind") == 0 && strcmp(str_at(m, "source"), "/run/podvm/shares/1") == 0,
	   "volume /data: a bind of its share");
	ok(array_has_str(o, "rbind") && array_has_str(o, "ro") && !array_has_str(o, "rw"), "volume /data: rbind, ro");
	m = mount_at(root, "/cache");
	o = json_object_get(m, "options");
	ok(m && strcmp(str_at(m, "source"), "/run/podvm/shares/2") == 0 && array_has_str(o, "rbind") &&
	   array_has_str(o, "rw") && !array_has_str(o, "ro"), "volume /cache: rbind, rw");
	ok(json_array_size(json_object_get(root, "mounts")) == 9, "7 default mounts + 2 volumes");
}

static void check_linux(json_t *root)
{
	json_t *lx = json_object_get(root, "linux");
	json_t *res = json_object_get(lx, "resources");
	ok(int_at(json_object_get(res, "cpu"), "quota") == 150000 && int_at(json_object_get(res, "cpu"), "period") == 100000,
	   "linux.resources.cpu: quota 150000, period 100000");
	ok(int_at(json_object_get(res, "memory"), "limit") == 512LL << 20, "linux.resources.memory.limit");
	size_t i;
	json_t *ns;
	bool net = false;
	json_array_foreach(json_object_get(lx, "namespaces"), i, ns)
		net = net || strcmp(str_at(ns, "type"), "network") == 0;
	ok(json_array_size(json_object_get(lx, "namespaces")) == 5 && !net,
	   "linux.namespaces: pid ipc uts mount cgroup, no network");
	ok(array_has_str(json_object_get(lx, "maskedPaths"), "/proc/kcore") &&
	   array_has_str(json_object_get(lx, "readonlyPaths"), "/proc/sys"), "maskedPaths and readonlyPaths");
	ok(strcmp(str_at(json_object_get(root, "root"), "path"), "/run/podvm/rootfs") == 0 &&
	   json_is_false(json_object_get(json_object_get(root, "root"), "readonly")), "root.path, not readonly");
	ok(strcmp(str_at(root, "hostname"), "pod1") == 0, "hostname");
	ok(strcmp(str_at(root, "ociVersion"), "1.0.2") == 0, "ociVersion");
}

static uint64_t default_caps_bits(void)
{
	uint64_t bits = 0;
	for (size_t i = 0; default_caps[i]; i++)
		bits |= 1ULL << caps_from_name(default_caps[i]);
	return bits;
}

static const struct spec_mount *find_mount(const struct spec *s, const char *dest)
{
	for (size_t i = 0; i < s->n_mounts; i++)
		if (strcmp(s->mounts[i].destination, dest) == 0)
			return &s->mounts[i];
	return NULL;
}

/* The agent's parser reads back what was built. */
static void check_round_trip(const char *text, const struct pv_user *user)
{
	pv_error e = NULL;
	struct spec s;
	int r = spec_parse(text, strlen(text), &s, &e);
	ok(r == 0, "spec_parse accepts pv_spec_build's output: %s", msg_of(e));
	if (r < 0) {
		pv_error_release(&e);
		return;
	}
	const struct spec_process *p = &s.process;
	bool args_same = true;
	for (size_t i = 0; args[i]; i++)
		args_same = args_same && p->args && p->args[i] && strcmp(p->args[i], args[i]) == 0;
	ok(args_same && p->args[3] == NULL && p->env && strcmp(p->env[1], "TERM=xterm") == 0 &&
	   strcmp(p->cwd, "/app") == 0, "round trip: args, env, cwd");
	ok(p->uid == user->uid && p->gid == user->gid && p->n_groups == user->n_groups,
	   "round trip: uid %u gid %u, %zu groups", (unsigned)p->uid, (unsigned)p->gid, p->n_groups);
	ok(p->terminal && p->rows == 24 && p->cols == 80, "round trip: terminal 24x80");
	uint64_t want = default_caps_bits();
	ok(p->caps.set && p->caps.bounding == want &&
	   p->caps.effective == (user->uid == 0 ? want : 0) && p->caps.permitted == p->caps.effective &&
	   p->caps.inheritable == 0 && p->caps.ambient == 0, "round trip: capabilities (%#llx)",
	   (unsigned long long)p->caps.effective);
	ok(p->n_rlimits == 1 && p->rlimits[0].resource == RLIMIT_NOFILE && p->rlimits[0].soft == 1048576,
	   "round trip: rlimits");
	ok(!p->no_new_privileges, "round trip: noNewPrivileges");
	ok(strcmp(s.root_path, "/run/podvm/rootfs") == 0 && !s.root_readonly && strcmp(s.hostname, "pod1") == 0,
	   "round trip: root and hostname");
	ok(s.clone_flags == (CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNS | CLONE_NEWCGROUP),
	   "round trip: namespaces -> clone flags %#x", s.clone_flags);
	const struct spec_mount *m = find_mount(&s, "/proc");
	ok(m && m->flags == (MS_NOSUID | MS_NOEXEC | MS_NODEV) && m->data == NULL, "round trip: /proc flags");
	m = find_mount(&s, "/dev");
	ok(m && m->flags == (MS_NOSUID | MS_STRICTATIME) && m->data && strcmp(m->data, "mode=755,size=65536k") == 0,
	   "round trip: /dev flags and data");
	m = find_mount(&s, "/dev/pts");
	ok(m && m->data && strcmp(m->data, "newinstance,ptmxmode=0666,mode=0620,gid=5") == 0,
	   "round trip: /dev/pts data %s", m && m->data ? m->data : "(null)");
	m = find_mount(&s, "/data");
	ok(m && m->bind && m->recursive && m->flags == MS_RDONLY && m->propagation == (MS_PRIVATE | MS_REC) &&
	   strcmp(m->source, "/run/podvm/shares/1") == 0, "round trip: /data rbind ro rprivate");
	m = find_mount(&s, "/cache");
	ok(m && m->bind && m->recursive && m->flags == 0 && m->propagation == (MS_PRIVATE | MS_REC),
	   "round trip: /cache rbind rw rprivate");
	ok(s.resources.cpu_quota == 150000 && s.resources.cpu_period == 100000 &&
	   s.resources.memory_limit == 512LL << 20 && s.resources.pids_limit == -1, "round trip: resources");
	size_t n_masked = 0;
	while (s.masked_paths && s.masked_paths[n_masked])
		n_masked++;
	ok(n_masked == 11 && s.readonly_paths && strcmp(s.readonly_paths[0], "/proc/bus") == 0,
	   "round trip: maskedPaths (%zu) and readonlyPaths", n_masked);
	spec_clear(&s);
}

static void test_full(const struct pv_user *user, const char *who)
{
	struct pv_spec_input in = base_input(user);
	char *text = NULL;
	json_t *root = build(&in, &text);
	if (!ok(root != NULL, "%s: pv_spec_build gives JSON", who)) {
		free(text);
		return;
	}
	check_process(root);
	if (user->uid == 0)
		check_root_user(root);
	else
		check_nonroot_user(root);
	check_mounts(root);
	check_linux(root);
	check_round_trip(text, user);
	json_decref(root);
	free(text);
}

/* What the user did not choose takes its defaults. */
static void test_defaults(void)
{
	static char *const one[] = { "/bin/true", NULL };
	struct pv_spec_input in = { .args = one, .root_path = "/r" };
	char *text = NULL;
	json_t *root = build(&in, &text);
	if (!ok(root != NULL, "minimal input: pv_spec_build gives JSON")) {
		free(text);
		return;
	}
	json_t *p = json_object_get(root, "process");
	ok(strcmp(str_at(p, "cwd"), "/") == 0 && json_is_false(json_object_get(p, "terminal")) &&
	   json_object_get(p, "consoleSize") == NULL, "defaults: cwd /, no terminal, no consoleSize");
	ok(json_is_array(json_object_get(p, "env")) && json_array_size(json_object_get(p, "env")) == 0,
	   "defaults: env is an empty array");
	ok(int_at(json_object_get(p, "user"), "uid") == 0 &&
	   str_array_is(json_object_get(json_object_get(p, "capabilities"), "effective"), default_caps),
	   "defaults: no user is root, with the default capabilities");
	ok(strcmp(str_at(root, "hostname"), "podvm") == 0, "defaults: hostname podvm");
	json_t *res = json_object_get(json_object_get(root, "linux"), "resources");
	ok(json_is_object(res) && json_object_size(res) == 0, "defaults: no resource limits");
	ok(json_array_size(json_object_get(root, "mounts")) == 7, "defaults: only the 7 default mounts");
	struct spec s;
	pv_error e = NULL;
	int r = spec_parse(text, strlen(text), &s, &e);
	ok(r == 0 && s.resources.cpu_quota == -1 && s.resources.memory_limit == -1 && s.process.rows == 0,
	   "defaults: the agent reads no limits: %s", r ? msg_of(e) : "ok");
	if (r == 0)
		spec_clear(&s);
	pv_error_release(&e);
	json_decref(root);
	free(text);

	/* A terminal without a size: no consoleSize. */
	in.terminal = true;
	root = build(&in, &text);
	ok(root && json_object_get(json_object_get(root, "process"), "consoleSize") == NULL,
	   "terminal without rows/cols: no consoleSize");
	json_decref(root);
	free(text);
}

/* --cpus values that are not binary fractions must still give the exact quota. */
static void test_cpu_quota(void)
{
	static char *const one[] = { "/bin/true", NULL };
	static const struct { double cpus; long long quota; } cases[] = {
		{ 0.5, 50000 }, { 1, 100000 }, { 2.5, 250000 }, { 0.3, 30000 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		struct pv_spec_input in = { .args = one, .root_path = "/r", .cpus = cases[i].cpus };
		char *text = NULL;
		json_t *root = build(&in, &text);
		json_t *cpu = json_object_get(json_object_get(json_object_get(root, "linux"), "resources"), "cpu");
		ok(int_at(cpu, "quota") == cases[i].quota, "cpus %g -> quota %lld", cases[i].cpus, int_at(cpu, "quota"));
		json_decref(root);
		free(text);
	}
	struct pv_spec_input in = { .args = one, .root_path = "/r", .cpus = 2.3 };
	char *text = NULL;
	json_t *root = build(&in, &text);
	json_t *cpu = json_object_get(json_object_get(json_object_get(root, "linux"), "resources"), "cpu");
	ok(int_at(cpu, "quota") == 230000, "cpus 2.3 -> quota 230000");
	json_decref(root);
	free(text);
}

int main(void)
{
	struct pv_user root_user = { .uid = 0, .gid = 0, .home = "/root" };
	gid_t groups[] = { 2000, 10 };
	struct pv_user app = { .uid = 1000, .gid = 1000, .groups = groups, .n_groups = 2, .home = "/home/app" };
	test_full(&root_user, "root");
	test_full(&app, "non-root");
	test_defaults();
	test_cpu_quota();
	return done_testing();
}
