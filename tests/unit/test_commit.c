// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests for commits and their replay at open: a committed generation
 * reads back with its data verified; a torn newest superblock falls back to
 * the previous generation, intact; freed blocks return only after a commit;
 * data corruption is reported as -EBADMSG; read-only handles cannot commit.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "foliofs/img.h"

static char path[64];

static int setup(void **state)
{
	struct img_mkfs_opts o = { .size = 32u << 20 };
	int fd;

	(void)state;
	strcpy(path, "/tmp/foliofs-unit.XXXXXX");
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

struct found {
	int inodes;
	struct fofs_extent ext;
	uint64_t size;
};

static int on_inode(void *arg, const struct img_inode_rec *rec)
{
	struct found *f = arg;

	f->inodes++;
	if (rec->ino.i_extents) {
		f->ext = rec->ext[0];
		f->size = rec->ino.i_size;
	}
	return 0;
}

static const struct img_meta_ops ops = { .inode = on_inode };

/* Commit root plus one file whose one extent holds @fill bytes. */
static void commit_file(struct img *img, unsigned order, int fill,
			struct fofs_extent *e)
{
	struct img_commit_args args = { .next_ino = 3 };
	size_t len = img_order_bytes(order);
	struct img_inode_rec root = { 0 }, file = { 0 };
	uint8_t *buf = malloc(len);
	struct img_mw mw;

	memset(buf, fill, len);
	e->e_file_off = 0;
	e->e_order = (uint8_t)order;
	assert_int_equal(img_alloc(img, order, &e->e_block), 0);
	assert_int_equal(img_write_extent(img, e, buf), 0);
	root.ino = (struct fofs_inode){ .i_ino = 1, .i_mode = 040755, .i_nlink = 2 };
	file.ino = (struct fofs_inode){ .i_ino = 2, .i_mode = 0100644, .i_nlink = 1,
					.i_size = len, .i_extents = 1 };
	file.ext = e;
	img_mw_init(&mw);
	assert_int_equal(img_mw_inode(&mw, &root), 0);
	assert_int_equal(img_mw_inode(&mw, &file), 0);
	assert_int_equal(img_mw_dirent(&mw, 1, 2, "f", 1), 0);
	assert_int_equal(img_mw_finish(&mw), 0);
	assert_int_equal(img_commit(img, &mw, &args), 0);
	img_mw_release(&mw);
	free(buf);
}

static void reopen(struct img **img, struct found *f, unsigned flags)
{
	img_close(*img);
	*img = NULL;
	memset(f, 0, sizeof(*f));
	assert_int_equal(img_open(path, flags, img), 0);
	assert_int_equal(img_load(*img, &ops, f), 0);
}

static void test_commit_replay(void **state)
{
	struct img *img = NULL;
	struct fofs_extent e;
	struct found f;
	uint8_t *buf = malloc(2 << 20);

	(void)state;
	reopen(&img, &f, IMG_O_RDWR);
	assert_int_equal(f.inodes, 1);
	commit_file(img, 9, 0xab, &e);
	assert_int_equal(img_sb(img)->s_generation, 2);
	reopen(&img, &f, IMG_O_RDWR);
	assert_int_equal(f.inodes, 2);
	assert_int_equal(f.ext.e_block, e.e_block);
	assert_int_equal(img_read_extent(img, &f.ext, buf), 0);
	assert_int_equal(buf[12345], 0xab);
	/* used: 2 superblocks + 1 metadata block + log head + 512 data blocks */
	assert_int_equal(img_sb(img)->s_used_blocks, 516);
	img_close(img);
	free(buf);
}

/* Overwrite @len bytes of the image at @off with junk (or zeros). */
static void scribble(uint64_t off, size_t len, int byte)
{
	uint8_t junk[FOFS_BLOCK_SIZE];
	int fd;

	memset(junk, byte, len);
	fd = open(path, O_WRONLY);
	assert_int_equal(pwrite(fd, junk, len, (off_t)off), (ssize_t)len);
	close(fd);
}

/* Generations 2 and 3 of inode 2 (e1, then e2 replacing it), image closed. */
static void two_generations(struct fofs_extent *e1, struct fofs_extent *e2)
{
	struct img *img = NULL;
	struct found f;

	reopen(&img, &f, IMG_O_RDWR);
	commit_file(img, 4, 0x11, e1);		/* generation 2 */
	reopen(&img, &f, IMG_O_RDWR);
	img_free(img, e1->e_block, 4);		/* replaced by e2 */
	commit_file(img, 4, 0x22, e2);		/* generation 3 */
	img_close(img);
}

static void test_torn_superblock(void **state)
{
	struct fofs_extent e1, e2;
	struct img *img = NULL;
	const char *note;
	struct found f;

	(void)state;
	two_generations(&e1, &e2);
	/*
	 * A crash while writing generation 3's slot (1): the slot is torn and
	 * its backup (in block 0) was never written.  Generation 2 is what
	 * was acknowledged; nothing is lost.
	 */
	scribble(1 * FOFS_BLOCK_SIZE + 100, 100, 0x5a);
	scribble(0 * FOFS_BLOCK_SIZE + FOFS_SUPER_BACKUP_OFF, 256, 0);
	reopen(&img, &f, IMG_O_RDONLY);
	assert_int_equal(img_sb(img)->s_generation, 2);
	assert_int_equal(f.ext.e_block, e1.e_block);
	assert_int_equal(img_super_state(img, &note), IMG_SB_TORN);
	img_close(img);
}

/* The newest slot damaged after its commit: its backup brings it back. */
static void test_damaged_superblock(void **state)
{
	struct fofs_extent e1, e2;
	struct img *img = NULL;
	const char *note;
	struct found f;

	(void)state;
	two_generations(&e1, &e2);
	scribble(1 * FOFS_BLOCK_SIZE + 8, 2, 0xff);	/* two bytes of slot 1 */
	reopen(&img, &f, IMG_O_RDWR);
	assert_int_equal(img_sb(img)->s_generation, 3);	/* no rollback */
	assert_int_equal(f.ext.e_block, e2.e_block);
	assert_int_equal(img_super_state(img, &note), IMG_SB_RECOVERED);
	assert_non_null(strstr(note, "generation 3"));
	assert_int_equal(img_super_rewrite(img), 0);
	reopen(&img, &f, IMG_O_RDONLY);
	assert_int_equal(img_super_state(img, &note), IMG_SB_OK);
	assert_int_equal(img_sb(img)->s_generation, 3);
	img_close(img);
}

static void test_free_after_commit(void **state)
{
	struct fofs_extent e, e2;
	struct img *img = NULL;
	struct found f;
	uint64_t used;

	(void)state;
	reopen(&img, &f, IMG_O_RDWR);
	commit_file(img, 9, 1, &e);
	used = img_sb(img)->s_used_blocks;
	img_free(img, e.e_block, 9);		/* replaced by e2 below */
	commit_file(img, 9, 2, &e2);
	assert_int_not_equal(e2.e_block, e.e_block);	/* not reused early */
	assert_int_equal(img_sb(img)->s_used_blocks, used);
	assert_int_equal(img_pending_blocks(img), 0);
	reopen(&img, &f, IMG_O_RDWR);
	assert_int_equal(f.ext.e_block, e2.e_block);
	img_close(img);
}

static void test_corrupt_data_and_ro(void **state)
{
	struct img_commit_args args = { .next_ino = 3 };
	uint8_t *buf = malloc(1 << 16);
	struct img *img = NULL;
	struct fofs_extent e;
	struct img_mw mw;
	struct found f;
	int fd;

	(void)state;
	reopen(&img, &f, IMG_O_RDWR);
	commit_file(img, 4, 7, &e);
	fd = open(path, O_WRONLY);
	assert_int_equal(pwrite(fd, "x", 1, e.e_block * FOFS_BLOCK_SIZE + 999), 1);
	close(fd);
	reopen(&img, &f, IMG_O_RDONLY);
	assert_int_equal(img_read_extent(img, &f.ext, buf), -EBADMSG);
	img_mw_init(&mw);
	assert_int_equal(img_mw_finish(&mw), 0);
	assert_int_equal(img_commit(img, &mw, &args), -EROFS);
	img_mw_release(&mw);
	img_close(img);
	free(buf);
}

/* Pages of the image file [@off, @off + @len) in the host page cache. */
static unsigned cached_pages(uint64_t off, size_t len)
{
	unsigned char vec[64];
	unsigned n = 0;
	int fd = open(path, O_RDONLY);
	void *map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, (off_t)off);

	assert_true(map != MAP_FAILED && len / 4096 <= sizeof(vec));	/* 256 KiB at most */
	assert_int_equal(mincore(map, len, vec), 0);
	for (size_t i = 0; i < len / 4096; i++)
		n += vec[i] & 1;
	munmap(map, len);
	close(fd);
	return n;
}

