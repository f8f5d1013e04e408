/* Topping a sandbox shape's pool up after a pod took a VM from it (pool.h). The refill waits
 * until the pod's own start is over: a VM restoring and warming up beside it would take CPU
 * (and memory bandwidth) from the pod's first containers, even at idle priority. */
#include "sandbox-internal.h"
#include "cleanup.h"
#include "event.h"
#include "pool.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* When nobody says the pod has started (pv_sandbox_refill_pool), the refill starts anyway. */
#define REFILL_DELAY_S 2
#define FILLER_NICE 19

struct pool_refill {
	pthread_t thread;
	struct pv_event now;  /* the pod's start is over */
	char **argv;          /* the filler's command line */
	char *log_path;       /* its stderr: <state>/pool/filler.log */
};

/* Double fork: the filler is nobody's child to wait for; only exec-safe calls after fork.
 * Its stderr goes to log_path: a keeper outlives the pod or run that started it, and must
 * not hold that one's stderr open (a `podvm run ... 2>&1 | cat` would wait for it). */
static void spawn_filler(char **argv, const char *log_path)
{
	int log = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (log < 0)
		log = open("/dev/null", O_WRONLY | O_CLOEXEC);
	pid_t pid = fork();
	if (pid == 0) {
		setsid();
		if (fork() == 0) {
			/* A refill must not slow the pod starts it is for: it runs (and its QEMU
			 * with it) only on CPU time nothing else wants. */
			struct sched_param idle = { 0 };
			if (sched_setscheduler(0, SCHED_IDLE, &idle) < 0)
				(void)setpriority(PRIO_PROCESS, 0, FILLER_NICE);
			int null = open("/dev/null", O_RDWR);
			dup2(null, 0);
			dup2(null, 1);
			dup2(log >= 0 ? log : null, 2);
			close_range(3, ~0U, 0);
			pv_child_reset_signals();
			execv(argv[0], argv);
		}
		_exit(0);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
	if (log >= 0)
		close(log);
}

static void *refill_thread(void *arg)
{
	struct pool_refill *rf = arg;
	(void)pv_event_wait(&rf->now, REFILL_DELAY_S * 1000);
	spawn_filler(rf->argv, rf->log_path);
	return NULL;
}

/* <self> --podvm-pool-fill STATE_ROOT VCPUS MEM NIC TIMEOUT TAG... (pv_pool_fill_main). */
static char **filler_argv(struct pv_sandbox *sb, const struct boot_request *req)
{
	const struct pv_sandbox_config *cfg = req->cfg;
	char self[4096], num[4][24];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		return NULL;
	self[n] = '\0';
	snprintf(num[0], sizeof(num[0]), "%u", cfg->vcpus);
	snprintf(num[1], sizeof(num[1]), "%u", cfg->mem_mib);
	snprintf(num[2], sizeof(num[2]), "%d", req->nic);
	snprintf(num[3], sizeof(num[3]), "%d", cfg->boot_timeout_ms);
	char **argv = NULL;
	bool ok = pv_strv_push(&argv, self) == 0 && pv_strv_push(&argv, PV_POOL_FILL_ARG) == 0 &&
		  pv_strv_push(&argv, sb->paths->state_root) == 0;
	for (size_t i = 0; ok && i < 4; i++)
		ok = pv_strv_push(&argv, num[i]) == 0;
	for (size_t i = 0; ok && i < sb->n_shares; i++)
		ok = pv_strv_push(&argv, sb->shares[i].tag) == 0;
	if (!ok) {
		pv_strv_free(argv);
		return NULL;
	}
	return argv;
}

static void refill_free(struct pool_refill *rf)
{
	pv_event_destroy(&rf->now);
	pv_strv_free(rf->argv);
	free(rf->log_path);
	free(rf);
}

void sandbox_schedule_pool_refill(struct pv_sandbox *sb, const struct boot_request *req)
{
	struct pool_refill *rf = calloc(1, sizeof(*rf));
	if (rf == NULL || (rf->argv = filler_argv(sb, req)) == NULL ||
	    asprintf(&rf->log_path, "%s/pool/" PV_POOL_FILLER_LOG, sb->paths->state_root) < 0) {
		if (rf)
			pv_strv_free(rf->argv);
		free(rf);
		return;  /* the next pod's boot asks again */
	}
	pv_event_init(&rf->now);
	if (pthread_create(&rf->thread, NULL, refill_thread, rf) != 0) {
		spawn_filler(rf->argv, rf->log_path);  /* now, then */
		refill_free(rf);
		return;
	}
	sb->refill = rf;
}

void pv_sandbox_refill_pool(struct pv_sandbox *sb)
{
	if (sb->refill)
		pv_event_set(&sb->refill->now);
}

void sandbox_finish_pool_refill(struct pv_sandbox *sb)
{
	struct pool_refill *rf = sb->refill;
	if (rf == NULL)
		return;
	pv_sandbox_refill_pool(sb);
	pthread_join(rf->thread, NULL);
	refill_free(rf);
	sb->refill = NULL;
}
