/* A pod's host cgroup (cgroup.h): its path from an OCI linux.cgroupsPath, the hierarchies
 * this host mounts (from mountinfo), joining it and removing it. */
#include "cgroup.h"
#include "cleanup.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SLICE ".slice"
#define MAX_FIELDS 64
#define REMOVE_WAIT_MS 2000

/* ---- the path ---- */

static int bad_path(const char *cgroups_path, const char *why, pv_error *err)
{
	return pv_error_set_plain(err, EINVAL, "cgroup path %s: %s", cgroups_path, why);
}

static bool is_slice(const char *unit)
{
	size_t len = strlen(unit), sfx = strlen(SLICE);
	return len > sfx && strcmp(unit + len - sfx, SLICE) == 0;
}

/* runc's ExpandSlice: "a-b.slice" is "/a.slice/a-b.slice" (each dash a level), "-.slice"
 * the root ("" here). */
static int expand_slice(const char *cgroups_path, const char *slice, FILE *out, pv_error *err)
{
	if (!is_slice(slice) || strchr(slice, '/'))
		return bad_path(cgroups_path, "the slice must be NAME.slice", err);
	if (strcmp(slice, "-" SLICE) == 0)
		return 0;
	size_t name_len = strlen(slice) - strlen(SLICE);
	for (size_t start = 0;;) {
		const char *dash = memchr(slice + start, '-', name_len - start);
		size_t end = dash ? (size_t)(dash - slice) : name_len;
		if (end == start)
			return bad_path(cgroups_path, "the slice has an empty component", err);
		fprintf(out, "/%.*s" SLICE, (int)end, slice);  /* every level carries its parents' names */
		if (dash == NULL)
			return 0;
		start = end + 1;
	}
}

/* "slice:prefix:name" as runc lays it out without systemd: slice (default system.slice),
 * then the unit, "prefix-name.scope" or a name that is itself a slice. */
static int systemd_path(const char *cgroups_path, char **out, pv_error *err)
{
	const char *c1 = strchr(cgroups_path, ':'), *c2 = strchr(c1 + 1, ':'), *name = c2 + 1;
	_cleanup_free_ char *slice = strndup(cgroups_path, (size_t)(c1 - cgroups_path));
	if (slice == NULL)
		return pv_error_set(err, ENOMEM, "cgroup path %s", cgroups_path);
	if (*name == '\0' || strchr(name, '/') || memchr(c1 + 1, '/', (size_t)(c2 - c1 - 1)))
		return bad_path(cgroups_path, "slice:prefix:name needs a name, and no '/' in prefix and name", err);
	size_t size = 0;
	FILE *f = open_memstream(out, &size);
	if (f == NULL)
		return pv_error_set(err, ENOMEM, "cgroup path %s", cgroups_path);
	int r = expand_slice(cgroups_path, *slice ? slice : "system" SLICE, f, err);
	if (is_slice(name))
		fprintf(f, "/%s", name);
	else
		fprintf(f, "/%.*s-%s.scope", (int)(c2 - c1 - 1), c1 + 1, name);
	fclose(f);
	return r;
}

/* The systemd form has exactly two ':' and is not a path. */
static bool systemd_form(const char *cgroups_path)
{
	const char *c1 = strchr(cgroups_path, ':');
	const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	return cgroups_path[0] != '/' && c2 && strchr(c2 + 1, ':') == NULL;
}

/* "/a/b", empty components dropped; "." and ".." refused (a path that climbs out of the
 * hierarchy). */
static int normalize(const char *cgroups_path, const char *raw, char **out, pv_error *err)
{
	_cleanup_free_ char *copy = strdup(raw), *norm = malloc(strlen(raw) + 2);
	if (copy == NULL || norm == NULL)
		return pv_error_set(err, ENOMEM, "cgroup path %s", cgroups_path);
	norm[0] = '\0';
	char *save = NULL;
	for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		if (strcmp(c, ".") == 0 || strcmp(c, "..") == 0)
			return bad_path(cgroups_path, "'.' and '..' are not allowed", err);
		strcat(strcat(norm, "/"), c);
	}
	if (norm[0] == '\0')
		strcpy(norm, "/");
	*out = steal_pointer(&norm);
	return 0;
}

int pv_cgroup_path(const char *cgroups_path, char **out, pv_error *err)
{
	_cleanup_free_ char *raw = NULL;
	if (!systemd_form(cgroups_path))
		return normalize(cgroups_path, cgroups_path, out, err);
	int r = systemd_path(cgroups_path, &raw, err);
	return r < 0 ? r : normalize(cgroups_path, raw, out, err);
}

