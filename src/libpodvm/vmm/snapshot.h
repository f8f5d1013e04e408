/* VM snapshots over QMP migration, for templates: a paused guest's device state goes to a
 * file, and its RAM, already in a file-backed memory backend (pv_vm_config.mem_path), is left
 * out of the stream (capability x-ignore-shared), so a restore maps that file rather than
 * reading it. */
#pragma once
#include "error.h"
#include "qemu.h"

/* Pauses the VM and writes its device state to state_path. The VM stays paused. */
int pv_vm_save(struct pv_vm *vm, const char *state_path, pv_error *err);
/* Loads state_path into a VM started with pv_vm_config.incoming and the same devices, and
 * resumes it. */
int pv_vm_restore(struct pv_vm *vm, const char *state_path, int timeout_ms, pv_error *err);
