/* podvm: run containers in microVMs without a cluster. A thin front end over libpodvm. */
#include "commands.h"
#include "sandbox.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static const struct {
	const char *name;
	int (*fn)(int, char **);
	const char *help;
} verbs[] = {
	{ "run", cmd_run, "run a command in a new container, in its own microVM" },
	{ "template", cmd_template, "list (ls) or remove (rm) the VM templates new VMs are restored from" },
	{ "reference", cmd_reference, "show (or --write) the reference values of the guest image, for attestation" },
	{ "attest", cmd_attest, "attest a running sandbox's VM now (vTPM quote, measured boot, IMA)" },
	{ "ca", cmd_ca, "init: make the node's CA, which certifies each VM's vTPM" },
	{ "check", cmd_check, "show what this host offers podvm (KVM, vsock, TDX, SEV-SNP, guest image)" },
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: podvm COMMAND [OPTIONS]\n\nCommands:\n");
	for (size_t i = 0; i < sizeof(verbs) / sizeof(*verbs); i++)
		fprintf(f, "  %-10s %s\n", verbs[i].name, verbs[i].help);
	fprintf(f, "\nRun 'podvm COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
	/* A write to a peer that went away (a dead VMM's QMP socket, a closed stdout) is an
	 * error the code reports, never a silent death (children get SIGPIPE back: util.h). */
	signal(SIGPIPE, SIG_IGN);
	if (argc > 1 && strcmp(argv[1], PV_POOL_FILL_ARG) == 0)
		return pv_pool_fill_main(argc, argv);  /* started by a run's boot (sandbox.h) */
	if (argc < 2) {
		usage(stderr);
		return 125;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("podvm %s\n", PODVM_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(verbs) / sizeof(*verbs); i++)
		if (strcmp(argv[1], verbs[i].name) == 0)
			return verbs[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "podvm: unknown command \"%s\" (see 'podvm --help')\n", argv[1]);
	return 125;
}
