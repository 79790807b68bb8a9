// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The filesystem object: set up from an opened image (tables, locks, the
 * memory-file mount) before fs_load_image() fills it, and torn down after
 * the final commit.  Everything in between is the other core files' work.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "fs.h"

/**
 * fs_init() - an empty filesystem over an opened image
 * @fs: to fill in
 * @img: the image, still owned by the caller
 * @opts: mount options
 *
 * fs_destroy() undoes it, also after a failure here.
 *
 * Return: 0; -ENOMEM.
 */
int fs_init(struct fs *fs, struct img *img, const struct fs_opts *opts)
{
	memset(fs, 0, sizeof(*fs));
	fs->img = img;
	fs->opts = *opts;
	fs_mutex_init(&fs->commit_lock, "commit_lock", FS_RANK_COMMIT);
	fs_rwlock_init(&fs->lock, "lock", FS_RANK_FS);
	fs_mutex_init(&fs->space_lock, "space_lock", FS_RANK_SPACE);
	fs_mutex_init(&fs->track_lock, "track_lock", FS_RANK_TRACK);
	fs_rwlock_init(&fs->ns_lock, "ns_lock", FS_RANK_NS);
	fs_mutex_init(&fs->tab_lock, "tab_lock", FS_RANK_TABLE);
	pthread_cond_init(&fs->wb.cond, NULL);
	pthread_cond_init(&fs->load_cond, NULL);
	pthread_cond_init(&fs->clp.cond, NULL);
	fs->next_ino = img_sb(img)->s_next_ino;
	/* the superblock is the commit's to rewrite (commit_lock): readers
	 * under fs->lock use these copies */
	fs->space.total_blocks = img_sb(img)->s_blocks;
	fs->wb.generation = img_sb(img)->s_generation;
	fs->space.committed_used = img_sb(img)->s_used_blocks;
	fs->space.committed_meta = img_sb(img)->s_meta_blocks;
	shm_init(fs);
	if (fs_itab_init(fs) || fs_dtab_init(fs))
		return -ENOMEM;
	return 0;
}

/* Free every inode and entry; the image is the caller's to close. */
void fs_destroy(struct fs *fs)
{
	fs_lock(fs);
	for (size_t b = 0; b < fs->ibuckets; b++) {
		while (fs->itab[b]) {
			struct fs_inode *i = fs->itab[b];

			while (i->dhead)
				fs_link_del(fs, i->dhead);
			fs_inode_free(fs, i);
		}
	}
	fs_track_release(fs);
	free(fs->wb.want);
	if (fs->wb.buf)
		munmap(fs->wb.buf, CLP_REGION_SIZE);
	free(fs->itab);
	free(fs->dtab);
	free(fs->space.dead);
	fs->itab = NULL;
	fs->dtab = NULL;
	shm_exit(fs);
	fs_unlock(fs);
	fs_rwlock_destroy(&fs->lock);
	fs_mutex_destroy(&fs->commit_lock);
	fs_mutex_destroy(&fs->space_lock);
	fs_mutex_destroy(&fs->track_lock);
	fs_rwlock_destroy(&fs->ns_lock);
	fs_mutex_destroy(&fs->tab_lock);
	pthread_cond_destroy(&fs->wb.cond);
	pthread_cond_destroy(&fs->load_cond);
	pthread_cond_destroy(&fs->clp.cond);
}
