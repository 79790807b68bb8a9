// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests for the core's space accounting (fs/core/space.c, and
 * fs_space_check() in data.c): one formula gives the image's use, the
 * copy-on-write reserve and the room data may take; admission stops at
 * exactly that room; under a memory cap, clean closed files are given back
 * (their data then counts as living in the image) before a write is
 * refused; a trim after a release looks at a bounded number of files that
 * must stay, however many are loaded, and a commit's trim gives back
 * every file it may.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <cmocka.h>

#include "core_fixture.h"

#define MIB	(1ull << 20)

static void test_one_formula(void **state)
{
	const struct fs_opts o = { .huge = CLP_POLICY_ALWAYS };
	struct fs_space_use u;
	struct fixture f;

	(void)state;
	assert_int_equal(fixture_up(&f, 64 * MIB, &o), 0);
	fs_lock(&f.fs);
	fs_space_use(&f.fs, &u);
	assert_int_equal(u.total, img_sb(f.img)->s_blocks);
	assert_int_equal(u.used, f.fs.space.committed_meta + FOFS_SUPER_SLOTS);
	assert_int_equal(u.reserve, f.fs.space.committed_meta + 64 + u.total / 64);
	assert_int_equal(u.image_room, u.total - u.used - u.reserve);
	assert_int_equal(u.mem_room, 0);
	assert_int_equal(u.room, u.image_room);
	/* admission stops at exactly the room */
	assert_int_equal(fs_space_check(&f.fs, u.image_room), 0);
	assert_int_equal(fs_space_check(&f.fs, u.image_room + 1), -ENOSPC);
	fs_unlock(&f.fs);
	fixture_down(&f);
}

static void test_memory_counts(void **state)
{
	const struct fs_opts o = { .huge = CLP_POLICY_ALWAYS };
	struct fs_space_use before, after;
	struct fixture f;
	struct fs_inode *i;

	(void)state;
	assert_int_equal(fixture_up(&f, 64 * MIB, &o), 0);
	fs_lock(&f.fs);
	fs_space_use(&f.fs, &before);
	assert_int_equal(fixture_file(&f, "a", &i), 0);
	assert_int_equal(fixture_write(&f, i, 0, 40 * 4096, 'a'), 0);
	assert_int_equal(f.fs.space.cache_blocks, 40);
	fs_space_use(&f.fs, &after);
	assert_int_equal(after.used, before.used + 40);
	/* the room for data does not shrink by what data already holds */
	assert_int_equal(after.image_room, before.image_room);
	fs_unlock(&f.fs);
	fixture_down(&f);
}

static void test_mem_cap_trims_clean_files(void **state)
{
	const struct fs_opts o = { .huge = CLP_POLICY_ALWAYS, .mem_cap = 256 * 4096 };
	struct fs_space_use u;
	struct fixture f;
	struct fs_inode *i;

	(void)state;
	assert_int_equal(fixture_up(&f, 64 * MIB, &o), 0);
	fs_lock(&f.fs);
	assert_int_equal(fixture_file(&f, "a", &i), 0);
	assert_int_equal(fixture_write(&f, i, 0, 100 * 4096, 'a'), 0);
	fs_space_use(&f.fs, &u);
	assert_int_equal(u.room, 256);	/* the memory cap is the tighter */
	/* open or dirty data stays: the write is refused */
	assert_int_equal(fs_space_check(&f.fs, 200), -ENOSPC);
	assert_int_equal(fixture_commit(&f), 0);
	i->nopen--;
	assert_int_equal(f.fs.space.cold_blocks, 0);
	/* clean and closed: given back first, then the write fits */
	assert_int_equal(fs_space_check(&f.fs, 200), 0);
	assert_int_equal(i->memfd, -1);
	assert_int_equal(f.fs.space.cache_blocks, 0);
	assert_int_equal(f.fs.space.cold_blocks, 100);
	assert_int_equal(fs_space_check(&f.fs, 257), -ENOSPC);
	fs_unlock(&f.fs);
	fixture_down(&f);
}

/*
 * A file removed after its last close, or closed after its removal, gives
 * its memory back at once, before the kernel's FORGET: an rm then a write
 * must find the room (enospc.sh saw ENOSPC while the FORGET was queued).
 * Opened again by handle, it is stale.
 */
