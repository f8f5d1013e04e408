#include "jail.h"
#include "cleanup.h"
#include "util.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <spawn.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define MAX_LINKS 16  /* links followed for one path, as the kernel's 40 but tighter */

/* The steps of pv_jail_enter that are not ops, as negative failed_op values. */
enum jail_step {
	STEP_UNSHARE = -1, STEP_ID_MAPS = -2, STEP_PROPAGATION = -3, STEP_ROOT_MOUNT = -4,
	STEP_PIVOT = -5, STEP_ROOT_READONLY = -6, STEP_CREDENTIALS = -7, STEP_CAPABILITIES = -8,
	STEP_NO_NEW_PRIVS = -9, STEP_PROC = -10,
};

static int read_cap_last(void)
{
	_cleanup_free_ char *text = NULL;
	if (pv_read_file("/proc/sys/kernel/cap_last_cap", 32, &text, NULL, NULL) < 0)
		return CAP_LAST_CAP;
	int n = atoi(text);
	return n > 0 && n < 64 ? n : CAP_LAST_CAP;
}

int pv_jail_init(struct pv_jail *j, const char *root_dir, pv_error *err)
{
	memset(j, 0, sizeof(*j));
	j->cap_last = read_cap_last();
	j->userns = geteuid() != 0;
	snprintf(j->uid_map, sizeof(j->uid_map), "%u %u 1", (unsigned)geteuid(), (unsigned)geteuid());
	snprintf(j->gid_map, sizeof(j->gid_map), "%u %u 1", (unsigned)getegid(), (unsigned)getegid());
	if (pv_mkdir_p(root_dir, 0755, err) < 0)
		return -1;
	j->root = strdup(root_dir);
	return j->root ? 0 : pv_error_set(err, ENOMEM, "jail");
}

static struct pv_jail_op *find_op(const struct pv_jail *j, const char *path)
{
	for (size_t i = 0; i < j->n_ops; i++)
		if (strcmp(j->ops[i].path, path) == 0)
			return &j->ops[i];
	return NULL;
}

/* Whether path lies inside a directory bound earlier (it is visible already; creating a
 * mount point there would write into the host's directory). */
static bool under_bound_dir(const struct pv_jail *j, const char *path)
{
	for (size_t i = 0; i < j->n_ops; i++)
		if (j->ops[i].kind == PV_JAIL_BIND_DIR && pv_path_within(path, j->ops[i].path))
			return true;
	return false;
}

static int push_op(struct pv_jail *j, enum pv_jail_op_kind kind, const char *path, const char *source,
		   unsigned flags, pv_error *err)
{
	if (find_op(j, path))
		return 0;
	struct pv_jail_op *ops = realloc(j->ops, (j->n_ops + 1) * sizeof(*ops));
	if (ops == NULL)
		return pv_error_set(err, ENOMEM, "jail");
	j->ops = ops;
	struct pv_jail_op *op = &ops[j->n_ops];
	*op = (struct pv_jail_op){ .kind = kind, .flags = flags };
	op->path = strdup(path);
	op->source = source ? strdup(source) : NULL;
	if (op->path == NULL || (source && op->source == NULL) || asprintf(&op->target, "%s%s", j->root, path) < 0) {
		free(op->path);
		free(op->source);
		return pv_error_set(err, ENOMEM, "jail");
	}
	j->n_ops++;
	return 0;
}

/* The path a link at link_path points to, made absolute; malloc'd. */
static char *link_destination(const char *link_path, const char *text, const char *rest)
{
	char *out = NULL;
	if (text[0] == '/')
		return asprintf(&out, "%s%s", text, rest) < 0 ? NULL : out;
	const char *slash = strrchr(link_path, '/');
	int dir_len = (int)(slash - link_path);
	return asprintf(&out, "%.*s/%s%s", dir_len, link_path, text, rest) < 0 ? NULL : out;
}

static int add_path(struct pv_jail *j, const char *host_path, unsigned flags, int links, pv_error *err);

