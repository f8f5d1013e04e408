/* The agent's process table (src/agent/process.c): an exit the reaper sees before the
 * process is registered is kept for it, but never given to a later process that got the
 * same pid; the table's count. */
#include "tap.h"
#include "process.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* A child that exits with code at once; returns after the reaper has seen it. */
static pid_t short_lived(int code)
{
	unsigned long long before = proc_exit_seq();
	pid_t pid = fork();
	if (pid == 0)
		_exit(code);
	while (proc_exit_seq() == before)
		usleep(1000);
	return pid;
}

int main(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	pthread_sigmask(SIG_BLOCK, &set, NULL);  /* as the agent's main: the reaper takes them */
	ok(proc_table_init(NULL) == 0, "reaper started");

	/* The process exits before it is registered: its exit is kept for it. */
	unsigned long long since = proc_exit_seq();
	pid_t early = short_lived(7);
	struct agent_proc *p = proc_new("c1", "e1");
	ok(p && proc_add(p, NULL) == 0, "registered");
	proc_set_pid(p, early, since);
	ok(proc_exited(p) && proc_wait(p) == 7, "an exit seen before registration is the process's (status 7)");
	ok(proc_count() == 1, "one entry in the table");
	proc_remove(p);
	ok(proc_count() == 0, "removed");

	/* Another exit with that pid, seen before a new process was made: not the new one's. */
	pid_t old = short_lived(3);
	struct agent_proc *q = proc_new("c1", "e2");
	ok(q && proc_add(q, NULL) == 0, "a second process registered");
	proc_set_pid(q, old, proc_exit_seq());  /* as if the kernel had given it old's pid */
	ok(!proc_exited(q), "an earlier process's exit with the same pid is not taken for this one's");
	proc_remove(q);
	return done_testing();
}
