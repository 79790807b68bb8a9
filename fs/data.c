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
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "fs.h"

#define REGION		CLP_REGION_SIZE
#define PAGES		(REGION / CLP_PAGE_SIZE)

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE	25
#endif

static void loaded_add(struct fs *fs, struct fs_inode *inode)
{
	inode->lprev = NULL;
	inode->lnext = fs->loaded;
	if (fs->loaded)
		fs->loaded->lprev = inode;
	else
		fs->loaded_tail = inode;
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
	else
		fs->loaded_tail = inode->lprev;
	inode->lnext = inode->lprev = NULL;
}

/**
 * fs_data_use() - mark a loaded inode most recently used
 * @fs: the filesystem, lock held
 * @inode: an inode with a memfd
 */
void fs_data_use(struct fs *fs, struct fs_inode *inode)
{
	if (inode->memfd < 0 || fs->loaded == inode)
		return;
	loaded_del(fs, inode);
	loaded_add(fs, inode);
}

uint64_t fs_ext_blocks(const struct fs_inode *inode)
{
	uint64_t n = 0;

	for (uint32_t i = 0; i < inode->next; i++)
		n += 1ull << inode->ext[i].e_order;
	return n;
}

/* 4 KiB pages the inode's memory holds now (0 while not loaded). */
uint64_t fs_mem_blocks(const struct fs_inode *inode)
{
	struct stat st;

	if (inode->memfd < 0 || fstat(inode->memfd, &st) < 0)
		return 0;
	return (uint64_t)st.st_blocks / (FOFS_BLOCK_SIZE / 512);
}

/* Recount the pages the inode holds in memory. */
void fs_data_account(struct fs *fs, struct fs_inode *inode)
{
	fs->cache_blocks -= inode->mblocks;
	inode->mblocks = fs_mem_blocks(inode);
	fs->cache_blocks += inode->mblocks;
}

/**
 * fs_data_account_unseen() - recount files that change without the daemon
 * @fs: the filesystem, lock held
 *
 * Passthrough writers fill memory the daemon never hears of; statfs must
 * see it at once (a full image answers ENOSPC to them already).  Costs the
 * loaded files, not their sizes.
 */
void fs_data_account_unseen(struct fs *fs)
{
	for (struct fs_inode *i = fs->loaded; i; i = i->lnext)
		if (i->pt_writers)
			fs_data_account(fs, i);
}

/*
 * Data of a linked inode is either in memory or only in the image; the
 * blocks of the latter are counted in fs->cold_blocks.
 */
