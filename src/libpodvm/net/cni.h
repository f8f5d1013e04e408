/* Running a network's CNI plugins, as libcni does: ADD through the list in order, each
 * plugin given the previous one's result as "prevResult"; DEL through it in reverse with
 * the final result. Plugins are looked up in $CNI_PATH (else PV_CNI_DEFAULT_PATH). */
#pragma once
#include <jansson.h>
#include "cni_conf.h"
#include "error.h"

struct pv_cni_call {
	const struct pv_cni_conflist *list;
	const char *container_id;
	const char *netns;       /* path of the network namespace */
	const char *ifname;      /* the interface the plugins make in it */
	json_t *runtime;         /* capability -> value (runtimeConfig); may be NULL */
};

/* *result: the last plugin's result. A plugin that fails makes the whole list DEL (in
 * reverse) before this returns: nothing is left allocated. Errors read
 * "plugin TYPE: MESSAGE". */
int pv_cni_add(const struct pv_cni_call *c, json_t **result, pv_error *err);
/* result: what pv_cni_add returned (may be NULL). Every plugin is run even after a
 * failure; the first failure is reported. */
int pv_cni_del(const struct pv_cni_call *c, json_t *result, pv_error *err);
/* What one plugin's run of command came to, from its exit status, stdout and stderr: *result
 * (when result is not NULL) its parsed stdout, or an error naming the plugin with the reason
 * pv_cni_failure_message finds. Pure: what pv_cni_add and pv_cni_del make of each plugin. */
int pv_cni_plugin_result(const char *type, const char *command, int status, const char *out,
			 const char *errout, json_t **result, pv_error *err);
