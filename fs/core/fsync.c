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
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "wb.h"

#define FS_PATCH_MAX_PAGES 64	      /* more changed pages: rewrite the region */
#define FS_PATCH_MAX_BYTES (8u << 20) /* logged bytes per batch */

/* The regions an fsync logs as bytes, and the records that carry them. */
struct fsync_patch {
	struct img_mw mw; /* FOFS_REC_WRITE records */
	struct {
		struct fs_inode *inode;
		uint64_t r;
	} * r; /* their regions */
	size_t n, cap;
	uint64_t bytes;
};

/* Read the dirty chunks of region @r into wb->buf and hash their pages into @nh. */
static int patch_read(struct wb *wb, struct wb_item *it, uint64_t r, uint8_t mask, uint64_t *nh)
{
	uint64_t base = r << CLP_REGION_SHIFT;

	for (unsigned c = 0; c < CLP_REGION_SIZE / FS_CHUNK_SIZE; c++) {
		uint64_t off = base + (uint64_t)c * FS_CHUNK_SIZE;
		uint8_t *p = wb->buf + (size_t)c * FS_CHUNK_SIZE;
		ssize_t n = 0;

		if (!(mask & (1u << c)))
			continue;
		if (off < it->size)
			n = pread(it->memfd, p,
				  FS_CHUNK_SIZE < it->size - off ? FS_CHUNK_SIZE :
								   (size_t)(it->size - off),
				  (off_t)off);
		if (n < 0)
			return -errno;
		memset(p + n, 0, FS_CHUNK_SIZE - (size_t)n); /* past the end: zeros */
		for (unsigned pg = 0; pg < FS_CHUNK_SIZE / CLP_PAGE_SIZE; pg++)
			nh[c * (FS_CHUNK_SIZE / CLP_PAGE_SIZE) + pg] =
				img_xxh3(p + (size_t)pg * CLP_PAGE_SIZE, CLP_PAGE_SIZE);
	}
	return 0;
}

/* Log the runs of changed pages of region @r (in wb->buf) as bytes. */
static int patch_emit(struct wb *wb, struct wb_item *it, uint64_t r, const bool *chg,
		      struct fsync_patch *fp)
{
	uint64_t base = r << CLP_REGION_SHIFT;
	int ret = 0;

	for (unsigned pg = 0, e; pg < CLP_REGION_PAGES && !ret; pg = e) {
		uint64_t off = base + (uint64_t)pg * CLP_PAGE_SIZE, len;

		for (e = pg; e < CLP_REGION_PAGES && chg[e]; e++)
			;
		if (e == pg) {
			e++;
			continue;
		}
		len = (uint64_t)(e - pg) * CLP_PAGE_SIZE;
		if (off >= it->size)
			break;
		len = len < it->size - off ? len : it->size - off;
		ret = img_mw_write(&fp->mw, it->inode->ino, off,
				   wb->buf + (size_t)pg * CLP_PAGE_SIZE, (size_t)len);
		fp->bytes += len;
	}
	return ret;
}

/*
 * Do region @r's extents fit the file's size?  An extent must not reach a
 * page past the end of the file (a load maps it there); after a shrink the
 * region is rewritten, not patched.
 */
static bool extents_fit(const struct wb_item *it, uint64_t r)
{
	uint64_t end = (it->size + CLP_PAGE_SIZE - 1) & ~(uint64_t)(CLP_PAGE_SIZE - 1);

	if (((r + 1) << CLP_REGION_SHIFT) <= end)
		return true;
	for (uint32_t k = 0; k < it->nold; k++)
		if (it->old[k].e_file_off >> CLP_REGION_SHIFT == r &&
		    it->old[k].e_file_off + img_order_bytes(it->old[k].e_order) > end)
			return false;
	return true;
}

/*
 * Region @r of the fsync'd file: when only a few pages changed since its
 * page hashes were taken, log those pages and keep its extents.  *@done
 * says whether it did; the page hashes then describe what is durable.
 */
