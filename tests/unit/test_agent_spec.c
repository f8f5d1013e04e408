/* The agent's OCI spec parser (src/agent/spec.c) and capability names (caps.c), on the host:
 * a full runc-style config.json, an exec "process" object alone, and the errors that name
 * the field at fault. Variants of the base config are made by editing it with jansson. */
#include "tap.h"
#include "caps.h"
#include "spec.h"

#include <errno.h>
#include <jansson.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/mount.h>
#include <sys/resource.h>

static const char *msg_of(pv_error e)
{
	return e && e->msg ? e->msg : "(no message)";
}

/* JSON written with single quotes for readability; none of the values has one. */
static char *dq(const char *s)
{
	char *t = strdup(s);
	for (char *p = t; *p; p++)
		if (*p == '\'')
			*p = '"';
	return t;
}

static const char base_config[] =
	"{'ociVersion': '1.0.2',"
	" 'process': {"
	"  'terminal': true,"
	"  'consoleSize': {'height': 24, 'width': 80},"
	"  'user': {'uid': 1000, 'gid': 1001, 'umask': 18, 'additionalGids': [10, 2000]},"
	"  'args': ['sh', '-c', 'echo hi'],"
	"  'env': ['PATH=/usr/local/bin:/usr/bin:/bin', 'TERM=xterm'],"
	"  'cwd': '/work',"
	"  'capabilities': {"
	"   'bounding': ['CAP_CHOWN', 'CAP_KILL', 'CAP_SYS_ADMIN'],"
	"   'effective': ['CAP_CHOWN', 'CAP_KILL'],"
	"   'permitted': ['CAP_CHOWN', 'CAP_KILL'],"
	"   'inheritable': [],"
	"   'ambient': ['CAP_KILL']},"
	"  'rlimits': [{'type': 'RLIMIT_NOFILE', 'hard': 1024, 'soft': 512},"
	"              {'type': 'RLIMIT_CORE', 'hard': 0, 'soft': 0}],"
	"  'noNewPrivileges': true,"
	"  'oomScoreAdj': 100},"
	" 'root': {'path': 'rootfs', 'readonly': true},"
	" 'hostname': 'box',"
	" 'mounts': ["
	"  {'destination': '/proc', 'type': 'proc', 'source': 'proc'},"
	"  {'destination': '/dev', 'type': 'tmpfs', 'source': 'tmpfs',"
	"   'options': ['nosuid', 'strictatime', 'mode=755', 'size=65536k']},"
	"  {'destination': '/sys', 'type': 'sysfs', 'source': 'sysfs',"
	"   'options': ['nosuid', 'noexec', 'nodev', 'ro']},"
	"  {'destination': '/sys/fs/cgroup', 'type': 'cgroup', 'source': 'cgroup',"
	"   'options': ['nosuid', 'noexec', 'nodev', 'relatime', 'ro']},"
	"  {'destination': '/data', 'type': 'bind', 'source': '/host/data',"
	"   'options': ['rbind', 'rprivate', 'rw']},"
	"  {'destination': '/etc/hosts', 'type': 'none', 'source': '/host/hosts',"
	"   'options': ['bind', 'ro', 'private']}],"
	" 'linux': {"
	"  'namespaces': [{'type': 'pid'}, {'type': 'network'}, {'type': 'ipc'}, {'type': 'uts'},"
	"                 {'type': 'mount'}, {'type': 'cgroup'}],"
	"  'maskedPaths': ['/proc/kcore', '/proc/keys'],"
	"  'readonlyPaths': ['/proc/sys', '/proc/bus', '/proc/fs'],"
	"  'sysctl': {'net.ipv4.ip_forward': '1'},"
	"  'devices': [{'path': '/dev/net/tun', 'type': 'c', 'major': 10, 'minor': 200, 'fileMode': 438,"
	"               'uid': 0, 'gid': 0}, {'path': '/dev/vda', 'type': 'b', 'major': 254, 'minor': 0}],"
	"  'resources': {"
	"   'memory': {'limit': 536870912, 'swap': 1073741824},"
	"   'cpu': {'quota': 150000, 'period': 100000, 'shares': 512},"
	"   'pids': {'limit': 100}}}}";

#define BIT(c) (1ULL << (c))

static bool strv_eq(char *const *v, const char *const *want)
{
	size_t i = 0;
	for (; want[i]; i++)
		if (v == NULL || v[i] == NULL || strcmp(v[i], want[i]) != 0)
			return false;
	return v ? v[i] == NULL : i == 0;
}

