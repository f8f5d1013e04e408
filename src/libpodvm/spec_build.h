/* The OCI runtime spec (config.json) for a `podvm run` container, with runc's defaults for
 * what the user did not choose: namespaces, mounts, capabilities, masked paths. */
#pragma once
#include <stdbool.h>
#include <sys/types.h>
#include "error.h"
#include "user.h"

struct pv_spec_mount {
	const char *source;       /* guest path */
	const char *destination;  /* path in the container */
	bool readonly;
};

struct pv_spec_input {
	char *const *args;
	char *const *env;
	const char *cwd;
	const struct pv_user *user;
	bool terminal;
	unsigned rows, cols;
	const char *hostname;
	const char *root_path;    /* guest path of the rootfs */
	double cpus;              /* 0: no limit */
	unsigned long long memory;/* bytes, 0: no limit */
	const struct pv_spec_mount *mounts;
	size_t n_mounts;
	bool secrets;             /* a tmpfs at /run/secrets for the agent to fill */
};

/* Returns malloc'd JSON text. */
char *pv_spec_build(const struct pv_spec_input *in, pv_error *err);
