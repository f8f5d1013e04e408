/* The pod's host cgroup (cgroup.h): the sandbox's VMM joins it once the VM runs, and the
 * cgroup goes once the VMM has exited. */
#include "sandbox-internal.h"
#include "cgroup.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct cgroup_join {
	pthread_t thread;
	const char *path;  /* sb->cgroup */
	pid_t pid;
	pv_error err;
};

static void *join_main(void *arg)
{
	struct cgroup_join *j = arg;
	(void)pv_cgroup_join(j->path, j->pid, &j->err);
	return NULL;
}

int sandbox_join_cgroup_begin(struct pv_sandbox *sb, const char *path, pv_error *err)
{
	struct cgroup_join *j = calloc(1, sizeof(*j));
	if (j == NULL || (sb->cgroup = strdup(path)) == NULL) {
		free(j);
		return pv_error_set(err, ENOMEM, "sandbox %s: cgroup %s", sb->id, path);
	}
	j->path = sb->cgroup;
	j->pid = sb->vm.pid;
	int e = pthread_create(&j->thread, NULL, join_main, j);
	if (e != 0) {
		free(j);
		pv_vm_stop(&sb->vm);
		sandbox_leave_cgroup(sb);
		return pv_error_set(err, e, "sandbox %s: cgroup %s", sb->id, path);
	}
	sb->joining = j;
	return 0;
}

int sandbox_join_cgroup_end(struct pv_sandbox *sb, pv_error *err)
{
	struct cgroup_join *j = sb->joining;
	if (j == NULL)
		return 0;
	sb->joining = NULL;
	pthread_join(j->thread, NULL);
	pv_error join_err = j->err;
	free(j);
	if (join_err == NULL)
		return 0;
	/* The pod does not run outside its cgroup, as runc would not start it: nothing stays. */
	pv_vm_stop(&sb->vm);
	sandbox_leave_cgroup(sb);
	if (*err) {  /* the boot failed already: its error is the one to report */
		pv_error_release(&join_err);
		return -1;
	}
	*err = join_err;
	return pv_error_prefix(err, "sandbox %s", sb->id);
}

void sandbox_leave_cgroup(struct pv_sandbox *sb)
{
	if (sb->cgroup == NULL)
		return;
	pv_cgroup_remove(sb->cgroup);
	free(sb->cgroup);
	sb->cgroup = NULL;
}
