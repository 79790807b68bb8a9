// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests for the on-disk encoders and decoders: superblock round trip
 * and every rejection (magic, checksum, geometry), and the metadata record
 * stream: round trip of inodes with extents, xattrs and symlink targets and
 * of directory entries, and rejection of truncated, re-checksummed,
 * misaligned, overlapping and misnamed records.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "foliofs/img.h"

static void make_super(struct fofs_super *sb)
{
	memset(sb, 0, sizeof(*sb));
	sb->s_magic = FOFS_MAGIC;
	sb->s_version = FOFS_VERSION;
	sb->s_block_size = FOFS_BLOCK_SIZE;
	sb->s_blocks = 1000;
	sb->s_generation = 7;
	sb->s_meta_head = 5;
	sb->s_meta_blocks = 2;
	sb->s_meta_bytes = 5000;
	sb->s_used_blocks = 10;
	sb->s_next_ino = 42;
	strcpy(sb->s_label, "label");
	for (int i = 0; i < 16; i++)
		sb->s_uuid[i] = (uint8_t)i;
}

static void test_super_roundtrip(void **state)
{
	uint8_t block[FOFS_BLOCK_SIZE];
	struct fofs_super sb, out;

	(void)state;
	make_super(&sb);
	img_super_encode(&sb, block);
	/* little-endian on disk, whatever the host */
	assert_int_equal(block[0], 0x46);
	assert_int_equal(block[128], 7);
	assert_int_equal(img_super_decode(block, &out, NULL, 0), 0);
	assert_int_equal(out.s_generation, 7);
	assert_int_equal(out.s_next_ino, 42);
	assert_string_equal(out.s_label, "label");
	assert_memory_equal(out.s_uuid, sb.s_uuid, 16);
}

static void test_super_rejects(void **state)
{
	uint8_t block[FOFS_BLOCK_SIZE];
	struct fofs_super sb, out;
	char msg[128];

	(void)state;
	make_super(&sb);
	img_super_encode(&sb, block);
	block[130] ^= 1;
	assert_int_equal(img_super_decode(block, &out, msg, sizeof(msg)), -EBADMSG);
	assert_non_null(strstr(msg, "checksum"));
	block[0] = 'X';
	assert_int_equal(img_super_decode(block, &out, msg, sizeof(msg)), -EINVAL);
	sb.s_meta_head = sb.s_blocks;	/* out of range */
	img_super_encode(&sb, block);
	assert_int_equal(img_super_decode(block, &out, msg, sizeof(msg)), -EUCLEAN);
	make_super(&sb);
	sb.s_generation = 0;
	img_super_encode(&sb, block);
	assert_int_equal(img_super_decode(block, &out, msg, sizeof(msg)), -EUCLEAN);
	make_super(&sb);
	sb.s_block_size = 512;
	img_super_encode(&sb, block);
	assert_int_equal(img_super_decode(block, &out, msg, sizeof(msg)), -EUCLEAN);
}

struct seen {
	int inodes, dirents;
	struct fofs_inode ino;
	struct fofs_extent ext[4];
	char xname[32], xval[32], target[32], dname[300];
	uint64_t dparent, dino;
};

static int seen_inode(void *arg, const struct img_inode_rec *rec)
{
	struct seen *s = arg;

	s->inodes++;
	s->ino = rec->ino;
	memcpy(s->ext, rec->ext, rec->ino.i_extents * sizeof(*rec->ext));
	if (rec->ino.i_xattrs) {
		memcpy(s->xname, rec->xattr[0].name, rec->xattr[0].name_len);
		memcpy(s->xval, rec->xattr[0].value, rec->xattr[0].value_len);
	}
	memcpy(s->target, rec->target, rec->ino.i_target_len);
	return 0;
}

static int seen_dirent(void *arg, uint64_t parent, uint64_t ino,
		       const char *name, size_t len)
{
	struct seen *s = arg;

	s->dirents++;
	s->dparent = parent;
	s->dino = ino;
	memcpy(s->dname, name, len);
	return 0;
}

static const struct img_meta_ops seen_ops = { .inode = seen_inode, .dirent = seen_dirent };

