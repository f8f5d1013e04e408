/* Container statistics and OOM kills, read from the container's cgroup v2 files. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "error.h"

/* Packs the container's io.containerd.cgroups.v2.Metrics into *buf (malloc'd). */
int stats_collect(const char *container_id, uint8_t **buf, size_t *len, pv_error *err);
/* OOM kills in the container's cgroup so far (0 if it has none). */
uint64_t stats_oom_kills(const char *container_id);
/* Starts the thread that watches every container's memory.events for OOM kills. */
int oom_watch_start(pv_error *err);
/* Blocks until an OOM kill happens in some container; returns its id (malloc'd). */
char *oom_wait_event(void);
