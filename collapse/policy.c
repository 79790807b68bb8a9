// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The folio policy table.  A per-file hint and the mount default resolve to
 * one policy (the file's hint wins, and "never" is never overridden); the
 * policy caps the order (S, LAF or THP), and the fit of a chunk decides
 * whether that order can be used: the chunk must lie inside the file and be
 * populated at least as densely as khugepaged's max_ptes_none allows.  The
 * caller falls back THP > LAF > S by trying orders from the cap downwards.
 */
#include <errno.h>
#include <string.h>

#include "foliofs/clp.h"

static const char *const policy_names[] = {
	[CLP_POLICY_UNSET] = "unset",
	[CLP_POLICY_NEVER] = "never",
	[CLP_POLICY_SMALL] = "small",
	[CLP_POLICY_MADVISE] = "madvise",
	[CLP_POLICY_ALWAYS] = "always",
	[CLP_POLICY_AUTO] = "auto",
};

/**
 * clp_policy_resolve() - combine a file's hint with the mount default
 * @file: the file's hint, CLP_POLICY_UNSET if it has none
 * @mount: the mount default
 *
 * "never" from either side wins, as MADV_NOHUGEPAGE and sysfs=never do.
 *
 * Return: the effective policy; UNSET in both resolves to MADVISE, the
 * distro default for THP.
 */
enum clp_policy clp_policy_resolve(enum clp_policy file, enum clp_policy mount)
{
	if (file == CLP_POLICY_NEVER || mount == CLP_POLICY_NEVER)
		return CLP_POLICY_NEVER;
	if (file != CLP_POLICY_UNSET)
		return file;
	return mount != CLP_POLICY_UNSET ? mount : CLP_POLICY_MADVISE;
}

/**
 * clp_policy_parse() - parse a policy name
 * @s: "never", "small", "madvise", "always" or "auto"
 * @out: the policy
 *
 * Return: 0; -EINVAL for an unknown name.
 */
int clp_policy_parse(const char *s, enum clp_policy *out)
{
	for (unsigned i = CLP_POLICY_NEVER; i <= CLP_POLICY_AUTO; i++) {
		if (!strcmp(s, policy_names[i])) {
			*out = (enum clp_policy)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *clp_policy_name(enum clp_policy p)
{
	return (unsigned)p <= CLP_POLICY_AUTO ? policy_names[p] : "invalid";
}

/**
 * clp_max_order() - the largest order a policy allows
 * @p: effective policy
 * @asked: the caller explicitly asked for huge pages (like MADV_HUGEPAGE)
 *
 * Return: CLP_ORDER_THP, CLP_ORDER_LAF or CLP_ORDER_S.
 */
unsigned clp_max_order(enum clp_policy p, bool asked)
{
	switch (p) {
	case CLP_POLICY_ALWAYS:
	case CLP_POLICY_AUTO:
		return CLP_ORDER_THP;
	case CLP_POLICY_MADVISE:
		return asked ? CLP_ORDER_THP : CLP_ORDER_LAF;
	case CLP_POLICY_SMALL:
		return CLP_ORDER_LAF;
	default:
		return CLP_ORDER_S;
	}
}

/**
 * clp_order_fits() - may a chunk of a file have this order?
 * @order: CLP_ORDER_*
 * @fit: the chunk: its offset, the file size and how much of it has data
 * @max_ptes_none: how many 4 KiB pages of the chunk may be empty, scaled
 *	to a 2 MiB region as khugepaged's knob is (0..511); smaller orders
 *	scale it down
 *
 * Return: true if the chunk lies inside the file, is aligned, and is
 * populated densely enough.
 */
bool clp_order_fits(unsigned order, const struct clp_fit *fit,
		    unsigned max_ptes_none)
{
	uint64_t size = CLP_PAGE_SIZE << order;
	uint64_t pages = size / CLP_PAGE_SIZE, empty;

	if (fit->off % size || fit->off + size > fit->file_size)
		return order == CLP_ORDER_S && fit->off < fit->file_size;
	if (fit->populated > size)
		return false;
	empty = (size - fit->populated) / CLP_PAGE_SIZE;
	return empty * 512 <= (uint64_t)max_ptes_none * pages;
}
