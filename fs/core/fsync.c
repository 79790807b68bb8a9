// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * fsync through the intent log.  The file's changed regions are written
 * back (a region with only a few changed pages goes into the log as bytes
 * instead of being rewritten whole), then one batch records every change
 * the image does not hold yet, made durable by one flush.  When the log
 * cannot take it (no generation of ours yet, a failed commit, too many
 * changes, a full log), a whole commit records it instead.
 */
#include <errno.h>
#include <stdlib.h>

#include "wb.h"

/*
 * Under fs->lock: may this fsync go to the log?  Not before a generation of
 * ours, not after a failed commit (the next commit reports it), and not
 * when the changes or the log are so large that a generation is cheaper.
 */
static bool fsync_can_log(struct fs *fs)
{
	fs_assert_held(&fs->lock);
	return img_log_ready(fs->img) && !fs->wb.last_error && fs_track_fits(fs) &&
	       img_log_blocks(fs->img) < FS_LOG_MAX_BLOCKS;
}

/*
 * An fsync through the intent log: write @inode's changed data, then one
 * batch with every tracked change, made durable by one flush.  Commit lock
 * held.  Return: 0; -EAGAIN when a generation must record it instead; the
 * errors of writing the data or the log.
 */
static int fsync_log(struct fs *fs, struct fs_inode *inode, struct wb *wb)
{
	uint64_t seq = 0;
	struct img_mw mw;
	int ret;

	img_mw_init(&mw);
	ret = -ENOMEM;
	wb->items = calloc(1, sizeof(*wb->items));
	if (wb->items && inode->nlink && inode->dirty)
		ret = wb_take(wb, inode);
	else if (wb->items)
		ret = 0;
	fs_unlock(fs);
	if (!ret && wb->n)
		ret = wb_write(wb);
	fs_lock(fs);
	if (ret) {
		wb_abandon(wb);
		return ret;
	}
	wb_install(wb);
	ret = fs_log_batch(fs, &mw, inode, &seq);
	fs_unlock(fs);
	if (!ret)
		ret = img_log_append(fs->img, &mw);
	img_mw_release(&mw);
	fs_lock(fs);
	wb_finish(wb, ret == 0);
	if (!ret) {
		fs_track_clean(fs, seq);
		fs->meta_cseq = seq > fs->meta_cseq ? seq : fs->meta_cseq;
	}
	return ret;
}

/**
 * fs_fsync() - make one file (or directory) and every name change durable
 * @fs: the filesystem; neither lock held
 * @ino: the inode fsync'd
 *
 * Writes the file's changed data and appends one intent log batch with the
 * changed inodes and entries: one flush, and nothing when nothing changed.
 * Falls back to a whole commit when the log cannot take it.
 *
 * Return: 0; -ENOSPC; -EIO or another errno from the image; -ENOMEM.
 */
int fs_fsync(struct fs *fs, uint64_t ino)
{
	struct wb wb = { .fs = fs, .log = true };
	struct fs_inode *inode;
	int ret = -EAGAIN;

	fs_assert_unheld(&fs->lock);
	fs_assert_unheld(&fs->commit_lock);
	if (fs->opts.ro)
		return 0;
	fs_commit_lock(fs);
	fs_lock(fs);
	inode = fs_iget(fs, ino);
	if (inode && inode->memfd >= 0)
		fs_data_sync_attr(fs, inode);
	if (inode && fsync_can_log(fs)) {
		ret = 0;
		if (fs->track.ninodes || fs->track.nops || (inode->nlink && inode->dirty))
			ret = fsync_log(fs, inode, &wb);
	}
	fs_unlock(fs);
	wb_release(&wb);
	if (ret == -EAGAIN || (ret && ret != -ENOMEM))
		ret = fs_commit_locked(fs, false);
	fs_commit_unlock(fs);
	return ret;
}
