#include "rootfs.h"
#include "cleanup.h"
#include "mount_options.h"
#include "mounts.h"
#include "pod.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

static int mount_rootfs(const char *target, Containerd__Types__Mount *m, pv_error *err)
{
	struct pv_mount_options o = { 0 };
	if (pv_mount_options_parse(m->options, m->n_options, &o) < 0)
		return pv_error_set(err, ENOMEM, "rootfs options");
	unsigned long flags = o.flags | (o.bind ? MS_BIND | (o.recursive ? MS_REC : 0) : 0);
	int r = mount(m->source, target, o.bind ? NULL : m->type, flags, o.data);
	int e = errno;
	free(o.data);
	if (r < 0)
		return pv_error_set(err, e, "mount rootfs (%s %s) on %s", m->type, m->source, target);
	return 0;
}

bool mount_has_option(json_t *m, const char *name)
{
	size_t i;
	json_t *o;
	json_array_foreach(json_object_get(m, "options"), i, o) {
		const char *s = json_string_value(o);
		if (s && strcmp(s, name) == 0)
			return true;
	}
	return false;
}

static bool is_bind(json_t *m)
{
	const char *type = json_string_value(json_object_get(m, "type"));
	return (type && strcmp(type, "bind") == 0) || mount_has_option(m, "bind") || mount_has_option(m, "rbind");
}

/* Host bind mounts reach the guest through the share: <share>/m<i>. */
static int share_binds(const char *id, const char *share_dir, json_t *spec, pv_error *err)
{
	size_t i;
	json_t *m;
	json_array_foreach(json_object_get(spec, "mounts"), i, m) {
		const char *src = json_string_value(json_object_get(m, "source"));
		if (!is_bind(m) || src == NULL || src[0] != '/')
			continue;
		_cleanup_free_ char *target = NULL, *guest = NULL;
		if (asprintf(&target, "%s/m%zu", share_dir, i) < 0 ||
		    asprintf(&guest, POD_GUEST_SHARED "/%s/m%zu", id, i) < 0)
			return pv_error_set(err, ENOMEM, "mounts");
		/* containerd writes HostToContainer as rslave. */
		bool host_to_container = mount_has_option(m, "rslave") || mount_has_option(m, "slave");
		if (pv_bind_into(src, target, host_to_container ? MS_SLAVE : MS_PRIVATE, false, err) < 0)
			return pv_error_prefix(err, "mounts[%zu]", i);
		json_object_set_new(m, "source", json_string(guest));
	}
	return 0;
}

/* Host namespace paths mean nothing in the guest. The VM is the pod's network; a pod's
 * shared ipc, uts and (shareProcessNamespace) pid namespaces are the sandbox container's in
 * the guest. */
static void map_namespaces(json_t *spec, const char *id, const char *sandbox_id)
{
	json_t *ns = json_object_get(json_object_get(spec, "linux"), "namespaces");
	for (size_t i = json_array_size(ns); i-- > 0;) {
		json_t *n = json_array_get(ns, i);
		const char *type = json_string_value(json_object_get(n, "type"));
		bool shared = json_object_get(n, "path") != NULL && strcmp(id, sandbox_id) != 0;
		if (type && (strcmp(type, "network") == 0 || strcmp(type, "user") == 0)) {
			json_array_remove(ns, i);
		} else if (shared && type && (strcmp(type, "ipc") == 0 || strcmp(type, "uts") == 0 ||
					      strcmp(type, "pid") == 0)) {
			_cleanup_free_ char *path = NULL;
			if (asprintf(&path, "podvm:container/%s", sandbox_id) >= 0)
				json_object_set_new(n, "path", json_string(path));
		} else {
			json_object_del(n, "path");
		}
	}
}

static int setup(const char *id, const char *bundle, Containerd__Types__Mount **mounts,
		 size_t n_mounts, const char *shared_dir, const char *sandbox_id, json_t *spec,
		 struct container_fs *fs, pv_error *err)
{
	_cleanup_free_ char *rootfs = NULL, *share_rootfs = NULL, *guest_root = NULL;
	if (asprintf(&rootfs, "%s/rootfs", bundle) < 0 || asprintf(&fs->share_dir, "%s/%s", shared_dir, id) < 0 ||
	    asprintf(&share_rootfs, "%s/rootfs", fs->share_dir) < 0 ||
	    asprintf(&guest_root, POD_GUEST_SHARED "/%s/rootfs", id) < 0)
		return pv_error_set(err, ENOMEM, "container %s", id);
	if (n_mounts > 1)
		return pv_error_set_plain(err, EINVAL, "container %s: %zu rootfs mounts (one is supported)", id, n_mounts);
	if (n_mounts == 1) {
		if (pv_mkdir_p(rootfs, 0711, err) < 0 || mount_rootfs(rootfs, mounts[0], err) < 0)
			return -1;
		fs->bundle_rootfs = strdup(rootfs);
	}
	if (pv_mkdir_p(fs->share_dir, 0700, err) < 0 || pv_bind_into(rootfs, share_rootfs, MS_PRIVATE, false, err) < 0)
		return -1;
	json_t *root = json_object_get(spec, "root");
	if (!json_is_object(root))
		json_object_set_new(spec, "root", root = json_object());
	json_object_set_new(root, "path", json_string(guest_root));
	map_namespaces(spec, id, sandbox_id);
	return share_binds(id, fs->share_dir, spec, err);
}

int container_fs_setup(const char *id, const char *bundle, Containerd__Types__Mount **mounts,
		       size_t n_mounts, const char *shared_dir, const char *sandbox_id, json_t *spec,
		       struct container_fs *fs, pv_error *err)
{
	memset(fs, 0, sizeof(*fs));
	if (setup(id, bundle, mounts, n_mounts, shared_dir, sandbox_id, spec, fs, err) < 0) {
		container_fs_teardown(fs);
		return -1;
	}
	return 0;
}

void container_fs_teardown_paths(const char *bundle, const char *share_dir)
{
	pv_unmount_below(share_dir);
	if (share_dir)
		(void)pv_rm_rf(share_dir, NULL);
	if (bundle) {
		_cleanup_free_ char *rootfs = NULL;
		if (asprintf(&rootfs, "%s/rootfs", bundle) >= 0)
			pv_unmount_below(rootfs);
	}
}

void container_fs_teardown(struct container_fs *fs)
{
	pv_unmount_below(fs->share_dir);
	if (fs->share_dir)
		(void)pv_rm_rf(fs->share_dir, NULL);
	pv_unmount_below(fs->bundle_rootfs);
	free(fs->share_dir);
	free(fs->bundle_rootfs);
	memset(fs, 0, sizeof(*fs));
}
