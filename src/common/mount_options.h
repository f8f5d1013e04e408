/* OCI mount options ("ro", "nosuid", "rbind", "rprivate", "size=64k"...) split into mount(2)
 * flags, a propagation change, bind-ness, and the filesystem data string. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

struct pv_mount_options {
	unsigned long flags;
	unsigned long propagation;  /* 0: none */
	bool bind;
	bool recursive;
	char *data;                 /* malloc'd, comma separated; NULL if none */
};

/* Returns 0 or -ENOMEM. Accumulates into *o (call with a zeroed struct). */
int pv_mount_options_parse(char *const *opts, size_t n, struct pv_mount_options *o);
