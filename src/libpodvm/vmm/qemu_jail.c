/* What a jailed QEMU needs to see (qemu.h): itself and the libraries it loads, its TCG
 * module and firmware, the guest image, the VM's own files and shares, and its devices. */
#include "qemu.h"
#include "cleanup.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define QEMU_MODULE_DIR "/usr/lib/x86_64-linux-gnu/qemu"
#define QEMU_DATA_DIR "/usr/share/qemu"
/* 9p passthrough creates files as the guest's users (chown), opens theirs, keeps their
 * modes (setgid) and makes device nodes; nothing else. Not CAP_DAC_READ_SEARCH: it
 * would allow open_by_handle_at (the "shocker" escape). */
#define VMM_CAPS ((1ULL << CAP_CHOWN) | (1ULL << CAP_DAC_OVERRIDE) | (1ULL << CAP_FOWNER) | \
		  (1ULL << CAP_FSETID) | (1ULL << CAP_MKNOD))

static int add_qemu_itself(struct pv_jail *j, const char *qemu, pv_error *err)
{
	/* TCG is a module QEMU loads itself; absent in builds with TCG built in. */
	const char *modules[] = { QEMU_MODULE_DIR "/accel-tcg-x86_64.so", NULL };
	if (pv_jail_add_program(j, qemu, modules, err) < 0)
		return -1;
	return pv_jail_add(j, QEMU_MODULE_DIR, PV_JAIL_READONLY | PV_JAIL_OPTIONAL, err) < 0 ||
			       pv_jail_add(j, QEMU_DATA_DIR, PV_JAIL_READONLY | PV_JAIL_OPTIONAL, err) < 0
		       ? -1 : 0;
}

/* The guest RAM file must exist to be bound: QEMU would create it in the directory. */
static int add_mem_file(struct pv_jail *j, const char *path, pv_error *err)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return pv_error_set(err, errno, "guest RAM file %s", path);
	close(fd);
	return pv_jail_add(j, path, 0, err);
}

static int add_vm_files(struct pv_jail *j, const struct pv_vm_config *c, pv_error *err)
{
	if (pv_jail_add(j, c->kernel, PV_JAIL_READONLY, err) < 0 || pv_jail_add(j, c->initrd, PV_JAIL_READONLY, err) < 0 ||
	    pv_jail_add(j, c->state_dir, 0, err) < 0 || (c->mem_path && add_mem_file(j, c->mem_path, err) < 0) ||
	    pv_jail_add(j, "/dev/urandom", 0, err) < 0 || (c->kvm && pv_jail_add(j, "/dev/kvm", 0, err) < 0) ||
	    (c->vsock_cid && pv_jail_add(j, "/dev/vhost-vsock", 0, err) < 0))
		return -1;
	for (size_t i = 0; i < c->n_shares; i++)
		if (pv_jail_add(j, c->shares[i].host_path,
				PV_JAIL_RECURSIVE | (c->shares[i].readonly ? PV_JAIL_READONLY : 0), err) < 0)
			return -1;
	return 0;
}

int pv_vm_jail_plan(const struct pv_vm_config *c, struct pv_jail *j, pv_error *err)
{
	_cleanup_free_ char *root = NULL;
	if (asprintf(&root, "%s/root", c->state_dir) < 0)
		return pv_error_set(err, ENOMEM, "jail");
	if (pv_jail_init(j, root, err) < 0)
		return -1;
	j->uid_base = PV_JAIL_UID_BASE;
	j->keep_caps = VMM_CAPS;
	if (add_qemu_itself(j, c->qemu, err) < 0 || add_vm_files(j, c, err) < 0) {
		pv_jail_clear(j);
		return pv_error_prefix(err, "VMM jail");
	}
	return 0;
}
