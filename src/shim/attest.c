#include "attest.h"
#include "cleanup.h"
#include "events.h"
#include "sandbox.h"
#include "secrets.h"
#include "util.h"
#include "attest/digest_set.h"
#include "attest/lowerdirs.h"
#include "google_protobuf_struct.pb-c.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool attested(struct pod *p)
{
	return pod_config(p)->attestation != PV_ATTEST_OFF;
}

static bool gets_secrets(struct pod *p, bool cri_sandbox)
{
	return pod_config(p)->secrets_dir[0] != '\0' && !cri_sandbox;
}

int attest_add_secrets_mount(struct pod *p, bool cri_sandbox, json_t *spec, pv_error *err)
{
	if (!gets_secrets(p, cri_sandbox))
		return 0;
	json_t *mounts = json_object_get(spec, "mounts");
	if (!json_is_array(mounts))
		json_object_set_new(spec, "mounts", mounts = json_array());
	if (json_array_append_new(mounts, pv_spec_secrets_mount()) < 0)
		return pv_error_set(err, ENOMEM, "config.json: %s", PV_SECRETS_DIR);
	return 0;
}

/* The lowerdirs of an overlay mount ("lowerdir=A:B:C"), or NULL (*n = 0) when none. */
static char **lowerdirs_of(const Containerd__Types__Mount *m, size_t *n)
{
	*n = 0;
	if (strcmp(m->type, "overlay") != 0)
		return NULL;
	for (size_t i = 0; i < m->n_options; i++) {
		if (!pv_str_has_prefix(m->options[i], "lowerdir="))
			continue;
		_cleanup_free_ char *list = strdup(m->options[i] + strlen("lowerdir="));
		char **dirs = NULL, *save = NULL;
		for (char *d = list ? strtok_r(list, ":", &save) : NULL; d; d = strtok_r(NULL, ":", &save))
			if (pv_strv_push(&dirs, d) < 0) {
				pv_strv_free(dirs);
				return NULL;
			}
		*n = pv_strv_len(dirs);
		return dirs;
	}
	return NULL;
}

static int image_set(struct pod *p, Containerd__Types__Mount **mounts, size_t n_mounts, const char *bundle,
		     struct pv_digest_set **set, pv_error *err)
{
	size_t n = 0;
	_cleanup_strv_ char **lower = n_mounts == 1 ? lowerdirs_of(mounts[0], &n) : NULL;
	if (n > 0) {
		_cleanup_free_ char *cache = NULL;
		if (asprintf(&cache, "%s/attest-cache", pod_paths(p)->data_root) < 0)
			return pv_error_set(err, ENOMEM, "attest cache");
		return pv_reference_for_lowerdirs((const char *const *)lower, n, cache, set, err);
	}
	/* A bind mount or the bundle's own rootfs: no immutable snapshots to cache by. */
	_cleanup_free_ char *rootfs = NULL;
	if (asprintf(&rootfs, "%s/rootfs", bundle) < 0)
		return pv_error_set(err, ENOMEM, "rootfs");
	return pv_digest_set_new(set, err) < 0 ? -1 : pv_digest_set_add_tree(*set, rootfs, err);
}

int attest_record_container(struct pod *p, const char *id, Containerd__Types__Mount **mounts, size_t n_mounts,
			    const char *bundle, const char *json, pv_error *err)
{
	if (!attested(p))
		return 0;
	_cleanup_digest_set_ struct pv_digest_set *set = NULL;
	_cleanup_free_ char *file = NULL;
	const char *state = pv_sandbox_vm_dir(pod_sandbox(p));  /* a pooled VM's: <state>/vm */
	if (asprintf(&file, "%s/attest/image-%s", state, id) < 0)
		return pv_error_set(err, ENOMEM, "container %s", id);
	if (image_set(p, mounts, n_mounts, bundle, &set, err) < 0 || pv_digest_set_save(set, file, err) < 0)
		return pv_error_prefix(err, "container %s: reference values", id);
	return pv_attest_record_container(state, id, json, file, err);
}

static Google__Protobuf__Struct__FieldsEntry *field(Google__Protobuf__Struct__FieldsEntry *e, Google__Protobuf__Value *v,
						    const char *key, const char *value)
{
	google__protobuf__struct__fields_entry__init(e);
	google__protobuf__value__init(v);
	v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE;
	v->string_value = (char *)value;
	e->key = (char *)key;
	e->value = v;
	return e;
}

void attest_publish_failure(const char *pod_id, const char *container_id, const char *mode, const char *finding,
			    const char *action)
{
	Google__Protobuf__Struct__FieldsEntry e[5], *fields[5];
	Google__Protobuf__Value v[5];
	size_t n = 0;
	fields[n] = field(&e[n], &v[n], "sandbox_id", pod_id), n++;
	if (container_id)
		fields[n] = field(&e[n], &v[n], "container_id", container_id), n++;
	fields[n] = field(&e[n], &v[n], "mode", mode), n++;
	fields[n] = field(&e[n], &v[n], "finding", finding), n++;
	fields[n] = field(&e[n], &v[n], "action", action), n++;
	Google__Protobuf__Struct ev = GOOGLE__PROTOBUF__STRUCT__INIT;
	ev.n_fields = n;
	ev.fields = fields;
	events_publish(ATTEST_FAILED_TOPIC, "google.protobuf.Struct", &ev.base);
}

/* The verdict; a verification that could not be carried out is a failure too. */
static void attest_now(struct pod *p, struct pv_attest_result *res)
{
	pv_error e = NULL;
	if (pv_sandbox_attest(pod_sandbox(p), res, &e) < 0) {
		res->pass = false;
		snprintf(res->finding, sizeof(res->finding), "%s", e->msg);
		pv_error_release(&e);
	}
}

static int put_secrets(struct pod *p, const char *id, pv_error *err)
{
	_cleanup_secrets_ struct pv_secrets s = { 0 };
	if (pv_secrets_add_dir(&s, pod_config(p)->secrets_dir, err) < 0 ||
	    pv_secrets_put(&s, pod_agent(p), id, err) < 0)
		return pv_error_prefix(err, "container %s", id);
	return 0;
}

int attest_before_start(struct pod *p, const char *id, bool cri_sandbox, pv_error *err)
{
	if (!attested(p))
		return 0;
	struct pv_attest_result res;
	attest_now(p, &res);
	bool secrets = gets_secrets(p, cri_sandbox);
	if (!res.pass) {
		const char *pod_id = pod_id_of(p), *mode = pv_attestation_mode_name(pod_config(p)->attestation);
		bool refuse = pod_config(p)->attestation == PV_ATTEST_ENFORCE || secrets;
		pv_warning("attestation of pod VM %s failed: %s; container %s %s", pod_id, res.finding, id,
			   refuse ? "not started" : "started unattested");
		attest_publish_failure(pod_id, id, mode, res.finding, refuse ? "refused the start" : "started it");
		if (refuse)
			return pv_error_set_plain(err, EACCES, "attestation of pod VM %s failed: %s", pod_id, res.finding);
		return 0;
	}
	return secrets ? put_secrets(p, id, err) : 0;
}