static void cold_move(struct fs *fs, uint64_t n, bool to_cold)
{
	if (to_cold)
		fs->cold_blocks += n;
	else
		fs->cold_blocks -= n < fs->cold_blocks ? n : fs->cold_blocks;
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
	return madvise(region, REGION, MADV_COLLAPSE) == 0;
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
};

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
	uint8_t *buf = malloc(img_order_bytes(e->e_order));
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
		uint64_t base = e->e_file_off & ~(REGION - 1);

		if (e->e_file_off >= job->size)
			break;
		if (base > (uint64_t)INT64_MAX - REGION) {
			ret = load_unmappable(fs, e, fd);
			goto out_report;
		}
		if (base != wbase) {
			if (win)
				munmap(win, REGION);
			win = clp_map_aligned(fd, base, REGION, PROT_READ | PROT_WRITE);
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
		munmap(win, REGION);
	pthread_mutex_lock(&fs->lock);
	fs->stats.load_collapsed += job->nhuge;
	fs->stats.load_collapse_failed += failed;
	pthread_mutex_unlock(&fs->lock);
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

/* Fill a new memfd from the image; runs without fs->lock. */
static int load_unlocked(struct fs *fs, struct load_job *job, int fd)
{
	int ret;

	ret = ftruncate(fd, (off_t)job->size) < 0 ? -errno : 0;
	if (!ret)
		ret = load_extents(fs, job, fd);
	return ret;
}

/* Take the memfd's mtime as seen: filling it from the image changed nothing. */
static void sync_attr_baseline(struct fs_inode *inode)
{
	struct stat st;

	if (fstat(inode->memfd, &st) == 0)
		inode->mfd_mtime = st.st_mtim;
}

/**
 * fs_data_load() - give an inode its memfd, filled from the image
 * @fs: the filesystem, lock held; it is dropped while the data is read, so
 *	other requests go on meanwhile (callers re-check what they need)
 * @inode: a regular file; pinned during the load
 *
 * Holes in the file stay holes in the memfd; regions stored as 2 MiB extents
 * come back as huge pages where the kernel can provide them.  Concurrent
 * loads of one inode wait for the first.
 *
 * Return: 0; -EBADMSG if an extent fails its checksum; -ENOMEM; -errno from
 * creating the memory file or reading the image.
 */
int fs_data_load(struct fs *fs, struct fs_inode *inode)
{
	struct load_job job;
	int fd, ret;

	while (inode->loading)
		pthread_cond_wait(&fs->load_cond, &fs->lock);
	if (inode->memfd >= 0)
		return 0;
	ret = shm_create(fs, inode->ino, &fd);
	if (ret)
		return ret;
	job = (struct load_job){ .ino = inode->ino, .size = inode->size,
		.next = inode->next,
		.huge = clp_max_order(fs_inode_policy(fs, inode), false) >= CLP_ORDER_THP };
	job.ext = malloc((inode->next + 1) * sizeof(*job.ext));
	job.huge_idx = malloc((inode->next + 1) * sizeof(*job.huge_idx));
	job.bad = malloc((inode->next + 1) * sizeof(*job.bad));
	if (!job.ext || !job.huge_idx || !job.bad) {
		free(job.ext);
		free(job.huge_idx);
		free(job.bad);
		close(fd);
		return -ENOMEM;
	}
	if (inode->next)
		memcpy(job.ext, inode->ext, inode->next * sizeof(*job.ext));
	cold_move(fs, cold_share(inode), false);
	shm_update_limit(fs);
	inode->loading = true;
	inode->pins++;
	pthread_mutex_unlock(&fs->lock);
	ret = load_unlocked(fs, &job, fd);
	free(job.ext);
	pthread_mutex_lock(&fs->lock);
	if (!ret) {
		record_huge(inode, &job);
		if (job.nbad > 1)
			fs_log(LOG_ERR, "inode %llu: %u damaged extents in all",
			       (unsigned long long)inode->ino, job.nbad);
		fs_bad_install(inode, job.bad, job.nbad);
	} else {
		free(job.bad);
	}
	free(job.huge_idx);
	inode->loading = false;
	inode->pins--;
	pthread_cond_broadcast(&fs->load_cond);
	if (ret) {
		close(fd);
		cold_move(fs, cold_share(inode), true);
		shm_update_limit(fs);
		return ret;
	}
	inode->memfd = fd;
	loaded_add(fs, inode);
	sync_attr_baseline(inode);
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
	fs->cache_blocks -= inode->mblocks;
	inode->mblocks = 0;
	spa_release(&inode->dmap);
	fs_bad_release(inode);
	inode->dall = inode->dirty = false;
	cold_move(fs, cold_share(inode), true);
	shm_update_limit(fs);
}

/* Dirty regions: a sparse array of one byte per 2 MiB region, 1 = dirty. */
void fs_dmap_init(struct spa *dmap)
{
	static const uint8_t clean;

	spa_init(dmap, 1, &clean);
}

/* Mark region @r dirty; if the map cannot grow, the whole file is. */
static void dmap_mark(struct fs_inode *inode, uint64_t r)
{
	void *slot;

	if (inode->dall)
		return;
	if (spa_slot(&inode->dmap, r, &slot))
		inode->dall = true;
	else
		*(uint8_t *)slot = 1;
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

	dmap_mark(inode, off >> CLP_REGION_SHIFT);
	dmap_mark(inode, (end - 1) >> CLP_REGION_SHIFT);
	for (uint32_t i = ext_from(inode, off & ~(CLP_REGION_SIZE - 1));
	     i < inode->next && inode->ext[i].e_file_off < end; i++)
		dmap_mark(inode, inode->ext[i].e_file_off >> CLP_REGION_SHIFT);
	for (uint64_t pos = off; !clp_next_data(inode->memfd, pos, end, &r);
	     pos = (r + 1) << CLP_REGION_SHIFT)
		dmap_mark(inode, r);
}

/**
 * fs_data_dirty() - note that bytes [@off, @end) of an inode changed
 * @fs: the filesystem, lock held
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
			dmap_mark(inode, r);
	} else {
		dirty_sparse(inode, off, end);
	}
out_account:
	fs_data_account(fs, inode);
}

/**
 * fs_data_sync_attr() - fold what clients did to the memfd into the inode
 * @fs: the filesystem, lock held
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

	if (inode->memfd < 0 || fstat(inode->memfd, &st) < 0)
		return;
	if ((uint64_t)st.st_size != inode->size) {
		inode->size = (uint64_t)st.st_size;
		fs_meta_dirty(fs);
	}
	if (st.st_mtim.tv_sec != inode->mfd_mtime.tv_sec ||
	    st.st_mtim.tv_nsec != inode->mfd_mtime.tv_nsec) {
		inode->mtime = inode->ctime = st.st_mtim;
		inode->mfd_mtime = st.st_mtim;
		fs_meta_dirty(fs);
	}
}

/**
 * fs_data_trim() - give back memory of clean, closed files over the budget
 * @fs: the filesystem, lock held
 *
 * Least recently used first; a file that is open, pinned or has data not
 * yet written back stays.
 */
void fs_data_trim(struct fs *fs)
{
	fs_data_trim_to(fs, fs->opts.cache_size / FOFS_BLOCK_SIZE);
}

/**
 * fs_data_trim_to() - unload clean, closed files until memory holds @budget
 * @fs: the filesystem, lock held
 * @budget: 4 KiB blocks
 */
void fs_data_trim_to(struct fs *fs, uint64_t budget)
{
	for (struct fs_inode *i = fs->loaded_tail, *prev;
	     i && fs->cache_blocks > budget; i = prev) {
		prev = i->lprev;
		if (!i->nopen && !i->pins && !i->dirty)
			fs_data_unload(fs, i);
	}
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
	if (inode->memfd < 0 && !inode->loading)	/* counted while linked */
		cold_move(fs, fs_ext_blocks(inode), false);
	for (uint32_t i = 0; i < inode->next; i++)
		fs->dead[fs->ndead++] = inode->ext[i];
	inode->next = 0;
	shm_update_limit(fs);
	fs_meta_dirty(fs);
}

/* Blocks kept free for copy-on-write of metadata and changed extents. */
uint64_t fs_space_reserve(const struct fs *fs)
{
	uint64_t total = img_sb(fs->img)->s_blocks;

	return fs->committed_meta + 64 + total / 64;
}

/**
 * fs_space_check() - would @blocks more data blocks still fit?
 * @fs: the filesystem, lock held
 * @blocks: 4 KiB blocks about to be added
 *
 * What is in memory plus what lives only in the image, plus the metadata
 * and a copy-on-write reserve, must fit the image, so that everything
 * admitted can be committed.
 *
 * Return: 0; -ENOSPC.
 */
int fs_space_check(struct fs *fs, uint64_t blocks)
{
	uint64_t total = img_sb(fs->img)->s_blocks;
	uint64_t used = fs->cache_blocks + fs->cold_blocks + fs->committed_meta +
			fs_space_reserve(fs);
	uint64_t mem = fs->opts.mem_cap / FOFS_BLOCK_SIZE;

	if (used + blocks > total)
		return -ENOSPC;
	/* memory: clean, closed files may go first (least recently used) */
	if (mem && fs->cache_blocks + blocks > mem)
		fs_data_trim_to(fs, mem > blocks ? mem - blocks : 0);
	return mem && fs->cache_blocks + blocks > mem ? -ENOSPC : 0;
}
