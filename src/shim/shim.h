/* containerd-shim-podvm-v2: containerd's runtime v2 shim (io.containerd.podvm.v2). One shim
 * process and one microVM per pod; every container of the pod runs in that VM. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include "error.h"

#define SHIM_SOCKET_FD_ENV "PODVM_SHIM_SOCKET_FD"
#define SHIM_POD_ID_ENV "PODVM_SHIM_POD_ID"
#define ANNOTATION_SANDBOX_ID "io.kubernetes.cri.sandbox-id"
#define ANNOTATION_CONTAINER_TYPE "io.kubernetes.cri.container-type"

struct shim_opts {
	const char *namespace;
	const char *address;         /* containerd's GRPC socket */
	const char *publish_binary;
	const char *id;
	const char *bundle;          /* for delete; start runs in the bundle dir */
	bool debug;
	const char *action;          /* "start", "delete", or NULL to serve */
};

/* `start`: prints the ttrpc address of the pod's shim, starting it if needed. */
int shim_start(const struct shim_opts *o, pv_error *err);
/* The config file named by the runtime options on stdin (runtime_options.c): *path is
 * malloc'd, or NULL when there are none. */
int shim_runtime_config_path(char **path, pv_error *err);
/* `delete`: cleans up after a shim that is gone; prints a DeleteResponse. */
int shim_delete(const struct shim_opts *o, pv_error *err);
/* The daemon: serves the task API on listen_fd until Shutdown. */
int shim_serve(const struct shim_opts *o, int listen_fd, pv_error *err);

/* Refuses what a VM cannot do (spec_check.c): the host's network (a CRI sandbox's), pid or
 * ipc namespace, Bidirectional mount propagation. */
int shim_spec_check(json_t *spec, bool cri, bool sandbox, pv_error *err);
/* The bundle's config.json (bundle.c); the error names the file. */
json_t *shim_read_spec(const char *bundle, pv_error *err);
/* The pod a container belongs to: its sandbox id, or its own id (plain `ctr run`). */
int shim_pod_of_bundle(const char *bundle, const char *id, char **pod_id, bool *is_sandbox, pv_error *err);
/* The spec's linux.cgroupsPath (CRI: the pod's cgroup parent and the sandbox id), or NULL. */
const char *shim_spec_cgroups_path(json_t *spec);
/* Whether a shim answers on the socket path. */
bool shim_listening(const char *path);
/* The pod's shim socket: <state_root>/shim/<hash of namespace and pod>.sock */
int shim_socket_path(const char *ns, const char *pod_id, char **path, pv_error *err);
