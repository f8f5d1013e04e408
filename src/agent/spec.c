#include "spec.h"
#include "caps.h"
#include "cleanup.h"
#include "mount_options.h"
#include "util.h"

#include <errno.h>
#include <jansson.h>
#include <sched.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/mount.h>
#include <sys/resource.h>

static char *dup_str(json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));
	return s ? strdup(s) : NULL;
}

static int parse_strv(json_t *arr, char ***out, const char *what, pv_error *err)
{
	if (arr == NULL || json_is_null(arr))
		return 0;
	if (!json_is_array(arr))
		return pv_error_set_plain(err, EINVAL, "%s: not an array", what);
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v) {
		if (!json_is_string(v))
			return pv_error_set_plain(err, EINVAL, "%s[%zu]: not a string", what, i);
		if (pv_strv_push(out, json_string_value(v)) < 0)
			return pv_error_set(err, ENOMEM, "%s", what);
	}
	return 0;
}

struct name_value {
	const char *name;
	long value;
};

static const struct name_value rlimit_names[] = {
	{ "RLIMIT_AS", RLIMIT_AS }, { "RLIMIT_CORE", RLIMIT_CORE }, { "RLIMIT_CPU", RLIMIT_CPU },
	{ "RLIMIT_DATA", RLIMIT_DATA }, { "RLIMIT_FSIZE", RLIMIT_FSIZE },
	{ "RLIMIT_LOCKS", RLIMIT_LOCKS }, { "RLIMIT_MEMLOCK", RLIMIT_MEMLOCK },
	{ "RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE }, { "RLIMIT_NICE", RLIMIT_NICE },
	{ "RLIMIT_NOFILE", RLIMIT_NOFILE }, { "RLIMIT_NPROC", RLIMIT_NPROC },
	{ "RLIMIT_RSS", RLIMIT_RSS }, { "RLIMIT_RTPRIO", RLIMIT_RTPRIO },
	{ "RLIMIT_RTTIME", RLIMIT_RTTIME }, { "RLIMIT_SIGPENDING", RLIMIT_SIGPENDING },
	{ "RLIMIT_STACK", RLIMIT_STACK },
};

static int lookup(const struct name_value *t, size_t n, const char *name, long *out)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(t[i].name, name) == 0) {
			*out = t[i].value;
			return 0;
		}
	return -ENOENT;
}

static int parse_rlimits(json_t *arr, struct spec_process *p, pv_error *err)
{
	if (arr == NULL)
		return 0;
	size_t n = json_array_size(arr);
	p->rlimits = calloc(n ? n : 1, sizeof(*p->rlimits));
	if (p->rlimits == NULL)
		return pv_error_set(err, ENOMEM, "rlimits");
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v) {
		const char *type = json_string_value(json_object_get(v, "type"));
		long res;
		if (type == NULL || lookup(rlimit_names, sizeof(rlimit_names) / sizeof(*rlimit_names), type, &res) < 0)
			return pv_error_set_plain(err, EINVAL, "process.rlimits[%zu]: unknown type %s", i, type ? type : "(none)");
		p->rlimits[i].resource = (int)res;
		p->rlimits[i].soft = (unsigned long long)json_integer_value(json_object_get(v, "soft"));
		p->rlimits[i].hard = (unsigned long long)json_integer_value(json_object_get(v, "hard"));
		p->n_rlimits = i + 1;
	}
	return 0;
}

static int parse_cap_set(json_t *arr, uint64_t *out, const char *what, pv_error *err)
{
	size_t i;
	json_t *v;
	*out = 0;
	json_array_foreach(arr, i, v) {
		const char *name = json_string_value(v);
		int cap = name ? caps_from_name(name) : -1;
		if (cap < 0)
			return pv_error_set_plain(err, EINVAL, "process.capabilities.%s: unknown capability %s", what, name ? name : "(none)");
		if (cap <= caps_last_cap())  /* a capability newer than this kernel is skipped, as runc does */
			*out |= 1ULL << cap;
	}
	return 0;
}

static int parse_caps(json_t *obj, struct spec_caps *c, pv_error *err)
{
	if (obj == NULL)
		return 0;
	c->set = true;
	if (parse_cap_set(json_object_get(obj, "bounding"), &c->bounding, "bounding", err) < 0 ||
	    parse_cap_set(json_object_get(obj, "effective"), &c->effective, "effective", err) < 0 ||
	    parse_cap_set(json_object_get(obj, "permitted"), &c->permitted, "permitted", err) < 0 ||
	    parse_cap_set(json_object_get(obj, "inheritable"), &c->inheritable, "inheritable", err) < 0 ||
	    parse_cap_set(json_object_get(obj, "ambient"), &c->ambient, "ambient", err) < 0)
		return -EINVAL;
	return 0;
}

