/* Host directories exported to the guest (virtio-9p or virtio-fs), mounted once each at
 * /run/podvm/shares/<tag> and counted by the containers that use them. */
#pragma once
#include <stdbool.h>
#include "error.h"

#define SHARES_DIR "/run/podvm/shares"

int shares_acquire(const char *tag, const char *fstype, bool readonly, pv_error *err);
/* Drops one use; unmounts at the last. */
void shares_release(const char *tag);
