/* Warming a pooled VM up before it waits in the pool. Under TCG a guest runs every code path
 * slowly the first time (QEMU translates it), and a restored VM has translated nothing: its
 * first container takes ~120 ms to create instead of ~20. So a pool VM runs one throwaway
 * container through the path a pod's takes (identity, 9p share, namespaces, exec, wait,
 * remove) before it is paused, and a VM with a NIC configures a pod network (the identity
 * step's share of a pod start, ~25 ms cold) and undoes it. The program is the guest's own agent (`podvm-agent --version`),
 * taken from the initramfs: nothing from the host's filesystem reaches the guest. */
#include "sandbox-internal.h"
#include "sandbox.h"
#include "attest/verifier.h"
#include "agent_client.h"
#include "cleanup.h"
#include "spec_build.h"
#include "template.h"
#include "util.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define WARM_DIR ".podvm-warmup"
#define WARM_ID "podvm-warmup"
#define REHEARSAL_MAC "02:70:76:00:00:02"

/* A pod network of CNI's bridge plugin's shape (an address, MTU 1500, a default route via
 * the gateway), on TEST-NET-1 (RFC 5737): the rehearsal's, undone before the pod's. */
static char rehearsal_address[] = "192.0.2.2/24", rehearsal_gateway[] = "192.0.2.1", no_destination[] = "";
static char *rehearsal_addresses[] = { rehearsal_address, NULL };
static struct pv_net_route rehearsal_route = { .destination = no_destination, .gateway = rehearsal_gateway };
static const struct pv_pod_net rehearsal_net = {
	.mac = REHEARSAL_MAC, .mtu = 1500, .addresses = rehearsal_addresses, .routes = &rehearsal_route,
	.n_routes = 1, .tap_fd = -1,
};

static int write_entry(struct archive *a, const char *dest, pv_error *err)
{
	_cleanup_close_ int fd = open(dest, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	if (fd < 0)
		return pv_error_set(err, errno, "create %s", dest);
	const void *buf;
	size_t len;
	la_int64_t off;
	int r;
	while ((r = archive_read_data_block(a, &buf, &len, &off)) == ARCHIVE_OK)
		if (pwrite(fd, buf, len, off) != (ssize_t)len)
			return pv_error_set(err, errno, "write %s", dest);
	return r == ARCHIVE_EOF ? 0 : pv_error_set_plain(err, EIO, "read initramfs: %s", archive_error_string(a));
}

/* The initramfs's /init (the agent) copied to dest. */
static int extract_agent(const char *initrd, const char *dest, pv_error *err)
{
	struct archive *a = archive_read_new();
	if (a == NULL)
		return pv_error_set(err, ENOMEM, "archive");
	archive_read_support_filter_all(a);
	archive_read_support_format_cpio(a);
	int r = pv_error_set_plain(err, ENOENT, "initramfs %s: no /init", initrd);
	struct archive_entry *e;
	if (archive_read_open_filename(a, initrd, 1 << 16) != ARCHIVE_OK) {
		pv_error_release(err);
		r = pv_error_set_plain(err, EIO, "initramfs %s: %s", initrd, archive_error_string(a));
	} else {
		while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
			const char *name = archive_entry_pathname(e);
			if (strcmp(name, "init") == 0 || strcmp(name, "./init") == 0) {
				pv_error_release(err);
				r = write_entry(a, dest, err);
				break;
			}
		}
	}
	archive_read_free(a);
	return r;
}

static char *warmup_spec(const char *tag, pv_error *err)
{
	char *const args[] = { "/init", "--version", NULL };
	char *const env[] = { "PATH=/", NULL };
	struct pv_user root = { .home = "/" };
	_cleanup_free_ char *root_path = NULL;
	if (asprintf(&root_path, "/run/podvm/shares/%s/" WARM_DIR "/rootfs", tag) < 0) {
		pv_error_set(err, ENOMEM, "warm-up");
		return NULL;
	}
	struct pv_spec_input in = { .args = args, .env = env, .cwd = "/", .user = &root, .root_path = root_path };
	return pv_spec_build(&in, err);
}

/* Identity as a pod's VM gets it (a taker sends its own), then the container's round trip. */
static int run_warmup(struct pv_sandbox *sb, bool nic, const char *spec, pv_error *err)
{
	struct pv_agent_share share = { sb->shares[0].tag, "9p", false };
	int status;
	if (sandbox_send_identity(sb, "podvm-pool", nic ? PV_TEMPLATE_MAC : NULL, nic ? REHEARSAL_MAC : NULL,
				  nic ? &rehearsal_net : NULL, nic, err) < 0 ||
	    pv_attest_record_container(pv_sandbox_vm_dir(sb), WARM_ID, spec, NULL, err) < 0 ||
	    pv_agent_create(sb->agent, WARM_ID, spec, &share, 1, false, NULL, err) < 0)
		return -1;
	pid_t pid;
	int r = pv_agent_start(sb->agent, WARM_ID, &pid, err);
	if (r == 0)
		r = pv_agent_wait(sb->agent, WARM_ID, "", &status, NULL, err);
	if (pv_agent_remove(sb->agent, WARM_ID, r < 0 ? NULL : err) < 0)
		r = -1;
	if (r == 0 && status != 0)
		r = pv_error_set_plain(err, EIO, "warm-up container exited with status %d", status);
	return r;
}

/* Under attestation (and not for a debug VM, which never passes) a pool VM is attested once
 * while it warms up: its AK's credential activation is done (and pinned) before a pod waits
 * for it, and the guest's TPM paths are translated. A pool VM that fails is not kept. */
static int attest_once(struct pv_sandbox *sb, pv_error *err)
{
	struct pv_attest_result res;
	if (pv_sandbox_attest(sb, &res, err) < 0)
		return -1;
	return res.pass ? 0 : pv_error_set_plain(err, EACCES, "attestation failed: %s", res.finding);
}

int sandbox_warm_up(struct pv_sandbox *sb, bool nic, bool attest, pv_error *err)
{
	if (sb->n_shares == 0)
		return 0;
	struct pv_guest_image img = { 0 };
	_cleanup_free_ char *dir = NULL, *rootfs = NULL, *init = NULL, *spec = NULL;
	if (asprintf(&dir, "%s/" WARM_DIR, sb->shares[0].host_path) < 0 || asprintf(&rootfs, "%s/rootfs", dir) < 0 ||
	    asprintf(&init, "%s/init", rootfs) < 0)
		return pv_error_set(err, ENOMEM, "warm-up");
	int r = pv_guest_image_open(sb->paths->guest_dir, &img, err);
	if (r == 0)
		r = pv_mkdir_p(rootfs, 0755, err);
	if (r == 0)
		r = extract_agent(img.initrd, init, err);
	if (r == 0 && (spec = warmup_spec(sb->shares[0].tag, err)) == NULL)
		r = -1;
	if (r == 0)
		r = run_warmup(sb, nic, spec, err);
	if (r == 0 && attest && !sb->debug)
		r = attest_once(sb, err);
	(void)pv_rm_rf(dir, NULL);
	pv_guest_image_clear(&img);
	return r < 0 ? pv_error_prefix(err, "warm up") : 0;
}
