/* What a VM cannot do for a container, refused at Create before anything boots: one line
 * naming the field (kubelet shows it as the pod's event), rather than a pod that silently
 * differs from what its YAML asked for. */
#include "shim.h"
#include "rootfs.h"

#include <errno.h>
#include <string.h>

#define OWN_KERNEL "a podvm pod has its own kernel"

static bool has_namespace(json_t *spec, const char *type)
{
	size_t i;
	json_t *n;
	json_array_foreach(json_object_get(json_object_get(spec, "linux"), "namespaces"), i, n) {
		const char *t = json_string_value(json_object_get(n, "type"));
		if (t && strcmp(t, type) == 0)
			return true;
	}
	return false;
}

/* A namespace the spec does not list is the host's (hostNetwork, hostPID, hostIPC). */
static int refuse_host_namespace(json_t *spec, const char *type, const char *field, pv_error *err)
{
	if (has_namespace(spec, type))
		return 0;
	return pv_error_set_plain(err, EINVAL, "%s: not supported: " OWN_KERNEL ", it cannot join the host's %s namespace",
				  field, type);
}

/* Bidirectional (containerd: rshared) would carry the container's mounts back to the host:
 * mounts made by the guest's kernel cannot reach the host's. */
static int refuse_bidirectional(json_t *spec, pv_error *err)
{
	size_t i;
	json_t *m;
	json_array_foreach(json_object_get(spec, "mounts"), i, m) {
		if (!mount_has_option(m, "rshared") && !mount_has_option(m, "shared"))
			continue;
		const char *dst = json_string_value(json_object_get(m, "destination"));
		return pv_error_set_plain(err, EINVAL,
					  "mount %s: mountPropagation Bidirectional: not supported: " OWN_KERNEL
					  ", its mounts cannot propagate to the host",
					  dst ? dst : "?");
	}
	return 0;
}

int shim_spec_check(json_t *spec, bool cri, bool sandbox, pv_error *err)
{
	/* `ctr run --net-host` keeps its old meaning: a VM with loopback only. */
	if (cri && sandbox && refuse_host_namespace(spec, "network", "hostNetwork", err) < 0)
		return -1;
	if (refuse_host_namespace(spec, "pid", cri ? "hostPID" : "linux.namespaces", err) < 0 ||
	    refuse_host_namespace(spec, "ipc", cri ? "hostIPC" : "linux.namespaces", err) < 0)
		return -1;
	return refuse_bidirectional(spec, err);
}
