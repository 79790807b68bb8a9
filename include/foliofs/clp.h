/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Collapser library interface.  The collapser decides, per 2 MiB region,
 * which folio order file data should have, and (in later stages) turns
 * shmem memory into huge pages with MADV_COLLAPSE.  It has no dependency on
 * the filesystem: callers describe a region by its population and fit, and
 * get back an order.  The policy follows the large-folio table of the seeds:
 * preferences fall back THP > LAF > S, and an explicit "never" always wins.
 */
#ifndef FOLIOFS_CLP_H
#define FOLIOFS_CLP_H

#include <stdbool.h>
#include <stdint.h>

#define CLP_REGION_SHIFT	21
#define CLP_REGION_SIZE		(1ull << CLP_REGION_SHIFT)
#define CLP_LAF_SIZE		(64ull << 10)
#define CLP_PAGE_SIZE		4096ull

/* Per-file hint (xattr) or mount default; values are stable. */
enum clp_policy {
	CLP_POLICY_UNSET = 0,	/* inherit the mount default */
	CLP_POLICY_NEVER = 1,	/* S only */
	CLP_POLICY_SMALL = 2,	/* LAF > S */
	CLP_POLICY_MADVISE = 3,	/* THP only where asked, else LAF > S */
	CLP_POLICY_ALWAYS = 4,	/* THP > LAF > S */
	CLP_POLICY_AUTO = 5,	/* THP > LAF > S where the fit is good */
};

/* The folio orders the policy hands out. */
enum clp_order {
	CLP_ORDER_S = 0,
	CLP_ORDER_LAF = 4,
	CLP_ORDER_THP = 9,
};

/* What the caller knows about one chunk of a file. */
struct clp_fit {
	uint64_t file_size;	/* bytes */
	uint64_t off;		/* chunk start, aligned to the order tried */
	uint64_t populated;	/* bytes with data in [off, off + size) */
	bool asked;		/* an explicit huge request (madvise-like) */
};

enum clp_policy clp_policy_resolve(enum clp_policy file, enum clp_policy mount);
int clp_policy_parse(const char *s, enum clp_policy *out);
const char *clp_policy_name(enum clp_policy p);
unsigned clp_max_order(enum clp_policy p, bool asked);
bool clp_order_fits(unsigned order, const struct clp_fit *fit,
		    unsigned max_ptes_none);

#endif /* FOLIOFS_CLP_H */
