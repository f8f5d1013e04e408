/* The accelerator VMs run under, and the verdict behind `accel = auto` (config.h). A /dev/kvm
 * that opens may still not run the guest (a nested or software KVM such as kvm_pvm stops it
 * with an internal error), so auto uses KVM only after a probe VM reached its agent under it.
 * The verdict is kept in <state_root>/accel/<hash> (the state root is a tmpfs: gone at
 * reboot), keyed by the guest image, the VMM binary, the host kernel release, the boot id and
 * what /dev/kvm is, so a host probes once per boot; a lock beside it makes concurrent first
 * starts wait for one probe rather than all probe. */
#pragma once
#include <stdbool.h>
#include "config.h"
#include "error.h"
#include "paths.h"

struct pv_accel {
	enum pv_accel_mode mode;  /* what the config asked for */
	bool kvm;
	char reason[256];  /* why, for `podvm check` and the warning: "accel = tcg in the config",
			    * "/dev/kvm (kvm_pvm) cannot run the guest (...)" */
};

/* The key of the verdict for this host, guest image and VMM; kvm_detail says what /dev/kvm
 * is (hostcaps.h), so loading a KVM module asks again. */
int pv_accel_key(const char *kernel, const char *initrd, const char *qemu, const char *kvm_detail, char **key,
		 pv_error *err);
/* Where verdicts live: <state_root>/accel (malloc'd into *dir). */
int pv_accel_dir(const struct pv_paths *paths, char **dir, pv_error *err);
/* Serialises the probing for key between processes: a lock fd, to close. */
int pv_accel_lock(const char *dir, const char *key, pv_error *err);
/* Key's verdict into *v: 1 when there is one, 0 when none (or one for another key). */
int pv_accel_load(const char *dir, const char *key, struct pv_accel *v);
/* Saves key's verdict (atomically: readers see the old file or the new one). */
int pv_accel_store(const char *dir, const char *key, const struct pv_accel *v, pv_error *err);