static int parse_user(json_t *user, struct spec_process *p, pv_error *err)
{
	p->uid = (uid_t)json_integer_value(json_object_get(user, "uid"));
	p->gid = (gid_t)json_integer_value(json_object_get(user, "gid"));
	json_t *umask = json_object_get(user, "umask");
	if (json_is_integer(umask)) {
		p->has_umask = true;
		p->umask = (mode_t)json_integer_value(umask);
	}
	json_t *groups = json_object_get(user, "additionalGids");
	size_t n = json_array_size(groups);
	if (n == 0)
		return 0;
	p->groups = calloc(n, sizeof(gid_t));
	if (p->groups == NULL)
		return pv_error_set(err, ENOMEM, "process.user");
	for (size_t i = 0; i < n; i++)
		p->groups[i] = (gid_t)json_integer_value(json_array_get(groups, i));
	p->n_groups = n;
	return 0;
}

static int parse_process(json_t *obj, struct spec_process *p, pv_error *err)
{
	if (!json_is_object(obj))
		return pv_error_set_plain(err, EINVAL, "process: missing");
	if (parse_strv(json_object_get(obj, "args"), &p->args, "process.args", err) < 0 ||
	    parse_strv(json_object_get(obj, "env"), &p->env, "process.env", err) < 0)
		return -EINVAL;
	if (pv_strv_len(p->args) == 0)
		return pv_error_set_plain(err, EINVAL, "process.args: empty");
	p->cwd = dup_str(obj, "cwd");
	if (p->cwd == NULL && (p->cwd = strdup("/")) == NULL)
		return pv_error_set(err, ENOMEM, "process");
	p->terminal = json_is_true(json_object_get(obj, "terminal"));
	json_t *size = json_object_get(obj, "consoleSize");
	p->rows = (unsigned short)json_integer_value(json_object_get(size, "height"));
	p->cols = (unsigned short)json_integer_value(json_object_get(size, "width"));
	p->no_new_privileges = json_is_true(json_object_get(obj, "noNewPrivileges"));
	json_t *oom = json_object_get(obj, "oomScoreAdj");
	if (json_is_integer(oom)) {
		p->has_oom_score_adj = true;
		p->oom_score_adj = (int)json_integer_value(oom);
	}
	if (parse_user(json_object_get(obj, "user"), p, err) < 0 ||
	    parse_caps(json_object_get(obj, "capabilities"), &p->caps, err) < 0 ||
	    parse_rlimits(json_object_get(obj, "rlimits"), p, err) < 0)
		return -EINVAL;
	return 0;
}

int spec_parse_mount_options(char *const *opts, size_t n, struct spec_mount *m, pv_error *err)
{
	struct pv_mount_options o = { .flags = m->flags, .propagation = m->propagation,
				      .bind = m->bind, .recursive = m->recursive, .data = m->data };
	int r = pv_mount_options_parse(opts, n, &o);
	m->flags = o.flags;
	m->propagation = o.propagation;
	m->bind = o.bind;
	m->recursive = o.recursive;
	m->data = o.data;
	return r < 0 ? pv_error_set(err, -r, "mount options") : 0;
}

static int parse_mount(json_t *obj, struct spec_mount *m, size_t idx, pv_error *err)
{
	m->destination = dup_str(obj, "destination");
	m->type = dup_str(obj, "type");
	m->source = dup_str(obj, "source");
	if (m->destination == NULL || m->destination[0] != '/')
		return pv_error_set_plain(err, EINVAL, "mounts[%zu]: destination must be an absolute path", idx);
	_cleanup_strv_ char **opts = NULL;
	if (parse_strv(json_object_get(obj, "options"), &opts, "mounts.options", err) < 0)
		return -EINVAL;
	if (spec_parse_mount_options(opts, pv_strv_len(opts), m, err) < 0)
		return -EINVAL;
	if (m->type && strcmp(m->type, "bind") == 0)
		m->bind = true;
	if (m->bind && m->source == NULL)
		return pv_error_set_plain(err, EINVAL, "mounts[%zu] (%s): bind mount without source", idx, m->destination);
	return 0;
}

static int parse_mounts(json_t *arr, struct spec *s, pv_error *err)
{
	size_t n = json_array_size(arr);
	s->mounts = calloc(n ? n : 1, sizeof(*s->mounts));
	if (s->mounts == NULL)
		return pv_error_set(err, ENOMEM, "mounts");
	for (size_t i = 0; i < n; i++) {
		s->n_mounts = i + 1;
		if (parse_mount(json_array_get(arr, i), &s->mounts[i], i, err) < 0)
			return -EINVAL;
	}
	return 0;
}

