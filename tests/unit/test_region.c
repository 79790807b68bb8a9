// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests for the collapser's region state machine: the result table
 * (names shared with the kernel's tracepoints, errno at the edge as
 * madvise_collapse_errno()), keep-off on partial punch and truncate, empty
 * after an aligned whole-region punch, backoff of transient failures per
 * region, and which regions are due for a background or explicit attempt.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "foliofs/clp.h"

#define MB	(1ull << 20)
#define SEC	1000000000ull

static void test_names_and_errno(void **state)
{
	(void)state;
	/* where the meaning is the kernel's, so is the name */
	assert_string_equal(clp_result_name(CLP_SUCCEEDED), "succeeded");
	assert_string_equal(clp_result_name(CLP_EXCEED_NONE_PTE), "exceed_none_pte");
	assert_string_equal(clp_result_name(CLP_ALLOC_FAILED), "alloc_huge_page_failed");
	for (int r = CLP_FAILED; r <= CLP_TRUNCATED; r++)
		assert_true(clp_kernel_result_parse(clp_result_name(r)) >= 0);
	assert_int_equal(clp_kernel_result_parse("pte_mapped_hugepage"), 10);
	assert_int_equal(clp_kernel_result_parse("nonsense"), -1);
	assert_string_equal(clp_result_name((enum clp_result)99), "invalid");
	assert_int_equal(clp_result_errno(CLP_SUCCEEDED), 0);
	assert_int_equal(clp_result_errno(CLP_PAGE_PMD_MAPPED), 0);
	assert_int_equal(clp_result_errno(CLP_ALLOC_FAILED), ENOMEM);
	assert_int_equal(clp_result_errno(CLP_CGROUP_FAILED), EBUSY);
	assert_int_equal(clp_result_errno(CLP_EXCEED_NONE_PTE), EBUSY);
	assert_int_equal(clp_result_errno(CLP_SCAN_ABORTED), EAGAIN);
	assert_int_equal(clp_result_errno(CLP_POLICY), EINVAL);
	assert_int_equal(clp_errno_result(0), CLP_SUCCEEDED);
	assert_int_equal(clp_errno_result(ENOMEM), CLP_ALLOC_FAILED);
	assert_int_equal(clp_errno_result(EAGAIN), CLP_SCAN_ABORTED);
	assert_int_equal(clp_errno_result(EINVAL), CLP_VMA_CHECK_FAILED);
	/* the kernel's reasons behind EAGAIN have names of their own */
	assert_int_equal(clp_kernel_result(clp_kernel_result_parse("not_suitable_page_count")),
			 CLP_PAGE_COUNT);
	assert_int_equal(clp_result_errno(CLP_PAGE_COUNT), EAGAIN);
	assert_int_equal(clp_result_errno(CLP_PAGE_LRU), EAGAIN);
	assert_int_equal(clp_kernel_result(clp_kernel_result_parse("pte_mapped_hugepage")),
			 CLP_NR_RESULTS);
	for (int r = CLP_PAGE_COUNT; r < CLP_NR_RESULTS; r++)
		assert_true(clp_kernel_result_parse(clp_result_name(r)) >= 0);
}

/* Record @res for regions [0, @n) of @m. */
static void record_all(struct clp_map *m, uint64_t n, enum clp_result res)
{
	for (uint64_t i = 0; i < n; i++) {
		struct clp_region r = *clp_map_peek(m, i);

		clp_region_record(&r, res, 0);
		assert_int_equal(clp_map_set(m, i, &r), 0);
	}
}

static uint8_t state_of(const struct clp_map *m, uint64_t idx)
{
	return clp_map_peek(m, idx)->state;
}

static void test_punch(void **state)
{
	struct clp_map m;
	struct clp_region r;

	(void)state;
	clp_map_init(&m);
	record_all(&m, 5, CLP_SUCCEEDED);			/* 9 MiB: 5 regions */
	clp_map_punch(&m, 2 * MB + 8192, 4096, 9 * MB);		/* inside region 1 */
	assert_int_equal(state_of(&m, 1), CLP_R_KEEP_OFF);
	assert_int_equal(state_of(&m, 0), CLP_R_HUGE);
	assert_int_equal(state_of(&m, 2), CLP_R_HUGE);
	clp_map_punch(&m, 4 * MB, 2 * MB, 9 * MB);		/* all of region 2 */
	assert_int_equal(state_of(&m, 2), CLP_R_SMALL);
	r = *clp_map_peek(&m, 2);
	clp_region_record(&r, CLP_SUCCEEDED, 0);
	clp_map_set(&m, 2, &r);
	clp_map_punch(&m, 5 * MB, 4 * MB, 9 * MB);		/* to the end of file */
	assert_int_equal(state_of(&m, 2), CLP_R_KEEP_OFF);	/* half of it */
	assert_int_equal(state_of(&m, 3), CLP_R_SMALL);		/* all of it */
	assert_int_equal(state_of(&m, 4), CLP_R_SMALL);		/* all the file has */
	/* keep-off is not undone by a background result */
	r = *clp_map_peek(&m, 1);
	clp_region_record(&r, CLP_EXCEED_NONE_PTE, 0);
	assert_int_equal(r.state, CLP_R_KEEP_OFF);
	assert_false(clp_region_due(&r, 0, false));
	assert_true(clp_region_due(&r, 0, true));
	clp_map_release(&m);
}