/* cur is a link: recreate it, then add what it points to with the rest of the path. */
static int add_link(struct pv_jail *j, const char *cur, const char *rest, unsigned flags, int links,
		    pv_error *err)
{
	char text[PATH_MAX];
	ssize_t n = readlink(cur, text, sizeof(text) - 1);
	if (n < 0)
		return pv_error_set(err, errno, "jail: readlink %s", cur);
	text[n] = '\0';
	if (links >= MAX_LINKS)
		return pv_error_set_plain(err, ELOOP, "jail: %s: too many links", cur);
	_cleanup_free_ char *dest = link_destination(cur, text, rest);
	if (dest == NULL || push_op(j, PV_JAIL_SYMLINK, cur, text, 0, err) < 0)
		return dest ? -1 : pv_error_set(err, ENOMEM, "jail");
	return add_path(j, dest, flags, links + 1, err);
}

/* Walks host_path a component at a time: directories on the way are made, links are
 * recreated and followed, and the last component is bound. */
static int add_path(struct pv_jail *j, const char *host_path, unsigned flags, int links, pv_error *err)
{
	char cur[PATH_MAX] = "";
	size_t len = 0;
	for (const char *p = host_path; *p;) {
		p += strspn(p, "/");
		size_t n = strcspn(p, "/");
		if (n == 0)
			break;
		if (n == 2 && p[0] == '.' && p[1] == '.') {  /* up one: drop the last component */
			while (len > 0 && cur[--len] != '/') {}
			cur[len] = '\0';
			p += n;
			continue;
		}
		if (len + 1 + n >= sizeof(cur))
			return pv_error_set_plain(err, ENAMETOOLONG, "jail: %s: too long", host_path);
		if (!(n == 1 && p[0] == '.'))
			len += (size_t)snprintf(cur + len, sizeof(cur) - len, "/%.*s", (int)n, p);
		p += n;
		if (under_bound_dir(j, cur))
			return 0;
		struct stat st;
		if (lstat(cur, &st) < 0)
			return (flags & PV_JAIL_OPTIONAL) && errno == ENOENT ? 0 : pv_error_set(err, errno, "jail: %s", cur);
		bool last = p[strspn(p, "/")] == '\0';
		if (S_ISLNK(st.st_mode))
			return add_link(j, cur, p, flags, links, err);
		if (!last && push_op(j, PV_JAIL_MKDIR, cur, NULL, 0, err) < 0)
			return -1;
		if (last)
			return push_op(j, S_ISDIR(st.st_mode) ? PV_JAIL_BIND_DIR : PV_JAIL_BIND_FILE, cur, cur, flags, err);
	}
	return 0;
}

int pv_jail_add(struct pv_jail *j, const char *host_path, unsigned flags, pv_error *err)
{
	if (host_path == NULL || host_path[0] != '/')
		return pv_error_set_plain(err, EINVAL, "jail: %s: not an absolute path", host_path ? host_path : "(null)");
	return add_path(j, host_path, flags, 0, err);
}

/* ---- a program and the libraries it loads ---- */

/* The program interpreter (PT_INTERP) of an ELF executable, into out. */
static int elf_interpreter(const char *exe, char *out, size_t len, pv_error *err)
{
	_cleanup_close_ int fd = open(exe, O_RDONLY | O_CLOEXEC);
	Elf64_Ehdr eh;
	if (fd < 0)
		return pv_error_set(err, errno, "%s", exe);
	if (pread(fd, &eh, sizeof(eh), 0) != sizeof(eh) || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64)
		return pv_error_set_plain(err, ENOEXEC, "%s: not a 64-bit ELF executable", exe);
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + (Elf64_Off)i * eh.e_phentsize)) != sizeof(ph))
			break;
		if (ph.p_type != PT_INTERP || ph.p_filesz == 0 || ph.p_filesz >= len)
			continue;
		if (pread(fd, out, ph.p_filesz, (off_t)ph.p_offset) != (ssize_t)ph.p_filesz)
			break;
		out[ph.p_filesz - 1] = '\0';
		return 0;
	}
	return pv_error_set_plain(err, ENOEXEC, "%s: no program interpreter", exe);
}

