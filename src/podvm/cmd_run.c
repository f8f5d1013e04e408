/* podvm run [OPTIONS] IMAGE [COMMAND [ARG...]] */
#include "commands.h"
#include "cleanup.h"
#include "run.h"
#include "sizing.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <unistd.h>

#define EXIT_PODVM_ERROR 125

struct run_cli {
	struct pv_run_options o;
	char **env;
	struct pv_volume *volumes;
	char **volume_specs;
	struct pv_port_mapping *ports;
	struct pv_run_secret *secrets;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: podvm run [OPTIONS] IMAGE [COMMAND [ARG...]]\n\n"
		"IMAGE is an OCI image layout directory (optionally DIR:TAG), an OCI archive or\n"
		"docker-archive tarball, or a plain rootfs directory.\n\n"
		"Options:\n"
		"  -e, --env KEY=VALUE      set an environment variable (KEY alone: copy podvm's)\n"
		"  -w, --workdir DIR        working directory inside the container\n"
		"  -u, --user USER[:GROUP]  user name or uid (and group name or gid)\n"
		"  -i, --interactive        keep stdin open\n"
		"  -t, --tty                allocate a terminal\n"
		"      --hostname NAME      container host name\n"
		"      --cpus N             CPU limit (the VM gets ceil(N) vCPUs)\n"
		"  -m, --memory SIZE        memory limit, e.g. 512m (the VM gets it plus %d MiB)\n"
		"  -v, --volume HOST:CTR[:ro]  bind a host file or directory\n"
		"      --network NAME       join the CNI network NAME (default none: loopback only)\n"
		"      --cni-conf-dir DIR   where CNI network configs are (default $CNI_CONF_DIR,\n"
		"                           $NETCONFPATH or /etc/cni/net.d)\n"
		"  -p, --publish [IP:]HOSTPORT:CTRPORT[/tcp|udp]  publish a port (needs --network)\n"
		"      --boot-timeout SECS  give up if the guest does not answer (default %d)\n"
		"      --attest             attest the VM (vTPM quote, measured boot, IMA) before the\n"
		"                           container starts and every attestation_period seconds;\n"
		"                           a failure stops it (attestation = enforce)\n"
		"      --secret NAME=FILE   FILE's content at /run/secrets/NAME, only once the VM's\n"
		"                           attestation passed (implies --attest)\n",
		PV_GUEST_OVERHEAD_MIB, 60);
}

static int parse_volume(const char *spec, struct pv_volume *v, char ***keep)
{
	char *copy = strdup(spec);
	if (copy == NULL || pv_strv_push(keep, copy) < 0) {
		free(copy);
		return -ENOMEM;
	}
	free(copy);
	char *s = (*keep)[pv_strv_len(*keep) - 1];
	char *c1 = strchr(s, ':');
	if (c1 == NULL || c1 == s || c1[1] == '\0')
		return -EINVAL;
	*c1 = '\0';
	char *c2 = strchr(c1 + 1, ':');
	v->host = s;
	v->container = c1 + 1;
	v->readonly = false;
	if (c2) {
		*c2 = '\0';
		if (strcmp(c2 + 1, "ro") == 0)
			v->readonly = true;
		else if (strcmp(c2 + 1, "rw") != 0)
			return -EINVAL;
	}
	return 0;
}

static int add_volume(struct run_cli *cli, const char *spec, pv_error *err)
{
	size_t n = cli->o.n_volumes;
	struct pv_volume *nv = realloc(cli->volumes, (n + 1) * sizeof(*nv));
	if (nv == NULL)
		return pv_error_set(err, ENOMEM, "volume");
	cli->volumes = nv;
	int r = parse_volume(spec, &nv[n], &cli->volume_specs);
	if (r < 0)
		return pv_error_set_plain(err, -r, "volume \"%s\": want HOST:CONTAINER[:ro]", spec);
	cli->o.n_volumes = n + 1;
	cli->o.volumes = cli->volumes;
	return 0;
}

static int add_port(struct run_cli *cli, const char *spec, pv_error *err)
{
	size_t n = cli->o.n_ports;
	struct pv_port_mapping *np = realloc(cli->ports, (n + 1) * sizeof(*np));
	if (np == NULL)
		return pv_error_set(err, ENOMEM, "publish");
	cli->ports = np;
	if (pv_port_mapping_parse(spec, &np[n], err) < 0)
		return -1;
	cli->o.n_ports = n + 1;
	cli->o.ports = cli->ports;
	return 0;
}

enum { OPT_HOSTNAME = 256, OPT_CPUS, OPT_BOOT_TIMEOUT, OPT_NETWORK, OPT_CNI_CONF_DIR, OPT_ATTEST, OPT_SECRET };

/* What --attest asks of libpodvm's config: enforce, unless the environment chose a mode. */
static void want_attestation(void)
{
	setenv("PODVM_ATTESTATION", "enforce", 0);
}

