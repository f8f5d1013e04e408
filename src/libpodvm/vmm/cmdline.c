/* The guest kernel's command line: kept apart from the rest of QEMU's arguments because
 * it is measured (attest/reference.c lists every variant a non-debug VM can get). */
#include "qemu.h"

#include <errno.h>
#include <stdio.h>

int pv_vm_kernel_cmdline(const struct pv_vm_config *c, char **cmdline)
{
	/* Under TCG the TSC follows the host clock but the boot-time watchdog, starved of CPU,
	 * would demote it to jiffies (4 ms resolution): vouch for it. */
	/* numdummies=0: the built-in dummy driver (for pods that make dummy links) would
	 * otherwise add a dummy0 to every pod. */
	/* microvm has no ACPI table to announce the TPM: the guest probes tpm-tis's fixed
	 * address, and polls it (no interrupt line is wired). */
	/* The agent listens on vsock port 1024 whatever the VM's CID: the CID is no part of it. */
	if (asprintf(cmdline, "console=ttyS0 %s panic=-1 reboot=t random.trust_cpu=on dummy.numdummies=0%s%s podvm.channel=%s",
		     c->debug ? "podvm.debug=1" : "quiet", c->kvm ? "" : " tsc=reliable",
		     c->swtpm ? " tpm_tis.force=1 tpm_tis.interrupts=0" : "",
		     c->vsock_cid ? "vsock:1024" : "serial") < 0) {
		*cmdline = NULL;
		return -ENOMEM;
	}
	return 0;
}
