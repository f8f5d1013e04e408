/* Published ports (`-p`), as docker writes them, turned into the CNI `portMappings`
 * capability that the portmap plugin implements on the host. */
#pragma once
#include <arpa/inet.h>
#include <jansson.h>
#include <stddef.h>
#include "error.h"

struct pv_port_mapping {
	char host_ip[INET6_ADDRSTRLEN];  /* "" for every address of the host */
	unsigned host_port;
	unsigned container_port;
	char protocol[4];                /* "tcp" or "udp" */
};

/* "HOSTPORT:CTRPORT[/tcp|udp]" or "IP:HOSTPORT:CTRPORT[/...]" ("[IPv6]:..." for IPv6). */
int pv_port_mapping_parse(const char *spec, struct pv_port_mapping *out, pv_error *err);
/* The CNI runtimeConfig value: [{"hostPort","containerPort","protocol"[,"hostIP"]}, ...]. */
json_t *pv_port_mappings_json(const struct pv_port_mapping *maps, size_t n);