static const struct spec_mount *find_mount(const struct spec *s, const char *dest)
{
	for (size_t i = 0; i < s->n_mounts; i++)
		if (strcmp(s->mounts[i].destination, dest) == 0)
			return &s->mounts[i];
	return NULL;
}

static void test_full_process(const struct spec_process *p)
{
	ok(strv_eq(p->args, (const char *[]){ "sh", "-c", "echo hi", NULL }), "process.args");
	ok(strv_eq(p->env, (const char *[]){ "PATH=/usr/local/bin:/usr/bin:/bin", "TERM=xterm", NULL }),
	   "process.env");
	ok(p->cwd && strcmp(p->cwd, "/work") == 0, "process.cwd");
	ok(p->uid == 1000 && p->gid == 1001, "process.user uid/gid %u:%u", (unsigned)p->uid, (unsigned)p->gid);
	ok(p->n_groups == 2 && p->groups[0] == 10 && p->groups[1] == 2000, "process.user.additionalGids");
	ok(p->has_umask && p->umask == 022, "process.user.umask");
	ok(p->terminal && p->rows == 24 && p->cols == 80, "process.terminal and consoleSize %ux%u", p->rows, p->cols);
	ok(p->n_rlimits == 2 && p->rlimits[0].resource == RLIMIT_NOFILE && p->rlimits[0].soft == 512 &&
	   p->rlimits[0].hard == 1024 && p->rlimits[1].resource == RLIMIT_CORE && p->rlimits[1].hard == 0,
	   "process.rlimits");
	ok(p->caps.set, "process.capabilities present");
	ok(p->caps.bounding == (BIT(0) | BIT(5) | BIT(21)), "capabilities.bounding = CHOWN|KILL|SYS_ADMIN (%#llx)",
	   (unsigned long long)p->caps.bounding);
	ok(p->caps.effective == (BIT(0) | BIT(5)) && p->caps.permitted == (BIT(0) | BIT(5)),
	   "capabilities.effective and permitted");
	ok(p->caps.inheritable == 0 && p->caps.ambient == BIT(5), "capabilities.inheritable and ambient");
	ok(p->no_new_privileges, "process.noNewPrivileges");
	ok(p->has_oom_score_adj && p->oom_score_adj == 100, "process.oomScoreAdj");
}

static void test_full_mounts(const struct spec *s)
{
	ok(s->n_mounts == 6, "6 mounts (%zu)", s->n_mounts);
	const struct spec_mount *m = find_mount(s, "/proc");
	ok(m && strcmp(m->type, "proc") == 0 && strcmp(m->source, "proc") == 0 && m->flags == 0 &&
	   m->data == NULL && !m->bind && m->propagation == 0, "/proc: no options");
	m = find_mount(s, "/dev");
	ok(m && m->flags == (MS_NOSUID | MS_STRICTATIME), "/dev: nosuid,strictatime -> flags %#lx", m ? m->flags : 0);
	ok(m && m->data && strcmp(m->data, "mode=755,size=65536k") == 0, "/dev: the rest goes to data: %s",
	   m && m->data ? m->data : "(null)");
	m = find_mount(s, "/sys");
	ok(m && m->flags == (MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY) && m->data == NULL,
	   "/sys: nosuid,noexec,nodev,ro");
	m = find_mount(s, "/sys/fs/cgroup");
	ok(m && m->flags == (MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RELATIME | MS_RDONLY),
	   "/sys/fs/cgroup: relatime");
	m = find_mount(s, "/data");
	ok(m && m->bind && m->recursive && m->flags == 0 && m->propagation == (MS_PRIVATE | MS_REC) &&
	   m->data == NULL && strcmp(m->source, "/host/data") == 0, "/data: rbind, rprivate, rw");
	m = find_mount(s, "/etc/hosts");
	ok(m && m->bind && !m->recursive && m->flags == MS_RDONLY && m->propagation == MS_PRIVATE,
	   "/etc/hosts: type none + bind option, ro, private");
}

