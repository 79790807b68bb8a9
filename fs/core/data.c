// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * File data in memory: a loaded inode's memory file, filled from the
 * image's extents when the file is first opened (collapse-then-fill gives
 * 2 MiB extents huge pages at once) and given back, least recently used
 * first, when a clean, closed file falls outside the cache budget.  Also
 * what a change costs before it is admitted (fs_space_check()) and what a
 * client did to the memory directly (fs_data_sync_attr()).  The image is
 * read with fs->lock dropped: the only function that drops it says so in
 * its name, fs_data_load_relock().
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "fs.h"

static void loaded_add(struct fs *fs, struct fs_inode *inode)
{
	inode->lprev = NULL;
	inode->lnext = fs->loaded;
	if (fs->loaded)
		fs->loaded->lprev = inode;
	else
		fs->loaded_tail = inode;
	fs->loaded = inode;
	fs->nloaded++;
}

static void loaded_del(struct fs *fs, struct fs_inode *inode)
{
	if (inode->lprev)
		inode->lprev->lnext = inode->lnext;
	else
		fs->loaded = inode->lnext;
	if (inode->lnext)
		inode->lnext->lprev = inode->lprev;
	else
		fs->loaded_tail = inode->lprev;
	inode->lnext = inode->lprev = NULL;
	fs->nloaded--;
}

/* Files a trim may unload: clean, closed and not pinned. */
static bool trim_can_unload(const struct fs_inode *i)
{
	return !i->nopen && !i->pins && !i->dirty;
}

/*
 * Unload files from the least recently used end while @over says the
 * memory or descriptor budget is exceeded.  A file that cannot go (open,
 * pinned, not written back) is moved to the other end, being in use, and
 * at most *@skips of them are looked at (shared by a trim's walks): so a
 * trim after every release costs a bounded number of steps however many
 * dirty files are loaded (thousands just created, until the next commit),
 * instead of walking them all each time.
 */
static void trim_walk(struct fs *fs, bool (*over)(const struct fs *fs, uint64_t limit),
		      uint64_t limit, uint64_t *skips)
{
	struct fs_inode *i;

	while ((i = fs->loaded_tail) && over(fs, limit)) {
		if (trim_can_unload(i)) {
			fs_data_unload(fs, i);
			continue;
		}
		if (!*skips || fs->loaded == i)
			break;
		--*skips;
		loaded_del(fs, i);
		loaded_add(fs, i);
	}
}

static bool over_count(const struct fs *fs, uint64_t keep)
{
	return fs->nloaded > keep;
}

static bool over_blocks(const struct fs *fs, uint64_t budget)
{
	return fs->space.cache_blocks > budget;
}

/**
 * fs_data_use() - mark a loaded inode most recently used
 * @fs: the filesystem, lock held
 * @inode: an inode with a memfd
 */
void fs_data_use(struct fs *fs, struct fs_inode *inode)
{
	fs_assert_held(&fs->lock);
	if (inode->memfd < 0 || fs->loaded == inode)
		return;
	loaded_del(fs, inode);
	loaded_add(fs, inode);
}

/**
 * fs_data_account_unseen() - recount files that change without the daemon
 * @fs: the filesystem, lock held
 *
 * Passthrough writers fill memory the daemon never hears of; statfs must
 * see it at once (a full image answers ENOSPC to them already).  Costs the
 * files open by passthrough writers, not their sizes.
 */
void fs_data_account_unseen(struct fs *fs)
{
	fs_assert_held(&fs->lock);
	for (struct fs_inode *i = fs->pt_written; i; i = i->wnext)
		fs_space_account(fs, i);
}

static uint64_t cold_share(const struct fs_inode *inode)
{
	return inode->nlink ? fs_ext_blocks(inode) : 0;
}

/*
 * Collapse-then-fill: a region that will hold an order-9 extent gets one
 * page touched and is collapsed while nearly empty (cheap: nothing to copy),
 * then the data is read straight into the huge page.  If the collapse fails
 * the region simply fills with small pages.
 */
static bool prepare_huge(uint8_t *region)
{
	region[0] = 0;
	return madvise(region, CLP_REGION_SIZE, MADV_COLLAPSE) == 0;
}

