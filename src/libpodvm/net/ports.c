#include "ports.h"
#include "cleanup.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int parse_port(const char *s, unsigned *out)
{
	unsigned long long v;
	if (pv_parse_u64(s, &v) < 0 || v == 0 || v > 65535)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

/* Splits off "/proto"; tcp when there is none. */
static int parse_protocol(char *s, struct pv_port_mapping *out)
{
	char *slash = strrchr(s, '/');
	const char *proto = "tcp";
	if (slash) {
		*slash = '\0';
		proto = slash + 1;
	}
	if (strcmp(proto, "tcp") != 0 && strcmp(proto, "udp") != 0)
		return -EINVAL;
	snprintf(out->protocol, sizeof(out->protocol), "%s", proto);
	return 0;
}

/* Splits off a leading "IP:" or "[IPv6]:"; *rest is what follows. */
static int parse_host_ip(char *s, char **rest, struct pv_port_mapping *out)
{
	char *ip = NULL;
	if (s[0] == '[') {
		char *close = strchr(s, ']');
		if (close == NULL || close[1] != ':')
			return -EINVAL;
		*close = '\0';
		ip = s + 1;
		*rest = close + 2;
	} else {
		char *first = strchr(s, ':');
		if (first == NULL || strchr(first + 1, ':') == NULL) {
			*rest = s;
			return 0;
		}
		*first = '\0';
		ip = s;
		*rest = first + 1;
	}
	unsigned char buf[sizeof(struct in6_addr)];
	if (inet_pton(strchr(ip, ':') ? AF_INET6 : AF_INET, ip, buf) != 1)
		return -EINVAL;
	snprintf(out->host_ip, sizeof(out->host_ip), "%s", ip);
	return 0;
}

int pv_port_mapping_parse(const char *spec, struct pv_port_mapping *out, pv_error *err)
{
	_cleanup_free_ char *s = strdup(spec);
	if (s == NULL)
		return pv_error_set(err, ENOMEM, "publish");
	struct pv_port_mapping m = { 0 };
	char *ports = NULL, *colon = NULL;
	int r = parse_protocol(s, &m);
	if (r == 0)
		r = parse_host_ip(s, &ports, &m);
	if (r == 0 && (colon = strchr(ports, ':')) == NULL)
		r = -EINVAL;
	if (r == 0) {
		*colon = '\0';
		r = parse_port(ports, &m.host_port) < 0 || parse_port(colon + 1, &m.container_port) < 0 ? -EINVAL : 0;
	}
	if (r < 0)
		return pv_error_set_plain(err, EINVAL, "publish \"%s\": want [IP:]HOSTPORT:CONTAINERPORT[/tcp|udp]", spec);
	*out = m;
	return 0;
}

json_t *pv_port_mappings_json(const struct pv_port_mapping *maps, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++) {
		json_t *m = json_pack("{s:i,s:i,s:s}", "hostPort", (int)maps[i].host_port,
				      "containerPort", (int)maps[i].container_port, "protocol", maps[i].protocol);
		if (m && maps[i].host_ip[0])
			json_object_set_new(m, "hostIP", json_string(maps[i].host_ip));
		if (m == NULL || json_array_append_new(a, m) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}
