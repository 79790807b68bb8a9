// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests for the intent log: batches appended after a commit replay on
 * open with replace semantics (inodes, entries added and removed, dropped
 * inodes), again on every open until a commit folds them; replay stops at a
 * torn batch and at one whose data never reached the disk; fsck checks the
 * replayed state and -y folds it into a generation.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
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

static char path[64];

struct seen {
	int inodes, dirents, writes;
	uint64_t woff;		 /* the last logged write's offset */
	uint64_t size2;		 /* inode 2's size, or 0 */
	struct fofs_extent ext2; /* inode 2's first extent */
	char names[64][16];
};

static int on_inode(void *arg, const struct img_inode_rec *rec)
{
	struct seen *s = arg;

	s->inodes++;
	if (rec->ino.i_ino == 2) {
		s->size2 = rec->ino.i_size;
		if (rec->ino.i_extents)
			s->ext2 = rec->ext[0];
	}
	return 0;
}

static int on_dirent(void *arg, uint64_t parent, uint64_t ino, const char *name, size_t len)
{
	struct seen *s = arg;

	(void)parent;
	(void)ino;
	if (s->dirents < 64)
		snprintf(s->names[s->dirents], sizeof(s->names[0]), "%.*s", (int)len, name);
	s->dirents++;
	return 0;
}

static int on_write(void *arg, uint64_t ino, uint64_t off, const void *data, size_t len)
{
	struct seen *s = arg;

	(void)ino;
	(void)data;
	(void)len;
	s->writes++;
	s->woff = off;
	return 0;
}

static const struct img_meta_ops ops = { .inode = on_inode,
					 .dirent = on_dirent,
					 .write = on_write };

static int setup(void **state)
{
	struct img_mkfs_opts o = { .size = 32u << 20 };
	int fd;

	(void)state;
	strcpy(path, "/tmp/foliofs-log.XXXXXX");
	fd = mkstemp(path);
	close(fd);
	return img_format(path, &o, NULL, 0);
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	return 0;
}

static struct img *open_load(struct seen *s)
{
	struct img *img = NULL;

	memset(s, 0, sizeof(*s));
	assert_int_equal(img_open(path, IMG_O_RDWR, &img), 0);
	if (img_load(img, &ops, s))
		fail_msg("load: %s", img_errmsg(img));
	return img;
}

static void put_root(struct img_mw *mw, uint32_t nlink)
{
	struct img_inode_rec root = { 0 };

	root.ino = (struct fofs_inode){ .i_ino = 1, .i_mode = 040755, .i_nlink = nlink };
	assert_int_equal(img_mw_inode(mw, &root), 0);
}

/* Inode 2, one 4 KiB extent of @fill written now (copy-on-write). */
static void put_file(struct img *img, struct img_mw *mw, int fill, struct fofs_extent *e)
{
	struct img_inode_rec file = { 0 };
	uint8_t buf[4096];

	memset(buf, fill, sizeof(buf));
	memset(e, 0, sizeof(*e));
	assert_int_equal(img_alloc(img, FOFS_ORDER_SMALL, &e->e_block), 0);
	assert_int_equal(img_write_extent(img, e, buf), 0);
	file.ino = (struct fofs_inode){
		.i_ino = 2, .i_mode = 0100644, .i_nlink = 1, .i_size = 4096, .i_extents = 1
	};
	file.ext = e;
	assert_int_equal(img_mw_inode(mw, &file), 0);
}

static void append(struct img *img, struct img_mw *mw)
{
	assert_int_equal(img_mw_finish(mw), 0);
	assert_int_equal(img_log_append(img, mw), 0);
	img_mw_release(mw);
}

/*
 * A batch creating inode 2 as /@name with one extent of @fill, plus an
 * optional logged write of @w at @woff; the caller may add more first.
 */
static void create_batch(struct img *img, const char *name, int fill, const char *w, uint64_t woff,
			 struct fofs_extent *e)
{
	struct img_mw mw;