static void build(struct img_mw *mw, uint64_t ext1_off)
{
	struct fofs_extent ext[2] = {
		{ .e_file_off = 0, .e_block = 512, .e_order = 9, .e_checksum = 0x1111 },
		{ .e_file_off = ext1_off, .e_block = 1040, .e_order = 4, .e_checksum = 0x2222 },
	};
	struct img_xattr x = { "user.k", 6, "value", 5 };
	struct img_inode_rec rec = { .ext = ext, .xattr = &x, .target = "tgt" };

	rec.ino = (struct fofs_inode){ .i_ino = 9, .i_mode = 0100644, .i_nlink = 1,
		.i_size = 3 << 20, .i_mtime = -5, .i_mtime_ns = 999999999,
		.i_extents = 2, .i_xattrs = 1, .i_target_len = 3 };
	img_mw_init(mw);
	assert_int_equal(img_mw_inode(mw, &rec), 0);
	assert_int_equal(img_mw_dirent(mw, 1, 9, "name", 4), 0);
	assert_int_equal(img_mw_finish(mw), 0);
}

static void test_stream_roundtrip(void **state)
{
	struct seen s = { 0 };
	struct img_mw mw;

	(void)state;
	build(&mw, 2 << 20);
	assert_int_equal(img_parse_meta(mw.buf, mw.len, &seen_ops, &s, NULL, 0), 0);
	assert_int_equal(s.inodes, 1);
	assert_int_equal(s.dirents, 1);
	assert_int_equal(s.ino.i_ino, 9);
	assert_int_equal(s.ino.i_mtime, -5);
	assert_int_equal(s.ino.i_mtime_ns, 999999999);
	assert_int_equal(s.ext[1].e_block, 1040);
	assert_int_equal(s.ext[1].e_order, 4);
	assert_int_equal(s.ext[1].e_checksum, 0x2222);
	assert_string_equal(s.xname, "user.k");
	assert_string_equal(s.xval, "value");
	assert_string_equal(s.target, "tgt");
	assert_string_equal(s.dname, "name");
	assert_int_equal(s.dparent, 1);
	img_mw_release(&mw);
}

static void test_stream_rejects(void **state)
{
	struct seen s = { 0 };
	struct img_mw mw;
	char msg[200];

	(void)state;
	build(&mw, 2 << 20);
	/* cut short: no END record */
	assert_int_equal(img_parse_meta(mw.buf, mw.len - 24, &seen_ops, &s, msg,
					 sizeof(msg)), -EUCLEAN);
	/* a flipped byte in a name: END checksum catches it */
	mw.buf[mw.len - 27] ^= 0x20;
	assert_int_equal(img_parse_meta(mw.buf, mw.len, NULL, NULL, msg, sizeof(msg)),
			 -EBADMSG);
	img_mw_release(&mw);
	/* extent misaligned for its order */
	build(&mw, (2 << 20) + 4096);
	assert_int_equal(img_parse_meta(mw.buf, mw.len, NULL, NULL, msg, sizeof(msg)),
			 -EUCLEAN);
	assert_non_null(strstr(msg, "misaligned"));
	img_mw_release(&mw);
	/* overlapping extents: the LAF extent lies inside the PMD one */
	build(&mw, 1 << 20);
	assert_int_equal(img_parse_meta(mw.buf, mw.len, NULL, NULL, msg, sizeof(msg)),
			 -EUCLEAN);
	img_mw_release(&mw);
	/* names */
	img_mw_init(&mw);
	assert_int_equal(img_mw_dirent(&mw, 1, 2, "x", 256), -ENAMETOOLONG);
	assert_int_equal(img_mw_dirent(&mw, 1, 2, "", 0), -EINVAL);
	assert_int_equal(img_mw_dirent(&mw, 1, 2, "a/b", 3), 0);
	assert_int_equal(img_mw_finish(&mw), 0);
	assert_int_equal(img_parse_meta(mw.buf, mw.len, NULL, NULL, msg, sizeof(msg)),
			 -EUCLEAN);
	img_mw_release(&mw);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_super_roundtrip),
		cmocka_unit_test(test_super_rejects),
		cmocka_unit_test(test_stream_roundtrip),
		cmocka_unit_test(test_stream_rejects),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