static int add_secret(struct run_cli *cli, char *spec, pv_error *err)
{
	char *eq = strchr(spec, '=');
	if (eq == NULL || eq == spec || eq[1] == '\0')
		return pv_error_set_plain(err, EINVAL, "secret \"%s\": want NAME=FILE", spec);
	struct pv_run_secret *grown = realloc(cli->secrets, (cli->o.n_secrets + 1) * sizeof(*grown));
	if (grown == NULL)
		return pv_error_set(err, ENOMEM, "secret");
	*eq = '\0';
	cli->secrets = grown;
	cli->secrets[cli->o.n_secrets++] = (struct pv_run_secret){ spec, eq + 1 };
	cli->o.secrets = cli->secrets;
	want_attestation();
	return 0;
}

static int parse_option(struct run_cli *cli, int opt, pv_error *err)
{
	unsigned long long secs;
	switch (opt) {
	case 'e': return pv_strv_push(&cli->env, optarg) < 0 ? pv_error_set(err, ENOMEM, "env") : 0;
	case 'w': cli->o.workdir = optarg; return 0;
	case 'u': cli->o.user = optarg; return 0;
	case 'i': cli->o.interactive = true; return 0;
	case 't': cli->o.tty = true; return 0;
	case OPT_HOSTNAME: cli->o.hostname = optarg; return 0;
	case OPT_CPUS: return pv_parse_cpus(optarg, &cli->o.cpus, err);
	case 'm': return pv_parse_memory(optarg, &cli->o.memory, err);
	case 'v': return add_volume(cli, optarg, err);
	case 'p': return add_port(cli, optarg, err);
	case OPT_NETWORK: cli->o.network = optarg; return 0;
	case OPT_CNI_CONF_DIR: cli->o.cni_conf_dir = optarg; return 0;
	case OPT_ATTEST: want_attestation(); return 0;
	case OPT_SECRET: return add_secret(cli, optarg, err);
	case OPT_BOOT_TIMEOUT:
		if (pv_parse_u64(optarg, &secs) < 0 || secs == 0 || secs > 3600)
			return pv_error_set_plain(err, EINVAL, "boot-timeout \"%s\": want seconds (1-3600)", optarg);
		cli->o.boot_timeout_ms = (int)(secs * 1000);
		return 0;
	default: return -EINVAL;
	}
}

/* Returns 0 to run, 1 after --help, <0 on a usage error. */
static int parse_args(struct run_cli *cli, int argc, char **argv, pv_error *err)
{
	static const struct option opts[] = {
		{ "env", required_argument, NULL, 'e' }, { "workdir", required_argument, NULL, 'w' },
		{ "user", required_argument, NULL, 'u' }, { "interactive", no_argument, NULL, 'i' },
		{ "tty", no_argument, NULL, 't' }, { "hostname", required_argument, NULL, OPT_HOSTNAME },
		{ "cpus", required_argument, NULL, OPT_CPUS }, { "memory", required_argument, NULL, 'm' },
		{ "volume", required_argument, NULL, 'v' }, { "publish", required_argument, NULL, 'p' },
		{ "network", required_argument, NULL, OPT_NETWORK },
		{ "cni-conf-dir", required_argument, NULL, OPT_CNI_CONF_DIR },
		{ "boot-timeout", required_argument, NULL, OPT_BOOT_TIMEOUT },
		{ "attest", no_argument, NULL, OPT_ATTEST }, { "secret", required_argument, NULL, OPT_SECRET },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	int opt;
	optind = 1;
	/* "+": options end at IMAGE; the rest is the container's command line. */
	while ((opt = getopt_long(argc, argv, "+e:w:u:itm:v:p:h", opts, NULL)) != -1) {
		if (opt == 'h') {
			usage(stdout);
			return 1;
		}
		if (opt == '?' || parse_option(cli, opt, err) < 0)
			return -EINVAL;
	}
	if (optind >= argc) {
		usage(stderr);
		return -EINVAL;
	}
	cli->o.image = argv[optind];
	cli->o.command = optind + 1 < argc ? &argv[optind + 1] : NULL;
	cli->o.env = cli->env;
	return 0;
}

/* ---- terminal ---- */

static struct termios saved_termios;
static bool termios_saved;

static void terminal_raw(struct pv_run_options *o)
{
	struct winsize ws;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 || ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0) {
		o->rows = ws.ws_row;
		o->cols = ws.ws_col;
	}
	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_termios) < 0)
		return;
	struct termios raw = saved_termios;
	cfmakeraw(&raw);
	raw.c_oflag |= OPOST;  /* keep our own error messages readable */
	if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0)
		termios_saved = true;
}

static void terminal_restore(void)
{
	if (termios_saved)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_termios);
	termios_saved = false;
}

/* ---- signals ---- */

static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH };

/* A container's PID 1 ignores signals it has no handler for (as under runc): the third
 * SIGINT/SIGTERM is sent as SIGKILL so that the user is never stuck. */
#define KILL_AFTER_SIGNALS 3