/* ---- the hierarchies ---- */

struct mount_line {
	const char *dev, *root, *fstype, *options;
	char *mount;
};

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape(char *s)
{
	char *w = s;
	for (char *r = s; *r; w++) {
		bool octal = r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
			     r[3] >= '0' && r[3] <= '7';
		*w = octal ? (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0')) : *r;
		r += octal ? 4 : 1;
	}
	*w = '\0';
}

/* "ID PARENT MAJ:MIN ROOT MOUNT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER_OPTIONS";
 * false for a line of another shape. */
static bool split_line(char *line, struct mount_line *m)
{
	char *f[MAX_FIELDS], *save = NULL;
	size_t n = 0, dash;
	for (char *t = strtok_r(line, " ", &save); t && n < MAX_FIELDS; t = strtok_r(NULL, " ", &save))
		f[n++] = t;
	for (dash = 6; dash < n && strcmp(f[dash], "-") != 0; dash++)
		;
	if (dash + 3 >= n)
		return false;
	unescape(f[3]);
	unescape(f[4]);
	*m = (struct mount_line){ .dev = f[2], .root = f[3], .mount = f[4], .fstype = f[dash + 1],
				  .options = f[dash + 3] };
	return true;
}

static bool has_option(const char *options, const char *opt)
{
	size_t len = strlen(opt);
	for (const char *p = options; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		if (strncmp(p, opt, len) == 0 && (p[len] == ',' || p[len] == '\0'))
			return true;
	return false;
}

static int add_hierarchy(struct pv_cgroup_hierarchies *h, const struct mount_line *m)
{
	struct pv_cgroup_hierarchy *nv = realloc(h->v, (h->n + 1) * sizeof(*nv));
	if (nv == NULL)
		return -ENOMEM;
	h->v = nv;
	nv[h->n].cpuset = strcmp(m->fstype, "cgroup") == 0 && has_option(m->options, "cpuset");
	if ((nv[h->n].mount = strdup(m->mount)) == NULL)
		return -ENOMEM;
	h->n++;
	return 0;
}

static bool contains(char *const *v, const char *s)
{
	for (size_t i = 0; v && v[i]; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

/* One pass over the text: the cgroup mounts whose root is (root_only) or is not "/", of a
 * hierarchy (device) not in `seen` yet. */
static int parse_pass(const char *mountinfo, bool root_only, struct pv_cgroup_hierarchies *h, char ***seen)
{
	_cleanup_free_ char *text = strdup(mountinfo);
	if (text == NULL)
		return -ENOMEM;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct mount_line m;
		if (!split_line(line, &m) || (strcmp(m.fstype, "cgroup") != 0 && strcmp(m.fstype, "cgroup2") != 0) ||
		    (strcmp(m.root, "/") == 0) != root_only || contains(*seen, m.dev))
			continue;
		if (pv_strv_push(seen, m.dev) < 0 || add_hierarchy(h, &m) < 0)
			return -ENOMEM;
	}
	return 0;
}

int pv_cgroup_hierarchies_parse(const char *mountinfo, struct pv_cgroup_hierarchies *out, pv_error *err)
{
	_cleanup_strv_ char **seen = NULL;  /* the device (MAJ:MIN) of each hierarchy taken */
	*out = (struct pv_cgroup_hierarchies){ 0 };
	if (parse_pass(mountinfo, true, out, &seen) < 0 || parse_pass(mountinfo, false, out, &seen) < 0) {
		pv_cgroup_hierarchies_clear(out);
		return pv_error_set(err, ENOMEM, "cgroup hierarchies");
	}
	return 0;
}

void pv_cgroup_hierarchies_clear(struct pv_cgroup_hierarchies *h)
{
	for (size_t i = 0; i < h->n; i++)
		free(h->v[i].mount);
	free(h->v);
	*h = (struct pv_cgroup_hierarchies){ 0 };
}

static int mounted_hierarchies(struct pv_cgroup_hierarchies *h, pv_error *err)
{
	_cleanup_free_ char *text = NULL;
	if (pv_read_file("/proc/self/mountinfo", 1 << 22, &text, NULL, err) < 0)
		return pv_error_prefix(err, "cgroup hierarchies");
	if (pv_cgroup_hierarchies_parse(text, h, err) < 0)
		return -1;
	if (h->n == 0)
		return pv_error_set_plain(err, ENOENT, "cgroup hierarchies: none mounted (/proc/self/mountinfo)");
	return 0;
}

/* ---- joining and removing ---- */

/* A cgroup file written without O_CREAT or O_TRUNC (cgroupfs has neither). */
static int write_cgroup_file(const char *dir, const char *file, const char *value, pv_error *err)
{
	_cleanup_free_ char *path = NULL;
	if (asprintf(&path, "%s/%s", dir, file) < 0)
		return pv_error_set(err, ENOMEM, "cgroup %s", dir);
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || pv_write_all(fd, value, strlen(value)) < 0)
		return pv_error_set(err, errno, "cgroup %s: write %s", dir, file);
	return 0;
}

/* A new v1 cpuset cgroup has no CPUs and no memory nodes, and no process can join it until
 * it has: it gets its parent's, as runc gives it. */
static int inherit_cpuset(const char *parent, const char *dir, const char *file, pv_error *err)
{
	_cleanup_free_ char *path = NULL, *mine = NULL, *theirs = NULL;
	if (asprintf(&path, "%s/%s", dir, file) < 0 || pv_read_file(path, 1 << 16, &mine, NULL, err) < 0)
		return pv_error_prefix(err, "cgroup %s", dir);
	if (strspn(mine, " \n") != strlen(mine))
		return 0;
	free(path);
	if (asprintf(&path, "%s/%s", parent, file) < 0 || pv_read_file(path, 1 << 16, &theirs, NULL, err) < 0)
		return pv_error_prefix(err, "cgroup %s", dir);
	return write_cgroup_file(dir, file, theirs, err);
}

/* mkdir -p of the path under the hierarchy's mount; the cgroup's directory in *dir. */
static int make_cgroup(const struct pv_cgroup_hierarchy *h, const char *path, char dir[PATH_MAX], pv_error *err)
{
	_cleanup_free_ char *copy = strdup(path);
	if (copy == NULL)
		return pv_error_set(err, ENOMEM, "cgroup %s", path);
	if (snprintf(dir, PATH_MAX, "%s", h->mount) >= PATH_MAX)
		return pv_error_set(err, ENAMETOOLONG, "cgroup %s%s", h->mount, path);
	char *save = NULL;
	for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		char parent[PATH_MAX];
		strcpy(parent, dir);
		size_t len = strlen(dir);
		if (snprintf(dir + len, PATH_MAX - len, "/%s", c) >= (int)(PATH_MAX - len))
			return pv_error_set(err, ENAMETOOLONG, "cgroup %s%s", h->mount, path);
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return pv_error_set(err, errno, "cgroup %s: mkdir", dir);
		if (h->cpuset && (inherit_cpuset(parent, dir, "cpuset.cpus", err) < 0 ||
				  inherit_cpuset(parent, dir, "cpuset.mems", err) < 0))
			return -1;
	}
	return 0;
}

int pv_cgroup_join(const char *path, pid_t pid, pv_error *err)
{
	struct pv_cgroup_hierarchies h;
	if (mounted_hierarchies(&h, err) < 0)
		return -1;
	char pid_line[32];
	snprintf(pid_line, sizeof(pid_line), "%d\n", (int)pid);
	int r = 0;
	for (size_t i = 0; r == 0 && i < h.n; i++) {
		char dir[PATH_MAX];
		r = make_cgroup(&h.v[i], path, dir, err);
		if (r == 0)
			r = write_cgroup_file(dir, "cgroup.procs", pid_line, err);  /* the whole process */
	}
	pv_cgroup_hierarchies_clear(&h);
	return r < 0 ? -1 : 0;
}

void pv_cgroup_remove(const char *path)
{
	struct pv_cgroup_hierarchies h;
	if (strcmp(path, "/") == 0 || mounted_hierarchies(&h, NULL) < 0)
		return;
	/* A killed process leaves its cgroups a moment after the signal (EBUSY until then). */
	long long deadline = pv_now_ms() + REMOVE_WAIT_MS;
	for (size_t i = 0; i < h.n; i++) {
		_cleanup_free_ char *dir = NULL;
		if (asprintf(&dir, "%s%s", h.v[i].mount, path) < 0)
			break;
		while (rmdir(dir) < 0 && errno == EBUSY && pv_now_ms() < deadline)
			usleep(10000);
	}
	pv_cgroup_hierarchies_clear(&h);
}