/* What a load needs, copied under the lock so the load can run without it. */
struct load_job {
	uint64_t ino;
	uint64_t size;
	struct fofs_extent *ext;
	uint32_t next;
	bool huge;
	uint64_t *huge_idx;	/* regions loaded as huge pages */
	uint32_t nhuge;
	struct fofs_extent *bad;	/* extents that failed their checksum */
	uint32_t nbad;
	struct timespec mtime; /* the filled memfd's, as seen */
};

static void load_job_free(struct load_job *job)
{
	free(job->ext);
	free(job->huge_idx);
	free(job->bad);
	job->ext = NULL;
	job->huge_idx = NULL;
	job->bad = NULL;
}

/*
 * An extent that fails its checksum costs its own bytes, not the file:
 * noted (damage.c serves the rest) and said once per file.
 */
static void load_damaged(struct load_job *job, const struct fofs_extent *e)
{
	if (!job->nbad)
		fs_log(LOG_ERR, "inode %llu: data at offset %llu (%llu bytes) fails its "
		       "checksum; reads of it fail with EIO (fsck.foliofs -y punches it)",
		       (unsigned long long)job->ino, (unsigned long long)e->e_file_off,
		       (unsigned long long)img_order_bytes(e->e_order));
	job->bad[job->nbad++] = *e;
}

/*
 * The last region a file can have ends at 2^63, which mmap cannot reach
 * (offset + length overflows): its extents go through a buffer.
 */
static int load_unmappable(struct fs *fs, const struct fofs_extent *e, int fd)
{
	/* block-aligned, so the read bypasses the page cache (img_bulk_read()) */
	uint8_t *buf = aligned_alloc(FOFS_BLOCK_SIZE, img_order_bytes(e->e_order));
	size_t len = img_order_bytes(e->e_order);
	int ret;

	/* no write may end past 2^63 - 1, the largest file size */
	if (len > (uint64_t)INT64_MAX - e->e_file_off)
		len = (size_t)((uint64_t)INT64_MAX - e->e_file_off);
	if (!buf)
		return -ENOMEM;
	ret = img_read_extent(fs->img, e, buf);
	if (!ret && pwrite(fd, buf, len, (off_t)e->e_file_off) < 0)
		ret = -errno;
	free(buf);
	return ret;
}

/*
 * Read the extents in, through a 2 MiB window that moves from region to
 * region, so the address space used follows the data, not the file's size.
 */
static int load_extents(struct fs *fs, struct load_job *job, int fd)
{
	uint64_t failed = 0, wbase = UINT64_MAX;
	uint8_t *win = NULL;
	int ret = 0;

	for (uint32_t i = 0; i < job->next && !ret; i++) {
		const struct fofs_extent *e = &job->ext[i];
		uint64_t base = e->e_file_off & ~(CLP_REGION_SIZE - 1);

		if (e->e_file_off >= job->size)
			break;
		if (base > (uint64_t)INT64_MAX - CLP_REGION_SIZE) {
			ret = load_unmappable(fs, e, fd);
			goto out_report;
		}
		if (base != wbase) {
			if (win)
				munmap(win, CLP_REGION_SIZE);
			win = clp_map_aligned(fd, base, CLP_REGION_SIZE, PROT_READ | PROT_WRITE);
			wbase = base;
			if (!win)
				return -ENOMEM;
		}
		if (e->e_order == FOFS_ORDER_PMD && job->huge) {
			if (prepare_huge(win))
				job->huge_idx[job->nhuge++] = base >> CLP_REGION_SHIFT;
			else
				failed++;
		}
		ret = img_read_extent(fs->img, e, win + (e->e_file_off - base));
out_report:
		if (ret == -EBADMSG) {
			load_damaged(job, e);
			ret = 0;
		}
		if (ret)
			fs_log(LOG_ERR, "inode %llu: cannot read data at "
				"offset %llu: %s", (unsigned long long)job->ino,
				(unsigned long long)e->e_file_off, strerror(-ret));
	}
	if (win)
		munmap(win, CLP_REGION_SIZE);
	if (job->nhuge || failed) {
		fs_lock(fs);
		fs->clp.load_collapsed += job->nhuge;
		fs->clp.load_collapse_failed += failed;
		fs_unlock(fs);
	}
	return ret;
}