struct signal_ctx {
	struct pv_run *run;
	atomic_int interrupted;  /* signal that arrived before the container ran */
	int terminations;
	int stop_fd;             /* eventfd: the run is being torn down, the thread ends */
	pthread_t thread;
};

static void block_signals(sigset_t *set)
{
	sigemptyset(set);
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(*forwarded); i++)
		sigaddset(set, forwarded[i]);
	pthread_sigmask(SIG_BLOCK, set, NULL);
}

static void forward_signal(struct signal_ctx *ctx, int sig)
{
	if (sig == SIGWINCH) {
		struct winsize ws;
		if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0)
			(void)pv_run_resize(ctx->run, ws.ws_row, ws.ws_col, NULL);
		return;
	}
	if ((sig == SIGINT || sig == SIGTERM) && ++ctx->terminations >= KILL_AFTER_SIGNALS)
		sig = SIGKILL;
	pv_error err = NULL;
	if (pv_run_signal(ctx->run, sig, &err) < 0 && err && err->errnum == EAGAIN) {
		/* Still booting: give up the start rather than leave the user waiting. */
		atomic_store(&ctx->interrupted, sig);
		pv_run_abort(ctx->run);
	}
	pv_error_release(&err);
}

/* Forwards signals until the run's teardown begins (signal_thread_stop): after that a
 * signal stays pending, and dies with podvm, rather than reach a run being freed. */
static void *signal_thread(void *arg)
{
	struct signal_ctx *ctx = arg;
	sigset_t set;
	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(*forwarded); i++)
		sigaddset(&set, forwarded[i]);
	int sfd = signalfd(-1, &set, SFD_CLOEXEC);
	for (;;) {
		struct pollfd p[2] = { { .fd = ctx->stop_fd, .events = POLLIN }, { .fd = sfd, .events = POLLIN } };
		if (sfd < 0 || (poll(p, 2, -1) < 0 && errno != EINTR) || p[0].revents)
			break;
		struct signalfd_siginfo si;
		if (p[1].revents && read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
			forward_signal(ctx, (int)si.ssi_signo);
	}
	if (sfd >= 0)
		close(sfd);
	return NULL;
}

static int signal_thread_start(struct signal_ctx *ctx)
{
	ctx->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (ctx->stop_fd < 0)
		return -errno;
	int r = pthread_create(&ctx->thread, NULL, signal_thread, ctx);
	if (r != 0) {
		close(ctx->stop_fd);
		return -r;
	}
	return 0;
}

static void signal_thread_stop(struct signal_ctx *ctx)
{
	uint64_t one = 1;
	(void)!write(ctx->stop_fd, &one, sizeof(one));
	pthread_join(ctx->thread, NULL);
	close(ctx->stop_fd);
}

/* ---- run ---- */

static int run_container(struct pv_run *run, struct signal_ctx *ctx, pv_error *err)
{
	int status = 0;
	if (pv_run_start(run, STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO, err) < 0) {
		int sig = atomic_load(&ctx->interrupted);
		if (sig) {
			pv_error_release(err);
			return 128 + sig;
		}
		return -pv_run_error_exit_code(*err);
	}
	if (pv_run_wait(run, &status, err) < 0)
		return -EXIT_PODVM_ERROR;
	return status;
}

static int run_with(struct run_cli *cli)
{
	pv_error err = NULL;
	struct pv_paths paths;
	if (pv_paths_init(&paths, &err) < 0) {
		pv_error_print("podvm", &err);
		return EXIT_PODVM_ERROR;
	}
	sigset_t set;
	block_signals(&set);
	if (cli->o.tty)
		terminal_raw(&cli->o);
	struct pv_run *run = NULL;
	int code;
	if (pv_run_create(&paths, &cli->o, &run, &err) < 0) {
		code = -EXIT_PODVM_ERROR;
	} else {
		struct signal_ctx ctx = { .run = run };
		int r = signal_thread_start(&ctx);
		if (r < 0)
			code = (pv_error_set(&err, -r, "signal thread"), -EXIT_PODVM_ERROR);
		else
			code = run_container(run, &ctx, &err);
		if (r == 0)
			signal_thread_stop(&ctx);
		terminal_restore();
		pv_run_destroy(run);
	}
	terminal_restore();
	if (code < 0) {
		pv_error_print("podvm", &err);
		code = -code;
	}
	pv_paths_clear(&paths);
	return code;
}

int cmd_run(int argc, char **argv)
{
	struct run_cli cli = { 0 };
	pv_error err = NULL;
	int r = parse_args(&cli, argc, argv, &err);
	int code;
	if (r == 1)
		code = 0;
	else if (r < 0) {
		if (err)
			pv_error_print("podvm", &err);
		code = EXIT_PODVM_ERROR;
	} else
		code = run_with(&cli);
	pv_strv_free(cli.env);
	pv_strv_free(cli.volume_specs);
	free(cli.volumes);
	free(cli.ports);
	free(cli.secrets);
	return code;
}
