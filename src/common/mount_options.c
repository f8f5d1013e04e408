#include "mount_options.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

struct mount_flag {
	const char *name;
	bool clear;
	unsigned long flag;
};

static const struct mount_flag mount_flags[] = {
	{ "ro", false, MS_RDONLY }, { "rw", true, MS_RDONLY },
	{ "nosuid", false, MS_NOSUID }, { "suid", true, MS_NOSUID },
	{ "nodev", false, MS_NODEV }, { "dev", true, MS_NODEV },
	{ "noexec", false, MS_NOEXEC }, { "exec", true, MS_NOEXEC },
	{ "sync", false, MS_SYNCHRONOUS }, { "async", true, MS_SYNCHRONOUS },
	{ "noatime", false, MS_NOATIME }, { "atime", true, MS_NOATIME },
	{ "nodiratime", false, MS_NODIRATIME }, { "relatime", false, MS_RELATIME },
	{ "norelatime", true, MS_RELATIME }, { "strictatime", false, MS_STRICTATIME },
	{ "dirsync", false, MS_DIRSYNC }, { "mand", false, MS_MANDLOCK },
	{ "nomand", true, MS_MANDLOCK },
};

static const struct mount_flag propagation_flags[] = {
	{ "private", false, MS_PRIVATE }, { "rprivate", false, MS_PRIVATE | MS_REC },
	{ "shared", false, MS_SHARED }, { "rshared", false, MS_SHARED | MS_REC },
	{ "slave", false, MS_SLAVE }, { "rslave", false, MS_SLAVE | MS_REC },
	{ "unbindable", false, MS_UNBINDABLE }, { "runbindable", false, MS_UNBINDABLE | MS_REC },
};

static const struct mount_flag *find_flag(const struct mount_flag *t, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(t[i].name, name) == 0)
			return &t[i];
	return NULL;
}

static int append_data(char **data, const char *opt)
{
	char *nd = NULL;
	if (asprintf(&nd, "%s%s%s", *data ? *data : "", *data ? "," : "", opt) < 0)
		return -ENOMEM;
	free(*data);
	*data = nd;
	return 0;
}

int pv_mount_options_parse(char *const *opts, size_t n, struct pv_mount_options *o)
{
	const size_t nflags = sizeof(mount_flags) / sizeof(*mount_flags);
	const size_t nprop = sizeof(propagation_flags) / sizeof(*propagation_flags);
	for (size_t i = 0; i < n; i++) {
		const struct mount_flag *f;
		if (strcmp(opts[i], "bind") == 0 || strcmp(opts[i], "rbind") == 0) {
			o->bind = true;
			o->recursive = opts[i][0] == 'r';
		} else if ((f = find_flag(mount_flags, nflags, opts[i])) != NULL) {
			o->flags = f->clear ? o->flags & ~f->flag : o->flags | f->flag;
		} else if ((f = find_flag(propagation_flags, nprop, opts[i])) != NULL) {
			o->propagation = f->flag;
		} else if (append_data(&o->data, opts[i]) < 0) {
			return -ENOMEM;
		}
	}
	return 0;
}
