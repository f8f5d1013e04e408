/* Agent diagnostics on the guest console, enabled by the podvm.debug=1 kernel parameter
 * (podvm sets it when PODVM_DEBUG is in its environment). */
#pragma once
#include <stdbool.h>

extern bool agent_debug;
void agent_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define debug(...) do { if (agent_debug) agent_log(__VA_ARGS__); } while (0)
