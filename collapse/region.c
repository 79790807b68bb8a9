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
#include "foliofs/spa.h"

#define BACKOFF_BASE_NS		1000000000ull		/* 1 s */
#define BACKOFF_MAX_NS		(600 * BACKOFF_BASE_NS)	/* 10 min */

static const char *const result_names[] = {
#define CLP_X_NAME(name, val, str) [val] = str,
	CLP_RESULTS(CLP_X_NAME)
#undef CLP_X_NAME
};

/*
 * The kernel's results by value (include/trace/events/huge_memory.h), each
 * with the foliofs result it stands for, or CLP_NR_RESULTS where foliofs
 * has none of its own.
 */
#define CLP_KERNEL_RESULTS(X)						\
	X("failed", NR_RESULTS) X("succeeded", SUCCEEDED)		\
	X("pmd_null", NR_RESULTS) X("pmd_none", NR_RESULTS)		\
	X("page_pmd_mapped", PAGE_PMD_MAPPED)				\
	X("exceed_none_pte", EXCEED_NONE_PTE)				\
	X("exceed_swap_pte", NR_RESULTS) X("exceed_shared_pte", NR_RESULTS) \
	X("pte_non_present", NR_RESULTS) X("pte_uffd_wp", NR_RESULTS)	\
	X("pte_mapped_hugepage", NR_RESULTS)				\
	X("lack_referenced_page", NR_RESULTS) X("page_null", NR_RESULTS) \
	X("scan_aborted", SCAN_ABORTED)					\
	X("not_suitable_page_count", PAGE_COUNT)			\
	X("page_not_in_lru", PAGE_LRU) X("page_locked", PAGE_LOCKED)	\
	X("page_not_anon", NR_RESULTS) X("page_compound", NR_RESULTS)	\
	X("no_process_for_page", NR_RESULTS) X("vma_null", NR_RESULTS)	\
	X("vma_check_failed", VMA_CHECK_FAILED)				\
	X("not_suitable_address_range", NR_RESULTS)			\
	X("could_not_delete_page_from_lru", DEL_PAGE_LRU)		\
	X("alloc_huge_page_failed", ALLOC_FAILED)			\
	X("ccgroup_charge_failed", CGROUP_FAILED)			\
	X("truncated", TRUNCATED) X("page_has_private", NR_RESULTS)	\
	X("store_failed", NR_RESULTS) X("copy_poisoned_page", NR_RESULTS) \
	X("page_filled", PAGE_FILLED)

static const struct {
	const char *name;
	enum clp_result res;
} kernel_results[] = {
#define CLP_X_KERNEL(str, res) { str, CLP_##res },
	CLP_KERNEL_RESULTS(CLP_X_KERNEL)
#undef CLP_X_KERNEL
};

#define NR_KERNEL	(sizeof(kernel_results) / sizeof(kernel_results[0]))

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
	return idx >= 0 && (size_t)idx < NR_KERNEL ? kernel_results[idx].name : "-";
}

/**
 * clp_kernel_result() - the foliofs result a kernel verdict stands for
 * @idx: the kernel's result value, or -1
 *
 * Return: the result, or CLP_NR_RESULTS where foliofs has none of its own.
 */
enum clp_result clp_kernel_result(int idx)
{
	return idx >= 0 && (size_t)idx < NR_KERNEL ? kernel_results[idx].res : CLP_NR_RESULTS;
}

/**
 * clp_kernel_result_parse() - index of a kernel tracepoint result name
 * @name: e.g. "succeeded"
 *
 * Return: the kernel's value, or -1 if unknown.
 */
