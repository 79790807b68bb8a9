// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Damaged data extents of a loaded file.  An extent that fails its checksum
 * at load costs only its own bytes: the file opens (served by the daemon,
 * never passed through, so every read is checked), reads that touch the
 * damaged range fail with EIO, the rest reads as stored.  Writes and
 * allocations in a 2 MiB region holding a damaged extent fail with EIO
 * too, and writeback keeps such regions exactly as committed, so the
 * damaged bytes are never silently replaced by zeros.  Punching the whole
 * damaged range (what fsck.foliofs -y does) ends it.  The list is per
 * inode, protected by fs->lock, and as long as the damage, not the file.
 */
#include <errno.h>
#include <stdlib.h>

#include "fs.h"

static uint64_t ext_end(const struct fofs_extent *e)
{
	return e->e_file_off + img_order_bytes(e->e_order);
}

/**
 * fs_bad_install() - a load found these extents damaged
 * @fs: the filesystem, lock held
 * @inode: the file
 * @bad: malloc'd extents, taken over (NULL when @n is 0)
 * @n: how many
 */
void fs_bad_install(struct fs *fs, struct fs_inode *inode, struct fofs_extent *bad,
		    uint32_t n)
{
	fs_assert_held(&fs->lock);
	fs_bad_release(inode);
	inode->bad = n ? bad : NULL;
	inode->nbad = n;
	if (!n)
		free(bad);
}

/* Forget the damage of an inode being unloaded or freed. */
void fs_bad_release(struct fs_inode *inode)
{
	free(inode->bad);
	inode->bad = NULL;
	inode->nbad = 0;
}

/**
 * fs_bad_overlaps() - does [@off, @end) touch damaged bytes?
 * @bad: damaged extents
 * @n: how many
 * @off: first byte
 * @end: first byte past the range
 * @regions: widen each damaged extent to its 2 MiB region
 *
 * Return: true if it does.
 */
bool fs_bad_overlaps(const struct fofs_extent *bad, uint32_t n, uint64_t off,
		     uint64_t end, bool regions)
{
	for (uint32_t i = 0; i < n; i++) {
		uint64_t s = bad[i].e_file_off, e = ext_end(&bad[i]);

		if (regions) {
			s &= ~(CLP_REGION_SIZE - 1);
			e = (e + CLP_REGION_SIZE - 1) & ~(CLP_REGION_SIZE - 1);
		}
		if (off < e && end > s)
			return true;
	}
	return false;
}

/**
 * fs_bad_next_region() - the first region at or after @from holding damage
 * @bad: damaged extents
 * @n: how many
 * @from: region index
 * @r: the region found
 *
 * Return: true if there is one.
 */
bool fs_bad_next_region(const struct fofs_extent *bad, uint32_t n, uint64_t from,
			uint64_t *r)
{
	bool found = false;

	for (uint32_t i = 0; i < n; i++) {
		uint64_t idx = bad[i].e_file_off >> CLP_REGION_SHIFT;

		if (idx >= from && (!found || idx < *r)) {
			*r = idx;
			found = true;
		}
	}
	return found;
}

/**
 * fs_bad_punch() - [@off, @end) becomes a hole (punch, zero range, truncate)
 * @fs: the filesystem, lock held
 * @inode: the file
 * @off: first byte
 * @end: first byte past the range
 *
 * Damaged extents the range covers whole are forgotten (the hole replaces
 * them); one it cuts in part would leave damaged bytes next to new zeros.
 *
 * Return: 0; -EIO if the range cuts a damaged extent (nothing changes).
 */
int fs_bad_punch(struct fs *fs, struct fs_inode *inode, uint64_t off, uint64_t end)
{
	uint32_t keep = 0;

	fs_assert_held(&fs->lock);
	for (uint32_t i = 0; i < inode->nbad; i++)
		if (fs_bad_overlaps(&inode->bad[i], 1, off, end, false) &&
		    (off > inode->bad[i].e_file_off || end < ext_end(&inode->bad[i])))
			return -EIO;
	for (uint32_t i = 0; i < inode->nbad; i++)
		if (!fs_bad_overlaps(&inode->bad[i], 1, off, end, false))
			inode->bad[keep++] = inode->bad[i];
	inode->nbad = keep;
	return 0;
}
