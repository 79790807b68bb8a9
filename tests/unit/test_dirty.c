// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests for the core's dirty maps (fs/core/dirty.c): a write marks
 * exactly the 2 MiB regions it touched; a range too long to mark region by
 * region marks its ends and the regions that hold data, never every region
 * it spans; "anything, anywhere" marks the whole file; a commit leaves the
 * file clean; a write through a mapping that outlived its passthrough open
 * (seen as the memory file's new mtime) makes the file dirty again.  No
 * libfuse: the core is driven as the front end drives it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "core_fixture.h"

#define MIB	(1ull << 20)

static unsigned marked(const struct fs_inode *inode, uint64_t *first, uint64_t *last)
{
	unsigned n = 0;

	for (uint64_t r = 0; spa_next(&inode->dmap, r, &r); r++, n++) {
		if (!n)
			*first = r;
		*last = r;
	}
	return n;
}

static void test_write_marks_its_regions(void **state)
{
	const struct fs_opts o = { .huge = CLP_POLICY_ALWAYS };
	struct fixture f;
	struct fs_inode *i;
	uint64_t first = 0, last = 0;

	(void)state;
	assert_int_equal(fixture_up(&f, 64 * MIB, &o), 0);
	fs_lock(&f.fs);
	assert_int_equal(fixture_file(&f, "a", &i), 0);
	assert_false(i->dirty);
	assert_int_equal(fixture_write(&f, i, 0, 4096, 'a'), 0);
	assert_true(i->dirty);
	assert_false(i->dall);
	assert_int_equal(marked(i, &first, &last), 1);
	assert_int_equal(first, 0);
	/* a write across a region boundary marks both */
	assert_int_equal(fixture_write(&f, i, 6 * MIB - 10, 20, 'b'), 0);
	assert_int_equal(marked(i, &first, &last), 3);
	assert_int_equal(last, 3);
	/* each region says which of its 256 KiB chunks changed */
	assert_int_equal(*(uint8_t *)spa_get(&i->dmap, 0), 0x01);
	assert_int_equal(*(uint8_t *)spa_get(&i->dmap, 2), 0x80);
	assert_int_equal(*(uint8_t *)spa_get(&i->dmap, 3), 0x01);
	assert_int_equal(fixture_write(&f, i, 512 * 1024 - 1, 2, 'c'), 0);
	assert_int_equal(*(uint8_t *)spa_get(&i->dmap, 0), 0x07);
	fs_unlock(&f.fs);
	fixture_down(&f);
}

static void test_long_range_costs_its_data(void **state)
{
	const struct fs_opts o = { .huge = CLP_POLICY_ALWAYS };
	const uint64_t far = 1ull << 40;	/* 1 TiB: 524288 regions */
	struct fixture f;
	struct fs_inode *i;
	uint64_t first = 0, last = 0;

	(void)state;
	assert_int_equal(fixture_up(&f, 64 * MIB, &o), 0);
	fs_lock(&f.fs);
	assert_int_equal(fixture_file(&f, "sparse", &i), 0);
	assert_int_equal(fixture_write(&f, i, 100 * MIB, 4096, 'x'), 0);
	assert_int_equal(fixture_write(&f, i, far - 4096, 4096, 'y'), 0);
	assert_int_equal(fixture_commit(&f), 0);
	assert_false(i->dirty);
	/* a truncate-sized change: its two ends and the data between */
	fs_data_dirty(&f.fs, i, 4096, far + 1);
	assert_false(i->dall);
	assert_int_equal(marked(i, &first, &last), 4);
	assert_int_equal(first, 0);
	assert_int_equal(last, far >> CLP_REGION_SHIFT);
	assert_int_equal(*(uint8_t *)spa_get(&i->dmap, (100 * MIB) >> CLP_REGION_SHIFT), 0xff);
	assert_int_equal(*(uint8_t *)spa_get(&i->dmap, (far - 1) >> CLP_REGION_SHIFT), 0xff);
	/* "anything, anywhere" (a passthrough writer): the whole file */
	fs_data_dirty(&f.fs, i, 0, UINT64_MAX);
	assert_true(i->dall);
	fs_unlock(&f.fs);
	fixture_down(&f);
}

static void test_commit_cleans(void **state)
{
	const struct fs_opts o = { .huge = CLP_POLICY_ALWAYS };
	struct fixture f;
	struct fs_inode *i;
	uint64_t first, last;

	(void)state;
	assert_int_equal(fixture_up(&f, 64 * MIB, &o), 0);
	fs_lock(&f.fs);
	assert_int_equal(fixture_file(&f, "a", &i), 0);
	assert_int_equal(fixture_write(&f, i, 3 * MIB, 8192, 'c'), 0);
	assert_int_equal(fixture_commit(&f), 0);
	assert_false(i->dirty);
	assert_false(i->dall);
	assert_int_equal(marked(i, &first, &last), 0);
	assert_int_equal(i->next, 2);	/* two 4 KiB extents: a sparse region */
	fs_unlock(&f.fs);
	fixture_down(&f);
}

/*
 * A passthrough open for reading and writing was closed, its mapping
 * stays, and the client writes through it after a commit cleaned the
 * file: the kernel stamps the memory file's mtime, and folding that in
 * (as getattr and every commit's snapshot do) marks the data dirty, so
 * writeback looks at it again (stress.sh under TSan lost such writes).
 */
static void test_mapping_write_after_close(void **state)
{
	const struct fs_opts o = { .huge = CLP_POLICY_NEVER };
	struct timespec ts = { 0, 0 };
	struct fs_inode *in;
	struct fixture f;

	(void)state;
	assert_int_equal(fixture_up(&f, 64 * MIB, &o), 0);
	fs_lock(&f.fs);
	assert_int_equal(fixture_file(&f, "f", &in), 0);
	assert_int_equal(fixture_write(&f, in, 0, 8192, 'a'), 0);
	fs_data_watch(&f.fs, in, true); /* as pt_open_relock() does for O_RDWR */
	assert_int_equal(fixture_commit(&f), 0);
	in->nopen--;
	assert_false(in->dirty);
	/* the mapping's write: new bytes, and the kernel's mtime stamp */
	assert_int_equal(pwrite(in->memfd, "b", 1, 4096), 1);
	ts.tv_sec = in->mfd_mtime.tv_sec + 1;
	assert_int_equal(futimens(in->memfd, (struct timespec[2]){ ts, ts }), 0);
	fs_data_sync_attr(&f.fs, in);
	assert_true(in->dirty);
	fs_unlock(&f.fs);
	fixture_down(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_marks_its_regions),
		cmocka_unit_test(test_long_range_costs_its_data),
		cmocka_unit_test(test_commit_cleans),
		cmocka_unit_test(test_mapping_write_after_close),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
