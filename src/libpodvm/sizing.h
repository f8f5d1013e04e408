/* VM sizing from a container's limits. A pod VM gets the container's memory limit plus a
 * fixed guest overhead (kernel, agent, page cache for the 9p rootfs), and as many vCPUs as
 * its CPU limit rounded up. Guest RAM is touched lazily, so the host pays for what the
 * guest uses, not for the size. */
#pragma once
#include "error.h"

#define PV_DEFAULT_MEM_MIB 256      /* no memory limit given */
#define PV_GUEST_OVERHEAD_MIB 64    /* added to a memory limit */
#define PV_MIN_MEM_MIB 128
#define PV_DEFAULT_VCPUS 1
#define PV_MAX_VCPUS 64
#define PV_MAX_MEM_MIB (1024u * 1024u)  /* 1 TiB: past what a pod asks of one node */

/* "512m", "1g", "1.5g", "64k", "1048576" (bytes) -> bytes. */
int pv_parse_memory(const char *s, unsigned long long *bytes, pv_error *err);
/* "1", "0.5", "2.5" -> CPUs (> 0). */
int pv_parse_cpus(const char *s, double *cpus, pv_error *err);
/* The VM of a container (or pod) with these limits; at most PV_MAX_VCPUS and
 * PV_MAX_MEM_MIB, whatever it asks (a CRI annotation is anyone's input). */
void pv_vm_size(double cpus, unsigned long long mem_bytes, unsigned *vcpus, unsigned *mem_mib);
