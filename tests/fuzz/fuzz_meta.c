// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libFuzzer harness for the parsers of untrusted image bytes: the
 * superblock decoder on the first 4 KiB and the metadata record stream
 * parser on the whole input, with visitors that touch every field they are
 * handed (so the sanitizers see any out-of-bounds view).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <stdlib.h>

#include "fixup.h"
#include "foliofs/img.h"

static volatile uint64_t sink;

static int on_inode(void *arg, const struct img_inode_rec *rec)
{
	(void)arg;
	for (uint32_t i = 0; i < rec->ino.i_extents; i++)
		sink += rec->ext[i].e_block + rec->ext[i].e_checksum;
	for (uint32_t i = 0; i < rec->ino.i_xattrs; i++) {
		sink += (uint8_t)rec->xattr[i].name[rec->xattr[i].name_len - 1];
		if (rec->xattr[i].value_len)
			sink += ((const uint8_t *)rec->xattr[i].value)[rec->xattr[i].value_len - 1];
	}
	if (rec->ino.i_target_len)
		sink += (uint8_t)rec->target[rec->ino.i_target_len - 1];
	return 0;
}

static int on_dirent(void *arg, uint64_t parent, uint64_t ino, const char *name,
		     size_t len)
{
	(void)arg;
	sink += parent + ino + (uint8_t)name[len - 1];
	return 0;
}

static int on_regions(void *arg, uint64_t ino, const struct img_region *r, size_t n)
{
	(void)arg;
	for (size_t i = 0; i < n; i++)
		sink += ino + r[i].index + r[i].state;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct img_meta_ops ops = { on_inode, on_dirent, on_regions };
	uint8_t block[FOFS_BLOCK_SIZE] = { 0 };
	struct fofs_super sb;
	char msg[256];

	uint8_t *copy = malloc(size + 1);

	if (!copy)
		return 0;
	memcpy(block, data, size < sizeof(block) ? size : sizeof(block));
	fx_fix_super(block);
	img_super_decode(block, &sb, msg, sizeof(msg));
	memcpy(copy, data, size);
	fx_fix_stream(copy, size);
	img_parse_meta(copy, size, &ops, NULL, msg, sizeof(msg));
	free(copy);
	return 0;
}
