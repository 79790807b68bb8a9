// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests for the daemon's collapser glue (fs/core/collapser.c): a
 * background pass that finds nothing to try again in a file (here: a
 * region too sparse to collapse) marks it quiet, and later passes skip it
 * until its memory changes (a write, a punch) or its policy does, so an
 * idle mount's passes cost a stat per file, not a look at every region.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core_fixture.h"

#define MIB (1ull << 20)

/* Times a region was found too sparse: once per look at it. */
static uint64_t sparse_looks(const struct fixture *f)
{
	return f->fs.clp.stats.by_result[CLP_EXCEED_NONE_PTE];
}

static void test_quiet_file_skipped(void **state)
{
	const struct fs_opts o = { .huge = CLP_POLICY_ALWAYS, .max_ptes_none = 0 };
	struct fs_inode *in;
	struct fixture f;
	uint64_t looks;

	(void)state;
	assert_int_equal(fixture_up(&f, 64 * MIB, &o), 0);
	fs_lock(&f.fs);
	assert_int_equal(fixture_file(&f, "sparse", &in), 0);
	assert_int_equal(fs_file_truncate_relock(&f.fs, in, 4 * MIB), 0);
	assert_int_equal(fixture_write(&f, in, 0, 4096, 'a'), 0); /* 1 page of 512 */
	fsclp_collapse_relock(&f.fs, in, 0, UINT64_MAX, false);
	looks = sparse_looks(&f);
	assert_int_equal(looks, 1);
	assert_true(in->clp_quiet > 0);
	/* nothing changed: the next passes do not look again */
	fsclp_collapse_relock(&f.fs, in, 0, UINT64_MAX, false);
	fsclp_collapse_relock(&f.fs, in, 0, UINT64_MAX, false);
	assert_int_equal(sparse_looks(&f), looks);
	/* a write changes the memory: looked at again */
	assert_int_equal(fixture_write(&f, in, 8192, 4096, 'b'), 0);
	fsclp_collapse_relock(&f.fs, in, 0, UINT64_MAX, false);
	assert_int_equal(sparse_looks(&f), ++looks);
	fsclp_collapse_relock(&f.fs, in, 0, UINT64_MAX, false);
	assert_int_equal(sparse_looks(&f), looks);
	/* so does a new policy */
	assert_int_equal(fs_xattr_set(&f.fs, in, FOFS_XATTR_POLICY, "always", 6, 0), 0);
	fsclp_collapse_relock(&f.fs, in, 0, UINT64_MAX, false);
	assert_int_equal(sparse_looks(&f), ++looks);
	fs_unlock(&f.fs);
	fixture_down(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quiet_file_skipped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
