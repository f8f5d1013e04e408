/* What a jailed QEMU needs to see (qemu.h): itself and the libraries it loads, its TCG
 * module and firmware, the guest image, the VM's own files and shares, and its devices. */
#include "qemu.h"
#include "cleanup.h"
#include "util.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define QEMU_MODULE_DIR "/usr/lib/x86_64-linux-gnu/qemu"
#define QEMU_DATA_DIR "/usr/share/qemu"
/* Per VM: uid and gid = this + the VMM's pid, a range no distribution hands out. */
#define VMM_UID_BASE 0x60000000u

/* 9p passthrough creates files as the guest's users (chown), opens theirs, keeps their
 * modes (setgid) and makes device nodes; nothing else. Not CAP_DAC_READ_SEARCH: it
 * would allow open_by_handle_at (the "shocker" escape). */
#define VMM_CAPS ((1ULL << CAP_CHOWN) | (1ULL << CAP_DAC_OVERRIDE) | (1ULL << CAP_FOWNER) | \
		  (1ULL << CAP_FSETID) | (1ULL << CAP_MKNOD))

/* The program interpreter (PT_INTERP) of an ELF executable, into out. */
static int elf_interpreter(const char *exe, char *out, size_t len, pv_error *err)
{
	_cleanup_close_ int fd = open(exe, O_RDONLY | O_CLOEXEC);
	Elf64_Ehdr eh;
	if (fd < 0)
		return pv_error_set(err, errno, "VMM %s", exe);
	if (pread(fd, &eh, sizeof(eh), 0) != sizeof(eh) || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64)
		return pv_error_set_plain(err, ENOEXEC, "VMM %s: not a 64-bit ELF executable", exe);
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
	return pv_error_set_plain(err, ENOEXEC, "VMM %s: no program interpreter", exe);
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

/* QEMU's libraries, once per process (the list does not change while QEMU is installed). */
static pthread_mutex_t libs_lock = PTHREAD_MUTEX_INITIALIZER;
static char *libs_qemu, *libs_text, *libs_interp;

static int qemu_libraries(const char *qemu, char **text, char **interp, pv_error *err)
{
	pthread_mutex_lock(&libs_lock);
	int r = 0;
	if (libs_qemu == NULL || strcmp(libs_qemu, qemu) != 0) {
		char ip[256];
		_cleanup_free_ char *a = NULL, *b = NULL;
		r = elf_interpreter(qemu, ip, sizeof(ip), err);
		if (r == 0)
			r = list_libraries(ip, qemu, &a, err);
		/* TCG is a module QEMU loads itself; absent in builds with TCG built in. */
		if (r == 0 && access(QEMU_MODULE_DIR "/accel-tcg-x86_64.so", R_OK) == 0)
			r = list_libraries(ip, QEMU_MODULE_DIR "/accel-tcg-x86_64.so", &b, err);
		if (r == 0) {
			free(libs_qemu);
			free(libs_text);
			free(libs_interp);
			libs_qemu = strdup(qemu);
			libs_interp = strdup(ip);
			if (asprintf(&libs_text, "%s\n%s", a, b ? b : "") < 0)
				libs_text = NULL;
		}
	}
	if (r == 0 && ((*text = libs_text ? strdup(libs_text) : NULL) == NULL ||
		       (*interp = libs_interp ? strdup(libs_interp) : NULL) == NULL))
		r = pv_error_set(err, ENOMEM, "VMM libraries");
	pthread_mutex_unlock(&libs_lock);
	return r;
}

static int add_qemu_itself(struct pv_jail *j, const char *qemu, pv_error *err)
{
	_cleanup_free_ char *libs = NULL, *interp = NULL;
	if (qemu_libraries(qemu, &libs, &interp, err) < 0 || pv_jail_add(j, qemu, PV_JAIL_READONLY, err) < 0 ||
	    pv_jail_add(j, interp, PV_JAIL_READONLY, err) < 0 || add_listed(j, libs, err) < 0)
		return -1;
	return pv_jail_add(j, QEMU_MODULE_DIR, PV_JAIL_READONLY | PV_JAIL_OPTIONAL, err) < 0 ||
			       pv_jail_add(j, QEMU_DATA_DIR, PV_JAIL_READONLY | PV_JAIL_OPTIONAL, err) < 0
		       ? -1 : 0;
}

/* The guest RAM file must exist to be bound: QEMU would create it in the directory. */
static int add_mem_file(struct pv_jail *j, const char *path, pv_error *err)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return pv_error_set(err, errno, "guest RAM file %s", path);
	close(fd);
	return pv_jail_add(j, path, 0, err);
}

static int add_vm_files(struct pv_jail *j, const struct pv_vm_config *c, pv_error *err)
{
	if (pv_jail_add(j, c->kernel, PV_JAIL_READONLY, err) < 0 || pv_jail_add(j, c->initrd, PV_JAIL_READONLY, err) < 0 ||
	    pv_jail_add(j, c->state_dir, 0, err) < 0 || (c->mem_path && add_mem_file(j, c->mem_path, err) < 0) ||
	    pv_jail_add(j, "/dev/urandom", 0, err) < 0 || (c->kvm && pv_jail_add(j, "/dev/kvm", 0, err) < 0) ||
	    (c->vsock_cid && pv_jail_add(j, "/dev/vhost-vsock", 0, err) < 0))
		return -1;
	for (size_t i = 0; i < c->n_shares; i++)
		if (pv_jail_add(j, c->shares[i].host_path,
				PV_JAIL_RECURSIVE | (c->shares[i].readonly ? PV_JAIL_READONLY : 0), err) < 0)
			return -1;
	return 0;
}

int pv_vm_jail_plan(const struct pv_vm_config *c, struct pv_jail *j, pv_error *err)
{
	_cleanup_free_ char *root = NULL;
	if (asprintf(&root, "%s/root", c->state_dir) < 0)
		return pv_error_set(err, ENOMEM, "jail");
	if (pv_jail_init(j, root, err) < 0)
		return -1;
	j->uid_base = VMM_UID_BASE;
	j->keep_caps = VMM_CAPS;
	if (add_qemu_itself(j, c->qemu, err) < 0 || add_vm_files(j, c, err) < 0) {
		pv_jail_clear(j);
		return pv_error_prefix(err, "VMM jail");
	}
	return 0;
}
