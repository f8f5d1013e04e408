#include "swtpm.h"
#include "cleanup.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Only write access to its state directory, which podvm made as root: the directory is
 * bound writable and nothing else in the jail is, so overriding file permissions reaches no
 * further than that. (Chowning the directory to swtpm's uid would need the child's pid
 * before it runs, a handshake between parent and child, and a chown back for cleanup.) */
/* CAP_FOWNER: swtpm fchmods the state files it opens, and a VM's are made by the earlier
 * run that manufactured its TPM (tpm_manufacture.h), under another jail uid. */
#define SWTPM_CAPS ((1ULL << CAP_DAC_OVERRIDE) | (1ULL << CAP_FOWNER))

/* <state_dir>/tpm, and the log <state_dir>/tpm.log (made here: a jail binds it). */
static int make_files(const char *state_dir, char **dir, char **log, pv_error *err)
{
	if (asprintf(dir, "%s/tpm", state_dir) < 0 || asprintf(log, "%s/tpm.log", state_dir) < 0)
		return pv_error_set(err, ENOMEM, "swtpm");
	if (mkdir(*dir, 0700) < 0 && errno != EEXIST)
		return pv_error_set(err, errno, "swtpm state %s", *dir);
	int fd = open(*log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return pv_error_set(err, errno, "swtpm log %s", *log);
	close(fd);
	return 0;
}

int pv_swtpm_jail_plan(const struct pv_swtpm_config *c, struct pv_jail *j, pv_error *err)
{
	_cleanup_free_ char *root = NULL, *dir = NULL, *log = NULL;
	if (asprintf(&root, "%s/tpm-root", c->state_dir) < 0 || asprintf(&dir, "%s/tpm", c->state_dir) < 0 ||
	    asprintf(&log, "%s/tpm.log", c->state_dir) < 0)
		return pv_error_set(err, ENOMEM, "swtpm jail");
	if (pv_jail_init(j, root, err) < 0)
		return pv_error_prefix(err, "swtpm jail");
	j->uid_base = PV_JAIL_UID_BASE;
	j->keep_caps = SWTPM_CAPS;
	if (pv_jail_add_program(j, c->swtpm, NULL, err) < 0 || pv_jail_add(j, dir, 0, err) < 0 ||
	    pv_jail_add(j, log, 0, err) < 0 || pv_jail_add(j, "/dev/urandom", 0, err) < 0) {
		pv_jail_clear(j);
		return pv_error_prefix(err, "swtpm jail");
	}
	return 0;
}

/* Its state directory is its working directory (`dir=.`): a pooled VM's directory is
 * renamed while it runs, and a relative path follows it where no jail's bind does. (Its
 * log it opens once, at start.) --terminate: it ends when its data channel, which QEMU
 * passes it over the control channel, closes, that is when QEMU ends. */
static char **swtpm_argv(const char *swtpm, int ctrl_fd, int data_fd, const char *log_path)
{
	char ctrl[64], data[16];
	_cleanup_free_ char *log = NULL;
	snprintf(ctrl, sizeof(ctrl), "type=unixio,clientfd=%d", ctrl_fd);
	snprintf(data, sizeof(data), "%d", data_fd);
	if (asprintf(&log, "file=%s", log_path) < 0)
		return NULL;
	const char *args[] = { swtpm, "socket", "--tpm2", "--tpmstate", "dir=.", "--ctrl", ctrl, "--flags",
			       "not-need-init,startup-clear", "--seccomp", "action=kill", "--log", log,
			       data_fd >= 0 ? "--fd" : "--terminate", data_fd >= 0 ? data : NULL, NULL };
	char **argv = NULL;
	for (size_t i = 0; args[i]; i++)
		if (pv_strv_push(&argv, args[i]) < 0) {
			pv_strv_free(argv);
			return NULL;
		}
	return argv;
}

struct swtpm_child {
	int ctrl_fd, data_fd;
	const char *dir;
};

/* In the child (system calls only): swtpm takes its channels by number. */
static int keep_fds(void *arg)
{
	const struct swtpm_child *s = arg;
	if (fcntl(s->ctrl_fd, F_SETFD, 0) < 0 || (s->data_fd >= 0 && fcntl(s->data_fd, F_SETFD, 0) < 0))
		return -errno;
	return 0;
}

static int enter_state_dir(void *arg)
{
	const struct swtpm_child *s = arg;
	return chdir(s->dir) < 0 ? -errno : 0;
}

int pv_swtpm_start(const struct pv_swtpm_config *c, struct pv_swtpm *t, pv_error *err)
{
	*t = (struct pv_swtpm){ .qemu_fd = -1, .data_fd = -1 };
	_cleanup_free_ char *dir = NULL, *log = NULL;
	_cleanup_close_ int ours = -1, theirs = -1, data_ours = -1, data_theirs = -1;
	int sv[2], dv[2] = { -1, -1 };
	if (make_files(c->state_dir, &dir, &log, err) < 0)
		return -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
	    (c->data_channel && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, dv) < 0))
		return pv_error_set(err, errno, "swtpm: socketpair");
	ours = sv[0], theirs = sv[1], data_ours = dv[0], data_theirs = dv[1];
	_cleanup_strv_ char **argv = swtpm_argv(c->swtpm, theirs, data_theirs, log);
	if (argv == NULL)
		return pv_error_set(err, ENOMEM, "swtpm");
	struct pv_jail jail = { 0 };
	if (c->jail && pv_swtpm_jail_plan(c, &jail, err) < 0)
		return -1;
	/* PR_SET_PDEATHSIG as QEMU's: until QEMU holds the data channel, only this keeps a
	 * killed podvm from leaving swtpm behind. */
	struct swtpm_child sc = { theirs, data_theirs, dir };
	struct pv_jail_child child = { .before = keep_fds, .after = enter_state_dir, .arg = &sc,
				       .log_path = log, .die_with_thread = !c->outlive_thread };
	int r = pv_jail_spawn(c->jail ? &jail : NULL, argv, &child, "swtpm", &t->pid, err);
	pv_jail_clear(&jail);
	if (r < 0)
		return -1;
	t->qemu_fd = steal_fd(&ours);
	t->data_fd = steal_fd(&data_ours);
	return 0;
}

void pv_swtpm_reap(struct pv_swtpm *t, int timeout_ms)
{
	if (t->pid <= 0)
		return;  /* none (a zeroed one's fd 0 is not its) */
	if (t->qemu_fd >= 0)
		close(steal_fd(&t->qemu_fd));
	if (t->data_fd >= 0)
		close(steal_fd(&t->data_fd));
	long long deadline = pv_now_ms() + timeout_ms;
	for (;;) {
		pid_t r = waitpid(t->pid, NULL, WNOHANG);
		if (r == t->pid || (r < 0 && errno == ECHILD))
			break;
		if (pv_now_ms() > deadline) {
			kill(t->pid, SIGKILL);
			waitpid(t->pid, NULL, 0);
			break;
		}
		usleep(2000);
	}
	t->pid = 0;
}