static void test_truncate(void **state)
{
	struct clp_map m;
	uint64_t idx;

	(void)state;
	clp_map_init(&m);
	record_all(&m, 4, CLP_SUCCEEDED);			/* 8 MiB */
	clp_map_truncate(&m, 8 * MB, 6 * MB);			/* on a boundary */
	assert_int_equal(state_of(&m, 2), CLP_R_HUGE);
	assert_int_equal(state_of(&m, 3), CLP_R_SMALL);		/* forgotten */
	clp_map_truncate(&m, 6 * MB, 5 * MB);			/* through region 2 */
	assert_int_equal(state_of(&m, 2), CLP_R_KEEP_OFF);
	assert_false(clp_map_next(&m, 3, &idx));
	clp_map_truncate(&m, 5 * MB, 7 * MB);			/* growing: nothing */
	assert_int_equal(state_of(&m, 0), CLP_R_HUGE);
	assert_int_equal(state_of(&m, 2), CLP_R_KEEP_OFF);
	clp_map_release(&m);
}

/* A map costs the regions it records, never the file's apparent size. */
static void test_sparse(void **state)
{
	const uint64_t pb = 1ull << 50, far = (1ull << 63) - 2;
	struct clp_map m;
	uint64_t idx;

	(void)state;
	clp_map_init(&m);
	clp_map_punch(&m, 4096, pb, pb + 8192);			/* huge punch */
	assert_int_equal(m.s.n, 2);				/* only its ends */
	assert_int_equal(state_of(&m, 0), CLP_R_KEEP_OFF);
	assert_int_equal(state_of(&m, (pb + 4096) >> CLP_REGION_SHIFT), CLP_R_KEEP_OFF);
	assert_true(clp_map_next(&m, 1, &idx));
	assert_int_equal(idx, (pb + 4096) >> CLP_REGION_SHIFT);
	assert_false(clp_map_next(&m, idx + 1, &idx));
	clp_map_truncate(&m, far + 1, far);			/* near 2^63 */
	assert_int_equal(state_of(&m, far >> CLP_REGION_SHIFT), CLP_R_KEEP_OFF);
	assert_true(m.s.n <= 3);
	clp_map_truncate(&m, far, 8192);			/* back to 8 KiB */
	assert_int_equal(m.s.n, 1);
	assert_false(clp_map_next(&m, 1, &idx));
	clp_map_release(&m);
}

static void test_backoff(void **state)
{
	struct clp_region r = *clp_map_peek(&(struct clp_map){ 0 }, 0);
	struct clp_region other = r;
	uint64_t t = 100 * SEC;

	(void)state;
	assert_true(clp_region_due(&r, t, false));
	clp_region_record(&r, CLP_ALLOC_FAILED, t);
	assert_int_equal(r.state, CLP_R_FAILED);
	assert_int_equal(r.attempts, 1);
	assert_false(clp_region_due(&r, t + SEC / 2, false));
	assert_true(clp_region_due(&r, t + SEC, false));
	assert_true(clp_region_due(&r, t, true));		/* a user asked */
	clp_region_record(&r, CLP_SCAN_ABORTED, t);
	assert_int_equal(r.attempts, 2);
	assert_false(clp_region_due(&r, t + SEC, false));	/* 2 s now */
	assert_true(clp_region_due(&r, t + 2 * SEC, false));
	for (int i = 0; i < 40; i++)
		clp_region_record(&r, CLP_ALLOC_FAILED, t);
	assert_true(r.retry_ns <= t + 600 * SEC);		/* capped */
	/* the other region is untouched: retry state is per region */
	assert_int_equal(other.state, CLP_R_SMALL);
	assert_true(clp_region_due(&other, t, false));
	clp_region_record(&r, CLP_SUCCEEDED, t);
	assert_int_equal(r.state, CLP_R_HUGE);
	assert_int_equal(r.attempts, 0);
	assert_false(clp_region_due(&r, t, false));
	clp_region_record(&other, CLP_EMPTY, t);
	assert_int_equal(other.state, CLP_R_SMALL);
	assert_int_equal(other.last, CLP_EMPTY);
}

/*
 * Data runs of a memory file: a walk region by region with a kept run
 * finds exactly the data, the same as fresh seeks, and the first region
 * holding data is found by where data starts.
 */
static void test_data_runs(void **state)
{
	const uint64_t mib = 1 << 20;
	static const char page[4096] = { 1 };
	struct clp_run run = { 0 };
	uint64_t s, e, idx, seen = 0;
	int fd = memfd_create("runs", 0);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)(16 * mib)), 0);
	for (uint64_t off = 0; off < 5 * mib; off += 4096)	/* one run over 3 regions */
		assert_int_equal(pwrite(fd, page, 4096, (off_t)off), 4096);
	assert_int_equal(pwrite(fd, page, 4096, (off_t)(11 * mib)), 4096);
	for (uint64_t r = 0; r < 8; r++) {
		uint64_t pos = r * 2 * mib, end = pos + 2 * mib;

		while (!clp_data_run(fd, pos, end, &s, &e, &run)) {
			uint64_t fs_, fe;

			assert_int_equal(clp_data_run(fd, pos, end, &fs_, &fe, NULL), 0);
			assert_int_equal(s, fs_);
			assert_int_equal(e, fe);
			seen += e - s;
			pos = e;
		}
	}
	assert_int_equal(seen, 5 * mib + 4096);
	assert_int_equal(clp_next_data(fd, 5 * mib, 16 * mib, &idx), 0);
	assert_int_equal(idx, 5);	/* 11 MiB is in region 5 */
	assert_int_equal(clp_next_data(fd, 11 * mib + 4096, 16 * mib, &idx), -ENXIO);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_and_errno),
		cmocka_unit_test(test_punch),
		cmocka_unit_test(test_truncate),
		cmocka_unit_test(test_sparse),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_data_runs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
