/* The podvm.agent.v1.Agent ttrpc service: request decoding and replies; the work is in
 * container.c and process.c. */
#pragma once
#include <stddef.h>
#include "ttrpc.h"

extern const struct ttrpc_method agent_methods[];
extern const size_t agent_n_methods;
