/* The guest reference's contents, shared by reference.c (computing, lookups) and
 * reference_file.c (its JSON form). */
#pragma once
#include "reference.h"
#include "hasher.h"
#include "sha256.h"

#define PV_KIND_KERNEL "kernel"
#define PV_KIND_INITRAMFS "initramfs"
#define PV_KIND_CMDLINE "cmdline"

struct pv_boot_item {
	const char *kind;   /* one of the PV_KIND_* strings */
	char *text;
	uint8_t digest[PV_SHA256_LEN];
};

struct pv_guest_reference {
	struct pv_boot_item *items;
	size_t n_items;
	struct pv_digest_set *files;
};

/* An empty reference (a new, empty file set). */
int pv_guest_reference_new(struct pv_guest_reference **ref, pv_error *err);
/* Appends an item (kind is kept as given: a PV_KIND_* string; text is copied). */
int pv_guest_reference_add_item(struct pv_guest_reference *ref, const char *kind, const char *text,
				const uint8_t digest[PV_SHA256_LEN], pv_error *err);
