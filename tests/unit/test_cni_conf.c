/* CNI network configs (src/libpodvm/net/cni_conf.c), read as libcni reads them: config
 * directory choice, `.conflist` before `.conf`/`.json` and lexical order, single-plugin
 * files, malformed files; each plugin's stdin (name, cniVersion, prevResult, runtimeConfig
 * for declared capabilities only); one-line messages of failed plugins, and what a
 * plugin's run comes to (cni.c's pv_cni_plugin_result). Config dirs are written in a
 * mkdtemp directory. */
#include "tap.h"
#include "net/cni.h"
#include "net/cni_conf.h"
#include "cleanup.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char tmp[] = "/tmp/podvm-test-cni-XXXXXX";

static const char *msg_of(pv_error e)
{
	return e && e->msg ? e->msg : "(no message)";
}

static void put(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", tmp, dir);
	pv_mkdir_p(path, 0755, NULL);
	snprintf(path, sizeof(path), "%s/%s/%s", tmp, dir, name);
	if (pv_write_file(path, text, strlen(text), 0644, NULL) < 0)
		diag("cannot write %s", path);
}

static char *dir_of(const char *dir)
{
	char *p = NULL;
	return asprintf(&p, "%s/%s", tmp, dir) < 0 ? NULL : p;
}

static void test_conf_dir(void)
{
	unsetenv("CNI_CONF_DIR");
	unsetenv("NETCONFPATH");
	ok(strcmp(pv_cni_conf_dir(NULL), "/etc/cni/net.d") == 0, "conf dir: the default");
	setenv("NETCONFPATH", "/from/netconfpath", 1);
	ok(strcmp(pv_cni_conf_dir(NULL), "/from/netconfpath") == 0, "conf dir: $NETCONFPATH");
	setenv("CNI_CONF_DIR", "/from/cni_conf_dir", 1);
	ok(strcmp(pv_cni_conf_dir(NULL), "/from/cni_conf_dir") == 0, "conf dir: $CNI_CONF_DIR before $NETCONFPATH");
	ok(strcmp(pv_cni_conf_dir("/explicit"), "/explicit") == 0, "conf dir: an explicit one before both");
	ok(strcmp(pv_cni_conf_dir(""), "/from/cni_conf_dir") == 0, "conf dir: an empty explicit one counts as none");
	unsetenv("CNI_CONF_DIR");
	unsetenv("NETCONFPATH");
}

#define LIST(name, type) "{\"cniVersion\":\"1.0.0\",\"name\":\"" name "\",\"plugins\":[{\"type\":\"" type "\"}]}"

static void loads(const char *dir, const char *name, const char *want_file, const char *want_type, size_t want_n)
{
	_cleanup_free_ char *d = dir_of(dir);
	pv_error e = NULL;
	struct pv_cni_conflist l = { 0 };
	int r = pv_cni_conflist_load(d, name, &l, &e);
	const char *base = l.file ? strrchr(l.file, '/') + 1 : "";
	ok(r == 0 && strcmp(l.name, name) == 0 && strcmp(base, want_file) == 0 && pv_cni_plugin_count(&l) == want_n &&
	   strcmp(pv_cni_plugin_type(&l, 0), want_type) == 0,
	   "load %s: from %s, first plugin %s %s", name, want_file, want_type, e ? msg_of(e) : base);
	pv_cni_conflist_clear(&l);
	pv_error_release(&e);
}

static void load_fails(const char *dir, const char *name, int want_errno, const char *want_msg)
{
	_cleanup_free_ char *d = dir_of(dir);
	pv_error e = NULL;
	struct pv_cni_conflist l = { 0 };
	int r = pv_cni_conflist_load(d, name, &l, &e);
	ok(r < 0 && e && e->errnum == want_errno && strstr(msg_of(e), want_msg) && l.name == NULL,
	   "load %s in %s fails: %s", name, dir, msg_of(e));
	pv_error_release(&e);
}

