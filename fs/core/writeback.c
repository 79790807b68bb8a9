// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Writeback and commit.  Phase 1 (commit lock only) turns each dirty
 * inode's memfd into a new extent list: every 2 MiB region becomes one
 * order-9 extent when it is fully populated and the policy allows huge
 * folios, otherwise 64 KiB or 4 KiB extents, falling back THP > LAF > S when
 * the allocator has no aligned run.  A chunk whose bytes hash the same as the
 * committed extent at that offset keeps that extent.  Phase 2 (filesystem
 * lock) installs the lists and serializes the metadata; phase 3 commits the
 * generation.  The periodic writeback thread lives here too.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <syslog.h>
#include <unistd.h>

#include "wb.h"

static const struct fofs_extent *old_at(struct wb_item *it, uint64_t off,
					unsigned order, uint32_t *idx)
{
	uint32_t lo = 0, hi = it->nold;

	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;

		if (it->old[mid].e_file_off < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < it->nold && it->old[lo].e_file_off == off &&
	    it->old[lo].e_order == order) {
		*idx = lo;
		return &it->old[lo];
	}
	return NULL;
}

static int push_new(struct wb_item *it, const struct fofs_extent *e)
{
	if (it->nnew == it->capnew) {
		uint32_t cap = it->capnew ? it->capnew * 2 : 16;
		void *p = realloc(it->new, cap * sizeof(*it->new));

		if (!p)
			return -ENOMEM;
		it->new = p;
		it->capnew = cap;
	}
	it->new[it->nnew++] = *e;
	return 0;
}

/*
 * Store one chunk.  Returns -ENOSPC only when no aligned run of this order
 * is free and the chunk has no committed extent of its own to overwrite.
 */
static int wb_chunk(struct wb *wb, struct wb_item *it, uint64_t off,
		    unsigned order, const uint8_t *data)
{
	size_t len = img_order_bytes(order);
	const struct fofs_extent *old;
	struct fofs_extent e = { .e_file_off = off, .e_order = (uint8_t)order };
	uint32_t idx;
	int ret;

	old = old_at(it, off, order, &idx);
	if (old && !it->no_reuse && !it->relog && old->e_checksum == img_xxh3(data, len)) {
		it->reused[idx] = true;
		return push_new(it, old);
	}
	ret = img_alloc(wb->fs->img, order, &e.e_block);
	if (ret == -ENOSPC && old) {
		/* Last resort when full: overwrite in place (not crash-atomic). */
		e.e_block = old->e_block;
		it->reused[idx] = true;
		ret = 0;
	} else if (ret) {
		return ret;
	}
	ret = img_write_extent(wb->fs->img, &e, data);
	if (ret && !(old && e.e_block == old->e_block))
		img_unalloc(wb->fs->img, e.e_block, order);
	if (ret)
		return ret;
	return push_new(it, &e);
}

/*
 * Which 4 KiB pages of [off, off + CLP_REGION_SIZE) hold data in the memfd.
 * Regions are visited in order and @run keeps the data run last found, so
 * a dense file costs one seek per run, not a walk to its end per region.
 */
static int region_pages(int fd, uint64_t off, uint64_t size, bool *pop, struct clp_run *run)
{
	uint64_t end = off + CLP_REGION_SIZE < size ? off + CLP_REGION_SIZE : size, pos = off, d, h;
	int ret;

	memset(pop, 0, CLP_REGION_PAGES * sizeof(*pop));
	while (!(ret = clp_data_run(fd, pos, end, &d, &h, run))) {
		for (uint64_t p = d & ~(CLP_PAGE_SIZE - 1); p < h; p += CLP_PAGE_SIZE)
			pop[(p - off) / CLP_PAGE_SIZE] = true;
		pos = h;
	}
	return ret == -ENXIO ? 0 : ret;
}

static unsigned count_pop(const bool *pop, unsigned from, unsigned n)
{
	unsigned c = 0;

	for (unsigned i = from; i < from + n; i++)
		c += pop[i];
	return c;
}