static void test_full(void)
{
	pv_error e = NULL;
	char *json = dq(base_config);
	struct spec s;
	int r = spec_parse(json, strlen(json), &s, &e);
	ok(r == 0, "spec_parse of a full config.json: %s", msg_of(e));
	if (r < 0) {
		pv_error_release(&e);
		free(json);
		return;
	}
	test_full_process(&s.process);
	ok(s.root_path && strcmp(s.root_path, "rootfs") == 0 && s.root_readonly, "root.path and readonly");
	ok(s.hostname && strcmp(s.hostname, "box") == 0, "hostname");
	test_full_mounts(&s);
	int want_ns = CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNS | CLONE_NEWCGROUP;
	ok(s.clone_flags == want_ns, "namespaces -> CLONE_NEW* (%#x, want %#x)", s.clone_flags, want_ns);
	ok(!(s.clone_flags & CLONE_NEWNET), "network namespace ignored (the VM is the pod)");
	ok(strv_eq(s.masked_paths, (const char *[]){ "/proc/kcore", "/proc/keys", NULL }), "linux.maskedPaths");
	ok(strv_eq(s.readonly_paths, (const char *[]){ "/proc/sys", "/proc/bus", "/proc/fs", NULL }),
	   "linux.readonlyPaths");
	ok(strv_eq(s.sysctl, (const char *[]){ "net.ipv4.ip_forward=1", NULL }), "linux.sysctl as key=value");
	ok(s.n_devices == 2 && strcmp(s.devices[0].path, "/dev/net/tun") == 0 && s.devices[0].type == S_IFCHR &&
		   s.devices[0].major == 10 && s.devices[0].minor == 200 && s.devices[0].mode == 0666,
	   "linux.devices: a character device");
	ok(s.n_devices == 2 && s.devices[1].type == S_IFBLK && s.devices[1].major == 254 && s.devices[1].mode == 0666,
	   "linux.devices: a block device, fileMode defaulting to 0666");
	const struct spec_resources *res = &s.resources;
	ok(res->memory_limit == 536870912 && res->memory_swap == 1073741824, "resources.memory");
	ok(res->cpu_quota == 150000 && res->cpu_period == 100000 && res->cpu_shares == 512, "resources.cpu");
	ok(res->pids_limit == 100, "resources.pids");
	spec_clear(&s);
	ok(s.root_path == NULL && s.mounts == NULL && s.process.args == NULL, "spec_clear");
	spec_clear(&s);  /* twice is harmless */
	free(json);
}

/* A minimal spec: unset fields take their defaults. */
static void test_minimal(void)
{
	pv_error e = NULL;
	char *json = dq("{'process': {'args': ['/bin/true']}, 'root': {'path': '/'}}");
	struct spec s;
	int r = spec_parse(json, strlen(json), &s, &e);
	ok(r == 0, "spec_parse of a minimal spec: %s", msg_of(e));
	if (r == 0) {
		ok(strcmp(s.process.cwd, "/") == 0 && s.process.uid == 0 && s.process.gid == 0 &&
		   s.process.n_groups == 0 && !s.process.terminal && !s.process.has_umask &&
		   !s.process.has_oom_score_adj && !s.process.caps.set && s.process.n_rlimits == 0,
		   "process defaults: cwd /, root, no caps object");
		ok(s.n_mounts == 0 && s.clone_flags == 0 && s.hostname == NULL && !s.root_readonly,
		   "no mounts, no namespaces, no hostname");
		ok(s.resources.memory_limit == -1 && s.resources.memory_swap == -1 &&
		   s.resources.cpu_quota == -1 && s.resources.cpu_period == 0 &&
		   s.resources.cpu_shares == 0 && s.resources.pids_limit == -1, "resources default to unlimited");
		spec_clear(&s);
	}
	pv_error_release(&e);
	free(json);
}

/* base_config after `edit`, as malloc'd JSON text. */
static char *edited(void (*edit)(json_t *root))
{
	char *text = dq(base_config);
	json_t *root = json_loads(text, 0, NULL);
	free(text);
	if (root == NULL)
		return NULL;
	edit(root);
	text = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	return text;
}

static void expect_error_text(const char *name, const char *json, const char *want)
{
	pv_error e = NULL;
	struct spec s = { 0 };
	int r = json ? spec_parse(json, strlen(json), &s, &e) : 1;
	ok(r == -EINVAL && e && e->errnum == EINVAL && strstr(msg_of(e), want) != NULL,
	   "%s: fails with \"...%s...\": %s", name, want, msg_of(e));
	ok(r < 0 && s.root_path == NULL && s.mounts == NULL && s.process.args == NULL,
	   "%s: the spec is cleared on failure", name);
	pv_error_release(&e);
}

static void expect_error(const char *name, void (*edit)(json_t *root), const char *want)
{
	char *json = edited(edit);
	expect_error_text(name, json, want);
	free(json);
}

static json_t *process_of(json_t *root)
{
	return json_object_get(root, "process");
}