/*
 * Regions that came back as huge pages are huge in the region map at once,
 * so map/status say so and a punch counts its split, before any scan.
 */
static void record_huge(struct fs_inode *inode, const struct load_job *job)
{
	const struct clp_region r = { .state = CLP_R_HUGE, .last = CLP_SUCCEEDED,
				 .kverdict = -1, .resident = CLP_REGION_SIZE / CLP_PAGE_SIZE };
	for (uint32_t i = 0; i < job->nhuge; i++)
		clp_map_set(&inode->cmap, job->huge_idx[i], &r);
}

/*
 * Make the memfd and fill it from the image; runs without fs->lock, so
 * neither the system calls nor the reads hold up other requests.  A new,
 * empty file costs one call to make its memfd and one to see its mtime.
 */
static int load_unlocked(struct fs *fs, struct load_job *job, int *fd)
{
	struct stat st;
	int ret;

	ret = shm_create(fs, job->ino, fd);
	if (ret)
		return ret;
	if (job->size && ftruncate(*fd, (off_t)job->size) < 0)
		ret = -errno;
	if (!ret && job->next)
		ret = load_extents(fs, job, *fd);
	if (job->next)
		img_drop_cache(fs->img); /* what small extents' readahead left */
	/* filling it from the image changed nothing: its mtime as seen */
	if (!ret && fstat(*fd, &st) == 0)
		job->mtime = st.st_mtim;
	return ret;
}

/* Copy what the load needs, so it can run without the lock. */
static int load_job_init(struct fs *fs, struct fs_inode *inode, struct load_job *job)
{
	*job = (struct load_job){ .ino = inode->ino,
				  .size = inode->size,
				  .next = inode->next,
				  .huge = clp_max_order(fs_inode_policy(fs, inode), false) >=
					  CLP_ORDER_THP };
	job->ext = malloc((inode->next + 1) * sizeof(*job->ext));
	job->huge_idx = malloc((inode->next + 1) * sizeof(*job->huge_idx));
	job->bad = malloc((inode->next + 1) * sizeof(*job->bad));
	if (!job->ext || !job->huge_idx || !job->bad) {
		load_job_free(job);
		return -ENOMEM;
	}
	if (inode->next)
		memcpy(job->ext, inode->ext, inode->next * sizeof(*job->ext));
	return 0;
}

/* Install the loaded memory file (or undo on @ret); lock held. */
static int load_finish(struct fs *fs, struct fs_inode *inode, struct load_job *job, int fd, int ret)
{
	fs_assert_held(&fs->lock);
	if (!ret) {
		record_huge(inode, job);
		if (job->nbad > 1)
			fs_log(LOG_ERR, "inode %llu: %u damaged extents in all",
			       (unsigned long long)inode->ino, job->nbad);
		fs_bad_install(fs, inode, job->bad, job->nbad);
		job->bad = NULL;
	}
	load_job_free(job);
	if (ret) {
		if (fd >= 0)
			close(fd);
		fs_space_cold(fs, cold_share(inode), true);
		shm_update_limit(fs);
		return ret;
	}
	inode->memfd = fd;
	inode->mfd_mtime = job->mtime;
	loaded_add(fs, inode);
	fs_space_account(fs, inode);
	return 0;
}

/*
 * Data on disk loads whatever room the image has left for new data; but
 * under a memory cap (the daemon's cgroup limit, less a margin) memory
 * must hold it, after clean closed files went:
 * if it cannot, the open fails with one clear line, not with the load's
 * EFAULT when the private tmpfs refuses a page.
 */
