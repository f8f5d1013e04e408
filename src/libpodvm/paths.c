#include "paths.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static char *env_or(const char *name, const char *dflt)
{
	const char *v = getenv(name);
	return strdup(v && *v ? v : dflt);
}

int pv_paths_init(struct pv_paths *p, pv_error *err)
{
	p->state_root = env_or("PODVM_STATE_DIR", PV_DEFAULT_STATE_ROOT);
	p->data_root = env_or("PODVM_DATA_DIR", PV_DEFAULT_DATA_ROOT);
	p->guest_dir = env_or("PODVM_GUEST_DIR", PV_DEFAULT_GUEST_DIR);
	p->qemu = env_or("PODVM_QEMU", PV_DEFAULT_QEMU);
	if (!p->state_root || !p->data_root || !p->guest_dir || !p->qemu) {
		pv_paths_clear(p);
		return pv_error_set(err, ENOMEM, "paths");
	}
	return 0;
}

void pv_paths_clear(struct pv_paths *p)
{
	free(p->state_root);
	free(p->data_root);
	free(p->guest_dir);
	free(p->qemu);
	memset(p, 0, sizeof(*p));
}