static void test_load(void)
{
	put("d", "10-a.conflist", LIST("a", "bridge"));
	put("d", "30-a-again.conflist", LIST("a", "macvlan"));
	put("d", "01-a.conf", "{\"cniVersion\":\"0.4.0\",\"name\":\"a\",\"type\":\"ptp\"}");
	put("d", "20-b.conflist", "{\"cniVersion\":\"1.0.0\",\"name\":\"b\",\"plugins\":[{\"type\":\"bridge\"},{\"type\":\"portmap\"}]}");
	put("d", "05-c.conf", "{\"cniVersion\":\"0.3.1\",\"name\":\"c\",\"type\":\"ptp\",\"ipam\":{}}");
	put("d", "06-d.json", "{\"cniVersion\":\"0.3.1\",\"name\":\"d\",\"type\":\"ipvlan\"}");
	put("d", "README", "not a config");
	put("d", ".hidden.conflist", LIST("hidden", "bridge"));
	loads("d", "a", "10-a.conflist", "bridge", 1);
	loads("d", "b", "20-b.conflist", "bridge", 2);
	loads("d", "c", "05-c.conf", "ptp", 1);
	loads("d", "d", "06-d.json", "ipvlan", 1);
	load_fails("d", "hidden", ENOENT, "not found in");
	load_fails("d", "nope", ENOENT, "not found in /tmp/");
	load_fails("missing-dir", "a", ENOENT, "CNI config directory");

	_cleanup_free_ char *d = dir_of("d");
	struct pv_cni_conflist l = { 0 };
	pv_cni_conflist_load(d, "c", &l, NULL);
	ok(l.cni_version && strcmp(l.cni_version, "0.3.1") == 0, "a single-plugin file: its cniVersion is the list's");
	pv_cni_conflist_clear(&l);

	put("bad", "10-broken.conflist", "{\n  \"name\": \"x\",\n  \"plugins\": [,]\n}");
	load_fails("bad", "x", EINVAL, "10-broken.conflist: invalid JSON at line 3");
	put("noplugins", "10-x.conflist", "{\"name\":\"x\",\"plugins\":[]}");
	load_fails("noplugins", "x", EINVAL, "10-x.conflist: no \"plugins\" list");
	put("notype", "10-x.conflist", "{\"name\":\"x\",\"plugins\":[{\"type\":\"bridge\"},{\"ipam\":{}}]}");
	load_fails("notype", "x", EINVAL, "10-x.conflist: plugin 2: no valid \"type\"");
	put("slash", "10-x.conflist", "{\"name\":\"x\",\"plugins\":[{\"type\":\"../../bin/sh\"}]}");
	load_fails("slash", "x", EINVAL, "plugin 1: no valid \"type\"");
	put("noname", "10-x.conflist", "{\"plugins\":[{\"type\":\"bridge\"}]}");
	load_fails("noname", "x", EINVAL, "10-x.conflist: no \"name\"");
}

static struct pv_cni_conflist parsed(const char *text)
{
	struct pv_cni_conflist l = { 0 };
	pv_error e = NULL;
	if (pv_cni_conflist_parse("test.conflist", text, false, &l, &e) < 0)
		diag("parse: %s", msg_of(e));
	pv_error_release(&e);
	return l;
}

static void stdin_is(struct pv_cni_conflist *l, size_t i, json_t *prev, json_t *rt, const char *want)
{
	pv_error e = NULL;
	char *s = pv_cni_plugin_stdin(l, i, prev, rt, &e);
	json_t *j = s ? json_loads(s, 0, NULL) : NULL;
	char *sorted = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	ok(sorted && strcmp(sorted, want) == 0, "stdin of plugin %zu: %s", i, sorted ? sorted : msg_of(e));
	free(sorted);
	json_decref(j);
	free(s);
	pv_error_release(&e);
}

static void test_plugin_stdin(void)
{
	struct pv_cni_conflist l = parsed("{\"cniVersion\":\"1.0.0\",\"name\":\"net1\",\"plugins\":["
		"{\"type\":\"bridge\",\"bridge\":\"br9\",\"name\":\"ignored\"},"
		"{\"type\":\"portmap\",\"capabilities\":{\"portMappings\":true,\"bandwidth\":false}},"
		"{\"type\":\"bandwidth\",\"capabilities\":{\"bandwidth\":true}}]}");
	json_t *prev = json_pack("{s:s,s:[{s:s}]}", "cniVersion", "1.0.0", "ips", "address", "10.1.0.2/24");
	json_t *rt = json_pack("{s:[{s:i,s:i,s:s}]}", "portMappings", "hostPort", 8080, "containerPort", 80, "protocol", "tcp");
	stdin_is(&l, 0, NULL, rt, "{\"bridge\":\"br9\",\"cniVersion\":\"1.0.0\",\"name\":\"net1\",\"type\":\"bridge\"}");
	stdin_is(&l, 1, prev, rt, "{\"capabilities\":{\"bandwidth\":false,\"portMappings\":true},\"cniVersion\":\"1.0.0\","
		 "\"name\":\"net1\",\"prevResult\":{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.1.0.2/24\"}]},"
		 "\"runtimeConfig\":{\"portMappings\":[{\"containerPort\":80,\"hostPort\":8080,\"protocol\":\"tcp\"}]},"
		 "\"type\":\"portmap\"}");
	stdin_is(&l, 1, NULL, NULL, "{\"capabilities\":{\"bandwidth\":false,\"portMappings\":true},\"cniVersion\":\"1.0.0\","
		 "\"name\":\"net1\",\"type\":\"portmap\"}");
	stdin_is(&l, 2, NULL, rt, "{\"capabilities\":{\"bandwidth\":true},\"cniVersion\":\"1.0.0\",\"name\":\"net1\",\"type\":\"bandwidth\"}");
	char *again = json_dumps(json_array_get(l.plugins, 0), JSON_COMPACT | JSON_SORT_KEYS);
	ok(again && strcmp(again, "{\"bridge\":\"br9\",\"name\":\"ignored\",\"type\":\"bridge\"}") == 0,
	   "the list itself is left as it was: %s", again ? again : "");
	free(again);
	ok(pv_cni_plugin_has_capability(&l, 1, "portMappings") && !pv_cni_plugin_has_capability(&l, 1, "bandwidth") &&
	   !pv_cni_plugin_has_capability(&l, 0, "portMappings"), "capabilities: only those declared true");
	json_decref(prev);
	json_decref(rt);
	pv_cni_conflist_clear(&l);
}

