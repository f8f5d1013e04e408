/* A VM booted cold: the guest kernel from its first instruction. The slowest way, and where
 * the others fall back to. */
#include "sandbox-internal.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

/* vhost-vsock where the host has it (PODVM_CHANNEL=serial says no), else virtio-serial. */
static unsigned pick_vsock_cid(const struct pv_host_caps *caps)
{
	const char *forced = getenv("PODVM_CHANNEL");
	if (!caps->vhost_vsock || (forced && strcmp(forced, "serial") == 0))
		return 0;
	unsigned cid = 0;
	char hex[9];
	if (pv_random_hex(hex, 4) == 0)
		cid = (unsigned)strtoul(hex, NULL, 16);
	return 3 + cid % 0x7ffffff0u;  /* CIDs 0-2 are reserved */
}

static int start_cold(struct pv_sandbox *sb, const struct boot_request *req, pv_error *err)
{
	struct sandbox_vm_variant v = { .cid = pick_vsock_cid(&req->host->caps) };
	return sandbox_boot_vm(sb, req, &v, sandbox_boot_timeout(req->cfg, 0), err) < 0 ? -1 : 1;
}

const struct vm_source sandbox_source_cold = { .how = "booted cold", .new_tap = true, .start = start_cold };
