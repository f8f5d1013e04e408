/* Which process owns a state or data directory: DIR/owner holds "PID STARTTIME" of the
 * process that made it (the start time tells a reused pid apart). A directory whose owner
 * is gone (a podvm or shim killed by SIGKILL) is garbage (pv_sandbox_gc). */
#pragma once
#include <stdbool.h>
#include "error.h"

int pv_owner_write(const char *dir, pv_error *err);
/* True while the owner runs, and for a directory without an owner file (being made, or not
 * a sandbox's: templates, pools, verdicts). */
bool pv_owner_alive(const char *dir);
