#include "tpm2_marshal.h"
#include <string.h>

static uint8_t *w_room(struct pv_tpm2_w *w, size_t n)
{
	if (w->over || n > sizeof(w->buf) - w->len) {
		w->over = true;
		return NULL;
	}
	uint8_t *p = w->buf + w->len;
	w->len += n;
	return p;
}

static void put_be(uint8_t *p, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

static void w_int(struct pv_tpm2_w *w, uint64_t v, size_t n)
{
	uint8_t *p = w_room(w, n);
	if (p)
		put_be(p, v, n);
}

void pv_tpm2_w_u8(struct pv_tpm2_w *w, uint8_t v)
{
	w_int(w, v, 1);
}

void pv_tpm2_w_u16(struct pv_tpm2_w *w, uint16_t v)
{
	w_int(w, v, 2);
}

void pv_tpm2_w_u32(struct pv_tpm2_w *w, uint32_t v)
{
	w_int(w, v, 4);
}

void pv_tpm2_w_bytes(struct pv_tpm2_w *w, const void *p, size_t n)
{
	uint8_t *d = w_room(w, n);
	if (d && n)
		memcpy(d, p, n);
}

void pv_tpm2_w_b2b(struct pv_tpm2_w *w, const void *p, size_t n)
{
	if (n > UINT16_MAX) {
		w->over = true;
		return;
	}
	pv_tpm2_w_u16(w, (uint16_t)n);
	pv_tpm2_w_bytes(w, p, n);
}

void pv_tpm2_w_put16(struct pv_tpm2_w *w, size_t at, uint16_t v)
{
	if (!w->over && at + 2 <= w->len)
		put_be(w->buf + at, v, 2);
}

void pv_tpm2_w_put32(struct pv_tpm2_w *w, size_t at, uint32_t v)
{
	if (!w->over && at + 4 <= w->len)
		put_be(w->buf + at, v, 4);
}

void pv_tpm2_r_init(struct pv_tpm2_r *r, const uint8_t *p, size_t len)
{
	*r = (struct pv_tpm2_r){ .p = p, .len = len };
}

const uint8_t *pv_tpm2_r_bytes(struct pv_tpm2_r *r, size_t n)
{
	if (r->bad || n > r->len - r->at) {
		r->bad = true;
		return NULL;
	}
	const uint8_t *p = r->p + r->at;
	r->at += n;
	return p;
}

static uint64_t r_int(struct pv_tpm2_r *r, size_t n)
{
	const uint8_t *p = pv_tpm2_r_bytes(r, n);
	uint64_t v = 0;
	for (size_t i = 0; p && i < n; i++)
		v = v << 8 | p[i];
	return v;
}

uint8_t pv_tpm2_r_u8(struct pv_tpm2_r *r)
{
	return (uint8_t)r_int(r, 1);
}

uint16_t pv_tpm2_r_u16(struct pv_tpm2_r *r)
{
	return (uint16_t)r_int(r, 2);
}

uint32_t pv_tpm2_r_u32(struct pv_tpm2_r *r)
{
	return (uint32_t)r_int(r, 4);
}

uint64_t pv_tpm2_r_u64(struct pv_tpm2_r *r)
{
	return r_int(r, 8);
}

const uint8_t *pv_tpm2_r_b2b(struct pv_tpm2_r *r, size_t max, size_t *n)
{
	size_t size = pv_tpm2_r_u16(r);
	*n = 0;
	if (size > max) {
		r->bad = true;
		return NULL;
	}
	const uint8_t *p = pv_tpm2_r_bytes(r, size);
	if (p)
		*n = size;
	return p;
}

size_t pv_tpm2_r_b2b_copy(struct pv_tpm2_r *r, uint8_t *out, size_t max)
{
	size_t n;
	const uint8_t *p = pv_tpm2_r_b2b(r, max, &n);
	if (p && n)
		memcpy(out, p, n);
	return n;
}

bool pv_tpm2_r_done(const struct pv_tpm2_r *r)
{
	return !r->bad && r->at == r->len;
}
