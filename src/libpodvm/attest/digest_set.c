/* The set in memory: entries in the order added, and an open-addressing index over them.
 * A digest is uniformly random already, so its first bytes are the hash. */
#include "digest_set.h"
#include "cleanup.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define MIN_SLOTS 64

struct entry {
	uint8_t digest[32];
	char *path;
};

struct pv_digest_set {
	struct entry *entries;
	size_t n, cap;
	size_t *slots;      /* index + 1 into entries; 0: free */
	size_t n_slots;     /* a power of two, at least twice n */
};

int pv_digest_set_new(struct pv_digest_set **set, pv_error *err)
{
	*set = calloc(1, sizeof(**set));
	return *set ? 0 : pv_error_set(err, ENOMEM, "digest set");
}

void pv_digest_set_free(struct pv_digest_set *set)
{
	if (set == NULL)
		return;
	for (size_t i = 0; i < set->n; i++)
		free(set->entries[i].path);
	free(set->entries);
	free(set->slots);
	free(set);
}

static size_t first_slot(const uint8_t digest[32], size_t n_slots)
{
	uint64_t h;
	memcpy(&h, digest, sizeof(h));
	return (size_t)h & (n_slots - 1);
}

/* The slot that holds digest, or the free slot where it would go. */
static size_t *slot_of(const struct pv_digest_set *set, const uint8_t digest[32])
{
	size_t mask = set->n_slots - 1;
	for (size_t i = first_slot(digest, set->n_slots);; i = (i + 1) & mask) {
		size_t *s = &set->slots[i];
		if (*s == 0 || memcmp(set->entries[*s - 1].digest, digest, 32) == 0)
			return s;
	}
}

static int grow_index(struct pv_digest_set *set)
{
	size_t n_slots = set->n_slots ? set->n_slots * 2 : MIN_SLOTS;
	size_t *slots = calloc(n_slots, sizeof(*slots));
	if (slots == NULL)
		return -ENOMEM;
	free(set->slots);
	set->slots = slots;
	set->n_slots = n_slots;
	for (size_t i = 0; i < set->n; i++)
		*slot_of(set, set->entries[i].digest) = i + 1;
	return 0;
}

static int grow_entries(struct pv_digest_set *set)
{
	size_t cap = set->cap ? set->cap * 2 : MIN_SLOTS / 2;
	struct entry *e = reallocarray(set->entries, cap, sizeof(*e));
	if (e == NULL)
		return -ENOMEM;
	set->entries = e;
	set->cap = cap;
	return 0;
}

int pv_digest_set_add(struct pv_digest_set *set, const uint8_t digest[32], const char *path, pv_error *err)
{
	if ((set->n + 1) * 2 > set->n_slots && grow_index(set) < 0)
		return pv_error_set(err, ENOMEM, "digest set");
	size_t *slot = slot_of(set, digest);
	if (*slot != 0)
		return 0;
	if (set->n == set->cap && grow_entries(set) < 0)
		return pv_error_set(err, ENOMEM, "digest set");
	struct entry *e = &set->entries[set->n];
	if ((e->path = strdup(path)) == NULL)
		return pv_error_set(err, ENOMEM, "digest set");
	memcpy(e->digest, digest, 32);
	*slot = ++set->n;
	return 0;
}

const char *pv_digest_set_find(const struct pv_digest_set *set, const uint8_t digest[32])
{
	if (set->n == 0)
		return NULL;
	size_t s = *slot_of(set, digest);
	return s ? set->entries[s - 1].path : NULL;
}

size_t pv_digest_set_count(const struct pv_digest_set *set)
{
	return set->n;
}

const char *pv_digest_set_entry(const struct pv_digest_set *set, size_t i, const uint8_t **digest)
{
	if (i >= set->n)
		return NULL;
	*digest = set->entries[i].digest;
	return set->entries[i].path;
}

int pv_digest_set_merge(struct pv_digest_set *into, const struct pv_digest_set *from, pv_error *err)
{
	for (size_t i = 0; i < from->n; i++) {
		if (pv_digest_set_add(into, from->entries[i].digest, from->entries[i].path, err) < 0)
			return -1;
	}
	return 0;
}
