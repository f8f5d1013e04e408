/* The attestation of a pod's containers (config.h: attestation, secrets_dir), as `podvm run`
 * does it for its one container (src/libpodvm/run.c): each container recorded for the
 * verifier before its config goes to the guest, the VM attested before each container's
 * init starts, the node's secrets delivered only after a pass. The periodic attestation is
 * the pod's (pod.h). Everything here does nothing when the pod's attestation is off. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include "error.h"
#include "pod.h"
#include "containerd_containerd_api_types_mount.pb-c.h"

#define ATTEST_FAILED_TOPIC "/podvm/attestation/failed"

/* Adds the /run/secrets tmpfs to the spec of a container that gets the pod's secrets:
 * secrets_dir is set and it is not the CRI sandbox (pause) container. */
int attest_add_secrets_mount(struct pod *p, bool cri_sandbox, json_t *spec, pv_error *err);
/* Before the container's config goes to the guest: the reference set of its image files
 * (from containerd's rootfs mounts: an overlay's lowerdirs, cached under <data
 * root>/attest-cache; else the tree of <bundle>/rootfs, mounted by then) saved as <state
 * dir>/attest/image-ID, and the exact config sent (json). */
int attest_record_container(struct pod *p, const char *id, Containerd__Types__Mount **mounts, size_t n_mounts,
			    const char *bundle, const char *json, pv_error *err);
/* Before the container's init starts: the VM attested. On a pass its secrets are read now
 * and handed to the agent. On a failure: under enforce, or when it would get secrets, an
 * error "attestation of pod VM POD failed: FINDING"; under verify it starts unattested. A
 * failure is logged and published (attest_publish_failure) either way. */
int attest_before_start(struct pod *p, const char *id, bool cri_sandbox, pv_error *err);
/* The event: topic ATTEST_FAILED_TOPIC, a google.protobuf.Struct (which containerd can
 * decode) with sandbox_id, container_id (when it was a start), mode, finding and action. */
void attest_publish_failure(const char *pod_id, const char *container_id, const char *mode, const char *finding,
			    const char *action);
