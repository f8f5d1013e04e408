/* Bringing up the guest as PID 1: a pivotable root, kernel filesystems, cgroups, lo. */
#pragma once
#include <stdbool.h>
#include "error.h"

/* The initramfs root cannot be pivot_root'ed away from (it has no parent mount), which the
 * containers need: copy /init into a tmpfs, move that over / and chroot into it. Returns 1
 * when the caller should re-exec /init, 0 if already done. */
int guest_switch_root(pv_error *err);
int guest_mount_basics(pv_error *err);
int guest_loopback_up(pv_error *err);
/* Value of a podvm.KEY=VALUE kernel parameter (static buffer) or NULL. */
const char *guest_cmdline_param(const char *key);
