/* Linux capabilities by name, and applying a spec's capability sets to the calling process. */
#pragma once
#include <stdint.h>
#include "spec.h"

/* "CAP_CHOWN" -> 0; -1 for an unknown name. */
int caps_from_name(const char *name);
/* Highest capability number the running kernel knows. */
int caps_last_cap(void);
/* Drops what the bounding set does not keep: needs CAP_SETPCAP, so call it before switching
 * to a non-root uid. Raw syscalls only (safe in a forked child). */
int caps_drop_bounding(const struct spec_caps *caps);
/* Sets effective/permitted/inheritable and ambient: call after the uid switch (done with
 * PR_SET_KEEPCAPS so that permitted survives it). */
int caps_set(const struct spec_caps *caps);
