#include "seccomp_filter.h"
#include "cleanup.h"
#include "util.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

struct name_value {
	const char *name;
	uint32_t value;
};

static int action_of(const char *name, json_t *errno_ret, uint32_t *out)
{
	uint32_t ret = json_is_integer(errno_ret) ? (uint32_t)json_integer_value(errno_ret) : EPERM;
	static const struct name_value fixed[] = {
		{ "SCMP_ACT_KILL", SCMP_ACT_KILL }, { "SCMP_ACT_KILL_THREAD", SCMP_ACT_KILL_THREAD },
		{ "SCMP_ACT_KILL_PROCESS", SCMP_ACT_KILL_PROCESS }, { "SCMP_ACT_TRAP", SCMP_ACT_TRAP },
		{ "SCMP_ACT_ALLOW", SCMP_ACT_ALLOW }, { "SCMP_ACT_LOG", SCMP_ACT_LOG },
	};
	for (size_t i = 0; i < sizeof(fixed) / sizeof(*fixed); i++)
		if (strcmp(name, fixed[i].name) == 0) {
			*out = fixed[i].value;
			return 0;
		}
	if (strcmp(name, "SCMP_ACT_ERRNO") == 0)
		*out = SCMP_ACT_ERRNO(ret);
	else if (strcmp(name, "SCMP_ACT_TRACE") == 0)
		*out = SCMP_ACT_TRACE(ret);
	else
		return -EINVAL;
	return 0;
}