/* Store [off, off + CLP_REGION_SIZE) at the largest order the policy and fit allow. */
static int wb_region(struct wb *wb, struct wb_item *it, uint64_t off, const bool *pop)
{
	struct clp_fit fit = { .file_size = it->size, .off = off };
	int ret;

	fit.populated = count_pop(pop, 0, CLP_REGION_PAGES) * CLP_PAGE_SIZE;
	if (it->max_order >= CLP_ORDER_THP && clp_order_fits(CLP_ORDER_THP, &fit, 0)) {
		ret = wb_chunk(wb, it, off, CLP_ORDER_THP, wb->buf);
		if (ret != -ENOSPC)
			return ret;
	}
	for (unsigned c = 0; c < CLP_REGION_PAGES; c += 16) {
		fit.off = off + c * CLP_PAGE_SIZE;
		fit.populated = count_pop(pop, c, 16) * CLP_PAGE_SIZE;
		if (it->max_order >= CLP_ORDER_LAF &&
		    clp_order_fits(CLP_ORDER_LAF, &fit, 0)) {
			ret = wb_chunk(wb, it, fit.off, CLP_ORDER_LAF,
				       wb->buf + c * CLP_PAGE_SIZE);
			if (ret != -ENOSPC) {
				if (ret)
					return ret;
				continue;
			}
		}
		for (unsigned p = c; p < c + 16; p++) {
			if (!pop[p])
				continue;
			ret = wb_chunk(wb, it, off + p * CLP_PAGE_SIZE, CLP_ORDER_S,
				       wb->buf + p * CLP_PAGE_SIZE);
			if (ret)
				return ret;
		}
	}
	return 0;
}

/*
 * Next region to visit: a dirty one, or (all dirty) one that holds data or
 * damage (a damaged region holds no data in memory but keeps its extents).
 */
static bool wb_next_region(const struct wb_item *it, uint64_t from, uint64_t *r)
{
	uint64_t b;
	bool found;

	if (from >= (it->size + CLP_REGION_SIZE - 1) / CLP_REGION_SIZE)
		return false;
	if (!it->dall)
		return spa_next(&it->dmap, from, r) && *r * CLP_REGION_SIZE < it->size;
	found = !clp_next_data(it->memfd, from * CLP_REGION_SIZE, it->size, r);
	if (fs_bad_next_region(it->bad, it->nbad, from, &b) && (!found || b < *r)) {
		*r = b;
		found = b * CLP_REGION_SIZE < it->size;
	}
	return found;
}

/* Clean regions keep their committed extents below @upto (inside the file). */
static int wb_keep(struct wb_item *it, uint64_t upto, uint32_t *k)
{
	int ret = 0;

	for (; *k < it->nold && it->old[*k].e_file_off < upto && !ret; (*k)++) {
		if (it->old[*k].e_file_off >= it->size)
			continue;
		it->reused[*k] = true;
		ret = push_new(it, &it->old[*k]);
	}
	return ret;
}

/* Hash and store region @r from the memfd. */
/*
 * An fsync'd file keeps the hashes of the pages its regions were written
 * with, so its next fsync can tell which pages changed.  The hashes are
 * the commit lock's (the caller's).
 */
static void wb_page_hashes(struct wb *wb, struct wb_item *it, uint64_t r, bool empty)
{
	static const uint8_t zero_page[CLP_PAGE_SIZE];
	uint64_t *h;

	if (!it->inode->ph_on || !(h = fs_phash_get(it->inode, r, !empty)))
		return;
	for (unsigned pg = 0; pg < CLP_REGION_PAGES; pg++)
		h[pg] = img_xxh3(empty ? zero_page : wb->buf + (size_t)pg * CLP_PAGE_SIZE,
				 CLP_PAGE_SIZE);
}

/*
 * Does a log batch store region @r of a file whose pages an earlier batch
 * of the same log holds as bytes?  Replay drops logged bytes only where a
 * later batch adds or drops an extent: the region's new extents must then
 * cover every page inside the file, holes written as zeros and none
 * reused, or a page punched back to a hole (or written back to what its
 * old extent holds) gets the logged bytes again after a crash.
 */
static bool relogged(const struct wb *wb, const struct wb_item *it, uint64_t r)
{
	uint64_t x;

	return wb->log && spa_next(&it->inode->plog, r, &x) && x == r;
}