	img_mw_init(&mw);
	put_file(img, &mw, fill, e);
	assert_int_equal(img_mw_dirent(&mw, 1, 2, name, strlen(name)), 0);
	if (w)
		assert_int_equal(img_mw_write(&mw, 2, woff, w, strlen(w)), 0);
	assert_int_equal(img_mw_next_ino(&mw, 3), 0);
	append(img, &mw);
}

/* The mount's commit: the log takes batches only after one of ours. */
static void checkpoint_empty(struct img *img)
{
	struct img_commit_args args = { .next_ino = 2 };
	struct img_mw mw;

	img_mw_init(&mw);
	put_root(&mw, 2);
	assert_int_equal(img_mw_finish(&mw), 0);
	assert_int_equal(img_log_append(img, &mw), -EAGAIN);
	assert_int_equal(img_commit(img, &mw, &args), 0);
	img_mw_release(&mw);
}

static unsigned found_lines;

static void count_line(void *arg, const char *line)
{
	(void)arg;
	fprintf(stderr, "fsck: %s\n", line);
	found_lines += strncmp(line, "note:", 5) != 0;
}

static void assert_fsck_clean(bool repair)
{
	struct img_check_opts o = { .repair = repair, .verify_data = true, .report = count_line };
	struct img_check_result r;

	found_lines = 0;
	assert_int_equal(img_check(path, &o, &r), 0);
	assert_int_equal(r.found, 0);
	assert_int_equal(found_lines, 0);
}

/* Create a file in a batch, rewrite it in another: both replay, twice. */
static void test_replay_replace(void **state)
{
	struct fofs_extent e1, e2;
	struct img_log_stat st;
	struct img_mw mw;
	struct seen s;
	struct img *img = open_load(&s);

	(void)state;
	checkpoint_empty(img);
	create_batch(img, "f", 0x11, NULL, 0, &e1);
	img_mw_init(&mw);
	put_file(img, &mw, 0x22, &e2);
	append(img, &mw);
	img_close(img);
	for (int round = 0; round < 2; round++) { /* replay after replay */
		img = open_load(&s);
		img_log_stat(img, &st);
		assert_int_equal(st.batches, 2);
		assert_int_equal(st.added, 2);
		assert_int_equal(st.dropped, 1);
		assert_int_equal(s.inodes, 2);
		assert_int_equal(s.dirents, 1);
		assert_string_equal(s.names[0], "f");
		assert_int_equal(s.ext2.e_block, e2.e_block);
		assert_int_equal(img_sb(img)->s_next_ino, 3);
		img_close(img);
		assert_fsck_clean(false);
	}
}

/* Remove the file: UNLINK and DROP leave neither entry nor inode. */
static void test_replay_unlink(void **state)
{
	struct fofs_extent e;
	struct img_mw mw;
	struct seen s;
	struct img *img = open_load(&s);

	(void)state;
	checkpoint_empty(img);
	create_batch(img, "gone", 0x33, NULL, 0, &e);
	img_mw_init(&mw);
	assert_int_equal(img_mw_unlink(&mw, 1, "gone", 4), 0);
	assert_int_equal(img_mw_drop(&mw, 2), 0);
	append(img, &mw);
	img_close(img);
	img = open_load(&s);
	assert_int_equal(s.inodes, 1);
	assert_int_equal(s.dirents, 0);
	img_close(img);
	assert_fsck_clean(false);
}

static void corrupt_block(uint64_t blk)
{
	int fd = open(path, O_WRONLY);
	uint8_t junk[64];

	memset(junk, 0x5a, sizeof(junk));
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, junk, sizeof(junk), (off_t)(blk * 4096 + 100)),
			 (ssize_t)sizeof(junk));
	close(fd);
}

/* The block a log block points at (lh_next). */
static uint64_t log_next(uint64_t blk)
{
	int fd = open(path, O_RDONLY);
	uint64_t next = 0;

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &next, 8, (off_t)(blk * 4096 + 24)), 8);
	close(fd);
	return le64toh(next);
}

