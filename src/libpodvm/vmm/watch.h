/* Watching a booting VM: a guest that can no longer run (KVM stopped it with an internal
 * error, it panicked) leaves QEMU alive but paused, and the boot would wait for an agent that
 * never answers until its timeout. A watch follows the VM's QMP events from a thread and
 * kills the VMM at once in that case, noting why, so that the boot fails fast; it also notes
 * why a guest ended the VM itself (a reset: with -no-reboot, a kernel panic). QMP serves one
 * client at a time: nothing else may talk QMP to the VM while it is watched. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include "error.h"
#include "qemu.h"

struct pv_vm_watch;

/* Starts watching a running VM (started or adopted). */
int pv_vm_watch_begin(struct pv_vm *vm, struct pv_vm_watch **out, pv_error *err);
/* Stops watching and frees w. Returns true when the guest stopped or ended the VM during the
 * watch, with why ("KVM internal error, emulation failure", "the guest reset (...)") in out;
 * *killed says whether the watch killed the VMM for it. */
bool pv_vm_watch_end(struct pv_vm_watch *w, char *out, size_t len, bool *killed);
/* What QEMU's log says of a KVM internal error: "KVM internal error, emulation failure",
 * "KVM internal error, suberror 3", or "" when it says nothing of one. */
void pv_vm_kvm_error(const char *log_path, char *out, size_t len);
