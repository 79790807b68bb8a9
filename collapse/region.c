// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Region maps and their state machine.  A file's map has one entry per
 * 2 MiB region: small, huge, keep-off (a hole was punched through part of
 * it, so collapsing would silently refill the hole: seed 004's
 * "contradiction in effort"), or failed with a retry time that backs off
 * exponentially (retry state per PMD region, never per file: seed 001).
 * Results are named from one X-macro table after the kernel's huge_memory
 * tracepoint results, and mapped to errno only at the edge, the way
 * madvise_collapse_errno() does.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "foliofs/clp.h"

#define BACKOFF_BASE_NS		1000000000ull		/* 1 s */
#define BACKOFF_MAX_NS		(600 * BACKOFF_BASE_NS)	/* 10 min */

static const char *const result_names[] = {
#define CLP_X_NAME(name, val, str) [val] = str,
	CLP_RESULTS(CLP_X_NAME)
#undef CLP_X_NAME
};

/* The kernel's own names, by value (include/trace/events/huge_memory.h). */
static const char *const kernel_names[] = {
	"failed", "succeeded", "pmd_null", "pmd_none", "page_pmd_mapped",
	"exceed_none_pte", "exceed_swap_pte", "exceed_shared_pte",
	"pte_non_present", "pte_uffd_wp", "pte_mapped_hugepage",
	"lack_referenced_page", "page_null", "scan_aborted",
	"not_suitable_page_count", "page_not_in_lru", "page_locked",
	"page_not_anon", "page_compound", "no_process_for_page", "vma_null",
	"vma_check_failed", "not_suitable_address_range",
	"could_not_delete_page_from_lru", "alloc_huge_page_failed",
	"ccgroup_charge_failed", "truncated", "page_has_private",
	"store_failed", "copy_poisoned_page", "page_filled",
};

const char *clp_result_name(enum clp_result r)
{
	return (unsigned)r < CLP_NR_RESULTS ? result_names[r] : "invalid";
}

const char *clp_state_name(enum clp_state s)
{
	static const char *const names[] = { "small", "huge", "keep-off", "failed" };

	return (unsigned)s < 4 ? names[s] : "invalid";
}

const char *clp_kernel_result_name(int idx)
{
	return idx >= 0 && (size_t)idx < sizeof(kernel_names) / sizeof(kernel_names[0]) ?
	       kernel_names[idx] : "-";
}

/**
 * clp_kernel_result_parse() - index of a kernel tracepoint result name
 * @name: e.g. "succeeded"
 *
 * Return: the kernel's value, or -1 if unknown.
 */
int clp_kernel_result_parse(const char *name)
{
	for (size_t i = 0; i < sizeof(kernel_names) / sizeof(kernel_names[0]); i++)
		if (!strcmp(name, kernel_names[i]))
			return (int)i;
	return -1;
}

/**
 * clp_result_errno() - the errno a collapse request reports for a result
 * @r: the result
 *
 * As madvise_collapse_errno(): ENOMEM for allocation, EBUSY for limits and
 * too sparse a region, EAGAIN for transient races, EINVAL for the rest.
 *
 * Return: 0 or a positive errno.
 */
int clp_result_errno(enum clp_result r)
{
	switch (r) {
	case CLP_SUCCEEDED:
	case CLP_PAGE_PMD_MAPPED:
		return 0;
	case CLP_ALLOC_FAILED:
		return ENOMEM;
	case CLP_CGROUP_FAILED:
	case CLP_EXCEED_NONE_PTE:
		return EBUSY;
	case CLP_SCAN_ABORTED:
	case CLP_TRUNCATED:
		return EAGAIN;
	default:
		return EINVAL;
	}
}

/**
 * clp_errno_result() - the result a MADV_COLLAPSE errno stands for
 * @err: 0 or errno from madvise(2)
 *
 * EBUSY is ambiguous (memcg charge or too sparse); the kernel verdict from
 * tracefs tells them apart when it is available.
 *
 * Return: the result.
 */
enum clp_result clp_errno_result(int err)
{
	switch (err) {
	case 0:
		return CLP_SUCCEEDED;
	case ENOMEM:
		return CLP_ALLOC_FAILED;
	case EBUSY:
		return CLP_CGROUP_FAILED;
	case EAGAIN:
		return CLP_SCAN_ABORTED;
	case EINVAL:
		return CLP_VMA_CHECK_FAILED;
	default:
		return CLP_FAILED;
	}
}

static bool transient(enum clp_result r)
{
	return r == CLP_ALLOC_FAILED || r == CLP_CGROUP_FAILED ||
	       r == CLP_SCAN_ABORTED || r == CLP_TRUNCATED || r == CLP_FAILED;
}

