// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * File data: loading an inode's extents from the image into its memfd,
 * space accounting, and writeback.  A commit runs in three phases so that
 * client requests are never held behind image I/O: (1) with only the commit
 * lock held, each dirty inode's memfd is cut into folio-sized chunks (THP >
 * LAF > S by the policy and the population), each chunk hashed and written
 * to a new extent unless the committed extent at that offset already holds
 * the same bytes; (2) under the filesystem lock the new extent lists are
 * installed and the metadata serialized; (3) the image commits the new
 * generation.  Writers that race with phase 1 leave the inode dirty for the
 * next commit.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fs.h"

#define REGION		CLP_REGION_SIZE
#define PAGES		(REGION / CLP_PAGE_SIZE)

static void loaded_add(struct fs *fs, struct fs_inode *inode)
{
	inode->lprev = NULL;
	inode->lnext = fs->loaded;
	if (fs->loaded)
		fs->loaded->lprev = inode;
	fs->loaded = inode;
}

static void loaded_del(struct fs *fs, struct fs_inode *inode)
{
	if (inode->lprev)
		inode->lprev->lnext = inode->lnext;
	else
		fs->loaded = inode->lnext;
	if (inode->lnext)
		inode->lnext->lprev = inode->lprev;
	inode->lnext = inode->lprev = NULL;
}

static uint64_t ext_blocks(const struct fs_inode *inode)
{
	uint64_t n = 0;

	for (uint32_t i = 0; i < inode->next; i++)
		n += 1ull << inode->ext[i].e_order;
	return n;
}

/* Recount the memfd's pages and the blocks a commit would have to add. */
void fs_data_account(struct fs *fs, struct fs_inode *inode)
{
	struct stat st;
	uint64_t growth = 0, have;

	if (inode->memfd >= 0 && fstat(inode->memfd, &st) == 0)
		inode->mblocks = (uint64_t)st.st_blocks / (FOFS_BLOCK_SIZE / 512);
	have = ext_blocks(inode);
	if (inode->memfd >= 0 && inode->nlink && inode->dseq != inode->cseq &&
	    inode->mblocks > have)
		growth = inode->mblocks - have;
	fs->growth = fs->growth - inode->growth + growth;
	inode->growth = growth;
}

static int load_extents(struct fs *fs, struct fs_inode *inode, int fd)
{
	uint8_t *buf = malloc(REGION);
	int ret = -ENOMEM;

	if (!buf)
		return ret;
	ret = 0;
	for (uint32_t i = 0; i < inode->next && !ret; i++) {
		const struct fofs_extent *e = &inode->ext[i];
		uint64_t len = img_order_bytes(e->e_order);

		if (e->e_file_off >= inode->size)
			break;
		if (len > inode->size - e->e_file_off)
			len = inode->size - e->e_file_off;
		ret = img_read_extent(fs->img, e, buf);
		if (ret) {
			fprintf(stderr, "foliofs: inode %llu: cannot read data at "
				"offset %llu: %s\n", (unsigned long long)inode->ino,
				(unsigned long long)e->e_file_off, strerror(-ret));
			break;
		}
		if (pwrite(fd, buf, len, (off_t)e->e_file_off) != (ssize_t)len)
			ret = errno ? -errno : -EIO;
	}
	free(buf);
	return ret;
}

/**
 * fs_data_load() - give an inode its memfd, filled from the image
 * @fs: the filesystem, lock held
 * @inode: a regular file
 *
 * Holes in the file stay holes in the memfd.
 *
 * Return: 0; -EBADMSG if an extent fails its checksum; -ENOMEM; -errno from
 * memfd_create(2), ftruncate(2) or reading the image.
 */
int fs_data_load(struct fs *fs, struct fs_inode *inode)
{
	int fd, ret;

	if (inode->memfd >= 0)
		return 0;
	fd = memfd_create("foliofs", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = ftruncate(fd, (off_t)inode->size) < 0 ? -errno : 0;
	if (!ret)
		ret = load_extents(fs, inode, fd);
	if (ret) {
		close(fd);
		return ret;
	}
	inode->memfd = fd;
	inode->cseq = inode->dseq;
	loaded_add(fs, inode);
	fs_data_account(fs, inode);
	return 0;
}

void fs_data_unload(struct fs *fs, struct fs_inode *inode)
{
	if (inode->memfd < 0)
		return;
	loaded_del(fs, inode);
	close(inode->memfd);
	inode->memfd = -1;
	inode->mblocks = 0;
	fs_data_account(fs, inode);
}

/**
 * fs_data_dirty() - note that an inode's data changed
 * @fs: the filesystem, lock held
 * @inode: the inode, with its memfd
 */
void fs_data_dirty(struct fs *fs, struct fs_inode *inode)
{
	inode->dseq++;
	fs_data_account(fs, inode);
}

/**
 * fs_dead_extents() - hand an inode's extents to the next commit to free
 * @fs: the filesystem, lock held
 * @inode: an inode that lost its last link or is being freed
 */
void fs_dead_extents(struct fs *fs, struct fs_inode *inode)
{
	if (fs->ndead + inode->next > fs->capdead) {
		size_t cap = (fs->ndead + inode->next) * 2;
		void *p = realloc(fs->dead, cap * sizeof(*fs->dead));

		if (!p)
			return;	/* leaked until the next mount: safe */
		fs->dead = p;
		fs->capdead = cap;
	}
	for (uint32_t i = 0; i < inode->next; i++) {
		fs->dead[fs->ndead++] = inode->ext[i];
		fs->dead_blocks += 1ull << inode->ext[i].e_order;
	}
	inode->next = 0;
	fs_data_account(fs, inode);
	fs_meta_dirty(fs);
}

/**
 * fs_space_check() - would @blocks more data blocks still fit?
 * @fs: the filesystem, lock held
 * @blocks: 4 KiB blocks about to be added
 *
 * Counts what is committed, what writeback will add, and a reserve for
 * copy-on-write metadata, so that a write admitted here can always be
 * committed later.
 *
 * Return: 0; -ENOSPC.
 */
int fs_space_check(struct fs *fs, uint64_t blocks)
{
	uint64_t total = img_sb(fs->img)->s_blocks;
	uint64_t reserve = 2 * fs->committed_meta + 64 + total / 64;
	uint64_t used = fs->committed_used - fs->dead_blocks + fs->growth;

	if (fs->dead_blocks > fs->committed_used)
		used = fs->growth;
	return used + blocks + reserve > total ? -ENOSPC : 0;
}
