// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Block allocator.  One bit per block, rebuilt at open from the committed
 * metadata (superblocks, metadata chain, extents), so no bitmap is stored
 * and none can disagree with the extents.  Extents are aligned on disk to
 * their size; order-9 extents take whole 2 MiB groups, and smaller ones are
 * packed first into groups that are already partly used, so that free 2 MiB
 * runs survive for huge extents.  Freed blocks stay marked until the next
 * commit is durable, because the committed generation still points at them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>

#include "img_int.h"

#define GROUP_BLOCKS	(1ull << FOFS_ORDER_PMD)
#define GROUP_WORDS	(GROUP_BLOCKS / 64)

static void bits_set(struct img *img, uint64_t blk, uint64_t n, bool on)
{
	for (uint64_t b = blk; b < blk + n; b++) {
		uint64_t mask = 1ull << (b % 64);

		if (on)
			img->bitmap[b / 64] |= mask;
		else
			img->bitmap[b / 64] &= ~mask;
	}
	if (on)
		img->used += n;
	else
		img->used -= n;
}

static bool bits_clear(const struct img *img, uint64_t blk, uint64_t n)
{
	for (uint64_t b = blk; b < blk + n; b++)
		if (img_bit(img, b))
			return false;
	return true;
}

int img_bitmap_init(struct img *img)
{
	uint64_t words = (img->sb.s_blocks + 63) / 64;

	free(img->bitmap);
	img->bitmap = calloc(words ? words : 1, sizeof(uint64_t));
	if (!img->bitmap) {
		img_set_error(img, "out of memory for the block bitmap");
		return -ENOMEM;
	}
	img->used = 0;
	bits_set(img, 0, FOFS_SUPER_SLOTS, true);
	return 0;
}

/* Blocks in use among the group's blocks that exist in the image. */
static uint64_t group_used(const struct img *img, uint64_t g)
{
	uint64_t used = 0, first = g * GROUP_WORDS;
	uint64_t words = (img->sb.s_blocks + 63) / 64;

	for (uint64_t w = first; w < first + GROUP_WORDS && w < words; w++)
		used += (uint64_t)__builtin_popcountll(img->bitmap[w]);
	return used;
}

static int alloc_in(struct img *img, uint64_t from, uint64_t to, uint64_t n,
		    uint64_t *blk)
{
	for (uint64_t b = (from + n - 1) & ~(n - 1); b + n <= to; b += n) {
		if (bits_clear(img, b, n)) {
			bits_set(img, b, n, true);
			*blk = b;
			return 0;
		}
	}
	return -ENOSPC;
}

/* Small extents: partly used groups first, from the cursor, then anything. */
static int alloc_small(struct img *img, unsigned order, uint64_t *blk)
{
	uint64_t n = 1ull << order, blocks = img->sb.s_blocks;
	uint64_t groups = (blocks + GROUP_BLOCKS - 1) / GROUP_BLOCKS;
	uint64_t start = img->alloc_hint[order] / GROUP_BLOCKS;

	for (uint64_t i = 0; i < groups; i++) {
		uint64_t g = (start + i) % groups, used = group_used(img, g);
		uint64_t end = (g + 1) * GROUP_BLOCKS;

		if (used == 0 || used >= GROUP_BLOCKS)
			continue;
		if (alloc_in(img, g * GROUP_BLOCKS, end < blocks ? end : blocks,
			     n, blk) == 0)
			goto found;
	}
	if (alloc_in(img, 0, blocks, n, blk))
		return -ENOSPC;
found:
	img->alloc_hint[order] = *blk;
	return 0;
}

/**
 * img_alloc() - allocate one extent's worth of blocks
 * @img: the image
 * @order: folio order of the extent (0, 4 or 9)
 * @blk: first block, aligned to 1 << @order
 *
 * Return: 0; -EINVAL for an unsupported order; -ENOSPC if no aligned free run
 * of that size exists.
 */
int img_alloc(struct img *img, unsigned order, uint64_t *blk)
{
	uint64_t n = 1ull << order, hint;

	if (!img_order_valid(order))
		return -EINVAL;
	if (order < FOFS_ORDER_PMD)
		return alloc_small(img, order, blk);
	hint = img->alloc_hint[order];
	if (alloc_in(img, hint, img->sb.s_blocks, n, blk) &&
	    alloc_in(img, 0, hint + n < img->sb.s_blocks ? hint + n : img->sb.s_blocks,
		     n, blk))
		return -ENOSPC;
	img->alloc_hint[order] = *blk + n;
	return 0;
}

/**
 * img_reserve() - mark blocks referenced by committed metadata as used
 * @img: the image
 * @blk: first block
 * @nblocks: count
 *
 * Return: 0; -EUCLEAN if the range leaves the image or overlaps blocks
 * already reserved (two owners of one block).
 */
int img_reserve(struct img *img, uint64_t blk, uint64_t nblocks)
{
	if (blk < FOFS_SUPER_SLOTS || blk > img->sb.s_blocks ||
	    nblocks > img->sb.s_blocks - blk)
		return -EUCLEAN;
	if (!bits_clear(img, blk, nblocks))
		return -EUCLEAN;
	bits_set(img, blk, nblocks, true);
	return 0;
}

static int pending_push(struct img *img, uint64_t blk, uint64_t n)
{
	if (img->npending == img->cappending) {
		size_t cap = img->cappending ? img->cappending * 2 : 64;
		struct img_range *p = realloc(img->pending, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		img->pending = p;
		img->cappending = cap;
	}
	img->pending[img->npending++] = (struct img_range){ blk, n };
	img->pending_blocks += n;
	return 0;
}

/**
 * img_free() - release an extent once the next commit is durable
 * @img: the image
 * @blk: first block
 * @order: extent order
 *
 * The committed generation may still reference the blocks, so they are only
 * queued.  If the queue cannot grow the blocks leak until the next open,
 * which is safe.
 */
void img_free(struct img *img, uint64_t blk, unsigned order)
{
	(void)pending_push(img, blk, 1ull << order);
}

/**
 * img_unalloc() - give back blocks no committed metadata has referenced
 * @img: the image
 * @blk: first block
 * @order: extent order
 *
 * A failed commit or fsync gives back what it wrote.  On a sparse image
 * the host allocated those blocks as they were written: they are punched
 * out too, or a host that filled up would stay full of them (a retry
 * allocates elsewhere) and the retry could never succeed.
 */
void img_unalloc(struct img *img, uint64_t blk, unsigned order)
{
	bits_set(img, blk, 1ull << order, false);
	if (img->sparse)
		fallocate(img->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			  (off_t)(blk * FOFS_BLOCK_SIZE), (off_t)(FOFS_BLOCK_SIZE << order));
}

/* Called by img_commit() once the new superblock is durable. */
void img_release_pending(struct img *img)
{
	for (size_t i = 0; i < img->npending; i++)
		bits_set(img, img->pending[i].blk, img->pending[i].n, false);
	img->npending = 0;
	img->pending_blocks = 0;
}

uint64_t img_used_blocks(const struct img *img)
{
	return img->used;
}

uint64_t img_pending_blocks(const struct img *img)
{
	return img->pending_blocks;
}