static void test_removed_closed_frees_memory(void **state)
{
	const struct fs_opts o = { .huge = CLP_POLICY_ALWAYS };
	struct fixture f;
	struct fs_inode *a, *b;

	(void)state;
	assert_int_equal(fixture_up(&f, 64 * MIB, &o), 0);
	fs_lock(&f.fs);
	assert_int_equal(fixture_file(&f, "a", &a), 0);
	assert_int_equal(fixture_write(&f, a, 0, 40 * 4096, 'a'), 0);
	assert_int_equal(fixture_file(&f, "b", &b), 0);
	assert_int_equal(fixture_write(&f, b, 0, 20 * 4096, 'b'), 0);
	assert_int_equal(f.fs.space.cache_blocks, 60);
	a->nlookup = b->nlookup = 1; /* the kernel holds both */
	/* closed, then removed */
	a->nopen--;
	fs_inode_put_check(&f.fs, a);
	assert_int_equal(fs_remove(&f.fs, FOFS_ROOT_INO, "a", false), 0);
	assert_int_equal(a->memfd, -1);
	assert_int_equal(f.fs.space.cache_blocks, 20);
	assert_int_equal(fs_file_open_relock(&f.fs, a, O_RDONLY, &f.root), -ESTALE);
	/* removed while open, then closed */
	assert_int_equal(fs_remove(&f.fs, FOFS_ROOT_INO, "b", false), 0);
	assert_int_equal(f.fs.space.cache_blocks, 20);
	b->nopen--;
	fs_inode_put_check(&f.fs, b);
	assert_int_equal(f.fs.space.cache_blocks, 0);
	fs_unlock(&f.fs);
	fixture_down(&f);
}

struct closer {
	struct fixture *f;
	struct fs_inode *inode;
};

/* The RELEASE that comes late: 50 ms after the writer gave up. */
static void *close_late(void *arg)
{
	struct closer *c = arg;
	const struct timespec ms50 = { 0, 50 * 1000 * 1000 };

	nanosleep(&ms50, NULL);
	fs_lock(&c->f->fs);
	assert_false(fs_file_close(&c->f->fs, c->inode, false));
	fs_unlock(&c->f->fs);
	return NULL;
}

/*
 * A writer that finds no room waits for a close while open files hold
 * memory a close would free (a removed file: its RELEASE may be on its
 * way), and not when none does.
 */
static void test_await_release(void **state)
{
	const struct fs_opts o = { .huge = CLP_POLICY_ALWAYS };
	struct fixture f;
	struct fs_inode *a;
	struct closer c = { &f, NULL };
	pthread_t t;
	uint64_t seen;

	(void)state;
	assert_int_equal(fixture_up(&f, 64 * MIB, &o), 0);
	fs_lock(&f.fs);
	assert_int_equal(fixture_file(&f, "a", &a), 0);
	assert_int_equal(fixture_write(&f, a, 0, 40 * 4096, 'a'), 0);
	a->nlookup = 1;
	assert_int_equal(fs_space_held_open(&f.fs), 0); /* dirty: a close frees nothing */
	assert_int_equal(fs_remove(&f.fs, FOFS_ROOT_INO, "a", false), 0);
	assert_int_equal(fs_space_held_open(&f.fs), 40);
	seen = fs_space_releases(&f.fs);
	fs_unlock(&f.fs);
	c.inode = a;
	assert_int_equal(pthread_create(&t, NULL, close_late, &c), 0);
	assert_true(fs_space_await_release(&f.fs, seen));
	pthread_join(t, NULL);
	fs_lock(&f.fs);
	assert_int_equal(f.fs.space.cache_blocks, 0);
	assert_int_equal(fs_space_held_open(&f.fs), 0);
	seen = fs_space_releases(&f.fs);
	fs_unlock(&f.fs);
	assert_false(fs_space_await_release(&f.fs, seen)); /* nothing to wait for */
	fixture_down(&f);
}

static void test_mem_cap_margin(void **state)
{
	uint64_t g = 1ull << 30, cap = fs_space_mem_cap(g);

	(void)state;
	/* a margin stays for the daemon: an eighth, doubled when sanitized */
	assert_true(cap < g);
	assert_true(cap >= g - g / 4);
	assert_int_equal(fs_space_mem_cap(64ull << 20), 32ull << 20);
	/* a small cgroup keeps at least 64 MiB for the daemon's own memory */
	assert_true(fs_space_mem_cap(384ull << 20) <= 320ull << 20);
}

/*
 * Hundreds of files written and closed but not yet committed: each must
 * stay loaded.  The trim after a release looks at FS_TRIM_SKIPS of them
 * (moving them to the recently used end), not at all of them every time;
 * the commit's trim then gives back all but the descriptor budget.
 */
