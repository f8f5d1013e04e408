/* VM sizing (src/libpodvm/sizing.c): --memory and --cpus parsing, and the VM size derived
 * from them (limit + guest overhead, a floor, vCPUs rounded up). */
#include "tap.h"
#include "sizing.h"

#include <errno.h>
#include <string.h>

#define MiB (1024ULL * 1024)
#define GiB (1024 * MiB)

static const char *msg_of(pv_error e)
{
	return e && e->msg ? e->msg : "(no message)";
}

static void memory_ok(const char *s, unsigned long long want)
{
	pv_error e = NULL;
	unsigned long long got = 0;
	int r = pv_parse_memory(s, &got, &e);
	ok(r == 0 && got == want, "pv_parse_memory(\"%s\") = %llu (want %llu) %s", s, got, want, e ? msg_of(e) : "");
	pv_error_release(&e);
}

static void memory_bad(const char *s, const char *why)
{
	pv_error e = NULL;
	unsigned long long got = 12345;
	int r = pv_parse_memory(s, &got, &e);
	ok(r == -EINVAL && got == 12345 && e && strstr(msg_of(e), s) && strstr(msg_of(e), why),
	   "pv_parse_memory(\"%s\") rejected: %s", s, msg_of(e));
	pv_error_release(&e);
}

static void test_memory(void)
{
	memory_ok("512m", 512 * MiB);
	memory_ok("512M", 512 * MiB);
	memory_ok("1g", GiB);
	memory_ok("1G", GiB);
	memory_ok("1.5g", GiB + GiB / 2);
	memory_ok("4m", 4 * MiB);
	memory_ok("4096k", 4 * MiB);
	memory_ok("4194304", 4 * MiB);
	memory_ok("4194304b", 4 * MiB);
	memory_ok("10mb", 10 * MiB);
	memory_ok("10MB", 10 * MiB);
	memory_ok("10MiB", 10 * MiB);
	memory_ok("10mib", 10 * MiB);
	memory_ok("1024g", 1024 * GiB);

	memory_bad("64k", "at least 4m");
	memory_bad("1048576", "at least 4m");
	memory_bad("4194303", "at least 4m");
	memory_bad("3.9m", "at least 4m");
	memory_bad("bad", "not a size");
	memory_bad("", "not a size");
	memory_bad("0", "not a size");
	memory_bad("0m", "not a size");
	memory_bad("-5m", "not a size");
	memory_bad("10x", "unknown unit");
	memory_bad("10t", "unknown unit");
	memory_bad("10mx", "unknown unit");
	memory_bad("10mbb", "unknown unit");
	memory_bad("10kib2", "unknown unit");
	memory_bad("1025g", "too large");
	memory_bad("inf", "too large");

	pv_error e = NULL;
	unsigned long long got = 12345;
	int r = pv_parse_memory("nan", &got, &e);
	ok(r == -EINVAL && got == 12345, "pv_parse_memory(\"nan\") rejected");
	pv_error_release(&e);
}

static void cpus_ok(const char *s, double want)
{
	pv_error e = NULL;
	double got = -1;
	int r = pv_parse_cpus(s, &got, &e);
	ok(r == 0 && got == want, "pv_parse_cpus(\"%s\") = %g %s", s, got, e ? msg_of(e) : "");
	pv_error_release(&e);
}

static void cpus_bad(const char *s)
{
	pv_error e = NULL;
	double got = -1;
	int r = pv_parse_cpus(s, &got, &e);
	ok(r == -EINVAL && got == -1 && e && strstr(msg_of(e), "(0, 64]"), "pv_parse_cpus(\"%s\") rejected: %s", s,
	   msg_of(e));
	pv_error_release(&e);
}

static void test_cpus(void)
{
	cpus_ok("1", 1);
	cpus_ok("0.5", 0.5);
	cpus_ok("2.5", 2.5);
	cpus_ok("64", 64);
	cpus_ok("0.01", 0.01);
	static const char *bad[] = { "0", "-1", "abc", "65", "64.5", "", "1.5x", "2 ", "nan", "inf", "-0" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		cpus_bad(bad[i]);
}

static void size_is(double cpus, unsigned long long mem, unsigned want_vcpus, unsigned want_mib)
{
	unsigned vcpus = 999, mib = 999;
	pv_vm_size(cpus, mem, &vcpus, &mib);
	ok(vcpus == want_vcpus && mib == want_mib, "pv_vm_size(%g cpus, %llu bytes) = %u vCPUs, %u MiB (want %u, %u)",
	   cpus, mem, vcpus, mib, want_vcpus, want_mib);
}

static void test_vm_size(void)
{
	size_is(0, 0, PV_DEFAULT_VCPUS, PV_DEFAULT_MEM_MIB);
	size_is(0, 0, 1, 256);
	size_is(0, 512 * MiB, 1, 512 + 64);
	size_is(0, 512 * MiB + 1, 1, 513 + 64);  /* a partial MiB counts */
	size_is(0, 4 * MiB, 1, PV_MIN_MEM_MIB);
	size_is(0, 64 * MiB, 1, 128);
	size_is(0, 65 * MiB, 1, 129);
	size_is(0, 2 * GiB, 1, 2048 + 64);
	size_is(1.5, 0, 2, 256);
	size_is(0.5, 0, 1, 256);
	size_is(1, 0, 1, 256);
	size_is(2, 0, 2, 256);
	size_is(2.01, 0, 3, 256);
	size_is(64, GiB, 64, 1024 + 64);
	size_is(-1, 0, PV_DEFAULT_VCPUS, 256);
	/* Bounded whatever is asked (a pod's annotations are anyone's input). */
	size_is(64.5, 0, PV_MAX_VCPUS, 256);
	size_is(9.2e18, 0, PV_MAX_VCPUS, 256);
	size_is(1.0 / 0.0, 0, PV_MAX_VCPUS, 256);
	size_is(0.0 / 0.0, 0, PV_DEFAULT_VCPUS, 256);
	size_is(0, 4096ULL * GiB, 1, PV_MAX_MEM_MIB);
	size_is(0, ~0ULL, 1, PV_MAX_MEM_MIB);
}

int main(void)
{
	test_memory();
	test_cpus();
	test_vm_size();
	return done_testing();
}
