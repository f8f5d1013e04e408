/* containerd-shim-podvm-v2: flags as containerd passes them to a runtime v2 shim. */
#include "shim.h"
#include "sandbox.h"
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <fcntl.h>
#include <unistd.h>

static int parse(int argc, char **argv, struct shim_opts *o, pv_error *err)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (*a == '-' && a[1] == '-')
			a++;  /* Go's flag package takes -flag and --flag alike */
		const char **dst = NULL;
		if (strcmp(a, "-namespace") == 0) dst = &o->namespace;
		else if (strcmp(a, "-address") == 0) dst = &o->address;
		else if (strcmp(a, "-publish-binary") == 0) dst = &o->publish_binary;
		else if (strcmp(a, "-id") == 0) dst = &o->id;
		else if (strcmp(a, "-bundle") == 0) dst = &o->bundle;
		else if (strcmp(a, "-debug") == 0) { o->debug = true; continue; }
		else if (strcmp(a, "start") == 0 || strcmp(a, "delete") == 0) { o->action = a; continue; }
		else if (a[0] == '-') { if (i + 1 < argc && argv[i + 1][0] != '-') i++; continue; }  /* unknown flag */
		else return pv_error_set_plain(err, EINVAL, "unexpected argument \"%s\"", a);
		if (i + 1 >= argc)
			return pv_error_set_plain(err, EINVAL, "%s needs a value", a);
		*dst = argv[++i];
	}
	if (o->namespace == NULL)
		o->namespace = "default";
	if (o->id == NULL)
		return pv_error_set_plain(err, EINVAL, "-id is required");
	return 0;
}

static int serve(const struct shim_opts *o, pv_error *err)
{
	const char *fd = getenv(SHIM_SOCKET_FD_ENV);
	unsigned long long n;
	if (fd == NULL || pv_parse_u64(fd, &n) < 0 || n > INT_MAX)
		return pv_error_set_plain(err, EINVAL, "no listening socket (the shim is started by `start`)");
	/* Inherited across our exec; no further: a QEMU holding it would keep a dead shim's
	 * socket answering connects. */
	if (fcntl((int)n, F_SETFD, FD_CLOEXEC) < 0)
		return pv_error_set(err, errno, "listening socket %llu", n);
	return shim_serve(o, (int)n, err);
}

int main(int argc, char **argv)
{
	struct shim_opts o = { 0 };
	pv_error err = NULL;
	/* A peer that went away (containerd, a dead VMM) is an error, never a silent death. */
	signal(SIGPIPE, SIG_IGN);
	if (argc > 1 && strcmp(argv[1], PV_POOL_FILL_ARG) == 0)
		return pv_pool_fill_main(argc, argv);  /* started by a pod's boot (sandbox.h) */
	int r = parse(argc, argv, &o, &err);
	if (r == 0) {
		if (o.action && strcmp(o.action, "start") == 0)
			r = shim_start(&o, &err);
		else if (o.action && strcmp(o.action, "delete") == 0)
			r = shim_delete(&o, &err);
		else
			r = serve(&o, &err);
	}
	if (r < 0) {
		pv_error_print("containerd-shim-podvm-v2", &err);
		return 1;
	}
	return 0;
}
