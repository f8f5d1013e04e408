#include "owner.h"
#include "cleanup.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int process_identity(pid_t pid, char *out, size_t len)
{
	unsigned long long start;
	int r = pv_process_starttime(pid, &start);
	if (r < 0)
		return r;
	snprintf(out, len, "%d %llu", (int)pid, start);
	return 0;
}

int pv_owner_write(const char *dir, pv_error *err)
{
	char id[64];
	_cleanup_free_ char *path = NULL;
	int r = process_identity(getpid(), id, sizeof(id));
	if (r < 0)
		return pv_error_set(err, -r, "identify this process");
	if (asprintf(&path, "%s/owner", dir) < 0)
		return pv_error_set(err, ENOMEM, "owner");
	return pv_write_file(path, id, strlen(id), 0600, err);
}

bool pv_owner_alive(const char *dir)
{
	char now[64];
	_cleanup_free_ char *owner = NULL, *path = NULL;
	if (asprintf(&path, "%s/owner", dir) < 0)
		return true;
	if (pv_read_file(path, 64, &owner, NULL, NULL) < 0)
		return true;
	int pid = atoi(owner);
	return pid > 0 && process_identity(pid, now, sizeof(now)) == 0 && strcmp(now, owner) == 0;
}