static int load_fits(struct fs *fs, struct fs_inode *inode, uint64_t need)
{
	uint64_t cap = fs->opts.mem_cap / FOFS_BLOCK_SIZE, held;

	if (!cap)
		return 0;
	held = fs->space.cache_blocks + fs->space.loading_blocks;
	if (held + need > cap)
		fs_data_trim_to(fs, need < cap ? cap - need : 0);
	held = fs->space.cache_blocks + fs->space.loading_blocks;
	if (held + need <= cap)
		return 0;
	fs_log(LOG_ERR,
	       "inode %llu: %.1f MiB of data do not fit the memory cap (%.1f MiB, from "
	       "the cgroup's memory limit; %.1f MiB in use)",
	       (unsigned long long)inode->ino, need * (double)FOFS_BLOCK_SIZE / (1 << 20),
	       fs->opts.mem_cap / (double)(1 << 20), held * (double)FOFS_BLOCK_SIZE / (1 << 20));
	return -ENOMEM;
}

/**
 * fs_data_load_relock() - give an inode its memfd, filled from the image
 * @fs: the filesystem, lock held; it is dropped while the data is read, so
 *	other requests go on meanwhile (callers re-check what they need)
 * @inode: a regular file; pinned during the load
 *
 * Holes in the file stay holes in the memfd; regions stored as 2 MiB extents
 * come back as huge pages where the kernel can provide them.  Concurrent
 * loads of one inode wait for the first.
 *
 * Return: 0; -EBADMSG if an extent fails its checksum; -ENOMEM, also when
 * the data cannot fit the memory cap (the cgroup's limit); -EMFILE
 * when every descriptor is held by an open or dirty file; -errno from
 * creating the memory file or reading the image.
 */
int fs_data_load_relock(struct fs *fs, struct fs_inode *inode)
{
	struct load_job job;
	uint64_t skips, on_disk;
	int fd, ret;

	fs_assert_held(&fs->lock);
	for (bool tried = false;; tried = true) {
		while (inode->loading)
			fs_cond_wait(fs, &fs->load_cond);
		if (inode->memfd >= 0)
			return 0;
		ret = load_job_init(fs, inode, &job);
		if (ret)
			return ret;
		on_disk = fs_ext_blocks(inode);
		ret = load_fits(fs, inode, on_disk);
		if (ret) {
			load_job_free(&job);
			return ret;
		}
		fs_space_cold(fs, cold_share(inode), false);
		fs->space.loading_blocks += on_disk;
		shm_update_limit(fs);
		inode->loading = true;
		inode->pins++;
		fs_unlock(fs);
		fd = -1;
		ret = load_unlocked(fs, &job, &fd);
		fs_lock(fs);
		fs->space.loading_blocks -= on_disk;
		inode->loading = false;
		inode->pins--;
		pthread_cond_broadcast(&fs->load_cond);
		if ((ret != -EMFILE && ret != -ENFILE) || tried || fd >= 0)
			return load_finish(fs, inode, &job, fd, ret);
		load_finish(fs, inode, &job, fd, ret);
		/* out of descriptors: clean closed files give theirs back */
		skips = fs->nloaded;
		trim_walk(fs, over_count, fs->nloaded / 2, &skips);
	}
}

void fs_data_unload(struct fs *fs, struct fs_inode *inode)
{
	fs_assert_held(&fs->lock);
	if (inode->memfd < 0)
		return;
	loaded_del(fs, inode);
	close(inode->memfd);
	inode->memfd = -1;
	fs->space.cache_blocks -= inode->mblocks;
	inode->mblocks = 0;
	spa_release(&inode->dmap);
	fs_bad_release(inode);
	inode->dall = inode->dirty = false;
	inode->pt_mapped_rw = false;
	fs_space_cold(fs, cold_share(inode), true);
	shm_update_limit(fs);
}

/* Take the memfd's mtime as seen: the daemon's own write changed it. */
static void sync_attr_baseline(struct fs_inode *inode)
{
	struct stat st;

	if (fstat(inode->memfd, &st) == 0)
		inode->mfd_mtime = st.st_mtim;
}

/*
 * Are the daemon's size and times of @inode current?  Only a passthrough
 * writer, or a shared mapping one left behind, changes the memfd unseen.
 * Without one there is nothing to fold, and no system call is made.
 */
static bool attr_settled(const struct fs_inode *inode)
{
	return inode->memfd < 0 || (!inode->pt_writers && !inode->pt_mapped_rw);
}

