#include "log.h"

#include <stdarg.h>
#include <stdio.h>

bool agent_debug;

void agent_log(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "podvm-agent: %s\n", buf);
}