static int wb_rehash(struct wb *wb, struct wb_item *it, uint64_t r)
{
	uint64_t off = r * CLP_REGION_SIZE;
	size_t len = it->size - off < CLP_REGION_SIZE ? it->size - off : CLP_REGION_SIZE;
	bool pop[CLP_REGION_PAGES];
	ssize_t n;
	int ret;

	ret = region_pages(it->memfd, off, it->size, pop, &it->run);
	it->relog = !ret && relogged(wb, it, r);
	for (size_t p = 0; it->relog && p < (len + CLP_PAGE_SIZE - 1) / CLP_PAGE_SIZE; p++)
		pop[p] = true;
	if (!ret && !count_pop(pop, 0, CLP_REGION_PAGES))
		wb_page_hashes(wb, it, r, true);
	if (ret || !count_pop(pop, 0, CLP_REGION_PAGES))
		return ret;
	memset(wb->buf + len, 0, CLP_REGION_SIZE - len);
	n = pread(it->memfd, wb->buf, len, (off_t)off);
	if (n < 0)
		return -errno;
	if ((size_t)n < len)	/* truncated under us: zeros, stays dirty */
		memset(wb->buf + n, 0, len - (size_t)n);
	wb_page_hashes(wb, it, r, false);
	ret = wb_region(wb, it, off, pop);
	it->relog = false;
	return ret;
}

/*
 * Walk only the regions to rehash, keeping the committed extents between
 * them: the cost follows what changed (or, for a file written unseen
 * through passthrough, what it holds), never the file's size.
 */
static int wb_inode(struct wb *wb, struct wb_item *it)
{
	uint32_t k = 0;
	uint64_t r = 0;
	int ret = 0;

	while (!ret && wb_next_region(it, r, &r)) {
		if (!it->dall)
			ret = wb_keep(it, r * CLP_REGION_SIZE, &k);
		while (it->dall && k < it->nold && it->old[k].e_file_off < r * CLP_REGION_SIZE)
			k++;	/* all dirty: nothing before is kept as is */
		if (!ret && fs_bad_overlaps(it->bad, it->nbad, r * CLP_REGION_SIZE,
					    (r + 1) * CLP_REGION_SIZE, false)) {
			/* damage: the region stays exactly as committed */
			ret = wb_keep(it, (r + 1) * CLP_REGION_SIZE, &k);
			r++;
			continue;
		}
		while (k < it->nold && it->old[k].e_file_off < (r + 1) * CLP_REGION_SIZE)
			k++;	/* replaced unless the rehash reuses them */
		if (!ret)
			ret = wb_rehash(wb, it, r);
		r++;
	}
	if (!ret && !it->dall)
		ret = wb_keep(it, UINT64_MAX, &k);
	return ret;
}

static void wb_items_free(struct wb *wb)
{
	for (size_t i = 0; i < wb->n; i++) {
		free(wb->items[i].old);
		free(wb->items[i].reused);
		free(wb->items[i].new);
		free(wb->items[i].bad);
		spa_release(&wb->items[i].dmap);
	}
	free(wb->items);
	wb->items = NULL;
	wb->n = 0;
}

/* Under fs->lock: pin every dirty linked inode, take its region map. */
static int wb_snapshot(struct wb *wb, bool data)
{
	struct fs *fs = wb->fs;
	size_t n = 0;
	int ret = 0;

	for (struct fs_inode *i = fs->loaded; i; i = i->lnext) {
		fs_data_sync_attr(fs, i);
		n += data && i->nlink && i->dirty;
	}
	wb->items = calloc(n + 1, sizeof(*wb->items));
	if (!wb->items)
		return -ENOMEM;
	for (struct fs_inode *i = fs->loaded; i && wb->n < n && !ret; i = i->lnext)
		if (i->nlink && i->dirty)
			ret = wb_take(wb, i);
	wb->meta_seq = fs->meta_seq;
	return ret;
}

/* Under fs->lock: pin @i, take its region map into the next item. */
/* A commit rewrites the regions whose changes only the log holds. */
static void wb_take_logged(struct wb_item *it, struct fs_inode *i)
{
	void *slot;

	for (uint64_t r = 0; spa_next(&i->plog, r, &r); r++) {
		if (spa_slot(&it->dmap, r, &slot))
			it->dall = true;
		else
			*(uint8_t *)slot = 0xff;
	}
	spa_release(&i->plog);
	fs_dmap_init(&i->plog);
}