static int patch_region(struct wb *wb, struct wb_item *it, uint64_t r, uint8_t mask,
			struct fsync_patch *fp, bool *done)
{
	uint64_t *h = fs_phash_get(it->inode, r, false), nh[CLP_REGION_PAGES];
	bool chg[CLP_REGION_PAGES] = { false };
	unsigned n = 0;
	int ret;

	*done = false;
	if (!h || (r << CLP_REGION_SHIFT) >= it->size || !extents_fit(it, r))
		return 0;
	ret = patch_read(wb, it, r, mask, nh);
	for (unsigned pg = 0; pg < CLP_REGION_PAGES && !ret; pg++) {
		if (!(mask & (1u << (pg / (FS_CHUNK_SIZE / CLP_PAGE_SIZE)))))
			continue;
		chg[pg] = nh[pg] != h[pg];
		n += chg[pg];
	}
	if (ret || n > FS_PATCH_MAX_PAGES ||
	    fp->bytes + (uint64_t)n * CLP_PAGE_SIZE > FS_PATCH_MAX_BYTES)
		return ret;
	ret = patch_emit(wb, it, r, chg, fp);
	if (ret)
		return ret;
	for (unsigned pg = 0; pg < CLP_REGION_PAGES; pg++)
		if (chg[pg])
			h[pg] = nh[pg];
	*done = true;
	return 0;
}

static int patch_note(struct fsync_patch *fp, struct fs_inode *inode, uint64_t r)
{
	if (fp->n == fp->cap) {
		size_t cap = fp->cap ? fp->cap * 2 : 16;
		void *p = realloc(fp->r, cap * sizeof(*fp->r));

		if (!p)
			return -ENOMEM;
		fp->r = p;
		fp->cap = cap;
	}
	fp->r[fp->n].inode = inode;
	fp->r[fp->n++].r = r;
	return 0;
}

/*
 * Before the item is written back (without fs->lock, under the commit
 * lock, as writeback runs): the regions with few changed pages go to the
 * log as bytes and leave the item, so only the others are rewritten.  A
 * file with a pending shrink, or after a failed writeback, is rewritten
 * as before.
 */
static int fsync_patch(struct wb *wb, struct wb_item *it, struct fsync_patch *fp)
{
	int ret = 0;

	/*
	 * A file with passthrough writers (changes unseen) is rewritten
	 * region by region as a commit does: its changes are found by
	 * rehashing what it holds, and logged bytes are not used for it.
	 */
	if (it->dall || it->no_reuse || (it->nold && it->old[it->nold - 1].e_file_off >= it->size))
		return 0;
	ret = wb_buffer(wb);
	for (uint64_t r = 0; !ret && spa_next(&it->dmap, r, &r); r++) {
		uint8_t *m = spa_get(&it->dmap, r);
		bool done;

		ret = patch_region(wb, it, r, *m, fp, &done);
		if (!ret && done)
			ret = patch_note(fp, it->inode, r);
		if (!ret && done)
			*m = 0; /* the log has it: not rewritten now */
	}
	return ret;
}

/* Under fs->lock, after the batch: logged regions wait for the next commit. */
static void patch_settle(struct fs *fs, struct fsync_patch *fp, bool ok)
{
	void *slot;

	fs_assert_held(&fs->lock);
	for (size_t i = 0; i < fp->n; i++) {
		struct fs_inode *inode = fp->r[i].inode;
		uint64_t r = fp->r[i].r;

		if (ok && !spa_slot(&inode->plog, r, &slot))
			*(uint8_t *)slot = 1;
		else
			fs_data_dirty(fs, inode, r << CLP_REGION_SHIFT,
				      (r + 1) << CLP_REGION_SHIFT);
		if (!ok) /* the hashes ran ahead of what is durable */
			fs_phash_drop(inode);
		inode->dirty = inode->dirty || fs_plog_any(inode);
	}
}

/*
 * Under fs->lock: may this fsync go to the log?  Not before a generation of
 * ours, not after a failed commit (the next commit reports it), and not
 * when the changes, the log or the blocks it holds back are so large that
 * a generation is cheaper.
 */
