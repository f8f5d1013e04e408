/* The OCI linux.seccomp compiler: profiles into BPF, and its errors. */
#include "tap.h"
#include "seccomp_filter.h"

#include <errno.h>
#include <linux/filter.h>
#include <string.h>

static int compile(const char *json, struct seccomp_prog *p, pv_error *err)
{
	json_error_t je;
	json_t *obj = json_loads(json, 0, &je);
	int r = seccomp_compile(obj, p, err);
	json_decref(obj);
	return r;
}

int main(void)
{
	struct seccomp_prog p;
	pv_error err = NULL;

	ok(seccomp_compile(NULL, &p, &err) == 0 && p.len == 0 && p.filter == NULL, "no seccomp: an empty program");

	int r = compile("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"architectures\":[\"SCMP_ARCH_X86_64\",\"SCMP_ARCH_X86\"],"
			"\"syscalls\":[{\"names\":[\"read\",\"write\",\"exit_group\",\"no_such_syscall_xyz\"],\"action\":\"SCMP_ACT_ALLOW\"},"
			"{\"names\":[\"personality\"],\"action\":\"SCMP_ACT_ALLOW\",\"args\":[{\"index\":0,\"value\":8,\"op\":\"SCMP_CMP_EQ\"}]}]}",
			&p, &err);
	ok(r == 0 && p.len > 4 && p.filter != NULL, "an allow-list profile compiles to BPF (%u instructions)%s%s",
	   p.len, err ? ": " : "", err ? err->msg : "");
	seccomp_prog_clear(&p);
	pv_error_release(&err);

	r = compile("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"mkdir\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":1}]}",
		    &p, &err);
	ok(r == 0 && p.len > 0, "a deny rule with errnoRet compiles");
	seccomp_prog_clear(&p);
	pv_error_release(&err);

	r = compile("{\"defaultAction\":\"SCMP_ACT_BOGUS\"}", &p, &err);
	ok(r < 0 && err && strstr(err->msg, "defaultAction SCMP_ACT_BOGUS"), "an unknown default action is an error: %s",
	   err ? err->msg : "(none)");
	pv_error_release(&err);

	r = compile("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],\"action\":\"SCMP_ACT_NOPE\"}]}", &p, &err);
	ok(r < 0 && err && strstr(err->msg, "unknown action SCMP_ACT_NOPE"), "an unknown rule action is an error: %s",
	   err ? err->msg : "(none)");
	pv_error_release(&err);

	r = compile("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],\"action\":\"SCMP_ACT_ERRNO\","
		    "\"args\":[{\"index\":0,\"value\":1,\"op\":\"SCMP_CMP_WHAT\"}]}]}", &p, &err);
	ok(r < 0 && err && strstr(err->msg, "unknown argument op"), "an unknown argument op is an error");
	pv_error_release(&err);
	return done_testing();
}