int wb_take(struct wb *wb, struct fs_inode *i)
{
	struct fs *fs = wb->fs;
	struct wb_item *it = &wb->items[wb->n];

	fs_assert_held(&fs->lock);
	it->inode = i;
	it->size = i->size;
	it->memfd = i->memfd;
	/* madvise asks per mapping, never for the file: no 2 MiB
	 * extents, so a remount brings it back small (docs/POSIX.md) */
	it->max_order = clp_max_order(fs_inode_policy(fs, i), false);
	it->nold = i->next;
	it->old = malloc((i->next + 1) * sizeof(*it->old));
	it->reused = calloc(i->next + 1, sizeof(*it->reused));
	it->bad = malloc((i->nbad + 1) * sizeof(*it->bad));
	if (!it->old || !it->reused || !it->bad)
		return -ENOMEM; /* items so far are unpinned by caller */
	if (i->nbad)
		memcpy(it->bad, i->bad, i->nbad * sizeof(*it->bad));
	it->nbad = i->nbad;
	if (i->next)
		memcpy(it->old, i->ext, i->next * sizeof(*it->old));
	spa_move(&it->dmap, &i->dmap);
	it->dall = i->dall;
	if (it->dall && (i->pt_writers || i->pt_mapped_rw)) {
		fs->wb.scans++;
		fs->wb.scan_bytes += i->size;
	}
	it->no_reuse = i->wb_unsynced;
	if (!wb->log)
		wb_take_logged(it, i);
	/* passthrough writers change the memfd unseen: always rehash */
	i->dall = i->pt_writers > 0;
	i->dirty = i->dall || fs_plog_any(i);
	i->pins++;
	wb->n++;
	return 0;
}

/* Give back blocks written for extents no metadata will reference. */
static void wb_unalloc_new(struct wb *wb, struct wb_item *it)
{
	for (uint32_t k = 0; k < it->nnew; k++) {
		uint32_t idx;

		if (old_at(it, it->new[k].e_file_off, it->new[k].e_order, &idx) &&
		    it->old[idx].e_block == it->new[k].e_block)
			continue;
		img_unalloc(wb->fs->img, it->new[k].e_block, it->new[k].e_order);
	}
	it->nnew = 0;
}

/*
 * Install new extent lists, free what they replaced.  The commit lock
 * held, and fs->lock in either mode: what changes here (the extents of
 * pinned, so loaded, inodes; the dead extents; the allocator) is read only
 * under the commit lock or with fs->lock exclusive, never by a reader
 * holding it shared (a stat reads extents only of files not in memory).
 * An inode's size and links are read under its lock: a served write may
 * be growing it, an unlink dropping its last link, under fs->lock shared.
 */
void wb_install(struct wb *wb)
{
	struct fs *fs = wb->fs;

	fs_assert_held(&fs->commit_lock);
	fs_assert_locked(fs);
	for (size_t i = 0; i < wb->n; i++) {
		struct wb_item *it = &wb->items[i];
		struct fs_inode *inode = it->inode;
		uint32_t keep = 0;

		fs_inode_lock(fs, inode); /* its size and links may be changing */
		if (!inode->nlink) {	/* unlinked meanwhile: extents went dead */
			fs_inode_unlock(fs, inode);
			wb_unalloc_new(wb, it);
			continue;
		}
		for (uint32_t k = 0; k < it->nold; k++)
			if (!it->reused[k])
				img_free(fs->img, it->old[k].e_block, it->old[k].e_order);
		for (uint32_t k = 0; k < it->nnew; k++) {
			if (it->new[k].e_file_off < inode->size)
				it->new[keep++] = it->new[k];
			else	/* truncated since phase 1 */
				img_free(fs->img, it->new[k].e_block, it->new[k].e_order);
		}
		free(inode->ext);
		inode->ext = it->new;
		inode->next = inode->capext = keep;
		inode->ext_size = inode->size;
		fs_inode_unlock(fs, inode);
		it->new = NULL;
	}
	for (size_t i = 0; i < fs->space.ndead; i++)
		img_free(fs->img, fs->space.dead[i].e_block, fs->space.dead[i].e_order);
	fs->space.ndead = 0;
	wb->installed = true;
}