/*
 * Bulk I/O bypasses the page cache (O_DIRECT) from aligned buffers, and
 * still works, through the page cache, from unaligned ones or when
 * buffered I/O is asked for.
 */
static void test_direct_io(void **state)
{
	struct fofs_extent e = { .e_order = FOFS_ORDER_PMD };
	const size_t len = 2 << 20;
	uint8_t *al = aligned_alloc(4096, len), *raw = malloc(len + 1);
	struct img *img = NULL;
	const char *why;

	(void)state;
	assert_int_equal(img_open(path, IMG_O_RDWR, &img), 0);
	if (!img_direct_io(img, &why)) {
		img_close(img);
		free(al);
		free(raw);
		skip();	/* the host filesystem of /tmp refuses O_DIRECT */
	}
	assert_int_equal(img_alloc(img, FOFS_ORDER_PMD, &e.e_block), 0);
	memset(al, 0x5a, len);
	assert_int_equal(img_write_extent(img, &e, al), 0);
	memset(al, 0, len);
	assert_int_equal(img_read_extent(img, &e, al), 0);
	assert_int_equal(al[len - 1], 0x5a);
	assert_int_equal(cached_pages(e.e_block * 4096, 256 * 1024), 0);
	/* an unaligned buffer takes the buffered path, and reads back right */
	memset(raw + 1, 0x33, len);
	assert_int_equal(img_write_extent(img, &e, raw + 1), 0);
	assert_int_equal(img_read_extent(img, &e, al), 0);
	assert_int_equal(al[100], 0x33);
	img_close(img);
	assert_int_equal(img_open(path, IMG_O_RDWR | IMG_O_BUFFERED, &img), 0);
	assert_false(img_direct_io(img, &why));
	assert_string_equal(why, "buffered I/O asked for");
	img_close(img);
	free(al);
	free(raw);
}

static void test_lock(void **state)
{
	struct img *a = NULL, *b = NULL;

	(void)state;
	assert_int_equal(img_open(path, IMG_O_RDWR, &a), 0);
	assert_int_equal(img_open(path, IMG_O_RDONLY, &b), -EBUSY);
	assert_non_null(strstr(img_errmsg(b), "in use"));
	img_close(a);
	img_close(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_commit_replay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_superblock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged_superblock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_after_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_data_and_ro, setup, teardown),
		cmocka_unit_test_setup_teardown(test_direct_io, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