int clp_kernel_result_parse(const char *name)
{
	for (size_t i = 0; i < NR_KERNEL; i++)
		if (!strcmp(name, kernel_results[i].name))
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
	case CLP_PAGE_COUNT:
	case CLP_PAGE_LOCKED:
	case CLP_PAGE_LRU:
	case CLP_DEL_PAGE_LRU:
	case CLP_PAGE_FILLED:
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

/**
 * clp_result_transient() - is @r a failure worth trying again later?
 * @r: a result
 *
 * Allocation, cgroup charge and short races: the region backs off and is
 * tried again.  Every other result stands until the region's data changes.
 *
 * Return: true if so.
 */
bool clp_result_transient(enum clp_result r)
{
	return r == CLP_ALLOC_FAILED || r == CLP_CGROUP_FAILED || r == CLP_FAILED ||
	       clp_result_errno(r) == EAGAIN;
}

static const struct clp_region region_default = { .last = CLP_NONE, .kverdict = -1 };

/* Region maps are sparse (foliofs/spa.h): a region never recorded is small. */
void clp_map_init(struct clp_map *m)
{
	spa_init(&m->s, sizeof(struct clp_region), &region_default);
}

void clp_map_release(struct clp_map *m)
{
	spa_release(&m->s);
}

/**
 * clp_map_peek() - the state of region @idx
 * @m: the map
 * @idx: region
 *
 * Return: the entry, or the default (small, no result) when none was made.
 */
const struct clp_region *clp_map_peek(const struct clp_map *m, uint64_t idx)
{
	const struct clp_region *r = spa_get(&m->s, idx);

	return r ? r : &region_default;
}

/**
 * clp_map_set() - record the state of region @idx
 * @m: the map
 * @idx: region
 * @r: its new state
 *
 * Return: 0; -ENOMEM (nothing recorded).
 */
int clp_map_set(struct clp_map *m, uint64_t idx, const struct clp_region *r)
{
	void *slot;
	int ret;

	if (!memcmp(r, clp_map_peek(m, idx), sizeof(*r)))
		return 0;
	ret = spa_slot(&m->s, idx, &slot);
	if (!ret)
		memcpy(slot, r, sizeof(*r));
	return ret;
}

/**
 * clp_map_next() - the first region >= @from that has a state of its own
 * @m: the map
 * @from: region to start at
 * @idx: the region found
 *
 * Return: true if there is one; the walk costs the map's pages, never the
 * file's size.
 */
bool clp_map_next(const struct clp_map *m, uint64_t from, uint64_t *idx)
{
	return spa_next(&m->s, from, idx);
}

/*
 * Region @idx becomes @state with no result.  A map that cannot grow leaves
 * keep-off unrecorded: a later collapse may then refill a hole, which costs
 * memory, never data.
 */
static void mark(struct clp_map *m, uint64_t idx, enum clp_state state)
{
	struct clp_region r = *clp_map_peek(m, idx);

	r.state = (uint8_t)state;
	r.last = CLP_NONE;
	r.attempts = 0;
	clp_map_set(m, idx, &r);
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
 * empty now (its huge extent goes without a split).  Only the two end
 * regions can be partial; the rest costs the regions the map holds.
 */
void clp_map_punch(struct clp_map *m, uint64_t off, uint64_t len, uint64_t size)
{
	uint64_t end = len < size - (off < size ? off : size) ? off + len : size;
	uint64_t first, last, r;

	if (off >= end)
		return;
	first = off >> CLP_REGION_SHIFT;
	last = (end - 1) >> CLP_REGION_SHIFT;
	for (r = first; clp_map_next(m, r, &r) && r <= last; r++)
		mark(m, r, CLP_R_SMALL);
	if (off & (CLP_REGION_SIZE - 1))
		mark(m, first, CLP_R_KEEP_OFF);
	if ((end & (CLP_REGION_SIZE - 1)) && end < size)
		mark(m, last, CLP_R_KEEP_OFF);
}

/**
 * clp_map_truncate() - the file went from @old_size to @new_size
 * @m: the map
 * @old_size: bytes before
 * @new_size: bytes after
 *
 * Shrinking through the middle of a region splits it like a punch; regions
 * past the new end are forgotten.
 */
void clp_map_truncate(struct clp_map *m, uint64_t old_size, uint64_t new_size)
{
	uint64_t r = new_size >> CLP_REGION_SHIFT;

	if (new_size >= old_size)
		return;
	if (new_size & (CLP_REGION_SIZE - 1)) {
		mark(m, r, CLP_R_KEEP_OFF);
		r++;
	}
	spa_drop_from(&m->s, r);
}

/**
 * clp_region_record() - fold the result of an attempt into a region's state
 * @r: the region
 * @res: what happened
 * @now_ns: CLOCK_MONOTONIC now
 */
void clp_region_record(struct clp_region *r, enum clp_result res, uint64_t now_ns)
{
	uint64_t delay;

	r->last = (uint8_t)res;
	if (res == CLP_SUCCEEDED || res == CLP_PAGE_PMD_MAPPED) {
		r->state = CLP_R_HUGE;
		r->attempts = 0;
	} else if (clp_result_transient(res)) {
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
 * clp_region_due() - should a region be tried now?
 * @r: the region
 * @now_ns: CLOCK_MONOTONIC now
 * @explicit_req: a user asked for this collapse
 *
 * Keep-off regions and regions backing off are left alone unless a user
 * asks; huge regions need nothing.
 *
 * Return: true to try.
 */
bool clp_region_due(const struct clp_region *r, uint64_t now_ns, bool explicit_req)
{
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