static void no_process(json_t *root) { json_object_del(root, "process"); }
static void process_not_object(json_t *root) { json_object_set_new(root, "process", json_string("x")); }
static void empty_args(json_t *root) { json_object_set_new(process_of(root), "args", json_array()); }
static void no_args(json_t *root) { json_object_del(process_of(root), "args"); }
static void args_not_strings(json_t *root)
{
	json_object_set_new(process_of(root), "args", json_pack("[s,i]", "sh", 1));
}
static void env_not_array(json_t *root) { json_object_set_new(process_of(root), "env", json_string("A=1")); }
static void unknown_rlimit(json_t *root)
{
	json_array_append_new(json_object_get(process_of(root), "rlimits"),
			      json_pack("{s:s,s:i,s:i}", "type", "RLIMIT_BOGUS", "hard", 1, "soft", 1));
}
static void unknown_cap(json_t *root)
{
	json_t *caps = json_object_get(process_of(root), "capabilities");
	json_array_append_new(json_object_get(caps, "effective"), json_string("CAP_BOGUS"));
}
static void relative_dest(json_t *root)
{
	json_t *m = json_array_get(json_object_get(root, "mounts"), 2);
	json_object_set_new(m, "destination", json_string("sys"));
}
static void no_dest(json_t *root)
{
	json_object_del(json_array_get(json_object_get(root, "mounts"), 0), "destination");
}
static void bind_no_source(json_t *root)
{
	json_array_append_new(json_object_get(root, "mounts"),
			      json_pack("{s:s,s:s,s:[s]}", "destination", "/x", "type", "bind", "options", "rbind"));
}
static void bind_option_no_source(json_t *root)
{
	json_array_append_new(json_object_get(root, "mounts"),
			      json_pack("{s:s,s:s,s:[s,s]}", "destination", "/y", "type", "none", "options", "bind", "ro"));
}
static json_t *devices_of(json_t *root)
{
	return json_object_get(json_object_get(root, "linux"), "devices");
}
static void device_bad_type(json_t *root)
{
	json_object_set_new(json_array_get(devices_of(root), 1), "type", json_string("x"));
}
static void device_relative(json_t *root)
{
	json_object_set_new(json_array_get(devices_of(root), 0), "path", json_string("dev/tun"));
}
static void unknown_ns(json_t *root)
{
	json_array_append_new(json_object_get(json_object_get(root, "linux"), "namespaces"),
			      json_pack("{s:s}", "type", "bogus"));
}
static void sysctl_not_string(json_t *root)
{
	json_object_set_new(json_object_get(json_object_get(root, "linux"), "sysctl"), "kernel.x", json_integer(1));
}
static void no_root(json_t *root) { json_object_del(root, "root"); }
static void masked_not_array(json_t *root)
{
	json_object_set_new(json_object_get(root, "linux"), "maskedPaths", json_string("/proc/kcore"));
}

static void test_errors(void)
{
	pv_error e = NULL;
	struct spec s;
	const char bad[] = "{\n  \"ociVersion\": \"1.0.2\",\n  oops\n}";
	int r = spec_parse(bad, strlen(bad), &s, &e);
	ok(r == -EINVAL && strstr(msg_of(e), "config.json: invalid JSON at line 3") != NULL,
	   "invalid JSON: the message names the line: %s", msg_of(e));
	pv_error_release(&e);
	r = spec_parse("[1, 2]", 6, &s, &e);
	ok(r == -EINVAL && strstr(msg_of(e), "not a JSON object") != NULL, "a JSON array: %s", msg_of(e));
	pv_error_release(&e);
	r = spec_parse("", 0, &s, &e);
	ok(r == -EINVAL && e != NULL, "empty input: %s", msg_of(e));
	pv_error_release(&e);

	expect_error("missing process", no_process, "config.json: process: missing");
	expect_error("process not an object", process_not_object, "process: missing");
	expect_error("empty args", empty_args, "config.json: process.args: empty");
	expect_error("no args", no_args, "process.args: empty");
	expect_error("args not strings", args_not_strings, "process.args[1]: not a string");
	expect_error("env not an array", env_not_array, "process.env: not an array");
	expect_error("unknown rlimit", unknown_rlimit, "process.rlimits[2]: unknown type RLIMIT_BOGUS");
	expect_error("unknown capability", unknown_cap,
		     "process.capabilities.effective: unknown capability CAP_BOGUS");
	expect_error("relative mount destination", relative_dest,
		     "config.json: mounts[2]: destination must be an absolute path");
	expect_error("mount without destination", no_dest, "mounts[0]: destination must be an absolute path");
	expect_error("bind without source", bind_no_source, "mounts[6] (/x): bind mount without source");
	expect_error("bind option without source", bind_option_no_source, "mounts[6] (/y): bind mount without source");
	expect_error("unknown namespace", unknown_ns, "linux.namespaces[6]: unknown type bogus");
	expect_error("device of an unknown type", device_bad_type, "linux.devices[1].type: want c, u, b or p");
	expect_error("device with a relative path", device_relative, "linux.devices[0].path: missing or relative");
	expect_error("sysctl not a string", sysctl_not_string, "linux.sysctl.kernel.x: not a string");
	expect_error("missing root", no_root, "root.path: missing");
	expect_error("maskedPaths not an array", masked_not_array, "linux.maskedPaths: not an array");
}

