/* The agent's end of the host channel: a virtio-serial port named podvm.agent, or an
 * AF_VSOCK listener where the host has vhost-vsock. Chosen by the podvm.channel= kernel
 * parameter ("serial", or "vsock:PORT"). */
#pragma once
#include "error.h"
#include "ttrpc.h"

#define AGENT_PORT_NAME "podvm.agent"

/* Serves the agent API on the channel until the VM ends; returns only on error. */
int channel_serve(struct ttrpc_server *srv, const char *spec, pv_error *err);
