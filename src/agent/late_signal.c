#include "late_signal.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <unistd.h>

#define POLL_MS 2

struct late {
	int pidfd;
	pid_t pid;
	int sig;
	long long until_ms;
};

/* Whether the process has a handler for sig, or ignores it: its SigCgt / SigIgn masks. */
static bool disposition_set(pid_t pid, int sig)
{
	char path[64], line[128];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return true;  /* gone: nothing to wait for */
	bool set = false;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "SigCgt:", 7) != 0 && strncmp(line, "SigIgn:", 7) != 0)
			continue;
		unsigned long long mask = strtoull(line + 7, NULL, 16);
		set = set || (mask >> (sig - 1)) & 1;
	}
	fclose(f);
	return set;
}

static void *late_thread(void *arg)
{
	struct late *l = arg;
	while (pv_now_ms() < l->until_ms) {
		struct pollfd p = { .fd = l->pidfd, .events = POLLIN };
		if (poll(&p, 1, POLL_MS) != 0)
			break;  /* it exited (or poll failed) */
		if (!disposition_set(l->pid, l->sig))
			continue;
		debug("signal %d: resent to pid %d, which now takes it", l->sig, (int)l->pid);
		(void)pidfd_send_signal(l->pidfd, l->sig, NULL, 0);
		break;
	}
	close(l->pidfd);
	free(l);
	return NULL;
}

void late_signal_watch(pid_t pid, int sig, long long exec_ms)
{
	long long until = exec_ms + LATE_SIGNAL_WINDOW_MS;
	if (sig == SIGKILL || sig == SIGSTOP || pv_now_ms() >= until || disposition_set(pid, sig))
		return;
	struct late *l = malloc(sizeof(*l));
	if (l == NULL)
		return;
	*l = (struct late){ .pidfd = pidfd_open(pid, 0), .pid = pid, .sig = sig, .until_ms = until };
	pthread_t t;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (l->pidfd < 0 || pthread_create(&t, &attr, late_thread, l) != 0) {
		if (l->pidfd >= 0)
			close(l->pidfd);
		free(l);
	}
	pthread_attr_destroy(&attr);
}