static bool fsync_can_log(struct fs *fs)
{
	fs_assert_held(&fs->lock);
	return img_log_ready(fs->img) && !fs->wb.last_error && fs_track_fits(fs) &&
	       img_log_blocks(fs->img) < FS_LOG_MAX_BLOCKS && !fs_pending_crowds(fs);
}

/*
 * Under fs->lock: the fsyncs waiting are served by this one batch (group
 * commit); @t gets the inodes, pinned (the lock is dropped while the batch
 * is written, and a target no client holds open, fs_file_close_flush()'s,
 * could be removed and forgotten meanwhile); the ticket returned covers
 * them.
 */
static uint64_t fsync_gather(struct fs *fs, struct fs_inode ***t, size_t *nt)
{
	size_t n = 0;

	fs_assert_held(&fs->lock);
	*nt = 0;
	*t = calloc(fs->wb.nwant + 1, sizeof(**t));
	if (!*t) /* the line stays: a commit serves us, the next batch them */
		return 0;
	for (size_t i = 0; i < fs->wb.nwant; i++) {
		struct fs_inode *inode = fs_iget(fs, fs->wb.want[i]);

		if (inode && !inode->fsync_target) {
			inode->fsync_target = true;
			inode->pins++;
			(*t)[n++] = inode;
		}
	}
	*nt = n;
	fs->wb.nwant = 0;
	return fs->wb.ticket;
}

static void fsync_ungather(struct fs *fs, struct fs_inode **t, size_t nt)
{
	fs_assert_held(&fs->lock);
	for (size_t i = 0; i < nt; i++) {
		t[i]->fsync_target = false;
		t[i]->pins--;
		fs_inode_put_check(fs, t[i]);
	}
	free(t);
}

/*
 * One batch for the fsync'd files @t: write their changed data, then log
 * every tracked change, made durable by one flush.  Lock held, dropped
 * while writing.  Return: 0; the errors of writing the data or the log.
 */
static int fsync_log_relock(struct fs *fs, struct fs_inode **t, size_t nt, struct wb *wb)
{
	struct fsync_patch fp = { 0 };
	uint64_t seq = 0;
	struct img_mw mw;
	int ret = 0;

	fs_assert_held(&fs->lock);
	img_mw_init(&mw);
	img_mw_init(&fp.mw);
	wb->items = calloc(nt + 1, sizeof(*wb->items));
	for (size_t i = 0; wb->items && i < nt && !ret; i++) {
		t[i]->ph_on = true; /* its next writebacks keep page hashes */
		if (t[i]->nlink && fs_data_changed(t[i]))
			ret = wb_take(wb, t[i]);
	}
	ret = wb->items ? ret : -ENOMEM;
	fs_unlock(fs);
	for (size_t i = 0; i < wb->n && !ret; i++)
		ret = fsync_patch(wb, &wb->items[i], &fp);
	if (!ret && wb->n)
		ret = wb_write(wb);
	fs_lock(fs);
	if (ret) {
		patch_settle(fs, &fp, false);
		wb_abandon(wb);
		goto out_release;
	}
	wb_install(wb);
	ret = fs_log_batch(fs, &mw, t, nt, &fp.mw, &seq);
	fs_unlock(fs);
	if (!ret)
		ret = img_log_append(fs->img, &mw);
	fs_lock(fs);
	patch_settle(fs, &fp, ret == 0);
	wb_finish(wb, ret == 0);
	if (!ret) {
		fs_track_clean(fs, seq);
		fs->meta_cseq = seq > fs->meta_cseq ? seq : fs->meta_cseq;
	}
out_release:
	img_mw_release(&mw);
	img_mw_release(&fp.mw);
	free(fp.r);
	return ret;
}

/* Does anything wait to be made durable: a change, or a file's new data? */
static bool fsync_needed(struct fs *fs, struct fs_inode **t, size_t nt)
{
	fs_assert_held(&fs->lock);
	if (fs->track.ninodes || fs->track.nops)
		return true;
	for (size_t i = 0; i < nt; i++)
		if (t[i]->nlink && fs_data_changed(t[i]))
			return true;
	return false;
}

