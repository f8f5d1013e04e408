/* A guest that hangs while its QEMU runs (a kernel deadlock, a VM left paused) would leave
 * every agent call that has no timeout (Wait, ReadOutput, WaitOomEvent, ...) waiting for
 * ever, and the shim with it. The watchdog pings the agent; once it has not answered for
 * the config's agent_timeout it kills the VM, which ends those calls (the connection
 * closes), and the sandbox says why (pv_sandbox_explain_failure). */
#include "sandbox-internal.h"
#include "agent_client.h"
#include "event.h"
#include "util.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/pidfd.h>
#include <time.h>
#include <unistd.h>

struct sandbox_watchdog {
	pthread_t thread;
	struct pv_event stop;
	int pidfd;       /* the VMM, never a reused pid */
	int timeout_ms;
	struct ttrpc_client *agent;
	atomic_bool *hung;
};

static void *watchdog_main(void *arg)
{
	struct sandbox_watchdog *w = arg;
	int every = w->timeout_ms / 3 > 0 ? w->timeout_ms / 3 : 1;
	long long answered = pv_now_ms();
	while (!pv_event_wait(&w->stop, every)) {
		if (pv_agent_ping(w->agent, every, NULL, 0, NULL) == 0) {
			answered = pv_now_ms();
			continue;
		}
		if (pv_now_ms() - answered < w->timeout_ms)
			continue;
		atomic_store(w->hung, true);
		(void)pidfd_send_signal(w->pidfd, SIGKILL, NULL, 0);
		break;
	}
	return NULL;
}

void sandbox_watchdog_start(struct pv_sandbox *sb, int timeout_ms)
{
	if (timeout_ms <= 0 || sb->watchdog || sb->agent == NULL)
		return;
	struct sandbox_watchdog *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return;
	*w = (struct sandbox_watchdog){ .pidfd = pidfd_open(sb->vm.pid, 0), .timeout_ms = timeout_ms,
					 .agent = sb->agent, .hung = &sb->hung };
	pv_event_init(&w->stop);
	if (w->pidfd < 0 || pthread_create(&w->thread, NULL, watchdog_main, w) != 0) {
		if (w->pidfd >= 0)
			close(w->pidfd);
		pv_event_destroy(&w->stop);
		free(w);
		return;
	}
	sb->watchdog = w;
}

void sandbox_watchdog_stop(struct pv_sandbox *sb)
{
	struct sandbox_watchdog *w = sb->watchdog;
	if (w == NULL)
		return;
	pv_event_set(&w->stop);
	pthread_join(w->thread, NULL);
	close(w->pidfd);
	pv_event_destroy(&w->stop);
	free(w);
	sb->watchdog = NULL;
}
