/* `podvm run`: one container from a local image in its own microVM, start to finish. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include "error.h"
#include "paths.h"
#include "net/ports.h"

struct pv_volume {
	const char *host;
	const char *container;
	bool readonly;
};

/* `--secret NAME=FILE`: FILE's content at /run/secrets/NAME in the container. */
struct pv_run_secret {
	const char *name;
	const char *path;
};

struct pv_run_options {
	const char *image;
	char *const *command;     /* replaces the image's Cmd; NULL keeps it */
	char *const *env;         /* KEY=VALUE, or KEY to copy from podvm's environment */
	const char *workdir;
	const char *user;
	const char *hostname;
	bool interactive;
	bool tty;
	unsigned rows, cols;
	double cpus;              /* 0: none */
	unsigned long long memory;/* bytes, 0: none */
	const struct pv_volume *volumes;
	size_t n_volumes;
	int boot_timeout_ms;
	const char *network;      /* CNI network name; NULL or "none": loopback only */
	const char *cni_conf_dir; /* NULL: $CNI_CONF_DIR, $NETCONFPATH, /etc/cni/net.d */
	const struct pv_port_mapping *ports;  /* published through the network's portmap */
	size_t n_ports;
	/* Delivered only after the VM's attestation passed (the config's attestation mode, at
	 * least verify: podvm's CLI sets enforce for --attest and --secret). */
	const struct pv_run_secret *secrets;
	size_t n_secrets;
};

struct pv_run;

/* Unpacks the image, resolves the command, user and volumes, builds the config, loads the
 * network's CNI config. Nothing runs yet; on failure nothing is left behind. */
int pv_run_create(const struct pv_paths *paths, const struct pv_run_options *o,
		  struct pv_run **out, pv_error *err);
/* Joins the network (CNI ADD in a network namespace of the run's own, wired to the VM),
 * boots the VM, creates and starts the container, and starts copying its stdio to the
 * given host fds (in_fd -1: none; err_fd ignored with a terminal). */
int pv_run_start(struct pv_run *r, int in_fd, int out_fd, int err_fd, pv_error *err);
/* Waits for the container to exit and its output to drain; *status is its exit code
 * (128+N for a signal). An output fd whose reader went away ends the container: 141, as
 * for a pipeline's writer killed by SIGPIPE. */
int pv_run_wait(struct pv_run *r, int *status, pv_error *err);
/* Forwards a signal to the container's process (once started). */
int pv_run_signal(struct pv_run *r, int sig, pv_error *err);
int pv_run_resize(struct pv_run *r, unsigned rows, unsigned cols, pv_error *err);
/* From another thread: makes a start in progress fail at once (kills the VM). */
void pv_run_abort(struct pv_run *r);
/* Stops the VM and removes every trace of the run (network, state dir, unpacked rootfs). */
void pv_run_destroy(struct pv_run *r);
/* The exit code `podvm run` uses for an error that stopped the container from running:
 * 127 command not found, 126 not executable, 125 anything else (as docker does). */
int pv_run_error_exit_code(pv_error err);
