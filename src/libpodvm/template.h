/* VM templates on disk: a booted guest with a ready agent, saved paused (vmm/snapshot.h) under
 * <data_root>/templates/<hash>/ as `state` (device state) and `mem` (guest RAM, restored
 * MAP_PRIVATE so that every VM restored from it shares its unchanged pages). A template only
 * fits a VM whose devices and image are the same: its key names them all. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include "error.h"
#include "paths.h"

/* The MAC a template's NIC has: a restored VM's agent readdresses it to the pod's. */
#define PV_TEMPLATE_MAC "02:70:76:00:00:01"

struct pv_template_shape {
	unsigned vcpus;
	unsigned mem_mib;
	bool has_net;
	bool kvm;
	bool debug;                    /* the guest command line differs */
	bool tpm;                      /* a tpm-tis device, and its command line */
	const char *const *share_tags; /* the 9p devices, in order */
	size_t n_shares;
};

struct pv_template {
	char *dir;
	char *state_path;
	char *mem_path;
};

/* Where the templates live: <data_root>/templates (malloc'd into *dir). */
int pv_templates_dir(const struct pv_paths *paths, char **dir, pv_error *err);

/* The key: format version, shape, and the identity (size, mtime, inode) of the kernel,
 * initramfs and VMM binary, so that an upgrade of any of them makes a new template. */
int pv_template_key(const struct pv_template_shape *shape, const char *kernel, const char *initrd,
		    const char *qemu, char **key, pv_error *err);
/* The 16 hex digits that name key's template (and its pool of VMs, pool.h). */
void pv_template_hash(const char *key, char out[17]);
/* Fills t with the paths of key's template under templates_dir (whether or not it exists). */
int pv_template_paths(const char *templates_dir, const char *key, struct pv_template *t, pv_error *err);
/* Whether t is complete and was made for key. */
bool pv_template_valid(const struct pv_template *t, const char *key, unsigned mem_mib);
/* Serialises the making of key's template between processes: a lock fd, to close. */
int pv_template_lock(const char *templates_dir, const char *key, pv_error *err);
/* Makes the files written in tmp_dir (state, mem) key's template, replacing any old one. */
int pv_template_install(const struct pv_template *t, const char *tmp_dir, const char *key, pv_error *err);
/* Removes a template found broken. */
void pv_template_discard(const struct pv_template *t);
void pv_template_clear(struct pv_template *t);

/* Calls fn for each complete template under templates_dir: its directory, key and size on
 * disk in bytes. A missing templates_dir lists nothing. */
int pv_template_list(const char *templates_dir,
		     void (*fn)(const char *dir, const char *key, long long disk_bytes, void *data),
		     void *data, pv_error *err);
/* Removes every template (VMs restored from one keep running: their mappings stay valid). */
int pv_template_remove_all(const char *templates_dir, pv_error *err);