static const struct name_value ns_names[] = {
	{ "mount", CLONE_NEWNS }, { "pid", CLONE_NEWPID }, { "ipc", CLONE_NEWIPC },
	{ "uts", CLONE_NEWUTS }, { "cgroup", CLONE_NEWCGROUP },
	/* The pod's network is the VM's: containers share the guest's network namespace, as
	 * they share the pod's under runc. User namespaces are not supported yet. */
	{ "network", 0 }, { "user", 0 }, { "time", 0 },
};

#define JOIN_PREFIX "podvm:container/"

static int parse_namespaces(json_t *arr, struct spec *s, pv_error *err)
{
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v) {
		const char *type = json_string_value(json_object_get(v, "type"));
		long flag;
		if (type == NULL || lookup(ns_names, sizeof(ns_names) / sizeof(*ns_names), type, &flag) < 0)
			return pv_error_set_plain(err, EINVAL, "linux.namespaces[%zu]: unknown type %s", i, type ? type : "(none)");
		const char *path = json_string_value(json_object_get(v, "path"));
		if (flag && path && pv_str_has_prefix(path, JOIN_PREFIX)) {
			/* Another container's namespace (a pod's shared ipc/uts): joined, not made. */
			if (s->join_container && strcmp(s->join_container, path + strlen(JOIN_PREFIX)) != 0)
				return pv_error_set_plain(err, EINVAL, "linux.namespaces: joins more than one container");
			free(s->join_container);
			s->join_container = strdup(path + strlen(JOIN_PREFIX));
			s->join_flags |= (int)flag;
			continue;
		}
		s->clone_flags |= (int)flag;
	}
	return 0;
}

static long long int_or(json_t *obj, const char *key, long long dflt)
{
	json_t *v = json_object_get(obj, key);
	return json_is_integer(v) ? (long long)json_integer_value(v) : dflt;
}

static void parse_resources(json_t *res, struct spec_resources *r)
{
	json_t *mem = json_object_get(res, "memory");
	json_t *cpu = json_object_get(res, "cpu");
	r->memory_limit = int_or(mem, "limit", -1);
	r->memory_swap = int_or(mem, "swap", -1);
	r->cpu_quota = int_or(cpu, "quota", -1);
	r->cpu_period = (unsigned long long)int_or(cpu, "period", 0);
	r->cpu_shares = (unsigned long long)int_or(cpu, "shares", 0);
	r->pids_limit = int_or(json_object_get(res, "pids"), "limit", -1);
	if (r->pids_limit == 0)
		r->pids_limit = -1;
}

static int parse_sysctl(json_t *obj, struct spec *s, pv_error *err)
{
	const char *key;
	json_t *v;
	json_object_foreach(obj, key, v) {
		_cleanup_free_ char *kv = NULL;
		if (!json_is_string(v))
			return pv_error_set_plain(err, EINVAL, "linux.sysctl.%s: not a string", key);
		if (asprintf(&kv, "%s=%s", key, json_string_value(v)) < 0 || pv_strv_push(&s->sysctl, kv) < 0)
			return pv_error_set(err, ENOMEM, "linux.sysctl");
	}
	return 0;
}

static int parse_device(json_t *d, struct spec_device *dev, size_t i, pv_error *err)
{
	const char *type = json_string_value(json_object_get(d, "type"));
	dev->path = dup_str(d, "path");
	if (dev->path == NULL || dev->path[0] != '/')
		return pv_error_set_plain(err, EINVAL, "linux.devices[%zu].path: missing or relative", i);
	if (type == NULL || strlen(type) != 1 || !strchr("cubp", type[0]))
		return pv_error_set_plain(err, EINVAL, "linux.devices[%zu].type: want c, u, b or p", i);
	dev->type = type[0] == 'b' ? S_IFBLK : type[0] == 'p' ? S_IFIFO : S_IFCHR;
	dev->major = (unsigned)int_or(d, "major", 0);
	dev->minor = (unsigned)int_or(d, "minor", 0);
	dev->mode = (mode_t)int_or(d, "fileMode", 0666) & 07777;
	dev->uid = (uid_t)int_or(d, "uid", 0);
	dev->gid = (gid_t)int_or(d, "gid", 0);
	return 0;
}

