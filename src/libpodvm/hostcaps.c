#include "hostcaps.h"
#include "cleanup.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* The module behind /dev/kvm: kvm_pvm (a software KVM for nested guests) runs only guests
 * built for it, so messages name it. */
static const char *kvm_module(void)
{
	static const char *const modules[] = { "kvm_intel", "kvm_amd", "kvm_pvm" };
	for (size_t i = 0; i < sizeof(modules) / sizeof(*modules); i++) {
		char path[64];
		snprintf(path, sizeof(path), "/sys/module/%s", modules[i]);
		if (access(path, F_OK) == 0)
			return modules[i];
	}
	return "kvm";
}

static void probe_kvm(struct pv_host_caps *c)
{
	snprintf(c->kvm_module, sizeof(c->kvm_module), "%s", kvm_module());
	_cleanup_close_ int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		snprintf(c->kvm_detail, sizeof(c->kvm_detail), "/dev/kvm: %s", strerror(errno));
		return;
	}
	int v = ioctl(fd, KVM_GET_API_VERSION, 0);
	if (v != KVM_API_VERSION) {
		snprintf(c->kvm_detail, sizeof(c->kvm_detail), "/dev/kvm (%s): API version %d, want %d", c->kvm_module, v,
			 KVM_API_VERSION);
		return;
	}
	c->kvm_device = true;
	snprintf(c->kvm_detail, sizeof(c->kvm_detail), "/dev/kvm (%s, API %d)", c->kvm_module, v);
}

static bool param_is_on(const char *path)
{
	_cleanup_free_ char *v = NULL;
	if (pv_read_file(path, 64, &v, NULL, NULL) < 0)
		return false;
	return v[0] == 'Y' || v[0] == 'y' || v[0] == '1';
}

int pv_find_executable(const char *name, char *out, size_t len)
{
	if (strchr(name, '/')) {
		snprintf(out, len, "%s", name);
		return access(out, X_OK) == 0 ? 0 : -errno;
	}
	const char *path = getenv("PATH");
	if (path == NULL)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (const char *s = path; ; ) {
		const char *e = strchrnul(s, ':');
		snprintf(out, len, "%.*s/%s", (int)(e - s), s, name);
		if (e > s && access(out, X_OK) == 0)
			return 0;
		if (*e == '\0')
			break;
		s = e + 1;
	}
	out[0] = '\0';
	return -ENOENT;
}

void pv_host_caps_probe_qemu_version(struct pv_host_caps *c)
{
	if (c->qemu_path[0] == '\0')
		return;
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "'%s' --version 2>/dev/null", c->qemu_path);
	FILE *f = popen(cmd, "r");
	if (f == NULL)
		return;
	if (fgets(c->qemu_version, sizeof(c->qemu_version), f))
		c->qemu_version[strcspn(c->qemu_version, "\n")] = '\0';
	pclose(f);
}

void pv_host_caps_probe(const char *qemu, struct pv_host_caps *c)
{
	memset(c, 0, sizeof(*c));
	probe_kvm(c);
	c->vhost_vsock = access("/dev/vhost-vsock", R_OK | W_OK) == 0;
	c->tdx = param_is_on("/sys/module/kvm_intel/parameters/tdx");
	c->sev_snp = param_is_on("/sys/module/kvm_amd/parameters/sev_snp");
	if (pv_find_executable(qemu, c->qemu_path, sizeof(c->qemu_path)) < 0)
		c->qemu_path[0] = '\0';
}
