/* A guest that hangs while its QEMU runs (a kernel deadlock, a VM left paused) would leave
 * every agent call that has no timeout (Wait, ReadOutput, WaitOomEvent, ...) waiting for
 * ever, and the shim with it. The watchdog pings the agent; once it has not answered for
 * the config's agent_timeout it kills the VM, which ends those calls (the connection
 * closes), and the sandbox says why (pv_sandbox_explain_failure). */
#include "sandbox-internal.h"
#include "agent_client.h"
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
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	int pidfd;       /* the VMM, never a reused pid */
	int timeout_ms;
	struct ttrpc_client *agent;
	atomic_bool *hung;
};

/* Sleeps ms unless stopped; true when stopped. */
static bool nap(struct sandbox_watchdog *w, int ms)
{
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&w->lock);
	while (!w->stop && pthread_cond_timedwait(&w->cond, &w->lock, &until) != ETIMEDOUT)
		;
	bool stop = w->stop;
	pthread_mutex_unlock(&w->lock);
	return stop;
}

static void *watchdog_main(void *arg)
{
	struct sandbox_watchdog *w = arg;
	int every = w->timeout_ms / 3 > 0 ? w->timeout_ms / 3 : 1;
	long long answered = pv_now_ms();
	while (!nap(w, every)) {
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
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&w->lock, NULL);
	if (w->pidfd < 0 || pthread_create(&w->thread, NULL, watchdog_main, w) != 0) {
		if (w->pidfd >= 0)
			close(w->pidfd);
		pthread_cond_destroy(&w->cond);
		pthread_mutex_destroy(&w->lock);
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
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	close(w->pidfd);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w);
	sb->watchdog = NULL;
}