static int parse_devices(json_t *arr, struct spec *s, pv_error *err)
{
	size_t n = json_array_size(arr);
	s->devices = calloc(n ? n : 1, sizeof(*s->devices));
	if (s->devices == NULL)
		return pv_error_set(err, ENOMEM, "linux.devices");
	for (size_t i = 0; i < n; i++) {
		s->n_devices = i + 1;
		if (parse_device(json_array_get(arr, i), &s->devices[i], i, err) < 0)
			return -EINVAL;
	}
	return 0;
}

static int parse_linux(json_t *lx, struct spec *s, pv_error *err)
{
	if (parse_namespaces(json_object_get(lx, "namespaces"), s, err) < 0 ||
	    parse_devices(json_object_get(lx, "devices"), s, err) < 0 ||
	    parse_strv(json_object_get(lx, "maskedPaths"), &s->masked_paths, "linux.maskedPaths", err) < 0 ||
	    parse_strv(json_object_get(lx, "readonlyPaths"), &s->readonly_paths, "linux.readonlyPaths", err) < 0 ||
	    parse_sysctl(json_object_get(lx, "sysctl"), s, err) < 0 ||
	    seccomp_compile(json_object_get(lx, "seccomp"), &s->seccomp, err) < 0)
		return -EINVAL;
	parse_resources(json_object_get(lx, "resources"), &s->resources);
	return 0;
}

static int parse_spec_root(json_t *root, struct spec *s, pv_error *err)
{
	json_t *r = json_object_get(root, "root");
	s->root_path = dup_str(r, "path");
	if (s->root_path == NULL)
		return pv_error_set_plain(err, EINVAL, "root.path: missing");
	s->root_readonly = json_is_true(json_object_get(r, "readonly"));
	s->hostname = dup_str(root, "hostname");
	if (parse_process(json_object_get(root, "process"), &s->process, err) < 0)
		return pv_error_prefix(err, "config.json");
	if (parse_mounts(json_object_get(root, "mounts"), s, err) < 0 ||
	    parse_linux(json_object_get(root, "linux"), s, err) < 0)
		return pv_error_prefix(err, "config.json");
	return 0;
}

static json_t *load_json(const char *json, size_t len, const char *what, pv_error *err)
{
	json_error_t jerr;
	json_t *root = json_loadb(json, len, 0, &jerr);
	if (root == NULL)
		pv_error_set_plain(err, EINVAL, "%s: invalid JSON at line %d: %s", what, jerr.line, jerr.text);
	else if (!json_is_object(root)) {
		json_decref(root);
		root = NULL;
		pv_error_set_plain(err, EINVAL, "%s: not a JSON object", what);
	}
	return root;
}

int spec_parse(const char *json, size_t len, struct spec *out, pv_error *err)
{
	memset(out, 0, sizeof(*out));
	json_t *root = load_json(json, len, "config.json", err);
	if (root == NULL)
		return -EINVAL;
	int r = parse_spec_root(root, out, err);
	json_decref(root);
	if (r < 0)
		spec_clear(out);
	return r;
}

int spec_parse_process_json(const char *json, size_t len, struct spec_process *out, pv_error *err)
{
	memset(out, 0, sizeof(*out));
	json_t *root = load_json(json, len, "process", err);
	if (root == NULL)
		return -EINVAL;
	int r = parse_process(root, out, err);
	json_decref(root);
	if (r < 0) {
		pv_error_prefix(err, "exec process");
		spec_process_clear(out);
	}
	return r;
}

int spec_parse_resources_json(const char *json, size_t len, struct spec_resources *out, pv_error *err)
{
	json_t *root = load_json(json, len, "resources", err);
	if (root == NULL)
		return -EINVAL;
	parse_resources(root, out);
	json_decref(root);
	return 0;
}

void spec_process_clear(struct spec_process *p)
{
	pv_strv_free(p->args);
	pv_strv_free(p->env);
	free(p->cwd);
	free(p->groups);
	free(p->rlimits);
	memset(p, 0, sizeof(*p));
}

void spec_clear(struct spec *s)
{
	free(s->root_path);
	free(s->hostname);
	free(s->join_container);
	spec_process_clear(&s->process);
	for (size_t i = 0; i < s->n_mounts; i++) {
		free(s->mounts[i].destination);
		free(s->mounts[i].type);
		free(s->mounts[i].source);
		free(s->mounts[i].data);
	}
	free(s->mounts);
	for (size_t i = 0; i < s->n_devices; i++)
		free(s->devices[i].path);
	free(s->devices);
	pv_strv_free(s->masked_paths);
	pv_strv_free(s->readonly_paths);
	pv_strv_free(s->sysctl);
	seccomp_prog_clear(&s->seccomp);
	memset(s, 0, sizeof(*s));
}
