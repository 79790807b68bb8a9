// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests for the folio policy table: resolving a file hint against the
 * mount default ("never" wins), the order cap per policy (THP > LAF > S), and
 * the fit rules (inside the file, aligned, populated per max_ptes_none).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "foliofs/clp.h"

static void test_resolve(void **state)
{
	(void)state;
	assert_int_equal(clp_policy_resolve(CLP_POLICY_UNSET, CLP_POLICY_UNSET),
			 CLP_POLICY_MADVISE);
	assert_int_equal(clp_policy_resolve(CLP_POLICY_UNSET, CLP_POLICY_ALWAYS),
			 CLP_POLICY_ALWAYS);
	assert_int_equal(clp_policy_resolve(CLP_POLICY_SMALL, CLP_POLICY_ALWAYS),
			 CLP_POLICY_SMALL);
	assert_int_equal(clp_policy_resolve(CLP_POLICY_ALWAYS, CLP_POLICY_NEVER),
			 CLP_POLICY_NEVER);
	assert_int_equal(clp_policy_resolve(CLP_POLICY_NEVER, CLP_POLICY_ALWAYS),
			 CLP_POLICY_NEVER);
	assert_int_equal(clp_policy_resolve(CLP_POLICY_AUTO, CLP_POLICY_MADVISE),
			 CLP_POLICY_AUTO);
}

static void test_parse(void **state)
{
	enum clp_policy p;

	(void)state;
	for (int i = CLP_POLICY_NEVER; i <= CLP_POLICY_AUTO; i++) {
		assert_int_equal(clp_policy_parse(clp_policy_name((enum clp_policy)i), &p), 0);
		assert_int_equal(p, i);
	}
	assert_int_equal(clp_policy_parse("sometimes", &p), -EINVAL);
	assert_int_equal(clp_policy_parse("", &p), -EINVAL);
	assert_string_equal(clp_policy_name((enum clp_policy)42), "invalid");
}

static void test_max_order(void **state)
{
	(void)state;
	assert_int_equal(clp_max_order(CLP_POLICY_NEVER, true), CLP_ORDER_S);
	assert_int_equal(clp_max_order(CLP_POLICY_SMALL, true), CLP_ORDER_LAF);
	assert_int_equal(clp_max_order(CLP_POLICY_MADVISE, false), CLP_ORDER_LAF);
	assert_int_equal(clp_max_order(CLP_POLICY_MADVISE, true), CLP_ORDER_THP);
	assert_int_equal(clp_max_order(CLP_POLICY_ALWAYS, false), CLP_ORDER_THP);
	assert_int_equal(clp_max_order(CLP_POLICY_AUTO, false), CLP_ORDER_THP);
}

static void test_fit(void **state)
{
	struct clp_fit f = { .file_size = 4 * CLP_REGION_SIZE, .off = 0,
			     .populated = CLP_REGION_SIZE };

	(void)state;
	assert_true(clp_order_fits(CLP_ORDER_THP, &f, 0));
	f.populated -= CLP_PAGE_SIZE;			/* one page empty */
	assert_false(clp_order_fits(CLP_ORDER_THP, &f, 0));
	assert_true(clp_order_fits(CLP_ORDER_THP, &f, 1));
	assert_true(clp_order_fits(CLP_ORDER_THP, &f, 511));
	f.populated = CLP_PAGE_SIZE;			/* 511 empty */
	assert_true(clp_order_fits(CLP_ORDER_THP, &f, 511));
	assert_false(clp_order_fits(CLP_ORDER_THP, &f, 510));
	f.off = CLP_LAF_SIZE;				/* misaligned for THP */
	f.populated = CLP_REGION_SIZE;
	assert_false(clp_order_fits(CLP_ORDER_THP, &f, 511));
	f.off = 3 * CLP_REGION_SIZE + CLP_LAF_SIZE;	/* LAF aligned */
	f.populated = CLP_LAF_SIZE;
	assert_true(clp_order_fits(CLP_ORDER_LAF, &f, 0));
	f.file_size = f.off + CLP_LAF_SIZE - 1;		/* tail: not a whole LAF */
	assert_false(clp_order_fits(CLP_ORDER_LAF, &f, 511));
	f.populated = CLP_PAGE_SIZE;
	assert_true(clp_order_fits(CLP_ORDER_S, &f, 0));	/* a tail page is fine */
	f.off = f.file_size + 1;
	assert_false(clp_order_fits(CLP_ORDER_S, &f, 511));	/* beyond EOF */
	f.off = 0;
	f.populated = 0;
	assert_false(clp_order_fits(CLP_ORDER_S, &f, 0));	/* empty page */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resolve),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_max_order),
		cmocka_unit_test(test_fit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
