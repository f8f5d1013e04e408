/* What the host offers podvm: hardware virtualisation, vsock, confidential computing. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include "paths.h"

struct pv_host_caps {
	/* /dev/kvm opens and speaks the KVM API: not proof that it runs the guest (a nested or
	 * software KVM may not: accel.h decides). */
	bool kvm_device;
	char kvm_detail[160];     /* "/dev/kvm (kvm_intel, API 12)", or why it is unusable */
	char kvm_module[16];      /* kvm_intel, kvm_amd, kvm_pvm, or kvm when none of those */
	bool vhost_vsock;
	bool tdx;
	bool sev_snp;
	char qemu_path[256];      /* resolved VMM binary, "" if not found */
	char qemu_version[128];
};

/* Cheap enough for every VM start: no process is run. qemu: the VMM, as the config names it. */
void pv_host_caps_probe(const char *qemu, struct pv_host_caps *caps);
/* Fills qemu_version by running `qemu --version` (~75 ms: for `podvm check`). */
void pv_host_caps_probe_qemu_version(struct pv_host_caps *caps);
/* Resolves name (absolute, relative with '/', or searched in PATH) to an executable. */
int pv_find_executable(const char *name, char *out, size_t len);
