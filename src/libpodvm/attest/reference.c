/* The guest reference computed from the image's files, and the lookups a verifier makes. */
#include "reference-internal.h"
#include "cleanup.h"
#include "vmm/qemu.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>

int pv_guest_reference_new(struct pv_guest_reference **ref, pv_error *err)
{
	*ref = calloc(1, sizeof(**ref));
	if (*ref == NULL)
		return pv_error_set(err, ENOMEM, "reference");
	return pv_digest_set_new(&(*ref)->files, err);
}

void pv_guest_reference_free(struct pv_guest_reference *ref)
{
	if (ref == NULL)
		return;
	for (size_t i = 0; i < ref->n_items; i++)
		free(ref->items[i].text);
	free(ref->items);
	pv_digest_set_free(ref->files);
	free(ref);
}

int pv_guest_reference_add_item(struct pv_guest_reference *ref, const char *kind, const char *text,
				const uint8_t digest[PV_SHA256_LEN], pv_error *err)
{
	struct pv_boot_item *items = reallocarray(ref->items, ref->n_items + 1, sizeof(*items));
	if (items == NULL)
		return pv_error_set(err, ENOMEM, "reference");
	ref->items = items;
	struct pv_boot_item *it = &items[ref->n_items];
	if ((it->text = strdup(text)) == NULL)
		return pv_error_set(err, ENOMEM, "reference");
	it->kind = kind;
	memcpy(it->digest, digest, PV_SHA256_LEN);
	ref->n_items++;
	return 0;
}

static int add_file_item(struct pv_guest_reference *ref, const char *kind, const char *path, pv_error *err)
{
	uint8_t digest[PV_SHA256_LEN];
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return pv_error_set(err, errno, "%s %s", kind, path);
	if (pv_sha256_fd(fd, digest, err) < 0)
		return pv_error_prefix(err, "%s %s", kind, path);
	return pv_guest_reference_add_item(ref, kind, path, digest, err);
}

/* Every non-debug VM's: a TPM always (a reference is for attested VMs), KVM or TCG, the
 * agent on vsock (any CID: it is no part of the line) or virtio-serial. */
static int add_cmdlines(struct pv_guest_reference *ref, pv_error *err)
{
	for (int v = 0; v < 4; v++) {
		struct pv_vm_config c = { .kvm = v & 1, .vsock_cid = v & 2 ? 3 : 0, .swtpm = "swtpm" };
		_cleanup_free_ char *text = NULL;
		uint8_t digest[PV_SHA256_LEN];
		if (pv_vm_kernel_cmdline(&c, &text) < 0)
			return pv_error_set(err, ENOMEM, "kernel command line");
		pv_sha256((const uint8_t *)text, strlen(text), digest);
		if (pv_guest_reference_add_item(ref, PV_KIND_CMDLINE, text, digest, err) < 0)
			return -1;
	}
	return 0;
}

static int archive_fail(struct archive *a, pv_error *err)
{
	const char *msg = archive_error_string(a);
	int e = archive_errno(a);
	return pv_error_set_plain(err, e > 0 ? e : EINVAL, "%s", msg ? msg : "archive error");
}

/* A member's path as the kernel unpacks it: "./bin/x" and "bin/x" are "/bin/x". */
static int member_path(const char *name, char **path)
{
	while (name[0] == '/' || (name[0] == '.' && name[1] == '/'))
		name += name[0] == '/' ? 1 : 2;
	return asprintf(path, "/%s", name) < 0 ? -ENOMEM : 0;
}

static int add_member(struct pv_digest_set *files, struct archive *a, struct archive_entry *e, pv_error *err)
{
	_cleanup_hasher_ struct pv_hasher *h = NULL;
	_cleanup_free_ char *path = NULL;
	uint8_t digest[PV_SHA256_LEN];
	const void *buf;
	size_t size;
	la_int64_t offset;
	uint64_t pos = 0;
	int r;
	if (pv_hasher_new(&h, err) < 0)
		return -1;
	while ((r = archive_read_data_block(a, &buf, &size, &offset)) != ARCHIVE_EOF) {
		if (r < ARCHIVE_WARN)
			return archive_fail(a, err);
		if (pv_hasher_block(h, &pos, (uint64_t)offset, buf, size, err) < 0)
			return -1;
	}
	if (pv_hasher_final(h, digest, err) < 0)
		return -1;
	if (member_path(archive_entry_pathname(e), &path) < 0)
		return pv_error_set(err, ENOMEM, "%s", archive_entry_pathname(e));
	return pv_digest_set_add(files, digest, path, err);
}

static int read_members(struct archive *a, struct pv_digest_set *files, pv_error *err)
{
	struct archive_entry *e;
	int r;
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		bool regular = archive_entry_filetype(e) == AE_IFREG && archive_entry_hardlink(e) == NULL;
		if (regular && archive_entry_pathname(e) && add_member(files, a, e, err) < 0)
			return -1;
	}
	return r == ARCHIVE_EOF ? 0 : archive_fail(a, err);
}

/* The initramfs is a (gzip'd) newc cpio. A hard link's data comes with one of its names;
 * the others add nothing. */
static int add_members(struct pv_digest_set *files, const char *initramfs, pv_error *err)
{
	struct archive *a = archive_read_new();
	if (a == NULL)
		return pv_error_set(err, ENOMEM, "initramfs %s", initramfs);
	archive_read_support_filter_all(a);
	archive_read_support_format_cpio(a);
	int r = archive_read_open_filename(a, initramfs, 1 << 16) == ARCHIVE_OK ? read_members(a, files, err)
										 : archive_fail(a, err);
	archive_read_free(a);
	return r < 0 ? pv_error_prefix(err, "initramfs %s", initramfs) : 0;
}

int pv_guest_reference_compute(const char *kernel, const char *initramfs, struct pv_guest_reference **ref,
			       pv_error *err)
{
	_cleanup_guest_reference_ struct pv_guest_reference *g = NULL;
	*ref = NULL;
	if (pv_guest_reference_new(&g, err) < 0 || add_file_item(g, PV_KIND_KERNEL, kernel, err) < 0 ||
	    add_file_item(g, PV_KIND_INITRAMFS, initramfs, err) < 0 || add_cmdlines(g, err) < 0 ||
	    add_members(g->files, initramfs, err) < 0)
		return -1;
	*ref = steal_pointer(&g);
	return 0;
}

int pv_guest_reference_file(const char *initramfs, char **file, pv_error *err)
{
	_cleanup_free_ char *copy = strdup(initramfs);
	if (copy == NULL || asprintf(file, "%s/" PV_GUEST_REFERENCE, dirname(copy)) < 0) {
		*file = NULL;
		return pv_error_set(err, ENOMEM, "reference");
	}
	return 0;
}

const char *pv_guest_reference_boot_item(const struct pv_guest_reference *ref, const uint8_t digest[32])
{
	for (size_t i = 0; i < ref->n_items; i++) {
		if (memcmp(ref->items[i].digest, digest, PV_SHA256_LEN) == 0)
			return ref->items[i].kind;
	}
	return NULL;
}

const char *pv_guest_reference_item(const struct pv_guest_reference *ref, size_t i, const char **text,
				    const uint8_t **digest)
{
	if (i >= ref->n_items)
		return NULL;
	*text = ref->items[i].text;
	*digest = ref->items[i].digest;
	return ref->items[i].kind;
}

const struct pv_digest_set *pv_guest_reference_files(const struct pv_guest_reference *ref)
{
	return ref->files;
}