/* A failed writeback leaves everything it took dirty again. */
static void wb_redirty(struct fs *fs, struct wb_item *it)
{
	struct fs_inode *inode = it->inode;

	if (it->dall) {
		fs_data_dirty(fs, inode, 0, UINT64_MAX);
		return;
	}
	for (uint64_t r = 0; spa_next(&it->dmap, r, &r); r++)
		fs_data_dirty(fs, inode, r * CLP_REGION_SIZE, (r + 1) * CLP_REGION_SIZE);
}

void wb_finish(struct wb *wb, bool ok)
{
	struct fs *fs = wb->fs;

	for (size_t i = 0; i < wb->n; i++) {
		struct fs_inode *inode = wb->items[i].inode;

		inode->pins--;
		if (!ok)
			wb_redirty(fs, &wb->items[i]);
		if (!ok && wb->installed)
			inode->wb_unsynced = true;
		else if (ok && wb->items[i].no_reuse)
			inode->wb_unsynced = false;
		fs_space_account(fs, inode);
		fs_inode_put_check(fs, inode);
	}
	fs_space_let_go(fs);			     /* unpinned, and (a commit) trimmed below */
	fs->wb.log_blocks = img_log_blocks(fs->img); /* commit lock held */
	if (!ok)
		return;
	if (wb->log) {
		fs->wb.log_batches++;
		return;
	}
	fs->wb.commits++;
	fs->wb.generation = img_sb(fs->img)->s_generation;
	fs->space.committed_used = img_sb(fs->img)->s_used_blocks;
	fs->space.committed_meta = img_sb(fs->img)->s_meta_blocks;
	fs->meta_cseq = wb->meta_seq;
	fs_data_trim(fs, true);
	shm_update_limit(fs);
}

/**
 * fs_pending_crowds() - do blocks waiting for a commit crowd the free space?
 * @fs: the filesystem, commit lock held
 *
 * Blocks that logged changes superseded are reused only after the next
 * commit.  Once they outnumber the blocks still free, a commit (which
 * frees them) is cheaper than copy-on-write that would soon find no room.
 *
 * Return: true when they do.
 */
bool fs_pending_crowds(struct fs *fs)
{
	uint64_t total = img_sb(fs->img)->s_blocks, used = img_used_blocks(fs->img);

	fs_assert_held(&fs->commit_lock);
	return img_pending_blocks(fs->img) > (total > used ? total - used : 0);
}

/*
 * Is there anything the image does not hold?  Regions whose changes the
 * intent log holds are durable: they wait for the log to grow large
 * rather than being rewritten every commit interval.
 */
static bool fs_needs_commit(struct fs *fs)
{
	if (fs->meta_seq != fs->meta_cseq || fs->space.ndead ||
	    img_log_blocks(fs->img) > FS_LOG_CHECKPOINT_BLOCKS || fs_pending_crowds(fs))
		return true;
	for (struct fs_inode *i = fs->loaded; i; i = i->lnext)
		if (i->nlink && (fs_data_changed(i) || i->pt_writers))
			return true;
	return false;
}

/*
 * One region of bounce buffer for every writeback and fsync of the mount,
 * mapped once (an fsync that mapped its own paid its page faults each time).
 * The commit lock's, as its users are.
 */
int wb_buffer(struct wb *wb)
{
	struct fs *fs = wb->fs;
	void *p;

	fs_assert_held(&fs->commit_lock);
	if (!fs->wb.buf) {
		p = mmap(NULL, CLP_REGION_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			 -1, 0);
		fs->wb.buf = p == MAP_FAILED ? NULL : p;
	}
	wb->buf = fs->wb.buf;
	return wb->buf ? 0 : -ENOMEM;
}

/* Phase 1, no fs lock: hash and write every item's changed regions. */
int wb_write(struct wb *wb)
{
	int ret = wb_buffer(wb);

	for (size_t i = 0; i < wb->n && !ret; i++)
		ret = wb_inode(wb, &wb->items[i]);
	return ret;
}

/* Under fs->lock after a failed phase 1: nothing it wrote is kept. */
void wb_abandon(struct wb *wb)
{
	for (size_t i = 0; i < wb->n; i++)
		wb_unalloc_new(wb, &wb->items[i]);
	wb_finish(wb, false);
}

