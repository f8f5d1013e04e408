/* podvm-agent: PID 1 of the guest. Sets the guest up, then serves the agent API to the host
 * until the VM is stopped. */
#include "cgroup.h"
#include "channel.h"
#include "attest.h"
#include "guest_init.h"
#include "log.h"
#include "process.h"
#include "request.h"
#include "service.h"
#include "stats.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/reboot.h>
#include <unistd.h>

static int setup_guest(pv_error *err)
{
	if (guest_mount_basics(err) < 0 || cgroup_init(err) < 0 || guest_loopback_up(err) < 0 ||
	    attest_init(err) < 0)
		return -1;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	/* Blocked before any thread starts, so only the reaper's signalfd sees SIGCHLD. */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (proc_table_init(err) < 0)
		return -1;
	return oom_watch_start(err);
}

static int run_agent(char **argv, pv_error *err)
{
	if (getpid() == 1) {
		int r = guest_switch_root(err);
		if (r < 0)
			return -1;
		if (r == 1) {
			execv("/init", argv);
			return pv_error_set(err, errno, "re-exec /init");
		}
	}
	if (setup_guest(err) < 0)
		return -1;
	const char *dbg = guest_cmdline_param("podvm.debug");
	agent_debug = dbg && dbg[0] == '1';
	debug("guest ready, serving on channel %s", guest_cmdline_param("podvm.channel") ?: "serial");
	struct ttrpc_server *srv = NULL;
	if (ttrpc_server_new(agent_methods, agent_n_methods, NULL, &srv, err) < 0)
		return -1;
	ttrpc_server_set_check(srv, request_check);
	int r = channel_serve(srv, guest_cmdline_param("podvm.channel"), err);
	ttrpc_server_free(srv);
	return r;
}

int main(int argc, char **argv)
{
	pv_error err = NULL;
	/* What a pool VM's warm-up container runs (libpodvm's sandbox_warmup.c). */
	if (argc > 1 && strcmp(argv[1], "--version") == 0) {
		printf("podvm-agent %s\n", PODVM_VERSION);
		return 0;
	}
	if (run_agent(argv, &err) < 0)
		pv_error_print("podvm-agent", &err);
	if (getpid() == 1) {
		/* PID 1 must not exit; end the VM instead (QEMU runs with -no-reboot). */
		sync();
		reboot(RB_AUTOBOOT);
	}
	return 1;
}
