#include "spec_build.h"
#include "secrets.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>

/* runc's default capability set for containers (also docker's). */
static const char *const default_caps[] = {
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
};

static const char *const masked_paths[] = {
	"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
	"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
	"/sys/firmware", "/sys/devices/virtual/powercap",
};

static const char *const readonly_paths[] = {
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

static json_t *str_array(const char *const *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && (n ? i < n : v[i] != NULL); i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static json_t *strv_array(char *const *v)
{
	json_t *a = json_array();
	for (size_t i = 0; a && v && v[i]; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

#define N(a) (sizeof(a) / sizeof(*(a)))

/* As docker does: a non-root user keeps the default set as its bounding set only, so it
 * has no capabilities unless a file capability or setuid binary grants them. */
static json_t *capabilities(bool root)
{
	size_t n = root ? N(default_caps) : 0;
	return json_pack("{s:o,s:o,s:o,s:o}",
			 "bounding", str_array(default_caps, N(default_caps)),
			 "effective", n ? str_array(default_caps, n) : json_array(),
			 "permitted", n ? str_array(default_caps, n) : json_array(),
			 "inheritable", json_array());
}

static json_t *user_object(const struct pv_user *u)
{
	json_t *groups = json_array();
	for (size_t i = 0; u && i < u->n_groups; i++)
		json_array_append_new(groups, json_integer(u->groups[i]));
	return json_pack("{s:I,s:I,s:o}", "uid", (json_int_t)(u ? u->uid : 0),
			 "gid", (json_int_t)(u ? u->gid : 0), "additionalGids", groups);
}

static json_t *process_object(const struct pv_spec_input *in)
{
	json_t *rlimits = json_pack("[{s:s,s:I,s:I}]", "type", "RLIMIT_NOFILE",
				    "hard", (json_int_t)1048576, "soft", (json_int_t)1048576);
	json_t *p = json_pack("{s:b,s:o,s:o,s:o,s:s,s:o,s:o,s:b}",
			      "terminal", in->terminal, "user", user_object(in->user),
			      "args", strv_array(in->args), "env", strv_array(in->env),
			      "cwd", in->cwd ? in->cwd : "/",
			      "capabilities", capabilities(in->user == NULL || in->user->uid == 0),
			      "rlimits", rlimits, "noNewPrivileges", 0);
	if (p && in->terminal && in->rows && in->cols)
		json_object_set_new(p, "consoleSize", json_pack("{s:i,s:i}", "height", in->rows, "width", in->cols));
	return p;
}

static json_t *mount_object(const char *dest, const char *type, const char *source,
			    const char *const *opts, size_t n)
{
	return json_pack("{s:s,s:s,s:s,s:o}", "destination", dest, "type", type, "source", source,
			 "options", str_array(opts, n));
}

static json_t *default_mounts(void)
{
	static const char *proc[] = { "nosuid", "noexec", "nodev" };
	static const char *dev[] = { "nosuid", "strictatime", "mode=755", "size=65536k" };
	static const char *pts[] = { "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5" };
	static const char *shm[] = { "nosuid", "noexec", "nodev", "mode=1777", "size=65536k" };
	static const char *mq[] = { "nosuid", "noexec", "nodev" };
	static const char *sys[] = { "nosuid", "noexec", "nodev", "ro" };
	static const char *cg[] = { "nosuid", "noexec", "nodev", "relatime", "ro" };
	json_t *m = json_array();
	json_array_append_new(m, mount_object("/proc", "proc", "proc", proc, N(proc)));
	json_array_append_new(m, mount_object("/dev", "tmpfs", "tmpfs", dev, N(dev)));
	json_array_append_new(m, mount_object("/dev/pts", "devpts", "devpts", pts, N(pts)));
	json_array_append_new(m, mount_object("/dev/shm", "tmpfs", "shm", shm, N(shm)));
	json_array_append_new(m, mount_object("/dev/mqueue", "mqueue", "mqueue", mq, N(mq)));
	json_array_append_new(m, mount_object("/sys", "sysfs", "sysfs", sys, N(sys)));
	json_array_append_new(m, mount_object("/sys/fs/cgroup", "cgroup", "cgroup", cg, N(cg)));
	return m;
}

static json_t *mounts(const struct pv_spec_input *in)
{
	json_t *m = default_mounts();
	for (size_t i = 0; m && i < in->n_mounts; i++) {
		const struct pv_spec_mount *v = &in->mounts[i];
		const char *opts[] = { "rbind", "rprivate", v->readonly ? "ro" : "rw" };
		json_array_append_new(m, mount_object(v->destination, "bind", v->source, opts, N(opts)));
	}
	if (m && in->secrets)
		json_array_append_new(m, pv_spec_secrets_mount());
	return m;
}

static json_t *resources(const struct pv_spec_input *in)
{
	json_t *r = json_object();
	if (in->memory)
		json_object_set_new(r, "memory", json_pack("{s:I}", "limit", (json_int_t)in->memory));
	if (in->cpus > 0)
		json_object_set_new(r, "cpu", json_pack("{s:I,s:I}", "quota", (json_int_t)llround(in->cpus * 100000),
							"period", (json_int_t)100000));
	return r;
}

static json_t *linux_object(const struct pv_spec_input *in)
{
	json_t *ns = json_pack("[{s:s},{s:s},{s:s},{s:s},{s:s}]", "type", "pid", "type", "ipc",
			       "type", "uts", "type", "mount", "type", "cgroup");
	return json_pack("{s:o,s:o,s:o,s:o}", "namespaces", ns, "resources", resources(in),
			 "maskedPaths", str_array(masked_paths, N(masked_paths)),
			 "readonlyPaths", str_array(readonly_paths, N(readonly_paths)));
}

char *pv_spec_build(const struct pv_spec_input *in, pv_error *err)
{
	json_t *spec = json_pack("{s:s,s:o,s:{s:s,s:b},s:s,s:o,s:o}",
				 "ociVersion", "1.0.2", "process", process_object(in),
				 "root", "path", in->root_path, "readonly", 0,
				 "hostname", in->hostname ? in->hostname : "podvm",
				 "mounts", mounts(in), "linux", linux_object(in));
	char *text = spec ? json_dumps(spec, JSON_COMPACT) : NULL;
	json_decref(spec);
	if (text == NULL)
		pv_error_set(err, ENOMEM, "build config.json");
	return text;
}
