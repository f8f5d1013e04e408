/* Pools of pre-restored VMs on disk: VMs restored from a template (template.h) and paused,
 * each waiting for a pod of its shape. A pool VM is an entry named <hash>-<random>, <hash>
 * being its template's:
 *   <state_root>/pool/<entry>/    its QEMU's files (sockets, logs, pid file) and `tap`, the
 *                                 name of its NIC's tap in the host namespace (if it has one)
 *   <data_root>/pool/<entry>/s<i> the (empty) directories its shares export
 * An entry whose state directory ends in ".tmp" is being filled. Taking an entry is one
 * rename of its state directory, so two takers never get the same VM. No daemon: QEMU
 * outlives the process that filled the pool, and the next taker adopts it. */
#pragma once
#include <stdbool.h>
#include "error.h"
#include "paths.h"

#define PV_POOL_TAP_FILE "tap"
/* How far back an auto pool counts its shape's starts: that many starts in the window, up
 * to pool_max, is its size (config.h). */
#define PV_POOL_DEMAND_WINDOW_MS 60000

/* In <state_root>/pool: what fillers and keepers say (their stderr). */
#define PV_POOL_FILLER_LOG "filler.log"

struct pv_pool_dirs {
	char *state;  /* <state_root>/pool */
	char *data;   /* <data_root>/pool */
};

int pv_pool_dirs_init(const struct pv_paths *paths, struct pv_pool_dirs *d, pv_error *err);
void pv_pool_dirs_clear(struct pv_pool_dirs *d);
/* Ready entries of the pool for template hash `hash`. */
unsigned pv_pool_count(const struct pv_pool_dirs *d, const char *hash);
/* Takes a ready entry of hash's pool: renames its state directory to dest. *entry gets its
 * name (malloc'd). Returns 1 when one was taken, 0 when the pool is empty. */
int pv_pool_take(const struct pv_pool_dirs *d, const char *hash, const char *dest, char **entry, pv_error *err);
/* Serialises fillers of hash's pool: a lock fd, to close. */
int pv_pool_lock(const struct pv_pool_dirs *d, const char *hash, pv_error *err);
/* Kills an entry's QEMU (if the pid file names one running for that entry) and removes the
 * entry's directories; state_dir is where its state directory is now. */
void pv_pool_remove(const struct pv_pool_dirs *d, const char *entry, const char *state_dir);
/* Removes every entry, its QEMU killed, and the pool directories. */
int pv_pool_drain(const struct pv_pool_dirs *d, pv_error *err);
/* Demand, for `pool = auto`: <state_root>/pool/<hash>.starts holds the times (pv_pool_now_ms)
 * of the shape's recent starts, one a line, appended by each start. */
long long pv_pool_now_ms(void);
void pv_pool_note_start(const struct pv_pool_dirs *d, const char *hash);
struct pv_pool_demand {
	unsigned recent;    /* starts in the last PV_POOL_DEMAND_WINDOW_MS */
	long long last_ms;  /* the last start; 0: none */
	unsigned total;     /* starts on record */
};
void pv_pool_demand(const struct pv_pool_dirs *d, const char *hash, struct pv_pool_demand *out);
/* Forgets starts before keep_after_ms (the file would grow for ever). */
void pv_pool_forget_starts(const struct pv_pool_dirs *d, const char *hash, long long keep_after_ms);
/* While a shape keeps starting its keeper never goes, and the record would grow by a line a
 * start, past what pv_pool_demand reads (then no demand, no pool, for the rest of the boot):
 * once more than PV_POOL_STALE_STARTS starts on record no longer count (before the window,
 * but the last, which says when the pool may empty), forgets them. */
#define PV_POOL_STALE_STARTS 32
void pv_pool_trim_starts(const struct pv_pool_dirs *d, const char *hash, const struct pv_pool_demand *dm);
/* Removes ready entries of hash's pool, their QEMU killed, until `keep` remain. */
void pv_pool_shrink(const struct pv_pool_dirs *d, const char *hash, unsigned keep);
/* Calls fn for each entry: its name and whether it is ready (not being filled). */
int pv_pool_list(const struct pv_pool_dirs *d, void (*fn)(const char *entry, bool ready, void *data), void *data,
		 pv_error *err);
