/* `containerd-shim-podvm-v2 ... -bundle DIR delete`: containerd's cleanup when a shim is
 * gone (crashed, killed). The VMM died with it or is killed here; mounts, state and the
 * pod's cgroup go. */
#include "shim.h"
#include "cgroup.h"
#include "cleanup.h"
#include "events.h"
#include "pod.h"
#include "rootfs.h"
#include "util.h"
#include "vmm/qemu.h"
#include "containerd_containerd_runtime_v2_task_shim.pb-c.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void kill_vmm(const char *state_dir)
{
	/* A VM taken from a pool keeps its files in vm/ (source_pool.c). */
	static const char *const pid_files[] = { "vmm.pid", "vm/vmm.pid" };
	for (size_t i = 0; i < 2; i++) {
		_cleanup_free_ char *path = NULL;
		if (asprintf(&path, "%s/%s", state_dir, pid_files[i]) >= 0)
			(void)pv_vm_kill_pidfile(path);  /* only that QEMU: the pid may be reused */
	}
}

/* The sandbox's cgroup (its spec's linux.cgroupsPath), which its killed VMM leaves. */
static void remove_cgroup(const char *bundle)
{
	_cleanup_free_ char *path = NULL;
	json_t *spec = shim_read_spec(bundle, NULL);
	const char *cgroups_path = spec ? shim_spec_cgroups_path(spec) : NULL;
	if (cgroups_path && pv_cgroup_path(cgroups_path, &path, NULL) == 0)
		pv_cgroup_remove(path);
	json_decref(spec);
}

/* The socket of the pod's shim, when no shim answers on it (this one crashed). */
static void remove_dead_socket(const char *ns, const char *pod_id)
{
	_cleanup_free_ char *path = NULL;
	if (shim_socket_path(ns, pod_id, &path, NULL) == 0 && !shim_listening(path))
		(void)unlink(path);
}

static int print_response(void)
{
	Google__Protobuf__Timestamp ts;
	shim_timestamp(NULL, &ts);
	Containerd__Task__V2__DeleteResponse resp = CONTAINERD__TASK__V2__DELETE_RESPONSE__INIT;
	resp.exit_status = 128 + SIGKILL;
	resp.exited_at = &ts;
	size_t len = containerd__task__v2__delete_response__get_packed_size(&resp);
	_cleanup_free_ uint8_t *buf = malloc(len ? len : 1);
	if (buf == NULL)
		return -ENOMEM;
	containerd__task__v2__delete_response__pack(&resp, buf);
	return pv_write_all(STDOUT_FILENO, buf, len) < 0 ? -errno : 0;
}

int shim_delete(const struct shim_opts *o, pv_error *err)
{
	const char *bundle = o->bundle ? o->bundle : ".";
	_cleanup_free_ char *pod_id = NULL, *state = NULL, *data = NULL, *share = NULL;
	bool is_sandbox = true;
	if (shim_pod_of_bundle(bundle, o->id, &pod_id, &is_sandbox, NULL) < 0)
		pod_id = strdup(o->id);
	if (pod_id == NULL || pod_dirs(pod_id, &state, &data, err) < 0)
		return pv_error_set(err, ENOMEM, "delete");
	if (asprintf(&share, "%s/shared/%s", data, o->id) < 0)
		return pv_error_set(err, ENOMEM, "delete");
	if (is_sandbox) {
		kill_vmm(state);
		remove_cgroup(bundle);
	}
	container_fs_teardown_paths(bundle, share);
	if (is_sandbox) {
		container_fs_teardown_paths(NULL, data);
		(void)pv_rm_rf(data, NULL);
		(void)pv_rm_rf(state, NULL);
		remove_dead_socket(o->namespace, pod_id);
	}
	if (print_response() < 0)
		return pv_error_set(err, errno, "write delete response");
	return 0;
}
