/* The parts of an OCI runtime spec (config.json) the agent applies, parsed up front so that
 * the forked container child only makes syscalls (no allocation after fork). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "error.h"
#include "seccomp_filter.h"

struct spec_mount {
	char *destination;
	char *type;
	char *source;
	char *data;             /* filesystem-specific options, comma separated */
	unsigned long flags;    /* MS_* for the mount itself */
	unsigned long propagation; /* MS_PRIVATE, MS_SHARED... applied after, 0 if none */
	bool bind;
	bool recursive;
};

/* linux.devices: made in the container's /dev when the guest has that device. */
struct spec_device {
	char *path;
	mode_t type;      /* S_IFCHR, S_IFBLK or S_IFIFO */
	unsigned major, minor;
	mode_t mode;      /* permission bits */
	uid_t uid;
	gid_t gid;
};

struct spec_rlimit {
	int resource;
	unsigned long long soft, hard;
};

struct spec_caps {
	bool set;  /* the spec has a capabilities object */
	uint64_t bounding, effective, permitted, inheritable, ambient;
};

struct spec_process {
	char **args;
	char **env;
	char *cwd;
	uid_t uid;
	gid_t gid;
	gid_t *groups;
	size_t n_groups;
	bool terminal;
	unsigned short rows, cols;
	struct spec_caps caps;
	struct spec_rlimit *rlimits;
	size_t n_rlimits;
	bool no_new_privileges;
	bool has_oom_score_adj;
	int oom_score_adj;
	bool has_umask;
	mode_t umask;
};

struct spec_resources {
	long long memory_limit;   /* bytes, -1 unlimited */
	long long memory_swap;    /* bytes, -1 unlimited / unset */
	long long cpu_quota;      /* us per period, -1 unlimited */
	unsigned long long cpu_period;
	unsigned long long cpu_shares;  /* 0 unset */
	long long pids_limit;     /* -1 unlimited */
};

struct spec {
	char *root_path;
	bool root_readonly;
	char *hostname;
	struct spec_process process;
	struct spec_mount *mounts;
	size_t n_mounts;
	int clone_flags;          /* CLONE_NEW* for the namespaces to create */
	int join_flags;           /* CLONE_NEW* of namespaces to join instead ... */
	char *join_container;     /* ... those of this container ("podvm:container/ID" paths) */
	char **masked_paths;
	char **readonly_paths;
	char **sysctl;            /* "key=value" */
	struct spec_device *devices;
	size_t n_devices;
	struct seccomp_prog seccomp;  /* compiled linux.seccomp, empty if none */
	struct spec_resources resources;
};

int spec_parse(const char *json, size_t len, struct spec *out, pv_error *err);
/* Parses a spec "process" object alone (an exec). */
int spec_parse_process_json(const char *json, size_t len, struct spec_process *out, pv_error *err);
/* Parses an OCI "linux.resources" object alone (an update). */
int spec_parse_resources_json(const char *json, size_t len, struct spec_resources *out, pv_error *err);
void spec_clear(struct spec *s);
void spec_process_clear(struct spec_process *p);
/* Parses "rw,nosuid,size=65536k" into flags and a data string of the rest. */
int spec_parse_mount_options(char *const *opts, size_t n, struct spec_mount *m, pv_error *err);