/* A torn second batch (it spans blocks) is not applied; the first is. */
static void test_torn_batch(void **state)
{
	struct img_log_stat st;
	struct fofs_extent e;
	struct img_mw mw;
	struct seen s;
	char name[16];
	uint64_t second, head;
	struct img *img = open_load(&s);

	(void)state;
	checkpoint_empty(img);
	create_batch(img, "kept", 0x44, NULL, 0, &e);
	second = img_log_blocks(img); /* the batch below starts in the head */
	img_mw_init(&mw);
	for (int i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "link%03d", i);
		assert_int_equal(img_mw_dirent(&mw, 1, 2, name, strlen(name)), 0);
	}
	append(img, &mw);
	assert_true(img_log_blocks(img) >= second + 2);
	head = img_sb(img)->s_log_head;
	img_close(img);
	img = open_load(&s);
	assert_int_equal(s.dirents, 301);
	img_close(img);
	corrupt_block(log_next(log_next(head))); /* batch 2's second block */
	img = open_load(&s);
	assert_int_equal(s.dirents, 1);
	assert_string_equal(s.names[0], "kept");
	img_log_stat(img, &st);
	assert_int_equal(st.batches, 1);
	assert_non_null(strstr(st.stop, "torn"));
	img_close(img);
	assert_fsck_clean(false);
}

/* A batch linking inode 2 under @name (inode 2 exists already). */
static void link_batch(struct img *img, const char *name)
{
	struct img_mw mw;

	img_mw_init(&mw);
	assert_int_equal(img_mw_dirent(&mw, 1, 2, name, strlen(name)), 0);
	append(img, &mw);
}

/* Loaded read-only: the state replay keeps, and what it says of the log. */
static void load_ro(struct seen *s, struct img_log_stat *st)
{
	struct img *img = NULL;

	memset(s, 0, sizeof(*s));
	assert_int_equal(img_open(path, IMG_O_RDONLY, &img), 0);
	assert_int_equal(img_load(img, &ops, s), 0);
	img_log_stat(img, st);
	img_close(img);
}

/* fsck -n and -y of a corrupt log: one finding, then fixed, then clean. */
static void assert_fsck_finds_log(void)
{
	struct img_check_opts o = { .verify_data = true, .report = count_line };
	struct img_check_result r;

	assert_int_equal(img_check(path, &o, &r), 0);
	assert_int_equal(r.found, 1);
	assert_int_equal(r.fixed, 0);
	o.repair = true;
	assert_int_equal(img_check(path, &o, &r), 0);
	assert_int_equal(r.found, 1);
	assert_int_equal(r.fixed, 1);
	assert_fsck_clean(false);
}

/*
 * A damaged batch with a sound one after it was acknowledged: the log is
 * corrupt, not torn.  A read-write load refuses, a read-only one keeps the
 * batches before it, fsck reports it and -y salvages those batches.
 */
static void test_damaged_batch_followed(void **state)
{
	struct img_log_stat st;
	struct fofs_extent e;
	struct seen s;
	uint64_t second;
	struct img *img = open_load(&s);

	(void)state;
	checkpoint_empty(img);
	create_batch(img, "first", 0x44, NULL, 0, &e);
	second = log_next(img_sb(img)->s_log_head);
	link_batch(img, "second");
	link_batch(img, "third");
	img_close(img);
	corrupt_block(second);
	assert_int_equal(img_open(path, IMG_O_RDWR, &img), 0);
	assert_int_equal(img_load(img, &ops, &s), -EUCLEAN);
	assert_non_null(strstr(img_errmsg(img), "corrupt"));
	img_close(img);
	load_ro(&s, &st);
	assert_true(st.corrupt);
	assert_int_equal(st.batches, 1);
	assert_int_equal(s.dirents, 1);
	assert_string_equal(s.names[0], "first");
	assert_fsck_finds_log();
	img = open_load(&s);
	assert_int_equal(s.dirents, 1);
	assert_string_equal(s.names[0], "first");
	img_close(img);
}

