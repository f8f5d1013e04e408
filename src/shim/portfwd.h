/* kubectl port-forward (CRI PortForward) for a podvm pod. containerd serves it by dialing
 * localhost:PORT inside the pod's network namespace on the host, where nothing listens: the
 * pod's servers run in the guest. So the shim listens there on one port of 127.0.0.1 and
 * ::1, has every other TCP port of loopback taken to it (iptables nat OUTPUT REDIRECT), learns
 * the port each connection was for (SO_ORIGINAL_DST), and carries its bytes, FIN included,
 * to that port of the guest's loopback over the agent (PortConnect, PortRead, ...). */
#pragma once
#include "error.h"
#include "ttrpc.h"

struct portfwd;

/* Starts forwarding into the pod's network namespace: a thread sets it up once the pod's
 * first container has started (portfwd_pod_started), or a few seconds after, so that its
 * iptables runs do not slow the pod's start, and serves it. */
int portfwd_start(const char *netns_path, struct ttrpc_client *agent, struct portfwd **out, pv_error *err);
void portfwd_pod_started(struct portfwd *f);
/* No new connection; the open ones end; every thread is joined. NULL is a no-op. */
void portfwd_stop(struct portfwd *f);