/* Under fs->lock: join the line for the next batch; its ticket is fs->wb.ticket. */
static int want_push(struct fs *fs, uint64_t ino)
{
	fs_assert_held(&fs->lock);
	if (fs->wb.nwant == fs->wb.capwant) {
		size_t cap = fs->wb.capwant ? fs->wb.capwant * 2 : 16;
		void *p = realloc(fs->wb.want, cap * sizeof(*fs->wb.want));

		if (!p)
			return -ENOMEM;
		fs->wb.want = p;
		fs->wb.capwant = cap;
	}
	fs->wb.want[fs->wb.nwant++] = ino;
	fs->wb.ticket++;
	return 0;
}

/* Take a ticket and wait in line; 0 when the line could not grow. */
static uint64_t fsync_queue(struct fs *fs, uint64_t ino)
{
	uint64_t t;

	fs_lock(fs);
	t = want_push(fs, ino) ? 0 : fs->wb.ticket;
	fs_unlock(fs);
	return t;
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* One fsync's time, into the latency histogram the status shows. */
static void fsync_account(struct fs *fs, uint64_t us)
{
	static const uint64_t bound[FOFS_FSYNC_NR_BUCKETS] = FOFS_FSYNC_BUCKETS_US;
	size_t b = 0;

	fs_assert_held(&fs->lock);
	while (b < FOFS_FSYNC_NR_BUCKETS && us > bound[b])
		b++;
	fs->wb.fsyncs++;
	fs->wb.fsync_us_sum += us;
	fs->wb.fsync_us_hist[b]++;
}

/**
 * fs_fsync() - make one file (or directory) and every name change durable
 * @fs: the filesystem; neither lock held
 * @ino: the inode fsync'd
 *
 * Writes the file's changed data and appends one intent log batch with the
 * changed inodes and entries: one flush, and nothing when nothing changed.
 * fsyncs that arrive while a batch is being written wait, and the next
 * batch serves all of them (group commit).  Falls back to a whole commit
 * when the log cannot take it.
 *
 * Return: 0; -ENOSPC; -EIO or another errno from the image; -ENOMEM.
 */
int fs_fsync(struct fs *fs, uint64_t ino)
{
	struct wb wb = { .fs = fs, .log = true };
	uint64_t ticket = 0, mine = 0, t0 = now_us();
	struct fs_inode **t = NULL;
	size_t nt = 0;
	int ret = -EAGAIN;

	fs_assert_unheld(&fs->lock);
	fs_assert_unheld(&fs->commit_lock);
	if (fs->opts.ro)
		return 0;
	mine = fsync_queue(fs, ino);
	fs_commit_lock(fs);
	fs_lock(fs);
	if (mine && fs->wb.done >= mine) { /* a batch since we queued served us */
		fs->wb.fsync_shared++;
		fsync_account(fs, now_us() - t0);
		fs_unlock(fs);
		fs_commit_unlock(fs);
		return 0;
	}
	ret = mine ? -EAGAIN : want_push(fs, ino);
	if (ret != -EAGAIN) /* (pushed now, or no memory) */
		ret = ret ? ret : -EAGAIN;
	if (ret != -EAGAIN)
		goto out_unlock;
	ticket = fsync_gather(fs, &t, &nt);
	for (size_t i = 0; i < nt; i++)
		if (t[i]->memfd >= 0)
			fs_data_sync_attr(fs, t[i]);
	if (t && fsync_can_log(fs))
		ret = fsync_needed(fs, t, nt) ? fsync_log_relock(fs, t, nt, &wb) : 0;
	fsync_ungather(fs, t, nt);
	fs_unlock(fs);
	wb_release(&wb);
	if (ret == -EAGAIN || (ret && ret != -ENOMEM))
		ret = fs_commit_locked(fs, false);
	fs_lock(fs);
	if (!ret && ticket > fs->wb.done)
		fs->wb.done = ticket;
out_unlock:
	fsync_account(fs, now_us() - t0);
	fs_unlock(fs);
	fs_commit_unlock(fs);
	return ret;
}
