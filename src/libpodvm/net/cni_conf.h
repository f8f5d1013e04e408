/* CNI network configurations as libcni reads them: the `.conflist` (or single-plugin
 * `.conf`/`.json`) of a config directory whose "name" matches, and the stdin each plugin
 * of the list is given. Pure logic: nothing here runs a plugin. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include "error.h"

#define PV_CNI_DEFAULT_CONF_DIR "/etc/cni/net.d"
#define PV_CNI_DEFAULT_PATH "/opt/cni/bin:/usr/lib/cni"

struct pv_cni_conflist {
	char *name;
	char *cni_version;  /* "" when the file has none (plugins then assume 0.1.0) */
	char *file;         /* where it was read */
	json_t *plugins;    /* array of plugin objects, each with a "type" */
};

/* The config directory: explicit (may be NULL), else $CNI_CONF_DIR, $NETCONFPATH, the
 * default. Returns a pointer into the environment or to explicit. */
const char *pv_cni_conf_dir(const char *explicit);
/* Parses one file's text; `.conf`/`.json` (single plugin) when single is true. */
int pv_cni_conflist_parse(const char *file, const char *text, bool single,
			  struct pv_cni_conflist *out, pv_error *err);
/* Finds network `name` in dir: `.conflist` files first, then `.conf`/`.json`, each in
 * lexical order, as libcni does. ENOENT (message: "not found in DIR") when none has it. */
int pv_cni_conflist_load(const char *dir, const char *name, struct pv_cni_conflist *out,
			 pv_error *err);
void pv_cni_conflist_clear(struct pv_cni_conflist *l);
size_t pv_cni_plugin_count(const struct pv_cni_conflist *l);
const char *pv_cni_plugin_type(const struct pv_cni_conflist *l, size_t i);
/* Whether plugin i declares the capability (its "capabilities" has it true). */
bool pv_cni_plugin_has_capability(const struct pv_cni_conflist *l, size_t i, const char *cap);
/* Whether the list's version passes prevResult to DEL (CNI 0.4.0 and later). */
bool pv_cni_del_takes_prev_result(const struct pv_cni_conflist *l);
/* Plugin i's stdin: its object plus the list's "name" and "cniVersion", "prevResult" (when
 * prev_result is not NULL) and "runtimeConfig" with those entries of runtime (an object
 * of capability -> value; may be NULL) that the plugin declares. */
char *pv_cni_plugin_stdin(const struct pv_cni_conflist *l, size_t i, json_t *prev_result,
			  json_t *runtime, pv_error *err);
/* One line saying why a plugin failed: "msg: details" of the CNI error on its stdout,
 * else the last line of its stderr, else its exit status. */
char *pv_cni_failure_message(const char *out, const char *errout, int status);
