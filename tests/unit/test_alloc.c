// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests for the block allocator on a freshly formatted image: every
 * order is aligned on disk to its size, small extents pack into partly used
 * 2 MiB groups so whole groups stay free for huge extents, reservations
 * reject overlaps, freed blocks are not reused before the next commit, and
 * a full image answers -ENOSPC.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "foliofs/img.h"

#define GROUP	512u

struct fixture {
	char path[64];
	struct img *img;
};

static int setup(void **state)
{
	struct img_mkfs_opts o = { .size = 16u << 20 };	/* 8 groups */
	struct fixture *f = calloc(1, sizeof(*f));
	int fd;

	strcpy(f->path, "/tmp/foliofs-unit.XXXXXX");
	fd = mkstemp(f->path);
	close(fd);
	assert_int_equal(img_format(f->path, &o, NULL, 0), 0);
	assert_int_equal(img_open(f->path, IMG_O_RDWR, &f->img), 0);
	assert_int_equal(img_load(f->img, NULL, NULL), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	img_close(f->img);
	unlink(f->path);
	free(f);
	return 0;
}

static void test_alignment(void **state)
{
	struct fixture *f = *state;
	uint64_t b;

	for (int i = 0; i < 5; i++) {
		assert_int_equal(img_alloc(f->img, 9, &b), 0);
		assert_int_equal(b % GROUP, 0);
		assert_int_equal(img_alloc(f->img, 4, &b), 0);
		assert_int_equal(b % 16, 0);
		assert_int_equal(img_alloc(f->img, 0, &b), 0);
	}
	assert_int_equal(img_alloc(f->img, 3, &b), -EINVAL);
}

static void test_small_packs(void **state)
{
	struct fixture *f = *state;
	uint64_t b, huge;

	/* group 0 is partly used by the superblocks and metadata */
	for (int i = 0; i < 20; i++) {
		assert_int_equal(img_alloc(f->img, i % 2 ? 4 : 0, &b), 0);
		assert_true(b < GROUP);
	}
	/* so huge extents still find whole groups */
	for (int i = 0; i < 7; i++) {
		assert_int_equal(img_alloc(f->img, 9, &huge), 0);
		assert_true(huge >= GROUP);
	}
	assert_int_equal(img_alloc(f->img, 9, &huge), -ENOSPC);
	/* small ones fill the rest of group 0, then stop */
	while (img_alloc(f->img, 0, &b) == 0)
		assert_true(b < GROUP);
	assert_int_equal(img_used_blocks(f->img), 8 * GROUP);
}

static void test_reserve_and_free(void **state)
{
	struct fixture *f = *state;
	uint64_t b, again;

	assert_int_equal(img_reserve(f->img, 1024, 512), 0);
	assert_int_equal(img_reserve(f->img, 1500, 16), -EUCLEAN);	/* overlap */
	assert_int_equal(img_reserve(f->img, 4095, 2), -EUCLEAN);	/* past end */
	assert_int_equal(img_reserve(f->img, 0, 1), -EUCLEAN);		/* superblock */
	assert_int_equal(img_alloc(f->img, 9, &b), 0);
	img_free(f->img, b, 9);
	assert_int_equal(img_pending_blocks(f->img), 512);
	/* the committed generation may still use it: not handed out again */
	for (int i = 0; i < 5; i++) {
		if (img_alloc(f->img, 9, &again))
			break;
		assert_int_not_equal(again, b);
	}
	img_unalloc(f->img, 1024, 9);
	assert_int_equal(img_alloc(f->img, 9, &again), 0);
	assert_int_equal(again, 1024);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_alignment, setup, teardown),
		cmocka_unit_test_setup_teardown(test_small_packs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reserve_and_free, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
