/* What the host offers podvm: hardware virtualisation, vsock, confidential computing. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "paths.h"

/* A KVM module's switch for a confidential-VM technology (kvm_intel's tdx, kvm_amd's
 * sev_snp). */
enum pv_param_state {
	PV_PARAM_UNLOADED,  /* the module is not loaded */
	PV_PARAM_ABSENT,    /* loaded, but has no such parameter: a kernel older than the support */
	PV_PARAM_OFF,
	PV_PARAM_ON,
};

/* What an OVMF image declares in its GUIDed table at the end of the image (what QEMU reads
 * of it before a confidential guest starts). */
enum {
	PV_FW_TDX_METADATA = 1,  /* TDVF metadata: the sections tdx-guest measures into MRTD */
	PV_FW_SNP_METADATA = 2,  /* SEV metadata: the pages an SNP launch validates */
	PV_FW_KERNEL_HASHES = 4, /* a hashes table area (kernel-hashes=on measures -kernel/-initrd/-append) */
};

/* One confidential-VM technology (Intel TDX or AMD SEV-SNP) as this host offers it: each
 * part is what `podvm check` gives as a reason. */
struct pv_cc_caps {
	bool cpu;                  /* /proc/cpuinfo has the host flag (tdx_host_platform, sev_snp) */
	enum pv_param_state kvm;   /* the KVM module's parameter */
	int qemu_object;           /* 1: the VMM lists the object; 0: it does not; <0: -errno asking it */
	char firmware[256];        /* an image with all it needs, else the nearest one, else "" */
	int firmware_has;          /* the PV_FW_* bits of firmware that this technology needs */
	int firmware_needs;        /* the PV_FW_* bits it needs */
	bool usable;               /* all of the above */
};

struct pv_host_caps {
	/* /dev/kvm opens and speaks the KVM API: not proof that it runs the guest (a nested or
	 * software KVM may not: accel.h decides). */
	bool kvm_device;
	char kvm_detail[160];     /* "/dev/kvm (kvm_intel, API 12)", or why it is unusable */
	char kvm_module[16];      /* kvm_intel, kvm_amd, kvm_pvm, or kvm when none of those */
	bool vhost_vsock;
	char qemu_path[256];      /* resolved VMM binary, "" if not found */
	char qemu_version[128];
	struct pv_cc_caps tdx, sev_snp;  /* filled by pv_host_caps_probe_cc only */
};

/* Cheap enough for every VM start: no process is run. qemu: the VMM, as the config names it. */
void pv_host_caps_probe(const char *qemu, struct pv_host_caps *caps);
/* Fills qemu_version by running `qemu --version` (~75 ms: for `podvm check`). */
void pv_host_caps_probe_qemu_version(struct pv_host_caps *caps);
/* Fills tdx and sev_snp: reads /proc/cpuinfo, /sys/module and firmware images, and asks the
 * VMM for its object types (`-object help`, at most 2 s). For `podvm check`; nothing is
 * cached. */
void pv_host_caps_probe_cc(struct pv_host_caps *caps);

/* The parsers behind it, given the text or bytes (unit-tested). */
/* Whether the first "flags" line of /proc/cpuinfo text lists flag as a whole word. */
bool pv_cpuinfo_has_flag(const char *cpuinfo, const char *flag);
/* A module parameter's value: PV_PARAM_ON for Y, y or 1; PV_PARAM_OFF for N, n or 0
 * (a trailing newline allowed); -EINVAL for anything else. */
int pv_param_state_parse(const char *value);
/* Whether QEMU's `-object help` output lists type as an object type. */
bool pv_qemu_help_lists(const char *help, const char *type);
/* "7.2" from `qemu --version`'s first line ("QEMU emulator version 7.2.22 (Debian ...)");
 * -EINVAL when it has no version. */
int pv_qemu_version_short(const char *version, char *out, size_t len);
/* The PV_FW_* bits an OVMF image declares; tail is the image's last len bytes (the table
 * sits in its last 64 KiB). 0 when it has no OVMF table. */
int pv_ovmf_features(const uint8_t *tail, size_t len);

/* Resolves name (absolute, relative with '/', or searched in PATH) to an executable. */
int pv_find_executable(const char *name, char *out, size_t len);