/* Runs `interp --list file` and returns its output (the libraries file loads). */
static int list_libraries(const char *interp, const char *file, char **out, pv_error *err)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return pv_error_set(err, errno, "pipe");
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	char *argv[] = { (char *)interp, (char *)"--list", (char *)file, NULL };
	pid_t pid;
	int r = posix_spawn(&pid, interp, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	if (r != 0) {
		close(p[0]);
		return pv_error_set(err, r, "%s --list %s", interp, file);
	}
	int rr = pv_read_fd(p[0], 1 << 20, out, NULL, err);
	close(p[0]);
	int status = 0;
	waitpid(pid, &status, 0);
	if (rr == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		rr = pv_error_set_plain(err, ENOEXEC, "%s --list %s: failed", interp, file);
	return rr;
}

/* Adds every absolute path in ld.so's list ("libz.so.1 => /lib/.../libz.so.1 (0x...)"). */
static int add_listed(struct pv_jail *j, char *list, pv_error *err)
{
	char *save = NULL;
	for (char *line = strtok_r(list, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *arrow = strstr(line, "=> "), *path = arrow ? arrow + 3 : line + strspn(line, " \t");
		if (path[0] != '/')
			continue;
		path[strcspn(path, " \t")] = '\0';
		if (pv_jail_add(j, path, PV_JAIL_READONLY, err) < 0)
			return -1;
	}
	return 0;
}

/* What ld.so listed for a program (and its modules), once per process and program: the
 * list does not change while the program is installed, and each VM start needs it. */
struct program_libs {
	char *exe, *interp, *text;
	struct program_libs *next;
};
static pthread_mutex_t libs_lock = PTHREAD_MUTEX_INITIALIZER;
static struct program_libs *libs_cache;

static int list_program(const char *exe, const char *const *modules, struct program_libs *p, pv_error *err)
{
	char ip[256];
	_cleanup_free_ char *text = strdup("");
	if (text == NULL)
		return pv_error_set(err, ENOMEM, "jail");
	if (elf_interpreter(exe, ip, sizeof(ip), err) < 0)
		return -1;
	for (size_t i = 0; text && (i == 0 || modules[i - 1]); i++) {
		const char *file = i == 0 ? exe : modules[i - 1];
		_cleanup_free_ char *list = NULL;
		char *joined = NULL;
		if (i > 0 && access(file, R_OK) < 0)
			continue;  /* a module this build has not got */
		if (list_libraries(ip, file, &list, err) < 0)
			return -1;
		if (asprintf(&joined, "%s%s\n", text, list) < 0)
			return pv_error_set(err, ENOMEM, "jail");
		free(text);
		text = joined;
	}
	p->exe = strdup(exe);
	p->interp = strdup(ip);
	p->text = steal_pointer(&text);
	return p->exe && p->interp ? 0 : pv_error_set(err, ENOMEM, "jail");
}

/* The cached list of exe (made on first use): copies of its interpreter and list. */
static int program_libraries(const char *exe, const char *const *modules, char **interp, char **text, pv_error *err)
{
	pthread_mutex_lock(&libs_lock);
	struct program_libs *p = libs_cache;
	while (p && strcmp(p->exe, exe) != 0)
		p = p->next;
	int r = 0;
	if (p == NULL && (p = calloc(1, sizeof(*p))) == NULL)
		r = pv_error_set(err, ENOMEM, "jail");
	else if (p->exe == NULL && (r = list_program(exe, modules, p, err)) == 0) {
		p->next = libs_cache;
		libs_cache = p;
	} else if (r < 0) {
		free(p->exe);
		free(p->interp);
		free(p->text);
		free(p);
		p = NULL;
	}
	if (r == 0 && ((*interp = strdup(p->interp)) == NULL || (*text = strdup(p->text)) == NULL))
		r = pv_error_set(err, ENOMEM, "jail");
	pthread_mutex_unlock(&libs_lock);
	return r;
}

int pv_jail_add_program(struct pv_jail *j, const char *exe, const char *const *modules, pv_error *err)
{
	static const char *const none[] = { NULL };
	_cleanup_free_ char *interp = NULL, *libs = NULL;
	if (program_libraries(exe, modules ? modules : none, &interp, &libs, err) < 0 ||
	    pv_jail_add(j, exe, PV_JAIL_READONLY, err) < 0 || pv_jail_add(j, interp, PV_JAIL_READONLY, err) < 0)
		return -1;
	return add_listed(j, libs, err);
}

/* Only system calls from here on: this runs in the child of a fork. */

static int write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = write(fd, text, strlen(text));
	int e = n < 0 ? errno : 0;
	close(fd);
	return n < 0 ? -e : 0;
}

unsigned long pv_jail_clone_flags(const struct pv_jail *j)
{
	return CLONE_NEWPID | (j->userns ? CLONE_NEWUSER : 0);
}

/* The caller's pid in the host's PID namespace: /proc is still the host's. */
static pid_t host_pid(void)
{
	char buf[32];
	ssize_t n = readlink("/proc/self", buf, sizeof(buf) - 1);
	pid_t pid = 0;
	for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; i++)
		pid = pid * 10 + (buf[i] - '0');
	return pid;
}

