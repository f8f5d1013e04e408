#include "shares.h"
#include "util.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

struct share {
	char *tag;
	int users;
	struct share *next;
};

static pthread_mutex_t shares_lock = PTHREAD_MUTEX_INITIALIZER;
static struct share *shares;

static struct share *find_locked(const char *tag)
{
	for (struct share *s = shares; s; s = s->next)
		if (strcmp(s->tag, tag) == 0)
			return s;
	return NULL;
}

static bool tag_is_safe(const char *tag)
{
	return tag[0] && tag[0] != '.' && strchr(tag, '/') == NULL && strlen(tag) < 36;
}

static int mount_share(const char *tag, const char *fstype, bool ro, pv_error *err)
{
	char target[128];
	snprintf(target, sizeof(target), SHARES_DIR "/%s", tag);
	if (pv_mkdir_p(target, 0755, err) < 0)
		return -1;
	unsigned long flags = ro ? MS_RDONLY : 0;
	int r;
	if (strcmp(fstype, "virtiofs") == 0)
		r = mount(tag, target, "virtiofs", flags, NULL);
	else  /* msize: bigger 9p messages cut round trips, which dominate under emulation */
		r = mount(tag, target, "9p", flags, "trans=virtio,version=9p2000.L,msize=524288,cache=mmap");
	if (r < 0) {
		int e = errno;
		rmdir(target);
		return pv_error_set(err, e, "mount share %s (%s)", tag, fstype);
	}
	return 0;
}

int shares_acquire(const char *tag, const char *fstype, bool readonly, pv_error *err)
{
	if (!tag_is_safe(tag))
		return pv_error_set_plain(err, EINVAL, "share tag \"%s\" is not valid", tag);
	pthread_mutex_lock(&shares_lock);
	struct share *s = find_locked(tag);
	int r = 0;
	if (s == NULL) {
		s = calloc(1, sizeof(*s));
		if (s == NULL || (s->tag = strdup(tag)) == NULL)
			r = pv_error_set(err, ENOMEM, "share %s", tag);
		else
			r = mount_share(tag, fstype[0] ? fstype : "9p", readonly, err);
		if (r < 0 && s) {
			free(s->tag);
			free(s);
			s = NULL;
		} else {
			s->next = shares;
			shares = s;
		}
	}
	if (s)
		s->users++;
	pthread_mutex_unlock(&shares_lock);
	return r;
}

void shares_release(const char *tag)
{
	pthread_mutex_lock(&shares_lock);
	struct share **pp = &shares;
	while (*pp && strcmp((*pp)->tag, tag) != 0)
		pp = &(*pp)->next;
	struct share *s = *pp;
	if (s && --s->users == 0) {
		*pp = s->next;
		char target[128];
		snprintf(target, sizeof(target), SHARES_DIR "/%s", tag);
		umount2(target, MNT_DETACH);
		rmdir(target);
		free(s->tag);
		free(s);
	}
	pthread_mutex_unlock(&shares_lock);
}
