/* Linux capabilities by name, and applying a spec's capability sets to the calling process. */
#pragma once
#include <stdint.h>
#include "spec.h"

/* "CAP_CHOWN" -> 0; -1 for an unknown name. */
int caps_from_name(const char *name);
/* Highest capability number the running kernel knows. */
int caps_last_cap(void);
/* Drops the bounding set, then sets effective/permitted/inheritable and ambient. Call after
 * switching uid with PR_SET_KEEPCAPS. Async-signal-safe (raw syscalls only). */
int caps_apply(const struct spec_caps *caps);