/* The same when the damage is in a batch's data, not its log block. */
static void test_damaged_data_followed(void **state)
{
	struct img_log_stat st;
	struct fofs_extent e;
	struct seen s;
	struct img *img = open_load(&s);

	(void)state;
	checkpoint_empty(img);
	create_batch(img, "first", 0x44, NULL, 0, &e);
	link_batch(img, "second");
	img_close(img);
	corrupt_block(e.e_block);
	load_ro(&s, &st);
	assert_true(st.corrupt);
	assert_int_equal(st.batches, 0);
	assert_non_null(strstr(st.stop, "checksum"));
	assert_fsck_finds_log();
}

/* A damaged last batch is what a torn fsync leaves: no finding. */
static void test_damaged_last_batch_torn(void **state)
{
	struct img_log_stat st;
	struct fofs_extent e;
	struct seen s;
	uint64_t second;
	struct img *img = open_load(&s);

	(void)state;
	checkpoint_empty(img);
	create_batch(img, "first", 0x44, NULL, 0, &e);
	second = log_next(img_sb(img)->s_log_head);
	link_batch(img, "second");
	img_close(img);
	corrupt_block(second);
	load_ro(&s, &st);
	assert_false(st.corrupt);
	assert_int_equal(s.dirents, 1);
	assert_non_null(strstr(st.stop, "never acknowledged"));
	assert_fsck_clean(false);
}

/*
 * mkfs over an old image: the old filesystem's log, at the same generation
 * and blocks as the new one's, never replays into the new filesystem.
 */
static void test_log_of_old_filesystem(void **state)
{
	struct img_mkfs_opts o = { .size = 32u << 20 };
	struct fofs_extent e;
	struct seen s;
	struct img *img = open_load(&s);

	(void)state;
	checkpoint_empty(img);
	create_batch(img, "new", 0x44, NULL, 0, &e);
	link_batch(img, "again");
	link_batch(img, "old");
	img_close(img);
	assert_int_equal(img_format(path, &o, NULL, 0), 0);
	img = open_load(&s);
	checkpoint_empty(img);
	create_batch(img, "new", 0x45, NULL, 0, &e);
	link_batch(img, "again");
	img_close(img);
	img = open_load(&s);
	assert_int_equal(s.dirents, 2);
	assert_string_equal(s.names[1], "again");
	img_close(img);
}

/* A batch whose data did not reach the disk is not applied. */
static void test_unflushed_data(void **state)
{
	struct img_log_stat st;
	struct fofs_extent e;
	struct seen s;
	struct img *img = open_load(&s);

	(void)state;
	checkpoint_empty(img);
	create_batch(img, "lost", 0x55, NULL, 0, &e);
	img_close(img);
	corrupt_block(e.e_block);
	img = open_load(&s);
	assert_int_equal(s.inodes, 1);
	assert_int_equal(s.dirents, 0);
	img_log_stat(img, &st);
	assert_int_equal(st.batches, 0);
	assert_non_null(strstr(st.stop, "checksum"));
	img_close(img);
	assert_fsck_clean(false);
}

/* fsck -y folds the log into a generation: the state stays, the log empties. */
static void test_fsck_folds(void **state)
{
	struct img_log_stat st;
	struct fofs_extent e;
	struct seen s;
	uint64_t gen;
	struct img *img = open_load(&s);

	(void)state;
	checkpoint_empty(img);
	gen = img_sb(img)->s_generation;
	create_batch(img, "f", 0x66, NULL, 0, &e);
	img_close(img);
	assert_fsck_clean(true);
	img = open_load(&s);
	img_log_stat(img, &st);
	assert_int_equal(st.batches, 0);
	assert_int_equal(img_sb(img)->s_generation, gen + 1);
	assert_int_equal(s.dirents, 1);
	assert_int_equal(s.ext2.e_block, e.e_block);
	img_close(img);
	assert_fsck_clean(false);
}

/*
 * Logged bytes replay after the extents; a later batch that gives their
 * range new extents supersedes them; fsck -y folds the rest into extents.
 */
