#include "watch.h"
#include "qmp.h"
#include "cleanup.h"
#include "util.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/pidfd.h>
#include <unistd.h>

struct pv_vm_watch {
	pthread_t thread;
	int stop_fd;          /* eventfd: end the watch */
	int pidfd;            /* the VMM: killed through it, never a reused pid */
	char *qmp_path;
	char *log_path;
	char why[256];        /* set by the thread; read after the join */
	bool fatal;           /* the guest is stopped for good: kill the VMM */
	bool killed;
};

/* Suberrors of KVM_EXIT_INTERNAL_ERROR (linux/kvm.h); QEMU prints the number. */
static const char *suberror_name(int n)
{
	switch (n) {
	case 1: return "emulation failure";
	case 2: return "simultaneous exceptions";
	case 3: return "failure to deliver an event";
	case 4: return "unexpected exit reason";
	default: return NULL;
	}
}

void pv_vm_kvm_error(const char *log_path, char *out, size_t len)
{
	out[0] = '\0';
	_cleanup_free_ char *text = NULL;
	if (pv_read_file(log_path, 1 << 20, &text, NULL, NULL) < 0)
		return;
	const char *e = strstr(text, "KVM internal error. Suberror: ");
	if (e == NULL)
		return;
	int sub = atoi(e + strlen("KVM internal error. Suberror: "));
	const char *name = suberror_name(sub);
	if (name)
		snprintf(out, len, "KVM internal error, %s", name);
	else
		snprintf(out, len, "KVM internal error, suberror %d", sub);
}

/* Why a run state means the guest cannot go on ("" when it can). */
static void judge_status(struct pv_vm_watch *w, const char *status)
{
	if (strcmp(status, "internal-error") == 0) {
		pv_vm_kvm_error(w->log_path, w->why, sizeof(w->why));
		if (w->why[0] == '\0')
			snprintf(w->why, sizeof(w->why), "the accelerator stopped the guest (internal error)");
		w->fatal = true;
	} else if (strcmp(status, "guest-panicked") == 0) {
		snprintf(w->why, sizeof(w->why), "the guest kernel panicked");
		w->fatal = true;
	} else if (strcmp(status, "shutdown") == 0) {
		/* A VMM told to pause rather than exit when its guest ends (-action). */
		if (w->why[0] == '\0')
			snprintf(w->why, sizeof(w->why), "the guest shut down");
		w->fatal = true;
	}
}

static void check_status(struct pv_vm_watch *w, struct pv_qmp *q)
{
	json_t *ret = NULL;
	if (pv_qmp_execute(q, "query-status", NULL, &ret, NULL) < 0)
		return;
	const char *status = json_string_value(json_object_get(ret, "status"));
	if (status)
		judge_status(w, status);
	json_decref(ret);
}

/* A guest-initiated SHUTDOWN: QEMU (-no-reboot) exits by itself; note why. */
static void note_shutdown(struct pv_vm_watch *w, json_t *data)
{
	const char *reason = json_string_value(json_object_get(data, "reason"));
	if (!json_is_true(json_object_get(data, "guest")) || reason == NULL)
		return;
	if (strcmp(reason, "guest-reset") == 0)
		snprintf(w->why, sizeof(w->why), "the guest reset (a kernel panic reboots it)");
	else if (strcmp(reason, "guest-panic") == 0)
		snprintf(w->why, sizeof(w->why), "the guest kernel panicked");
	else
		snprintf(w->why, sizeof(w->why), "the guest shut down (%s)", reason);
}

static void handle_event(struct pv_vm_watch *w, struct pv_qmp *q, json_t *ev)
{
	const char *name = json_string_value(json_object_get(ev, "event"));
	if (name == NULL)
		return;
	if (strcmp(name, "STOP") == 0)
		check_status(w, q);
	else if (strcmp(name, "GUEST_PANICKED") == 0)
		judge_status(w, "guest-panicked");
	else if (strcmp(name, "SHUTDOWN") == 0)
		note_shutdown(w, json_object_get(ev, "data"));
}

static void *watch_thread(void *arg)
{
	struct pv_vm_watch *w = arg;
	struct pv_qmp *q = NULL;
	if (pv_qmp_connect(w->qmp_path, 0, &q, NULL) < 0)
		return NULL;  /* QEMU is gone: the boot sees it exit */
	check_status(w, q);  /* it may have stopped before we connected */
	json_t *ev = NULL;
	while (!w->fatal && pv_qmp_wait_event(q, w->stop_fd, &ev, NULL) > 0) {
		handle_event(w, q, ev);
		json_decref(ev);
	}
	pv_qmp_close(q);
	/* A stopped guest never answers: end the VM so that the boot fails now. */
	if (w->fatal)
		w->killed = pidfd_send_signal(w->pidfd, SIGKILL, NULL, 0) == 0;
	return NULL;
}

static void watch_free(struct pv_vm_watch *w)
{
	if (w->stop_fd >= 0)
		close(w->stop_fd);
	if (w->pidfd >= 0)
		close(w->pidfd);
	free(w->qmp_path);
	free(w->log_path);
	free(w);
}

int pv_vm_watch_begin(struct pv_vm *vm, struct pv_vm_watch **out, pv_error *err)
{
	struct pv_vm_watch *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return pv_error_set(err, ENOMEM, "VM watch");
	w->stop_fd = eventfd(0, EFD_CLOEXEC);
	w->pidfd = pidfd_open(vm->pid, 0);
	w->qmp_path = strdup(vm->qmp_path);
	w->log_path = strdup(vm->log_path);
	int e = errno;
	if (w->stop_fd < 0 || w->pidfd < 0 || w->qmp_path == NULL || w->log_path == NULL) {
		watch_free(w);
		return pv_error_set(err, e, "watch VMM %d", (int)vm->pid);
	}
	if ((e = pthread_create(&w->thread, NULL, watch_thread, w)) != 0) {
		watch_free(w);
		return pv_error_set(err, e, "VM watch thread");
	}
	*out = w;
	return 0;
}

bool pv_vm_watch_end(struct pv_vm_watch *w, char *out, size_t len, bool *killed)
{
	uint64_t one = 1;
	(void)!write(w->stop_fd, &one, sizeof(one));
	pthread_join(w->thread, NULL);
	bool noted = w->why[0] != '\0';
	snprintf(out, len, "%s", w->why);
	if (killed)
		*killed = w->killed;
	watch_free(w);
	return noted;
}