static void test_versions(void)
{
	const char *yes[] = { "1.0.0", "0.4.0", "1.1.0" }, *no[] = { "0.3.1", "0.3.0", "0.2.0", "" };
	for (size_t i = 0; i < sizeof(yes) / sizeof(*yes); i++) {
		struct pv_cni_conflist l = { .cni_version = (char *)yes[i] };
		ok(pv_cni_del_takes_prev_result(&l), "DEL gets prevResult at cniVersion %s", yes[i]);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(*no); i++) {
		struct pv_cni_conflist l = { .cni_version = (char *)no[i] };
		ok(!pv_cni_del_takes_prev_result(&l), "DEL gets no prevResult at cniVersion \"%s\"", no[i]);
	}
}

static void failure_is(const char *out, const char *errout, int status, const char *want)
{
	char *m = pv_cni_failure_message(out, errout, status);
	ok(m && strcmp(m, want) == 0, "failure message: [%s]", m ? m : "(null)");
	free(m);
}

static void test_failure_message(void)
{
	failure_is("{\"cniVersion\":\"1.0.0\",\"code\":11,\"msg\":\"failed to allocate\",\"details\":\"range is full\"}",
		   "", 1, "failed to allocate: range is full");
	failure_is("{\"code\":7,\"msg\":\"bad config\"}", "noise\n", 1, "bad config");
	failure_is("{\"code\":7,\"msg\":\"line one\\nline two\\n\"}", "", 1, "line one line two");
	failure_is("not json", "first\npanic: boom\n\n", 2, "panic: boom");
	failure_is("", "", 3, "exited with status 3");
	failure_is(NULL, NULL, 137, "exited with status 137");
}

static void test_plugin_result(void)
{
	json_t *result = NULL;
	pv_error err = NULL;
	int r = pv_cni_plugin_result("bridge", "ADD", 0, "{\"cniVersion\": \"1.0.0\", \"ips\": []}", "", &result, &err);
	ok(r == 0 && json_is_object(result), "plugin result: stdout parsed (%s)", msg_of(err));
	json_decref(result);
	result = NULL;
	r = pv_cni_plugin_result("bridge", "ADD", 0, "not json", "", &result, &err);
	ok(r < 0 && err && err->errnum == EPROTO && result == NULL && strstr(msg_of(err), "plugin bridge: result is not JSON"),
	   "plugin result: stdout that is not JSON: EPROTO (%s)", msg_of(err));
	pv_error_release(&err);
	ok(pv_cni_plugin_result("bridge", "DEL", 0, "", "", NULL, &err) == 0, "plugin result: DEL wants no result");
	r = pv_cni_plugin_result("bridge", "DEL", 1, "{\"code\": 7, \"msg\": \"busy\"}", "", NULL, &err);
	ok(r < 0 && err && err->errnum == EIO && strcmp(msg_of(err), "plugin bridge: DEL: busy") == 0,
	   "plugin result: a failure names the plugin and the command (%s)", msg_of(err));
	pv_error_release(&err);
}

int main(void)
{
	if (mkdtemp(tmp) == NULL) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	test_conf_dir();
	test_load();
	test_plugin_stdin();
	test_versions();
	test_failure_message();
	test_plugin_result();
	pv_rm_rf(tmp, NULL);
	return done_testing();
}
