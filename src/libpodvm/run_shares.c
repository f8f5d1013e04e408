#include "run_shares.h"
#include "cleanup.h"
#include "mounts.h"
#include "util.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#define GUEST_SHARES "/run/podvm/shares"
#define SHARED_TAG "shared"
#define ROOTFS_TAG "rootfs"

/* An own share exports directories: a file volume exports its parent and binds the file. */
static int plan_own_share(struct run_volume *rv, size_t i, bool is_dir, pv_error *err)
{
	_cleanup_free_ char *dir = strdup(rv->host_path), *base = strdup(rv->host_path);
	if (dir == NULL || base == NULL)
		return pv_error_set(err, ENOMEM, "volume");
	snprintf(rv->tag, sizeof(rv->tag), "vol%zu", i);
	rv->export_dir = strdup(is_dir ? rv->host_path : dirname(dir));
	int n = is_dir ? asprintf(&rv->guest_source, GUEST_SHARES "/%s", rv->tag)
		       : asprintf(&rv->guest_source, GUEST_SHARES "/%s/%s", rv->tag, basename(base));
	if (rv->export_dir == NULL || n < 0) {
		rv->guest_source = NULL;
		return pv_error_set(err, ENOMEM, "volume");
	}
	return 0;
}

static int plan_volume(const struct run_shares *s, const struct pv_volume *v, size_t i,
		       struct run_volume *rv, pv_error *err)
{
	if (v->container == NULL || v->container[0] != '/')
		return pv_error_set_plain(err, EINVAL, "volume %s: container path must be absolute", v->host);
	struct stat st;
	rv->host_path = realpath(v->host, NULL);
	if (rv->host_path == NULL || stat(rv->host_path, &st) < 0)
		return pv_error_set(err, errno, "volume %s", v->host);
	rv->destination = v->container;
	rv->readonly = v->readonly;
	if (!s->attach)
		return plan_own_share(rv, i, S_ISDIR(st.st_mode), err);
	if (asprintf(&rv->guest_source, GUEST_SHARES "/" SHARED_TAG "/v%zu", i) < 0) {
		rv->guest_source = NULL;
		return pv_error_set(err, ENOMEM, "volume");
	}
	return 0;
}

int run_shares_init(struct run_shares *s, const char *data_dir, const struct pv_volume *v, size_t n,
		    pv_error *err)
{
	memset(s, 0, sizeof(*s));
	s->attach = geteuid() == 0;
	if (s->attach && ((s->data_dir = strdup(data_dir)) == NULL ||
			  asprintf(&s->shared_dir, "%s/" SHARED_TAG, data_dir) < 0)) {
		s->shared_dir = NULL;
		return pv_error_set(err, ENOMEM, "shares");
	}
	if ((s->vols = calloc(n + 1, sizeof(*s->vols))) == NULL)
		return pv_error_set(err, ENOMEM, "volumes");
	for (size_t i = 0; i < n; i++) {
		s->n_vols = i + 1;
		if (plan_volume(s, &v[i], i, &s->vols[i], err) < 0)
			return -1;
	}
	return 0;
}

const char *run_shares_guest_root(const struct run_shares *s)
{
	return s->attach ? GUEST_SHARES "/" SHARED_TAG "/rootfs" : GUEST_SHARES "/" ROOTFS_TAG;
}

int run_shares_add(struct run_shares *s, struct pv_sandbox *sb, const char *rootfs, pv_error *err)
{
	if (s->attach)
		return pv_mkdir_p(s->shared_dir, 0700, err) < 0 ? -1 :
		       pv_sandbox_add_share(sb, SHARED_TAG, s->shared_dir, false, err);
	if (pv_sandbox_add_share(sb, ROOTFS_TAG, rootfs, false, err) < 0)
		return -1;
	for (size_t i = 0; i < s->n_vols; i++)
		if (pv_sandbox_add_share(sb, s->vols[i].tag, s->vols[i].export_dir, s->vols[i].readonly, err) < 0)
			return -1;
	return 0;
}

int run_shares_for_agent(const struct run_shares *s, struct pv_agent_share **out, size_t *n, pv_error *err)
{
	struct pv_agent_share *sh = calloc(s->n_vols + 1, sizeof(*sh));
	if (sh == NULL)
		return pv_error_set(err, ENOMEM, "shares");
	sh[0] = (struct pv_agent_share){ s->attach ? SHARED_TAG : ROOTFS_TAG, "9p", false };
	*n = 1;
	for (size_t i = 0; !s->attach && i < s->n_vols; i++)
		sh[(*n)++] = (struct pv_agent_share){ s->vols[i].tag, "9p", s->vols[i].readonly };
	*out = sh;
	return 0;
}

static int attach_rootfs(struct run_shares *s, const char *rootfs, bool overlay, const char *target, pv_error *err)
{
	if (!overlay)
		return pv_bind_into(rootfs, target, MS_PRIVATE, false, err);
	_cleanup_free_ char *upper = NULL, *work = NULL;
	if (asprintf(&upper, "%s/upper", s->data_dir) < 0 || asprintf(&work, "%s/work", s->data_dir) < 0)
		return pv_error_set(err, ENOMEM, "shares");
	return pv_mount_overlay(rootfs, upper, work, target, err);
}

int run_shares_attach(struct run_shares *s, const char *rootfs, bool overlay, pv_error *err)
{
	if (!s->attach)
		return 0;
	_cleanup_free_ char *target = NULL;
	if (asprintf(&target, "%s/rootfs", s->shared_dir) < 0)
		return pv_error_set(err, ENOMEM, "shares");
	s->attached = true;
	if (attach_rootfs(s, rootfs, overlay, target, err) < 0)
		return pv_error_prefix(err, "rootfs");
	for (size_t i = 0; i < s->n_vols; i++) {
		free(target);
		if (asprintf(&target, "%s/v%zu", s->shared_dir, i) < 0)
			return pv_error_set(err, ENOMEM, "shares");
		if (pv_bind_into(s->vols[i].host_path, target, MS_PRIVATE, s->vols[i].readonly, err) < 0)
			return pv_error_prefix(err, "volume %s", s->vols[i].host_path);
	}
	return 0;
}

void run_shares_detach(struct run_shares *s)
{
	if (s->attached)
		pv_unmount_below(s->shared_dir);
	s->attached = false;
}

void run_shares_clear(struct run_shares *s)
{
	run_shares_detach(s);
	for (size_t i = 0; i < s->n_vols; i++) {
		free(s->vols[i].host_path);
		free(s->vols[i].export_dir);
		free(s->vols[i].guest_source);
	}
	free(s->vols);
	free(s->data_dir);
	free(s->shared_dir);
	memset(s, 0, sizeof(*s));
}
