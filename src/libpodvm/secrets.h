/* Secrets a container receives at /run/secrets/NAME (a tmpfs in its spec,
 * pv_spec_secrets_mount), put there by the agent before the container starts and only once
 * its VM's attestation passed: `podvm run --secret NAME=FILE`, and the shim's secrets_dir
 * (config.h). Their bytes are zeroed when freed. */
#pragma once
#include <jansson.h>
#include <stddef.h>
#include "error.h"
#include "ttrpc.h"

#define PV_SECRETS_DIR "/run/secrets"
#define PV_SECRET_MAX (1u << 20)  /* the tmpfs's size */

struct pv_secret {
	char *name;
	char *data;
	size_t len;
};

struct pv_secrets {
	struct pv_secret *v;
	size_t n;
};

/* Adds FILE's content as NAME (a file name: no "/", not "." or ".."). */
int pv_secrets_add_file(struct pv_secrets *s, const char *name, const char *file, pv_error *err);
/* Adds each regular file of dir (symlinks followed; names starting with "." left out, as
 * the ..data links of a Kubernetes secret volume), in sorted order. */
int pv_secrets_add_dir(struct pv_secrets *s, const char *dir, pv_error *err);
/* Hands every secret to the agent for container id (created, not yet started). */
int pv_secrets_put(const struct pv_secrets *s, struct ttrpc_client *agent, const char *id, pv_error *err);
void pv_secrets_clear(struct pv_secrets *s);
/* The OCI mount (JSON) of the tmpfs the agent fills. */
json_t *pv_spec_secrets_mount(void);

static inline void pv_secrets_clearp(struct pv_secrets *s)
{
	pv_secrets_clear(s);
}
#define _cleanup_secrets_ __attribute__((cleanup(pv_secrets_clearp)))