static int enter_namespaces(const struct pv_jail *j, int *step)
{
	*step = STEP_ID_MAPS;
	int r = 0;
	if (j->userns && ((r = write_text("/proc/self/setgroups", "deny")) < 0 ||
			  (r = write_text("/proc/self/uid_map", j->uid_map)) < 0 ||
			  (r = write_text("/proc/self/gid_map", j->gid_map)) < 0))
		return r;
	*step = STEP_UNSHARE;
	if (unshare(CLONE_NEWNS) < 0)
		return -errno;
	/* Slave: the host's later mounts in the VM's shares (a pod's rootfs) still reach it,
	 * where the host's mount is shared (pv_mount_make_shared); nothing goes back. */
	*step = STEP_PROPAGATION;
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
		return -errno;
	*step = STEP_ROOT_MOUNT;
	if (mount("tmpfs", j->root, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=256k,nr_inodes=1024") < 0)
		return -errno;
	return 0;
}

static int run_op(const struct pv_jail_op *op)
{
	switch (op->kind) {
	case PV_JAIL_MKDIR:
		return mkdir(op->target, 0755) < 0 && errno != EEXIST ? -errno : 0;
	case PV_JAIL_SYMLINK:
		return symlink(op->source, op->target) < 0 && errno != EEXIST ? -errno : 0;
	case PV_JAIL_BIND_FILE: {
		int fd = open(op->target, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
		if (fd < 0)
			return -errno;
		close(fd);
		break;
	}
	case PV_JAIL_BIND_DIR:
		if (mkdir(op->target, 0755) < 0 && errno != EEXIST)
			return -errno;
		break;
	}
	unsigned long rec = op->flags & PV_JAIL_RECURSIVE ? MS_REC : 0;
	if (mount(op->source, op->target, NULL, MS_BIND | rec, NULL) < 0)
		return -errno;
	/* mount_setattr adds these flags and keeps the source's others (nodev, noexec: a user
	 * namespace may not drop them). */
	struct mount_attr attr = { .attr_set = MOUNT_ATTR_NOSUID | (op->flags & PV_JAIL_READONLY ? MOUNT_ATTR_RDONLY : 0) };
	if (mount_setattr(AT_FDCWD, op->target, rec ? AT_RECURSIVE : 0, &attr, sizeof(attr)) < 0)
		return -errno;
	return 0;
}

/* A /proc of the jail's own PID namespace (the jailed process alone), without the
 * system-wide files (subset=pid): QEMU's 9p reaches files by /proc/self/fd. Mounted
 * while the host's /proc is still there: a user namespace may only mount a proc when one
 * is fully visible. */
static int mount_proc(const struct pv_jail *j, int *step)
{
	*step = STEP_PROC;
	char target[PATH_MAX];
	size_t n = strlen(j->root);
	if (n + sizeof("/proc") > sizeof(target))
		return -ENAMETOOLONG;
	memcpy(target, j->root, n);
	memcpy(target + n, "/proc", sizeof("/proc"));
	if (mkdir(target, 0555) < 0 && errno != EEXIST)
		return -errno;
	return mount("proc", target, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "subset=pid") < 0 ? -errno : 0;
}

/* pivot_root(".", "."): the old root ends up on top of the new one and is unmounted. */
static int pivot(const struct pv_jail *j, int *step)
{
	*step = STEP_PIVOT;
	if (chdir(j->root) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 || umount2(".", MNT_DETACH) < 0 ||
	    chdir("/") < 0)
		return -errno;
	*step = STEP_ROOT_READONLY;
	struct mount_attr ro = { .attr_set = MOUNT_ATTR_RDONLY };
	return mount_setattr(AT_FDCWD, "/", 0, &ro, sizeof(ro)) < 0 ? -errno : 0;
}

static int set_caps(uint64_t caps)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2] = { 0 };
	for (int i = 0; i < 2; i++)
		d[i].effective = d[i].permitted = d[i].inheritable = (uint32_t)(caps >> (32 * i));
	return syscall(SYS_capset, &h, d) < 0 ? -errno : 0;
}

/* As root: a uid/gid of its own with only keep_caps, which survive exec as ambient
 * capabilities. In a user namespace: no capabilities at all. */
static int drop_privileges(const struct pv_jail *j, pid_t pid, int *step)
{
	uint64_t keep = j->userns ? 0 : j->keep_caps;
	*step = STEP_CAPABILITIES;
	for (int c = 0; c <= j->cap_last; c++)
		if (!(keep & (1ULL << c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0)
			return -errno;
	if (!j->userns) {
		*step = STEP_CREDENTIALS;
		id_t id = j->uid_base + (id_t)pid;
		/* Raw system calls: glibc's wrappers would wait for the parent's other threads,
		 * which a cloned child has not got, to change their credentials too. */
		if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 || syscall(SYS_setgroups, 0, NULL) < 0 ||
		    syscall(SYS_setresgid, id, id, id) < 0 || syscall(SYS_setresuid, id, id, id) < 0)
			return -errno;
	}
	*step = STEP_CAPABILITIES;
	int r = set_caps(keep);
	for (int c = 0; r == 0 && c <= j->cap_last; c++)
		if ((keep & (1ULL << c)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0)
			r = -errno;
	if (r < 0)
		return r;
	*step = STEP_NO_NEW_PRIVS;
	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ? -errno : 0;
}

int pv_jail_enter(const struct pv_jail *j, int *failed_op)
{
	pid_t pid = host_pid();
	int r = enter_namespaces(j, failed_op);
	for (size_t i = 0; r == 0 && i < j->n_ops; i++) {
		*failed_op = (int)i;
		r = run_op(&j->ops[i]);
	}
	if (r == 0)
		r = mount_proc(j, failed_op);
	if (r == 0)
		r = pivot(j, failed_op);
	return r < 0 ? r : drop_privileges(j, pid, failed_op);
}

void pv_jail_describe(const struct pv_jail *j, int failed_op, int errnum, char *out, size_t len)
{
	static const char *const steps[] = {
		"", "unshare the mount namespace", "map the user namespace", "make the mounts slaves",
		"mount its root", "pivot into its root", "make its root read-only", "take its own uid/gid",
		"drop capabilities", "set no_new_privs", "mount its /proc",
	};
	const char *what = failed_op >= 0 && (size_t)failed_op < j->n_ops ? j->ops[failed_op].path : NULL;
	const char *step = failed_op < 0 && -failed_op < (int)(sizeof(steps) / sizeof(*steps)) ? steps[-failed_op] : "?";
	if (what)
		snprintf(out, len, "jail %s: %s %s: %s", j->root, j->ops[failed_op].kind == PV_JAIL_SYMLINK ? "link" : "bind",
			 what, strerror(errnum));
	else
		snprintf(out, len, "jail %s: %s: %s", j->root, step, strerror(errnum));
}

void pv_jail_clear(struct pv_jail *j)
{
	for (size_t i = 0; i < j->n_ops; i++) {
		free(j->ops[i].path);
		free(j->ops[i].target);
		free(j->ops[i].source);
	}
	free(j->ops);
	free(j->root);
	memset(j, 0, sizeof(*j));
}
