// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Dirty maps: which 2 MiB regions of a loaded file changed since they were
 * last written back.  One byte per region in a sparse paged array (so a
 * map costs the regions that changed, not the file's apparent size), or
 * "all" when the map cannot grow or the changes are unseen (passthrough
 * writers).  Writeback rehashes only what is marked; a range too long to
 * mark region by region is marked where it can matter.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"

/*
 * Dirty regions: a sparse array of one byte per 2 MiB region, a mask of
 * its eight 256 KiB chunks that changed (0 = clean), so an fsync reads
 * back only those chunks to find the pages that changed.
 */
void fs_dmap_init(struct spa *dmap)
{
	static const uint8_t clean;

	spa_init(dmap, 1, &clean);
}

/* Mark chunks @mask of region @r dirty; if the map cannot grow, the whole file is. */
static void dmap_mark(struct fs_inode *inode, uint64_t r, uint8_t mask)
{
	void *slot;

	if (inode->dall)
		return;
	if (spa_slot(&inode->dmap, r, &slot))
		inode->dall = true;
	else
		*(uint8_t *)slot |= mask;
}

/* The chunks of region @r that [@off, @end) touches. */
static uint8_t chunk_mask(uint64_t r, uint64_t off, uint64_t end)
{
	uint64_t base = r << CLP_REGION_SHIFT;
	uint64_t lo = off > base ? off - base : 0;
	uint64_t hi = end - base < CLP_REGION_SIZE ? end - base : CLP_REGION_SIZE;
	unsigned a = (unsigned)(lo >> FS_CHUNK_SHIFT), b = (unsigned)((hi - 1) >> FS_CHUNK_SHIFT);

	return (uint8_t)((0xffu >> (7 - b)) & (0xffu << a));
}

/* First committed extent at or after @off. */
static uint32_t ext_from(const struct fs_inode *inode, uint64_t off)
{
	uint32_t lo = 0, hi = inode->next;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (inode->ext[mid].e_file_off < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * A large range (a truncate, a punch across a sparse file) is marked where
 * it can matter: its two end regions, the regions with committed extents
 * and those holding data in memory.  The rest holds nothing to write back.
 */
static void dirty_sparse(struct fs_inode *inode, uint64_t off, uint64_t end)
{
	uint64_t r;

	dmap_mark(inode, off >> CLP_REGION_SHIFT, 0xff);
	dmap_mark(inode, (end - 1) >> CLP_REGION_SHIFT, 0xff);
	for (uint32_t i = ext_from(inode, off & ~(CLP_REGION_SIZE - 1));
	     i < inode->next && inode->ext[i].e_file_off < end; i++)
		dmap_mark(inode, inode->ext[i].e_file_off >> CLP_REGION_SHIFT, 0xff);
	for (uint64_t pos = off; !clp_next_data(inode->memfd, pos, end, &r);
	     pos = (r + 1) << CLP_REGION_SHIFT)
		dmap_mark(inode, r, 0xff);
}

/**
 * fs_data_dirty() - note that bytes [@off, @end) of an inode changed
 * @fs: the filesystem, lock held (shared: with @inode's lock)
 * @inode: the inode, with its memfd
 * @off: first byte
 * @end: first byte past the change; UINT64_MAX for "anything, anywhere"
 *
 * Writeback then rehashes only the 2 MiB regions marked.  The cost follows
 * what the range holds, never its length.  If the map cannot grow, the
 * whole file is marked instead.
 */
void fs_data_dirty(struct fs *fs, struct fs_inode *inode, uint64_t off,
		   uint64_t end)
{
	uint64_t first = off >> CLP_REGION_SHIFT, last;

	fs_assert_inode(fs, inode);
	inode->dirty = true;
	if (end == UINT64_MAX || inode->dall) {
		inode->dall = true;
		goto out_account;
	}
	if (end <= off)
		goto out_account;
	last = (end - 1) >> CLP_REGION_SHIFT;
	if (last - first < SPA_PAGE) {
		for (uint64_t r = first; r <= last; r++)
			dmap_mark(inode, r, chunk_mask(r, off, end));
	} else {
		dirty_sparse(inode, off, end);
	}
out_account:
	fs_space_account(fs, inode);
}

static void phash_init(struct fs_inode *inode)
{
	static const uint8_t none[sizeof(void *)];

	spa_init(&inode->phash, sizeof(void *), none);
}

/* The page-hash store and the logged-regions map start empty. */
void fs_phash_init(struct fs_inode *inode)
{
	phash_init(inode);
	fs_dmap_init(&inode->plog);
}

/* Forget every page hash (the next fsync rewrites what it finds changed). */
void fs_phash_drop(struct fs_inode *inode)
{
	uint64_t *h;

	for (uint64_t r = 0; spa_next(&inode->phash, r, &r); r++) {
		memcpy(&h, spa_get(&inode->phash, r), sizeof(h));
		free(h);
	}
	spa_release(&inode->phash);
	phash_init(inode);
}

/*
 * The page hashes of region @r, or NULL; with @make, an array is made if
 * there is none (its contents are then the caller's to fill).
 */
uint64_t *fs_phash_get(struct fs_inode *inode, uint64_t r, bool make)
{
	void *slot = spa_get(&inode->phash, r);
	uint64_t *h = NULL;

	if (slot)
		memcpy(&h, slot, sizeof(h));
	if (h || !make)
		return h;
	h = malloc(CLP_REGION_PAGES * sizeof(*h));
	if (!h || spa_slot(&inode->phash, r, &slot)) {
		free(h);
		return NULL;
	}
	memcpy(slot, &h, sizeof(h));
	return h;
}

bool fs_plog_any(const struct fs_inode *inode)
{
	uint64_t r;

	return spa_next(&inode->plog, 0, &r);
}

/* Data changed since the last writeback or log batch (not only logged). */
bool fs_data_changed(const struct fs_inode *inode)
{
	uint64_t r;

	return inode->dall || spa_next(&inode->dmap, 0, &r);
}
