#include "netns.h"
#include "cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <sys/mount.h>
#include <unistd.h>

struct ns_job {
	const char *path;
	int result;
	pv_error err;
};

/* unshare() moves only the calling thread: the new namespace is made in a thread of its
 * own, which pins it with the bind mount and ends. */
static void *create_thread(void *arg)
{
	struct ns_job *job = arg;
	if (unshare(CLONE_NEWNET) < 0)
		job->result = pv_error_set(&job->err, errno, "network namespace %s: unshare", job->path);
	else if (mount("/proc/thread-self/ns/net", job->path, NULL, MS_BIND, NULL) < 0)
		job->result = pv_error_set(&job->err, errno, "network namespace %s: bind mount", job->path);
	return NULL;
}

int pv_netns_create(const char *path, pv_error *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
	if (fd < 0)
		return pv_error_set(err, errno, "network namespace %s", path);
	struct ns_job job = { path, 0, NULL };
	pthread_t t;
	int r = pthread_create(&t, NULL, create_thread, &job);
	if (r != 0)
		job.result = pv_error_set(&job.err, r, "network namespace %s: thread", path);
	else
		pthread_join(t, NULL);
	if (job.result < 0) {
		unlink(path);
		if (err && *err == NULL)
			*err = steal_pointer(&job.err);
		pv_error_release(&job.err);
		return -1;
	}
	return 0;
}

void pv_netns_remove(const char *path)
{
	(void)umount2(path, MNT_DETACH);
	(void)unlink(path);
}