static void test_trim_bounded(void **state)
{
	const struct fs_opts o = { .huge = CLP_POLICY_ALWAYS, .max_loaded = 8 };
	struct fs_inode *order[FS_TRIM_SKIPS + 1], *in;
	uint64_t loaded;
	struct fixture f;
	char name[16];

	(void)state;
	assert_int_equal(fixture_up(&f, 64 * MIB, &o), 0);
	fs_lock(&f.fs);
	for (int n = 0; n < 300; n++) {
		snprintf(name, sizeof(name), "f%d", n);
		assert_int_equal(fixture_file(&f, name, &in), 0);
		assert_int_equal(fixture_write(&f, in, 0, 4096, 'a'), 0);
		in->nopen--;
	}
	loaded = f.fs.nloaded;
	assert_true(loaded >= 300);
	in = f.fs.loaded_tail;
	for (int n = 0; n <= FS_TRIM_SKIPS; n++, in = in->lprev)
		order[n] = in;
	fs_data_trim(&f.fs, false);
	assert_int_equal(f.fs.nloaded, loaded); /* all dirty: none may go */
	assert_ptr_equal(f.fs.loaded_tail, order[FS_TRIM_SKIPS]);
	assert_ptr_equal(f.fs.loaded, order[FS_TRIM_SKIPS - 1]);
	fs_data_trim(&f.fs, true); /* every file looked at once, and it ends */
	assert_int_equal(f.fs.nloaded, loaded);
	assert_int_equal(fixture_commit(&f), 0);
	assert_true(f.fs.nloaded <= 8);
	fs_unlock(&f.fs);
	fixture_down(&f);
}

/*
 * Data already on disk loads into memory however full the image is: its
 * blocks are allocated, so the room left for new data does not bound it
 * (a full image, remounted, read every file back with EFAULT before).
 */
static void test_load_past_room(void **state)
{
	const struct fs_opts o = { .huge = CLP_POLICY_ALWAYS };
	struct fs_space_use u;
	struct fs_inode *in;
	struct fixture f;
	uint64_t bump;
	char c = 0;

	(void)state;
	assert_int_equal(fixture_up(&f, 64 * MIB, &o), 0);
	if (f.fs.shm.mnt < 0) { /* plain memfds: no size to outgrow */
		fixture_down(&f);
		skip();
	}
	fs_lock(&f.fs);
	assert_int_equal(fixture_file(&f, "a", &in), 0);
	assert_int_equal(fixture_write(&f, in, 0, 4 * MIB, 'a'), 0);
	assert_int_equal(fixture_commit(&f), 0);
	in->nopen--;
	fs_data_trim_to(&f.fs, 0);
	assert_int_equal(in->memfd, -1);
	/* the image fills into its reserve (here: its metadata grows), so
	 * that even with the file's blocks counted back less room is left
	 * than the file holds */
	fs_space_use(&f.fs, &u);
	bump = (u.image_room + 600) / 2; /* counted twice: meta and reserve */
	f.fs.space.committed_meta += bump;
	fs_space_use(&f.fs, &u);
	assert_int_equal(u.image_room, 0);
	assert_int_equal(fs_file_open_relock(&f.fs, in, O_RDWR, &f.root), 0);
	in->nopen++;
	assert_int_equal(pread(in->memfd, &c, 1, 4 * MIB - 1), 1);
	assert_int_equal(c, 'a');
	in->nopen--;
	f.fs.space.committed_meta -= bump;
	fs_unlock(&f.fs);
	fixture_down(&f);
}

/*
 * Under a memory cap a file whose data cannot fit, even after clean closed
 * files went, is refused at open with ENOMEM (and one log line), not
 * half loaded; one that fits after a trim loads.
 */
static void test_load_past_mem_cap(void **state)
{
	const struct fs_opts big = { .huge = CLP_POLICY_NEVER };
	const struct fs_opts capped = { .huge = CLP_POLICY_NEVER, .mem_cap = 256 * 4096 };
	struct fs_inode *a, *b;
	struct fixture f;

	(void)state;
	assert_int_equal(fixture_up(&f, 64 * MIB, &big), 0);
	fs_lock(&f.fs);
	assert_int_equal(fixture_file(&f, "a", &a), 0);
	assert_int_equal(fixture_write(&f, a, 0, 300 * 4096, 'a'), 0);
	assert_int_equal(fixture_file(&f, "b", &b), 0);
	assert_int_equal(fixture_write(&f, b, 0, 200 * 4096, 'b'), 0);
	assert_int_equal(fixture_commit(&f), 0);
	a->nopen--;
	b->nopen--;
	fs_data_trim_to(&f.fs, 0);
	/* the same filesystem seen by a daemon in a smaller cgroup */
	f.fs.opts.mem_cap = capped.mem_cap;
	assert_int_equal(fs_file_open_relock(&f.fs, a, O_RDWR, &f.root), -ENOMEM);
	assert_int_equal(a->memfd, -1);
	assert_int_equal(fs_file_open_relock(&f.fs, b, O_RDWR, &f.root), 0);
	assert_true(b->memfd >= 0);
	fs_unlock(&f.fs);
	fixture_down(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_formula),
		cmocka_unit_test(test_memory_counts),
		cmocka_unit_test(test_mem_cap_trims_clean_files),
		cmocka_unit_test(test_removed_closed_frees_memory),
		cmocka_unit_test(test_await_release),
		cmocka_unit_test(test_mem_cap_margin),
		cmocka_unit_test(test_trim_bounded),
		cmocka_unit_test(test_load_past_room),
		cmocka_unit_test(test_load_past_mem_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