static void test_process_json(void)
{
	pv_error e = NULL;
	struct spec_process p;
	char *json = dq("{'args': ['ls', '-l'], 'env': ['A=1'], 'terminal': false,"
			" 'user': {'uid': 33, 'gid': 44}, 'cwd': '/srv'}");
	int r = spec_parse_process_json(json, strlen(json), &p, &e);
	free(json);
	ok(r == 0, "spec_parse_process_json: %s", msg_of(e));
	if (r == 0) {
		ok(strv_eq(p.args, (const char *[]){ "ls", "-l", NULL }) &&
		   strv_eq(p.env, (const char *[]){ "A=1", NULL }), "exec process: args and env");
		ok(p.uid == 33 && p.gid == 44 && strcmp(p.cwd, "/srv") == 0 && !p.terminal && !p.caps.set,
		   "exec process: user, cwd, terminal");
		spec_process_clear(&p);
		ok(p.args == NULL && p.cwd == NULL, "spec_process_clear");
	}
	pv_error_release(&e);

	json = dq("{'args': []}");
	r = spec_parse_process_json(json, strlen(json), &p, &e);
	free(json);
	ok(r == -EINVAL && strcmp(msg_of(e), "exec process: process.args: empty") == 0,
	   "exec process with empty args: %s", msg_of(e));
	ok(p.args == NULL && p.cwd == NULL, "exec process: cleared on failure");
	pv_error_release(&e);

	json = dq("{'args': ['x'], 'capabilities': {'bounding': ['CAP_NOPE']}}");
	r = spec_parse_process_json(json, strlen(json), &p, &e);
	free(json);
	ok(r == -EINVAL && strstr(msg_of(e), "exec process: process.capabilities.bounding: unknown capability CAP_NOPE"),
	   "exec process with an unknown capability: %s", msg_of(e));
	pv_error_release(&e);

	r = spec_parse_process_json("{\"args\": [", 10, &p, &e);
	ok(r == -EINVAL && strstr(msg_of(e), "process: invalid JSON at line 1"), "exec process, invalid JSON: %s",
	   msg_of(e));
	pv_error_release(&e);
}

static void test_mount_options(void)
{
	pv_error e = NULL;
	struct spec_mount m = { 0 };
	char *opts[] = { "ro", "nosuid", "rw", "noexec", "exec", "nodev", "size=1m", "rshared", "uid=5", NULL };
	int r = spec_parse_mount_options(opts, 9, &m, &e);
	ok(r == 0 && m.flags == (MS_NOSUID | MS_NODEV), "spec_parse_mount_options: later options win (%#lx)", m.flags);
	ok(m.data && strcmp(m.data, "size=1m,uid=5") == 0, "spec_parse_mount_options: data %s", m.data ? m.data : "(null)");
	ok(m.propagation == (MS_SHARED | MS_REC) && !m.bind, "spec_parse_mount_options: rshared");
	free(m.data);
}

static void test_caps(void)
{
	ok(caps_from_name("CAP_CHOWN") == 0, "caps_from_name(CAP_CHOWN) == 0");
	ok(caps_from_name("CAP_KILL") == 5, "caps_from_name(CAP_KILL) == 5");
	ok(caps_from_name("CAP_SYS_ADMIN") == 21, "caps_from_name(CAP_SYS_ADMIN) == 21");
	ok(caps_from_name("CAP_AUDIT_WRITE") == 29, "caps_from_name(CAP_AUDIT_WRITE) == 29");
	ok(caps_from_name("CAP_CHECKPOINT_RESTORE") == 40, "caps_from_name(CAP_CHECKPOINT_RESTORE) == 40");
	ok(caps_from_name("CAP_BOGUS") == -1, "caps_from_name(CAP_BOGUS) == -1");
	ok(caps_from_name("cap_chown") == -1 && caps_from_name("CHOWN") == -1 && caps_from_name("") == -1,
	   "caps_from_name: exact names only");
	int last = caps_last_cap();
	ok(last >= 21 && last < 64, "caps_last_cap() = %d", last);
}

int main(void)
{
	test_full();
	test_minimal();
	test_errors();
	test_process_json();
	test_mount_options();
	test_caps();
	return done_testing();
}