static void test_logged_bytes(void **state)
{
	struct fofs_extent e, got[1];
	struct img_mw mw;
	struct seen s;
	uint8_t buf[4096];
	struct img *img = open_load(&s);

	(void)state;
	checkpoint_empty(img);
	create_batch(img, "f", 0x77, "hello", 100, &e);
	img_mw_init(&mw);
	assert_int_equal(img_mw_write(&mw, 2, 200, "world", 5), 0);
	append(img, &mw);
	img_close(img);
	img = open_load(&s);
	assert_int_equal(s.writes, 2);
	assert_int_equal(s.woff, 200);
	img_close(img);
	assert_fsck_clean(false);
	assert_fsck_clean(true); /* fold: the bytes become extents */
	img = open_load(&s);
	assert_int_equal(s.writes, 0);
	assert_int_equal(s.ext2.e_order, FOFS_ORDER_SMALL);
	got[0] = s.ext2;
	assert_int_equal(img_read_extent(img, &got[0], buf), 0);
	assert_memory_equal(buf + 100, "hello", 5);
	assert_memory_equal(buf + 200, "world", 5);
	assert_int_equal(buf[0], 0x77);
	assert_int_equal(buf[300], 0x77);
	img_close(img);
}

/* A later batch giving the bytes' range new extents supersedes them. */
static void test_logged_bytes_superseded(void **state)
{
	struct fofs_extent e;
	struct img_mw mw;
	struct seen s;
	struct img *img = open_load(&s);

	(void)state;
	checkpoint_empty(img);
	create_batch(img, "g", 0x12, "x", 0, &e);
	img_mw_init(&mw);
	put_file(img, &mw, 0x34, &e); /* rewritten: new extent at offset 0 */
	append(img, &mw);
	img_close(img);
	img = open_load(&s);
	assert_int_equal(s.writes, 0);
	img_close(img);
	assert_fsck_clean(false);
}

/*
 * Bytes logged past a size a later batch records were cut by a truncate:
 * they stay cut when the file grows again (crash.sh found them back).
 */
static void test_logged_bytes_truncated(void **state)
{
	struct img_inode_rec file = { 0 };
	struct fofs_extent e;
	struct img_mw mw;
	struct seen s;
	struct img *img = open_load(&s);

	(void)state;
	checkpoint_empty(img);
	create_batch(img, "t", 0x21, "tail", 3000, &e);
	file.ino = (struct fofs_inode){
		.i_ino = 2, .i_mode = 0100644, .i_nlink = 1, .i_size = 2000, .i_extents = 1
	};
	file.ext = &e;
	img_mw_init(&mw);
	assert_int_equal(img_mw_inode(&mw, &file), 0); /* truncated to 2000 */
	append(img, &mw);
	file.ino.i_size = 4096; /* grown again */
	img_mw_init(&mw);
	assert_int_equal(img_mw_inode(&mw, &file), 0);
	append(img, &mw);
	img_close(img);
	img = open_load(&s);
	assert_int_equal(s.size2, 4096);
	assert_int_equal(s.writes, 0);
	img_close(img);
	assert_fsck_clean(false);
}

/* Bytes in an extent a later batch drops (the range was punched) go too. */
static void test_logged_bytes_punched(void **state)
{
	struct img_inode_rec file = { 0 };
	struct fofs_extent e;
	struct img_mw mw;
	struct seen s;
	struct img *img = open_load(&s);

	(void)state;
	checkpoint_empty(img);
	create_batch(img, "p", 0x22, "hole", 100, &e);
	file.ino =
		(struct fofs_inode){ .i_ino = 2, .i_mode = 0100644, .i_nlink = 1, .i_size = 4096 };
	img_mw_init(&mw);
	assert_int_equal(img_mw_inode(&mw, &file), 0);
	append(img, &mw);
	img_close(img);
	img = open_load(&s);
	assert_int_equal(s.writes, 0);
	img_close(img);
	assert_fsck_clean(false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_replay_replace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replay_unlink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unflushed_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged_batch_followed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged_data_followed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged_last_batch_torn, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_of_old_filesystem, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fsck_folds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_logged_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_logged_bytes_superseded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_logged_bytes_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_logged_bytes_punched, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
