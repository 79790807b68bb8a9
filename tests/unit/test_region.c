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
}

static void test_punch(void **state)
{
	struct clp_map m = { 0 };

	(void)state;
	assert_int_equal(clp_map_resize(&m, 9 * MB), 0);	/* 5 regions */
	assert_int_equal(m.n, 5);
	for (size_t i = 0; i < m.n; i++)
		clp_map_record(&m, i, CLP_SUCCEEDED, 0);
	clp_map_punch(&m, 2 * MB + 8192, 4096, 9 * MB);		/* inside region 1 */
	assert_int_equal(m.r[1].state, CLP_R_KEEP_OFF);
	assert_int_equal(m.r[0].state, CLP_R_HUGE);
	assert_int_equal(m.r[2].state, CLP_R_HUGE);
	clp_map_punch(&m, 4 * MB, 2 * MB, 9 * MB);		/* all of region 2 */
	assert_int_equal(m.r[2].state, CLP_R_SMALL);
	clp_map_record(&m, 2, CLP_SUCCEEDED, 0);
	clp_map_punch(&m, 5 * MB, 4 * MB, 9 * MB);		/* to the end of file */
	assert_int_equal(m.r[2].state, CLP_R_KEEP_OFF);		/* half of it */
	assert_int_equal(m.r[3].state, CLP_R_SMALL);		/* all of it */
	assert_int_equal(m.r[4].state, CLP_R_SMALL);		/* all the file has */
	/* keep-off is not undone by a background result */
	clp_map_record(&m, 1, CLP_EXCEED_NONE_PTE, 0);
	assert_int_equal(m.r[1].state, CLP_R_KEEP_OFF);
	assert_false(clp_map_due(&m, 1, 0, false));
	assert_true(clp_map_due(&m, 1, 0, true));
	clp_map_release(&m);
}

static void test_truncate(void **state)
{
	struct clp_map m = { 0 };

	(void)state;
	assert_int_equal(clp_map_resize(&m, 8 * MB), 0);
	for (size_t i = 0; i < m.n; i++)
		clp_map_record(&m, i, CLP_SUCCEEDED, 0);
	clp_map_truncate(&m, 8 * MB, 4 * MB);			/* on a boundary */
	assert_int_equal(m.r[1].state, CLP_R_HUGE);
	clp_map_truncate(&m, 8 * MB, 5 * MB);			/* through region 2 */
	assert_int_equal(m.r[2].state, CLP_R_KEEP_OFF);
	assert_int_equal(clp_map_resize(&m, 5 * MB), 0);
	assert_int_equal(m.n, 3);
	clp_map_truncate(&m, 5 * MB, 7 * MB);			/* growing: nothing */
	assert_int_equal(m.r[0].state, CLP_R_HUGE);
	clp_map_release(&m);
}

static void test_backoff(void **state)
{
	struct clp_map m = { 0 };
	uint64_t t = 100 * SEC;

	(void)state;
	assert_int_equal(clp_map_resize(&m, 4 * MB), 0);
	assert_true(clp_map_due(&m, 0, t, false));
	clp_map_record(&m, 0, CLP_ALLOC_FAILED, t);
	assert_int_equal(m.r[0].state, CLP_R_FAILED);
	assert_int_equal(m.r[0].attempts, 1);
	assert_false(clp_map_due(&m, 0, t + SEC / 2, false));
	assert_true(clp_map_due(&m, 0, t + SEC, false));
	assert_true(clp_map_due(&m, 0, t, true));		/* a user asked */
	clp_map_record(&m, 0, CLP_SCAN_ABORTED, t);
	assert_int_equal(m.r[0].attempts, 2);
	assert_false(clp_map_due(&m, 0, t + SEC, false));	/* 2 s now */
	assert_true(clp_map_due(&m, 0, t + 2 * SEC, false));
	for (int i = 0; i < 40; i++)
		clp_map_record(&m, 0, CLP_ALLOC_FAILED, t);
	assert_true(m.r[0].retry_ns <= t + 600 * SEC);		/* capped */
	/* the other region is untouched: retry state is per region */
	assert_int_equal(m.r[1].state, CLP_R_SMALL);
	assert_true(clp_map_due(&m, 1, t, false));
	clp_map_record(&m, 0, CLP_SUCCEEDED, t);
	assert_int_equal(m.r[0].state, CLP_R_HUGE);
	assert_int_equal(m.r[0].attempts, 0);
	assert_false(clp_map_due(&m, 0, t, false));
	clp_map_record(&m, 1, CLP_EMPTY, t);
	assert_int_equal(m.r[1].state, CLP_R_SMALL);
	assert_int_equal(m.r[1].last, CLP_EMPTY);
	clp_map_release(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_and_errno),
		cmocka_unit_test(test_punch),
		cmocka_unit_test(test_truncate),
		cmocka_unit_test(test_backoff),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