static int op_of(const char *name, enum scmp_compare *out)
{
	static const struct { const char *name; enum scmp_compare op; } ops[] = {
		{ "SCMP_CMP_NE", SCMP_CMP_NE }, { "SCMP_CMP_LT", SCMP_CMP_LT }, { "SCMP_CMP_LE", SCMP_CMP_LE },
		{ "SCMP_CMP_EQ", SCMP_CMP_EQ }, { "SCMP_CMP_GE", SCMP_CMP_GE }, { "SCMP_CMP_GT", SCMP_CMP_GT },
		{ "SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ },
	};
	for (size_t i = 0; name && i < sizeof(ops) / sizeof(*ops); i++)
		if (strcmp(name, ops[i].name) == 0) {
			*out = ops[i].op;
			return 0;
		}
	return -EINVAL;
}

/* "SCMP_ARCH_X86_64" -> libseccomp's token for "x86_64"; 0 if unknown. */
static uint32_t arch_of(const char *name)
{
	char lower[32];
	size_t n = 0;
	if (name == NULL || !pv_str_has_prefix(name, "SCMP_ARCH_"))
		return 0;
	for (const char *p = name + 10; *p && n < sizeof(lower) - 1; p++)
		lower[n++] = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
	lower[n] = '\0';
	return seccomp_arch_resolve_name(lower);
}

static int add_arches(scmp_filter_ctx ctx, json_t *arches, pv_error *err)
{
	size_t i;
	json_t *a;
	json_array_foreach(arches, i, a) {
		uint32_t arch = arch_of(json_string_value(a));
		if (arch == 0)
			continue;  /* an architecture this libseccomp does not know: as runc, skip it */
		int r = seccomp_arch_add(ctx, arch);
		if (r < 0 && r != -EEXIST)
			return pv_error_set(err, -r, "linux.seccomp.architectures: %s", json_string_value(a));
	}
	return 0;
}

static int rule_args(json_t *args, struct scmp_arg_cmp *cmp, unsigned *n, pv_error *err)
{
	size_t i;
	json_t *a;
	*n = 0;
	json_array_foreach(args, i, a) {
		if (i >= 6)
			return pv_error_set_plain(err, EINVAL, "linux.seccomp: more than 6 arguments");
		enum scmp_compare op;
		if (op_of(json_string_value(json_object_get(a, "op")), &op) < 0)
			return pv_error_set_plain(err, EINVAL, "linux.seccomp: unknown argument op");
		cmp[i] = (struct scmp_arg_cmp){
			.arg = (unsigned)json_integer_value(json_object_get(a, "index")), .op = op,
			.datum_a = (scmp_datum_t)json_integer_value(json_object_get(a, "value")),
			.datum_b = (scmp_datum_t)json_integer_value(json_object_get(a, "valueTwo")),
		};
		*n = (unsigned)i + 1;
	}
	return 0;
}

static int add_rule(scmp_filter_ctx ctx, json_t *rule, uint32_t default_action, pv_error *err)
{
	uint32_t action;
	const char *aname = json_string_value(json_object_get(rule, "action"));
	if (aname == NULL || action_of(aname, json_object_get(rule, "errnoRet"), &action) < 0)
		return pv_error_set_plain(err, EINVAL, "linux.seccomp: unknown action %s", aname ? aname : "(none)");
	if (action == default_action)
		return 0;  /* libseccomp refuses rules that change nothing */
	struct scmp_arg_cmp cmp[6];
	unsigned ncmp;
	if (rule_args(json_object_get(rule, "args"), cmp, &ncmp, err) < 0)
		return -1;
	size_t i;
	json_t *name;
	json_array_foreach(json_object_get(rule, "names"), i, name) {
		int nr = seccomp_syscall_resolve_name(json_string_value(name));
		if (nr == __NR_SCMP_ERROR)
			continue;  /* a syscall this kernel/arch lacks: as runc, skip it */
		int r = seccomp_rule_add_array(ctx, action, nr, ncmp, cmp);
		if (r < 0 && r != -EEXIST)
			return pv_error_set(err, -r, "linux.seccomp: rule for %s", json_string_value(name));
	}
	return 0;
}

/* libseccomp writes BPF to a file descriptor: a memfd, read back into memory. */
static int export_bpf(scmp_filter_ctx ctx, struct seccomp_prog *out, pv_error *err)
{
	_cleanup_close_ int fd = memfd_create("podvm-seccomp", MFD_CLOEXEC);
	if (fd < 0)
		return pv_error_set(err, errno, "memfd");
	int r = seccomp_export_bpf(ctx, fd);
	if (r < 0)
		return pv_error_set(err, -r, "linux.seccomp: export");
	char *buf = NULL;
	size_t len = 0;
	if (lseek(fd, 0, SEEK_SET) < 0 || pv_read_fd(fd, 1 << 20, &buf, &len, err) < 0)
		return pv_error_prefix(err, "linux.seccomp");
	out->filter = buf;
	out->len = (unsigned short)(len / sizeof(struct sock_filter));
	return 0;
}

int seccomp_compile(json_t *obj, struct seccomp_prog *out, pv_error *err)
{
	memset(out, 0, sizeof(*out));
	if (obj == NULL || json_is_null(obj))
		return 0;
	uint32_t def;
	const char *dname = json_string_value(json_object_get(obj, "defaultAction"));
	if (dname == NULL || action_of(dname, json_object_get(obj, "defaultErrnoRet"), &def) < 0)
		return pv_error_set_plain(err, EINVAL, "linux.seccomp: unknown defaultAction %s", dname ? dname : "(none)");
	scmp_filter_ctx ctx = seccomp_init(def);
	if (ctx == NULL)
		return pv_error_set_plain(err, EINVAL, "linux.seccomp: cannot initialise");
	int r = add_arches(ctx, json_object_get(obj, "architectures"), err);
	size_t i;
	json_t *rule;
	json_array_foreach(json_object_get(obj, "syscalls"), i, rule) {
		if (r == 0)
			r = add_rule(ctx, rule, def, err);
	}
	if (r == 0)
		r = export_bpf(ctx, out, err);
	seccomp_release(ctx);
	return r;
}

int seccomp_install(const struct seccomp_prog *prog)
{
	if (prog->len == 0)
		return 0;
	struct sock_fprog fprog = { .len = prog->len, .filter = prog->filter };
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) < 0)
		return -errno;
	return 0;
}

void seccomp_prog_clear(struct seccomp_prog *p)
{
	free(p->filter);
	memset(p, 0, sizeof(*p));
}
