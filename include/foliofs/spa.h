/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Sparse paged arrays: per-2 MiB-region state of a file (the collapser's
 * region map, the daemon's dirty regions) kept in pages of SPA_PAGE
 * entries, allocated only where an entry was ever set.  A file's apparent
 * size costs nothing: a 1 PB file with a few bytes written holds one page.
 * Entries that were never set read as the array's template value;
 * spa_next() walks the entries that differ from it.  Lookups
 * are a binary search over the pages, so every cost follows the number of
 * pages in use, never the highest index.
 */
#ifndef FOLIOFS_SPA_H
#define FOLIOFS_SPA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SPA_PAGE_SHIFT	9
#define SPA_PAGE	(1u << SPA_PAGE_SHIFT)	/* entries per page */
#define SPA_TMPL_MAX	32			/* largest entry */

struct spa_page {
	uint64_t base;		/* index of the first entry, SPA_PAGE aligned */
	unsigned char e[];	/* SPA_PAGE entries of spa.elem bytes */
};

struct spa {
	struct spa_page **p;	/* sorted by base */
	size_t n, cap;
	size_t elem;		/* bytes per entry, <= SPA_TMPL_MAX */
	unsigned char tmpl[SPA_TMPL_MAX];	/* value of an unset entry */
};

void spa_init(struct spa *s, size_t elem, const void *tmpl);
void spa_release(struct spa *s);
void *spa_get(const struct spa *s, uint64_t idx);
int spa_slot(struct spa *s, uint64_t idx, void **out);
bool spa_next(const struct spa *s, uint64_t from, uint64_t *idx);
void spa_drop_from(struct spa *s, uint64_t idx);
void spa_move(struct spa *dst, struct spa *src);

#endif /* FOLIOFS_SPA_H */