void wb_release(struct wb *wb)
{
	wb_items_free(wb);
}

/* One commit; @data false commits metadata only (frees dead extents). */
static int commit_once(struct fs *fs, bool data, bool clean)
{
	struct wb wb = { .fs = fs };
	struct img_commit_args args = { .clean = clean };
	uint64_t seq = 0;
	struct img_mw mw;
	int ret;

	img_mw_init(&mw);
	fs_lock(fs);
	ret = wb_snapshot(&wb, data);
	fs_unlock(fs);
	if (!ret)
		ret = wb_write(&wb);
	if (ret) {
		fs_lock(fs);
		wb_abandon(&wb);
		goto out_unlock;
	}
	/* the long part, a walk of all metadata, stops no reader */
	fs_lock_shared(fs);
	wb_install(&wb);
	fs_ns_freeze(fs); /* names and links hold still; the rest goes on */
	args.next_ino = fs->next_ino;
	seq = fs_meta_seq(fs); /* the stream holds every change up to here */
	ret = fs_serialize(fs, &mw);
	fs_ns_thaw(fs);
	fs_unlock_shared(fs);
	if (!ret)
		ret = img_commit(fs->img, &mw, &args);
	fs_lock(fs);
	wb_finish(&wb, ret == 0);
	if (!ret)
		fs_track_clean(fs, seq);
out_unlock:
	fs->wb.last_error = ret;
	fs->wb.errors += ret != 0;
	fs_unlock(fs);
	img_mw_release(&mw);
	wb_release(&wb);
	return ret;
}

/* Commit lock held: fs_commit() without taking it. */
int fs_commit_locked(struct fs *fs, bool clean)
{
	bool need, dead;
	int ret = 0;

	fs_assert_held(&fs->commit_lock);
	fs_lock(fs);
	need = clean || fs_needs_commit(fs);
	dead = fs->space.ndead > 0;
	fs_unlock(fs);
	if (need && dead)
		ret = commit_once(fs, false, false);
	if (need && !ret)
		ret = commit_once(fs, true, clean);
	return ret;
}

/**
 * fs_commit() - write back all dirty data and commit a new generation
 * @fs: the filesystem; neither lock held
 * @clean: mark the image cleanly unmounted (final commit)
 *
 * When files were deleted, a metadata-only commit runs first so that their
 * blocks can take the new data.
 *
 * Return: 0; -ENOSPC; -EIO or another errno from the image; -ENOMEM.
 */
int fs_commit(struct fs *fs, bool clean)
{
	int ret;

	fs_assert_unheld(&fs->lock);
	fs_assert_unheld(&fs->commit_lock);
	if (fs->opts.ro)
		return 0;
	fs_commit_lock(fs);
	ret = fs_commit_locked(fs, clean);
	fs_commit_unlock(fs);
	return ret;
}

static void *wb_main(void *arg)
{
	struct fs *fs = arg;
	int ret;

	fs_lock(fs);
	while (!fs->wb.stop) {
		fs_cond_wait_ms(fs, &fs->wb.cond, fs->opts.commit_interval * 1000);
		if (fs->wb.stop)
			break;
		fs_unlock(fs);
		ret = fs_commit(fs, false);
		if (ret)
			fs_log(LOG_ERR, "periodic writeback failed: %s",
				strerror(-ret));
		fs_lock(fs);
	}
	fs_unlock(fs);
	return NULL;
}

/**
 * fs_wb_start() - start the periodic writeback thread
 * @fs: the filesystem
 *
 * Return: 0 (also when disabled by a zero interval); -errno.
 */
int fs_wb_start(struct fs *fs)
{
	int ret;

	if (!fs->opts.commit_interval || fs->opts.ro)
		return 0;
	ret = -pthread_create(&fs->wb.thread, NULL, wb_main, fs);
	fs->wb.started = ret == 0;
	return ret;
}

void fs_wb_stop(struct fs *fs)
{
	if (!fs->wb.started)
		return;
	fs_thread_stop(fs, fs->wb.thread, &fs->wb.stop, &fs->wb.cond);
	fs->wb.started = false;
}
