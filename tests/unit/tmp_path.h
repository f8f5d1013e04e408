/* A test's temporary directory (tmp, made by the test) and paths in it: at("a/b") returns
 * "<tmp>/a/b" in one of four rotating buffers (so a call may name up to four at once). */
#pragma once
#include <stdio.h>

static char tmp[64];

static inline const char *at(const char *rel)
{
	static char buf[4][256];
	static int i;
	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", tmp, rel);
	return buf[i];
}
