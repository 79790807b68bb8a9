// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests for writeback chunking (fs/core/writeback.c) and the policy
 * it follows (fs/core/policy.c): a fully written 2 MiB region becomes one
 * order-9 extent under "always", a full 64 KiB chunk an order-4 extent, a
 * sparse run 4 KiB extents; "never" stores 4 KiB extents only; a file's
 * own policy beats the mount's and a new file takes its directory's;
 * unchanged bytes keep their committed extent.  And a commit's long walk
 * of the metadata holds the filesystem lock shared: readers go on.  And
 * an fsync that rewrites a region an earlier fsync logged pages of covers
 * every page: after a crash, pages punched since read as zeros, not as
 * the bytes the log held.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <linux/falloc.h>
#include <cmocka.h>

#include "core_fixture.h"

#define MIB	(1ull << 20)

static unsigned count_order(const struct fs_inode *i, unsigned order)
{
	unsigned n = 0;

	for (uint32_t k = 0; k < i->next; k++)
		n += i->ext[k].e_order == order;
	return n;
}

static void test_chunk_orders(void **state)
{
	const struct fs_opts o = { .huge = CLP_POLICY_ALWAYS };
	struct fixture f;
	struct fs_inode *i;

	(void)state;
	assert_int_equal(fixture_up(&f, 64 * MIB, &o), 0);
	fs_lock(&f.fs);
	assert_int_equal(fixture_file(&f, "a", &i), 0);
	assert_int_equal(fixture_write(&f, i, 0, 2 * MIB, 'h'), 0);		/* THP */
	assert_int_equal(fixture_write(&f, i, 2 * MIB + 65536, 65536, 'l'), 0);	/* LAF */
	assert_int_equal(fixture_write(&f, i, 3 * MIB, 8192, 's'), 0);		/* S, S */
	assert_int_equal(fixture_write(&f, i, 4 * MIB - 4096, 4096, 'e'), 0);	/* S */
	assert_int_equal(fixture_commit(&f), 0);
	assert_int_equal(i->next, 5);
	assert_int_equal(count_order(i, FOFS_ORDER_PMD), 1);
	assert_int_equal(count_order(i, CLP_ORDER_LAF), 1);
	assert_int_equal(count_order(i, CLP_ORDER_S), 3);
	assert_int_equal(i->ext[0].e_file_off, 0);
	assert_int_equal(i->ext[1].e_file_off, 2 * MIB + 65536);
	fs_unlock(&f.fs);
	fixture_down(&f);
}

static void test_policy_never_and_reuse(void **state)
{
	const struct fs_opts o = { .huge = CLP_POLICY_ALWAYS };
	uint64_t blk;
	struct fixture f;
	struct fs_inode *i;

	(void)state;
	assert_int_equal(fixture_up(&f, 64 * MIB, &o), 0);
	fs_lock(&f.fs);
	assert_int_equal(fixture_file(&f, "a", &i), 0);
	assert_int_equal(fs_xattr_set(&f.fs, i, FOFS_XATTR_POLICY, "never", 5, 0), 0);
	assert_int_equal(fs_inode_policy(&f.fs, i), CLP_POLICY_NEVER);
	assert_int_equal(fixture_write(&f, i, 0, 2 * MIB, 'n'), 0);
	assert_int_equal(fixture_commit(&f), 0);
	assert_int_equal(i->next, 512);
	assert_int_equal(count_order(i, CLP_ORDER_S), 512);
	/* the same bytes again: the region is rehashed, its extents kept */
	blk = i->ext[7].e_block;
	assert_int_equal(fixture_write(&f, i, 0, 2 * MIB, 'n'), 0);
	assert_int_equal(fixture_commit(&f), 0);
	assert_int_equal(i->ext[7].e_block, blk);
	fs_unlock(&f.fs);
	fixture_down(&f);
}

static void test_policy_resolution(void **state)
{
	const struct fs_opts o = { .huge = CLP_POLICY_MADVISE };
	struct fs_inode *d, *a, *b;
	struct fixture f;

	(void)state;
	assert_int_equal(fixture_up(&f, 64 * MIB, &o), 0);
	fs_lock(&f.fs);
	assert_int_equal(fs_make_node(&f.fs, FOFS_ROOT_INO, "d", S_IFDIR | 0755, 0, NULL,
				      &f.root, &d), 0);
	assert_int_equal(fixture_file(&f, "a", &a), 0);
	/* no attribute: the mount's default */
	assert_int_equal(fs_inode_policy(&f.fs, a), clp_policy_resolve(CLP_POLICY_UNSET,
								   CLP_POLICY_MADVISE));
	/* an unreadable stored value counts as unset */
	assert_int_equal(fs_xattr_set(&f.fs, a, FOFS_XATTR_POLICY, "bogus", 5, 0), 0);
	assert_int_equal(fs_inode_policy(&f.fs, a), fs_inode_policy(&f.fs, d));
	/* the directory's policy is inherited at create */
	assert_int_equal(fs_xattr_set(&f.fs, d, FOFS_XATTR_POLICY, "always", 6, 0), 0);
	assert_int_equal(fs_make_node(&f.fs, d->ino, "b", S_IFREG | 0644, 0, NULL,
				      &f.root, &b), 0);
	assert_int_equal(fs_inode_policy(&f.fs, b),
			 clp_policy_resolve(CLP_POLICY_ALWAYS, CLP_POLICY_MADVISE));
	fs_unlock(&f.fs);
	fixture_down(&f);
}

struct committer {
	struct fixture *f;
	int ret;
	bool done; /* atomic */
};

static void *commit_main(void *arg)
{
	struct committer *c = arg;

	c->ret = fs_commit(&c->f->fs, false);
	__atomic_store_n(&c->done, true, __ATOMIC_RELEASE);
	return NULL;
}

