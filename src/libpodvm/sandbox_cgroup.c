/* The pod's host cgroup (cgroup.h): the sandbox's VMM joins it once the VM runs, and the
 * cgroup goes once the VMM has exited. */
#include "sandbox-internal.h"
#include "cgroup.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int sandbox_join_cgroup(struct pv_sandbox *sb, const char *path, pv_error *err)
{
	if ((sb->cgroup = strdup(path)) == NULL)
		return pv_error_set(err, ENOMEM, "sandbox %s: cgroup %s", sb->id, path);
	if (pv_cgroup_join(path, sb->vm.pid, err) == 0)
		return 0;
	/* The pod does not run outside its cgroup, as runc would not start it: nothing stays. */
	pv_vm_stop(&sb->vm);
	sandbox_leave_cgroup(sb);
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
