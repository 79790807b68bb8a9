// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Sparse paged arrays (see foliofs/spa.h).  Pages are kept in a sorted
 * vector of pointers; finding an index is a binary search, adding a page a
 * memmove of pointers.  A region map of a terabyte of data holds 1,024
 * pages, so both stay cheap, and a file of any apparent size with nothing
 * recorded holds none.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "foliofs/spa.h"

#define PAGE_MASK	((uint64_t)SPA_PAGE - 1)

static size_t page_bytes(const struct spa *s)
{
	return sizeof(struct spa_page) + SPA_PAGE * s->elem;
}

/* Position of the first page whose base is >= @base. */
static size_t lower_bound(const struct spa *s, uint64_t base)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->p[mid]->base < base)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/**
 * spa_init() - an empty array
 * @s: the array
 * @elem: bytes per entry, at most SPA_TMPL_MAX
 * @tmpl: the value every entry has until it is set (@elem bytes)
 */
void spa_init(struct spa *s, size_t elem, const void *tmpl)
{
	*s = (struct spa){ .elem = elem };
	memcpy(s->tmpl, tmpl, elem);
}

void spa_release(struct spa *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->p[i]);
	free(s->p);
	s->p = NULL;
	s->n = s->cap = 0;
}

/**
 * spa_get() - the entry at @idx, if its page exists
 * @s: the array
 * @idx: index
 *
 * Return: the entry, or NULL when it was never set (it then reads as the
 * template).
 */
void *spa_get(const struct spa *s, uint64_t idx)
{
	size_t i = lower_bound(s, idx & ~PAGE_MASK);

	if (i == s->n || s->p[i]->base != (idx & ~PAGE_MASK))
		return NULL;
	return s->p[i]->e + (idx & PAGE_MASK) * s->elem;
}

static struct spa_page *page_new(const struct spa *s, uint64_t base)
{
	struct spa_page *pg = malloc(page_bytes(s));

	if (!pg)
		return NULL;
	pg->base = base;
	for (size_t k = 0; k < SPA_PAGE; k++)
		memcpy(pg->e + k * s->elem, s->tmpl, s->elem);
	return pg;
}

/**
 * spa_slot() - the entry at @idx, its page made if needed
 * @s: the array
 * @idx: index
 * @out: the entry
 *
 * Return: 0; -ENOMEM (the array is unchanged).
 */
int spa_slot(struct spa *s, uint64_t idx, void **out)
{
	uint64_t base = idx & ~PAGE_MASK;
	size_t i = lower_bound(s, base);
	struct spa_page *pg;

	if (i < s->n && s->p[i]->base == base)
		goto found;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 4;
		void *p = realloc(s->p, cap * sizeof(*s->p));

		if (!p)
			return -ENOMEM;
		s->p = p;
		s->cap = cap;
	}
	pg = page_new(s, base);
	if (!pg)
		return -ENOMEM;
	memmove(s->p + i + 1, s->p + i, (s->n - i) * sizeof(*s->p));
	s->p[i] = pg;
	s->n++;
found:
	*out = s->p[i]->e + (idx & PAGE_MASK) * s->elem;
	return 0;
}

/**
 * spa_next() - the first entry at or after @from that differs from the
 *	template
 * @s: the array
 * @from: where to start
 * @idx: the index found
 *
 * The walk costs the pages that exist, not the span of indices.
 *
 * Return: true if there is one.
 */
bool spa_next(const struct spa *s, uint64_t from, uint64_t *idx)
{
	for (size_t i = lower_bound(s, from & ~PAGE_MASK); i < s->n; i++) {
		const struct spa_page *pg = s->p[i];
		uint64_t k = pg->base > from ? 0 : from & PAGE_MASK;

		for (; k < SPA_PAGE; k++)
			if (memcmp(pg->e + k * s->elem, s->tmpl, s->elem)) {
				*idx = pg->base + k;
				return true;
			}
	}
	return false;
}

/**
 * spa_drop_from() - every entry from @idx on reads as the template again
 * @s: the array
 * @idx: first index to forget
 *
 * Whole pages past @idx are freed.
 */
void spa_drop_from(struct spa *s, uint64_t idx)
{
	size_t i = lower_bound(s, idx & ~PAGE_MASK), keep = i;

	if (i < s->n && s->p[i]->base < idx) {
		struct spa_page *pg = s->p[i];

		for (uint64_t k = idx & PAGE_MASK; k < SPA_PAGE; k++)
			memcpy(pg->e + k * s->elem, s->tmpl, s->elem);
		keep = i + 1;
	}
	for (size_t k = keep; k < s->n; k++)
		free(s->p[k]);
	s->n = keep;
}

/* @dst takes everything @src holds; @src is left empty. */
void spa_move(struct spa *dst, struct spa *src)
{
	*dst = *src;
	src->p = NULL;
	src->n = src->cap = 0;
}
