/* Published ports (src/libpodvm/net/ports.c): `-p` parsing as docker writes it, and the
 * CNI portMappings value made of it. */
#include "tap.h"
#include "net/ports.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *msg_of(pv_error e)
{
	return e && e->msg ? e->msg : "(no message)";
}

static void parses(const char *spec, const char *ip, unsigned host, unsigned ctr, const char *proto)
{
	pv_error e = NULL;
	struct pv_port_mapping m;
	memset(&m, 0x55, sizeof(m));
	int r = pv_port_mapping_parse(spec, &m, &e);
	ok(r == 0 && strcmp(m.host_ip, ip) == 0 && m.host_port == host && m.container_port == ctr &&
	   strcmp(m.protocol, proto) == 0, "\"%s\" -> [%s] %u:%u/%s %s", spec, ip, host, ctr, proto, e ? msg_of(e) : "");
	pv_error_release(&e);
}

static void rejects(const char *spec)
{
	pv_error e = NULL;
	struct pv_port_mapping m = { .host_port = 7 };
	int r = pv_port_mapping_parse(spec, &m, &e);
	ok(r == -EINVAL && m.host_port == 7 && e && strstr(msg_of(e), spec) && strstr(msg_of(e), "HOSTPORT:CONTAINERPORT"),
	   "\"%s\" rejected: %s", spec, msg_of(e));
	pv_error_release(&e);
}

static void test_parse(void)
{
	parses("8080:80", "", 8080, 80, "tcp");
	parses("8080:80/tcp", "", 8080, 80, "tcp");
	parses("53:5353/udp", "", 53, 5353, "udp");
	parses("1:65535", "", 1, 65535, "tcp");
	parses("127.0.0.1:8080:80", "127.0.0.1", 8080, 80, "tcp");
	parses("192.0.2.7:9000:9000/udp", "192.0.2.7", 9000, 9000, "udp");
	parses("[::1]:8080:80", "::1", 8080, 80, "tcp");
	parses("[fd00::5]:443:8443/tcp", "fd00::5", 443, 8443, "tcp");

	rejects("");
	rejects("80");
	rejects("8080:");
	rejects(":80");
	rejects("0:80");
	rejects("8080:0");
	rejects("65536:80");
	rejects("8080:80/sctp");
	rejects("8080:80/");
	rejects("80a:80");
	rejects("-1:80");
	rejects("999.1.1.1:80:80");
	rejects("host:80:80");
	rejects("[::1:80:80");
	rejects("[::1]80:80");
	rejects("[nope]:80:80");
	rejects("1.2.3.4:5:6:7");
}

static void test_json(void)
{
	struct pv_port_mapping m[2];
	pv_port_mapping_parse("8080:80", &m[0], NULL);
	pv_port_mapping_parse("127.0.0.1:53:53/udp", &m[1], NULL);
	json_t *j = pv_port_mappings_json(m, 2);
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	ok(s && strcmp(s, "[{\"containerPort\":80,\"hostPort\":8080,\"protocol\":\"tcp\"},"
		       "{\"containerPort\":53,\"hostIP\":\"127.0.0.1\",\"hostPort\":53,\"protocol\":\"udp\"}]") == 0,
	   "portMappings JSON: %s", s ? s : "(null)");
	free(s);
	json_decref(j);
	j = pv_port_mappings_json(NULL, 0);
	ok(json_is_array(j) && json_array_size(j) == 0, "no ports: an empty list");
	json_decref(j);
}

int main(void)
{
	test_parse();
	test_json();
	return done_testing();
}
