#include "sizing.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <strings.h>

int pv_parse_memory(const char *s, unsigned long long *bytes, pv_error *err)
{
	char *end = NULL;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || !(v > 0))  /* !(v > 0) also refuses NaN */
		return pv_error_set_plain(err, EINVAL, "memory \"%s\": not a size", s);
	double mult = 1;
	switch (tolower((unsigned char)*end)) {
	case '\0': break;
	case 'b': mult = 1; break;
	case 'k': mult = 1024.0; break;
	case 'm': mult = 1024.0 * 1024; break;
	case 'g': mult = 1024.0 * 1024 * 1024; break;
	default: return pv_error_set_plain(err, EINVAL, "memory \"%s\": unknown unit", s);
	}
	if (*end && end[1] && strcasecmp(end + 1, "b") != 0 && strcasecmp(end + 1, "ib") != 0)
		return pv_error_set_plain(err, EINVAL, "memory \"%s\": unknown unit", s);
	double total = v * mult;
	if (total < 4 * 1024 * 1024)
		return pv_error_set_plain(err, EINVAL, "memory \"%s\": at least 4m is needed", s);
	if (total > 1024.0 * 1024 * 1024 * 1024)
		return pv_error_set_plain(err, EINVAL, "memory \"%s\": too large", s);
	*bytes = (unsigned long long)total;
	return 0;
}

int pv_parse_cpus(const char *s, double *cpus, pv_error *err)
{
	char *end = NULL;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !(v > 0) || v > PV_MAX_VCPUS)
		return pv_error_set_plain(err, EINVAL, "cpus \"%s\": want a number in (0, %d]", s, PV_MAX_VCPUS);
	*cpus = v;
	return 0;
}

void pv_vm_size(double cpus, unsigned long long mem_bytes, unsigned *vcpus, unsigned *mem_mib)
{
	/* !(cpus > 0) also catches NaN. */
	*vcpus = !(cpus > 0) ? PV_DEFAULT_VCPUS : cpus >= PV_MAX_VCPUS ? PV_MAX_VCPUS : (unsigned)ceil(cpus);
	if (mem_bytes == 0) {
		*mem_mib = PV_DEFAULT_MEM_MIB;
		return;
	}
	unsigned long long mib = mem_bytes / (1 << 20) + (mem_bytes % (1 << 20) != 0);
	mib += PV_GUEST_OVERHEAD_MIB;
	*mem_mib = mib < PV_MIN_MEM_MIB ? PV_MIN_MEM_MIB : mib > PV_MAX_MEM_MIB ? PV_MAX_MEM_MIB : (unsigned)mib;
}