/**
 * fs_data_watch() - a passthrough writer opens: from now on the memfd may
 * change unseen
 * @fs: the filesystem, lock held
 * @inode: a loaded inode
 * @rw: the open can read too, so it can map the memfd shared and writable
 *
 * What the daemon wrote itself before is already in the inode; only what
 * comes after this baseline is the clients' to fold (fs_data_sync_attr()).
 */
void fs_data_watch(struct fs *fs, struct fs_inode *inode, bool rw)
{
	fs_assert_held(&fs->lock);
	if (!inode->pt_writers && !inode->pt_mapped_rw)
		sync_attr_baseline(inode);
	if (!inode->pt_writers) {
		inode->wprev = NULL;
		inode->wnext = fs->pt_written;
		if (fs->pt_written)
			fs->pt_written->wprev = inode;
		fs->pt_written = inode;
	}
	inode->pt_mapped_rw |= rw;
}

/**
 * fs_data_sync_attr() - fold what clients did to the memfd into the inode
 * @fs: the filesystem, lock held (shared: with @inode's lock)
 * @inode: a loaded inode
 *
 * With passthrough the kernel writes the memfd directly, and a client's
 * shared mapping writes it even after the file was closed (the kernel
 * stamps the memfd's mtime at the write fault): its size and mtime, not
 * the daemon's records, are the truth.  The daemon's own changes stamp it
 * too, with the same time it gives the inode.
 */
void fs_data_sync_attr(struct fs *fs, struct fs_inode *inode)
{
	struct stat st;

	fs_assert_inode(fs, inode);
	if (attr_settled(inode))
		return;
	if (fstat(inode->memfd, &st) < 0)
		return;
	if ((uint64_t)st.st_size != inode->size) {
		inode->size = (uint64_t)st.st_size;
		fs_meta_dirty(fs, inode);
	}
	if (st.st_mtim.tv_sec != inode->mfd_mtime.tv_sec ||
	    st.st_mtim.tv_nsec != inode->mfd_mtime.tv_nsec) {
		inode->mtime = inode->ctime = st.st_mtim;
		inode->mfd_mtime = st.st_mtim;
		fs_meta_dirty(fs, inode);
		/* with no writer open, a mapping wrote: what, writeback's hashes
		 * find (a commit's snapshot folds this first) */
		if (!inode->pt_writers)
			fs_data_dirty(fs, inode, 0, UINT64_MAX);
	}
}

/**
 * fs_data_writer_closed() - a passthrough writer's open is released
 * @fs: the filesystem, lock held
 * @inode: a loaded inode, its writer still counted
 *
 * What it wrote unseen becomes the inode's: its size and times, and the
 * pages it filled, which statfs reports and writes and trims are measured
 * against at once (tmpfs and ext4 account a write when it happens; the
 * daemon learns of a passthrough write only here or at the next commit).
 */
void fs_data_writer_closed(struct fs *fs, struct fs_inode *inode)
{
	fs_assert_held(&fs->lock);
	fs_data_sync_attr(fs, inode);
	fs_space_account(fs, inode);
	if (inode->pt_writers != 1)
		return;
	if (inode->wprev)
		inode->wprev->wnext = inode->wnext;
	else
		fs->pt_written = inode->wnext;
	if (inode->wnext)
		inode->wnext->wprev = inode->wprev;
	inode->wnext = inode->wprev = NULL;
}

/**
 * fs_data_trim() - give back memory and descriptors of clean, closed files
 * @fs: the filesystem, lock held
 * @all: look at every loaded file (after a commit); else at a bounded
 *       number of those that must stay (after each release)
 *
 * Least recently used first, until memory is within -o cache_size and the
 * loaded files within the descriptor budget; a file that is open, pinned
 * or has data not yet written back stays.
 */
void fs_data_trim(struct fs *fs, bool all)
{
	uint64_t skips = all ? fs->nloaded : FS_TRIM_SKIPS;

	fs_assert_held(&fs->lock);
	trim_walk(fs, over_blocks, fs->opts.cache_size / FOFS_BLOCK_SIZE, &skips);
	if (fs->opts.max_loaded)
		trim_walk(fs, over_count, fs->opts.max_loaded, &skips);
}

