/* The OCI spec's linux.seccomp, compiled with libseccomp into a BPF program before the
 * container is forked (the child then only makes the seccomp() syscall). */
#pragma once
#include <jansson.h>
#include <stddef.h>
#include "error.h"

struct seccomp_prog {
	void *filter;      /* struct sock_filter[] */
	unsigned short len;
};

/* Returns 0 with an empty program when obj is NULL (no seccomp). */
int seccomp_compile(json_t *obj, struct seccomp_prog *out, pv_error *err);
/* In the child, after everything else that needs syscalls the filter may forbid:
 * installs the program (-errno on failure). */
int seccomp_install(const struct seccomp_prog *prog);
void seccomp_prog_clear(struct seccomp_prog *p);