/**
 * clp_map_resize() - one entry per 2 MiB region of a file of @file_size
 * @m: the map
 * @file_size: bytes
 *
 * New entries start small, with no result.
 *
 * Return: 0; -ENOMEM (the map is unchanged).
 */
int clp_map_resize(struct clp_map *m, uint64_t file_size)
{
	size_t n = (size_t)((file_size + CLP_REGION_SIZE - 1) >> CLP_REGION_SHIFT);
	struct clp_region *r;

	if (n == m->n)
		return 0;
	r = realloc(m->r, (n ? n : 1) * sizeof(*r));
	if (!r)
		return -ENOMEM;
	for (size_t i = m->n; i < n; i++)
		r[i] = (struct clp_region){ .last = CLP_NONE, .kverdict = -1 };
	m->r = r;
	m->n = n;
	return 0;
}

void clp_map_release(struct clp_map *m)
{
	free(m->r);
	m->r = NULL;
	m->n = 0;
}

/**
 * clp_map_punch() - a hole was punched in [@off, @off + @len)
 * @m: the map
 * @off: start
 * @len: length
 * @size: file size
 *
 * A region covered only in part becomes keep-off: shmem split its huge page
 * and a collapse would refill the hole.  A region covered whole is simply
 * empty now (its huge extent goes without a split).
 */
void clp_map_punch(struct clp_map *m, uint64_t off, uint64_t len, uint64_t size)
{
	uint64_t end = off + len < size ? off + len : size;

	for (uint64_t r = off >> CLP_REGION_SHIFT; r < m->n && (r << CLP_REGION_SHIFT) < end; r++) {
		uint64_t rs = r << CLP_REGION_SHIFT, re = rs + CLP_REGION_SIZE;
		bool whole = off <= rs && off + len >= (re < size ? re : size);

		m->r[r].state = whole ? CLP_R_SMALL : CLP_R_KEEP_OFF;
		m->r[r].last = CLP_NONE;
		m->r[r].attempts = 0;
	}
}

/**
 * clp_map_truncate() - the file went from @old_size to @new_size
 * @m: the map
 * @old_size: bytes before
 * @new_size: bytes after
 *
 * Shrinking through the middle of a region splits it like a punch.  The map
 * is resized by the caller.
 */
void clp_map_truncate(struct clp_map *m, uint64_t old_size, uint64_t new_size)
{
	uint64_t r = new_size >> CLP_REGION_SHIFT;

	if (new_size >= old_size || !(new_size & (CLP_REGION_SIZE - 1)) || r >= m->n)
		return;
	m->r[r].state = CLP_R_KEEP_OFF;
	m->r[r].last = CLP_NONE;
}

/**
 * clp_map_record() - fold the result of an attempt into a region's state
 * @m: the map
 * @idx: region
 * @res: what happened
 * @now_ns: CLOCK_MONOTONIC now
 */
void clp_map_record(struct clp_map *m, size_t idx, enum clp_result res,
		    uint64_t now_ns)
{
	struct clp_region *r;
	uint64_t delay;

	if (idx >= m->n)
		return;
	r = &m->r[idx];
	r->last = (uint8_t)res;
	if (res == CLP_SUCCEEDED || res == CLP_PAGE_PMD_MAPPED) {
		r->state = CLP_R_HUGE;
		r->attempts = 0;
	} else if (transient(res)) {
		r->state = CLP_R_FAILED;
		if (r->attempts < 255)
			r->attempts++;
		delay = BACKOFF_BASE_NS << (r->attempts < 10 ? r->attempts - 1 : 9);
		r->retry_ns = now_ns + (delay < BACKOFF_MAX_NS ? delay : BACKOFF_MAX_NS);
	} else if (res != CLP_KEEP_OFF && r->state != CLP_R_KEEP_OFF) {
		r->state = CLP_R_SMALL;
		r->attempts = 0;
	}
}

/**
 * clp_map_due() - should a region be tried now?
 * @m: the map
 * @idx: region
 * @now_ns: CLOCK_MONOTONIC now
 * @explicit_req: a user asked for this collapse
 *
 * Keep-off regions and regions backing off are left alone unless a user
 * asks; huge regions need nothing.
 *
 * Return: true to try.
 */
bool clp_map_due(const struct clp_map *m, size_t idx, uint64_t now_ns,
		 bool explicit_req)
{
	const struct clp_region *r;

	if (idx >= m->n)
		return false;
	r = &m->r[idx];
	switch (r->state) {
	case CLP_R_HUGE:
		return explicit_req;
	case CLP_R_KEEP_OFF:
		return explicit_req;
	case CLP_R_FAILED:
		return explicit_req || now_ns >= r->retry_ns;
	default:
		return true;
	}
}