/* Readers of fs->lock now, besides the caller's shared hold. */
static uint32_t other_readers(struct fixture *f)
{
	uint32_t n;

	pthread_mutex_lock(&f->fs.lock.m);
	n = f->fs.lock.readers;
	pthread_mutex_unlock(&f->fs.lock.m);
	return n - 1;
}

/*
 * A commit of a large namespace: while it walks all metadata, a reader
 * gets fs->lock shared beside it (seen as a second reader while the
 * commit lock is held), where an exclusive walk would shut it out.
 */
static void test_commit_lets_readers_in(void **state)
{
	const struct fs_opts o = { .huge = CLP_POLICY_NEVER };
	struct fixture f;
	struct committer c = { .f = &f };
	struct fs_inode *in;
	unsigned beside = 0;
	pthread_t t;
	char name[32];

	(void)state;
	assert_int_equal(fixture_up(&f, 256 * MIB, &o), 0);
	fs_lock(&f.fs);
	for (int n = 0; n < 100000; n++) {
		snprintf(name, sizeof(name), "entry-%d", n);
		assert_int_equal(fs_make_node(&f.fs, FOFS_ROOT_INO, name, S_IFREG | 0644, 0, NULL,
					      &f.root, &in),
				 0);
	}
	fs_unlock(&f.fs);
	for (int round = 0; round < 5 && !beside; round++) {
		__atomic_store_n(&c.done, false, __ATOMIC_RELAXED);
		fs_lock(&f.fs);
		fs_meta_dirty(&f.fs, fs_iget(&f.fs, FOFS_ROOT_INO)); /* a commit to make */
		fs_unlock(&f.fs);
		assert_int_equal(pthread_create(&t, NULL, commit_main, &c), 0);
		while (!__atomic_load_n(&c.done, __ATOMIC_ACQUIRE)) {
			fs_lock_shared(&f.fs);
			beside += other_readers(&f) > 0;
			fs_unlock_shared(&f.fs);
		}
		assert_int_equal(pthread_join(t, NULL), 0);
		assert_int_equal(c.ret, 0);
	}
	assert_true(beside > 0);
	fixture_down(&f);
}

#define PG 4096u

/* fsync @ino as the front end does: no lock held; lock held around. */
static int fsync_unlocked(struct fixture *f, uint64_t ino)
{
	int ret;

	fs_unlock(&f->fs);
	ret = fs_fsync(&f->fs, ino);
	fs_lock(&f->fs);
	return ret;
}

/* Drop the daemon without a commit, as kill -9 does, and mount again. */
static void crash_and_mount(struct fixture *f)
{
	fs_unlock(&f->fs);
	fs_destroy(&f->fs);
	img_close(f->img);
	f->img = NULL;
	assert_int_equal(img_open(f->path, IMG_O_RDWR, &f->img), 0);
	assert_int_equal(fs_init(&f->fs, f->img, &(struct fs_opts){ .huge = CLP_POLICY_NEVER }), 0);
	assert_int_equal(fs_load_image(&f->fs), 0);
	fs_lock(&f->fs);
}

static void assert_page(struct fs_inode *in, uint64_t off, int fill)
{
	static char buf[PG], want[PG];

	memset(want, fill, sizeof(want));
	assert_int_equal(pread(in->memfd, buf, PG, (off_t)off), PG);
	assert_memory_equal(buf, want, PG);
}

static void test_logged_pages_punched(void **state)
{
	struct fixture f;
	struct fs_inode *in;
	uint64_t r1 = 2 * MIB, ino;

	(void)state;
	assert_int_equal(fixture_up(&f, 64 * MIB, &(struct fs_opts){ .huge = CLP_POLICY_NEVER }),
			 0);
	fs_lock(&f.fs);
	assert_int_equal(fixture_file(&f, "f", &in), 0);
	ino = in->ino;
	/* region 1: pages 100..139 hold data, 0..99 are holes; a generation */
	assert_int_equal(fixture_write(&f, in, r1 + 100 * PG, 40 * PG, 'a'), 0);
	assert_int_equal(fixture_commit(&f), 0);
	/* an fsync stores the region and keeps its page hashes */
	assert_int_equal(fixture_write(&f, in, r1 + 100 * PG, 40 * PG, 'b'), 0);
	assert_int_equal(fsync_unlocked(&f, ino), 0);
	/* a few pages written into the holes: the next fsync logs them */
	assert_int_equal(fixture_write(&f, in, r1, 4 * PG, 'c'), 0);
	assert_int_equal(fsync_unlocked(&f, ino), 0);
	assert_true(fs_plog_any(in));
	/* punched again, and enough else changed that the region is rewritten */
	assert_int_equal(fs_file_fallocate(&f.fs, in, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					   r1, 4 * PG, &f.root),
			 0);
	assert_int_equal(fixture_write(&f, in, r1 + 200 * PG, 100 * PG, 'd'), 0);
	assert_int_equal(fsync_unlocked(&f, ino), 0);
	crash_and_mount(&f);
	in = fs_iget(&f.fs, ino);
	assert_non_null(in);
	assert_int_equal(fs_file_open_relock(&f.fs, in, O_RDWR, &f.root), 0);
	for (unsigned p = 0; p < 4; p++)
		assert_page(in, r1 + p * PG, 0);
	assert_page(in, r1 + 100 * PG, 'b');
	assert_page(in, r1 + 299 * PG, 'd');
	fs_unlock(&f.fs);
	fixture_down(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chunk_orders),
		cmocka_unit_test(test_policy_never_and_reuse),
		cmocka_unit_test(test_policy_resolution),
		cmocka_unit_test(test_commit_lets_readers_in),
		cmocka_unit_test(test_logged_pages_punched),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
