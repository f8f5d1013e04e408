#include "net_record.h"
#include "cleanup.h"
#include "net/cni.h"
#include "net/netns.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *record_path(const char *dir)
{
	char *p = NULL;
	return asprintf(&p, "%s/" PV_NET_RECORD, dir) < 0 ? NULL : p;
}

int pv_net_record_write(const char *dir, const struct pv_net_record *r, pv_error *err)
{
	_cleanup_free_ char *path = record_path(dir), *text = NULL;
	json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:O?,s:O?}", "conf_dir", r->conf_dir, "network", r->network,
			      "container_id", r->container_id, "netns", r->netns, "ifname", r->ifname,
			      "runtime", r->runtime, "result", r->result);
	if (o)
		text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (path == NULL || text == NULL)
		return pv_error_set(err, ENOMEM, "network record");
	return pv_write_file(path, text, strlen(text), 0600, err);
}

void pv_net_record_remove(const char *dir)
{
	_cleanup_free_ char *path = record_path(dir);
	if (path)
		unlink(path);
}

static void take_down(json_t *rec)
{
	const char *conf_dir = json_string_value(json_object_get(rec, "conf_dir"));
	const char *network = json_string_value(json_object_get(rec, "network"));
	const char *netns = json_string_value(json_object_get(rec, "netns"));
	struct pv_cni_conflist list = { 0 };
	if (conf_dir && network && netns && pv_cni_conflist_load(conf_dir, network, &list, NULL) == 0) {
		json_t *runtime = json_object_get(rec, "runtime"), *result = json_object_get(rec, "result");
		struct pv_cni_call c = { &list, json_string_value(json_object_get(rec, "container_id")), netns,
					 json_string_value(json_object_get(rec, "ifname")), json_is_object(runtime) ? runtime : NULL };
		if (c.container_id && c.ifname)
			(void)pv_cni_del(&c, json_is_object(result) ? result : NULL, NULL);
	}
	pv_cni_conflist_clear(&list);
	if (netns)
		pv_netns_remove(netns);
}

void pv_net_record_take_down(const char *dir)
{
	_cleanup_free_ char *path = record_path(dir);
	json_t *rec = path ? json_load_file(path, 0, NULL) : NULL;
	if (rec == NULL)
		return;
	take_down(rec);
	json_decref(rec);
	unlink(path);
}