/**
 * fs_data_trim_to() - unload clean, closed files until memory holds @budget
 * @fs: the filesystem, lock held
 * @budget: 4 KiB blocks
 *
 * Looks at every loaded file if it must: what it frees decides whether a
 * write is admitted.
 */
void fs_data_trim_to(struct fs *fs, uint64_t budget)
{
	uint64_t skips = fs->nloaded;

	fs_assert_held(&fs->lock);
	trim_walk(fs, over_blocks, budget, &skips);
}

/**
 * fs_dead_extents() - hand an inode's extents to the next commit to free
 * @fs: the filesystem, lock held
 * @inode: an inode that lost its last link or is being freed
 */
void fs_dead_extents(struct fs *fs, struct fs_inode *inode)
{
	fs_assert_held(&fs->lock);
	if (fs->space.ndead + inode->next > fs->space.capdead) {
		size_t cap = (fs->space.ndead + inode->next) * 2;
		void *p = realloc(fs->space.dead, cap * sizeof(*fs->space.dead));

		if (!p)
			return;	/* leaked until the next mount: safe */
		fs->space.dead = p;
		fs->space.capdead = cap;
	}
	if (inode->memfd < 0 && !inode->loading)	/* counted while linked */
		fs_space_cold(fs, fs_ext_blocks(inode), false);
	for (uint32_t i = 0; i < inode->next; i++)
		fs->space.dead[fs->space.ndead++] = inode->ext[i];
	inode->next = 0;
	shm_update_limit(fs);
	fs_meta_dirty(fs, NULL);
}

/**
 * fs_space_check() - would @blocks more data blocks still fit?
 * @fs: the filesystem, lock held in either mode
 * @blocks: 4 KiB blocks about to be added
 *
 * What is in memory plus what lives only in the image, plus the metadata
 * and a copy-on-write reserve, must fit the image, so that everything
 * admitted can be committed; and memory may hold at most mem_cap, for
 * which clean, closed files go first (least recently used).  Unloading
 * them changes other inodes: that takes fs->lock exclusive.
 *
 * Return: 0; -ENOSPC; -EAGAIN with fs->lock shared when files must be
 * unloaded first: ask again with it exclusive.
 */
int fs_space_check(struct fs *fs, uint64_t blocks)
{
	struct fs_space_use u;

	fs_assert_locked(fs);
	fs_space_use(fs, &u);
	if (u.cached + blocks > u.image_room)
		return -ENOSPC;
	if (!u.mem_room || u.cached + blocks <= u.mem_room)
		return 0;
	if (!fs_rwlock_held(&fs->lock, true))
		return -EAGAIN;
	fs_data_trim_to(fs, u.mem_room > blocks ? u.mem_room - blocks : 0);
	return fs->space.cache_blocks + blocks > u.mem_room ? -ENOSPC : 0;
}

/**
 * fs_data_patch_relock() - write bytes the intent log held over a file's data
 * @fs: the filesystem, lock held (dropped while the data loads)
 * @inode: a regular file with links
 * @off: file offset
 * @data: the bytes; those past the file's size are not written
 * @len: how many
 *
 * The region becomes dirty, so the next commit writes it into extents;
 * the file's times stay as the log recorded them.
 *
 * Return: 0; errors from fs_data_load_relock(); -errno from pwrite(2).
 */
int fs_data_patch_relock(struct fs *fs, struct fs_inode *inode, uint64_t off, const void *data,
			 size_t len)
{
	int ret = 0;

	fs_assert_held(&fs->lock);
	if (off >= inode->size)
		return 0;
	if (len > inode->size - off)
		len = (size_t)(inode->size - off);
	if (inode->memfd < 0)
		ret = fs_data_load_relock(fs, inode);
	if (ret)
		return ret;
	if (pwrite(inode->memfd, data, len, (off_t)off) != (ssize_t)len)
		return errno ? -errno : -EIO;
	sync_attr_baseline(inode);
	fs_data_dirty(fs, inode, off, off + len);
	fs_space_account(fs, inode);
	return 0;
}
