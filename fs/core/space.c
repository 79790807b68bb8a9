// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Space accounting: where the image's blocks go and how much file data
 * memory may hold.  Data of a linked file is either in memory (counted in
 * cache_blocks, one memory file's pages at a time) or only in the image
 * (cold_blocks); metadata takes committed_meta, and a copy-on-write reserve
 * keeps room for the next commit's new metadata and changed extents.  One
 * function (fs_space_use()) turns that into the figures statfs reports,
 * writes are admitted against and the private tmpfs is sized to, so the
 * three cannot disagree.
 */
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fs.h"

/* Fixed part of the copy-on-write reserve, in blocks. */
#define RESERVE_MIN		64
/* ... and its share of the image: 1/64 (1.6 %), as ext4's 5 % is for root. */
#define RESERVE_SHIFT		6

/* A sanitized daemon carries shadow memory and quarantines: twice the margin. */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZER_FACTOR	2
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZER_FACTOR	2
#endif
#endif
#ifndef SANITIZER_FACTOR
#define SANITIZER_FACTOR	1
#endif

/* Blocks of an inode's committed extents. */
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

/**
 * fs_space_use() - the filesystem's space, one formula for every user
 * @fs: the filesystem, lock held in either mode
 * @u: filled in
 *
 * Metadata counts twice: the committed copy, and (inside the reserve) the
 * copy the next commit writes before the old one is freed.
 */
void fs_space_use(struct fs *fs, struct fs_space_use *u)
{
	const struct fs_space *s = &fs->space;
	uint64_t taken;

	fs_assert_locked(fs);
	fs_mutex_lock(&fs->space_lock);
	u->cached = s->cache_blocks;
	fs_mutex_unlock(&fs->space_lock);
	u->total = s->total_blocks;
	u->used = u->cached + s->cold_blocks + s->committed_meta + FOFS_SUPER_SLOTS;
	u->reserve = s->committed_meta + RESERVE_MIN + (u->total >> RESERVE_SHIFT);
	taken = u->used - u->cached + u->reserve;
	u->image_room = u->total > taken ? u->total - taken : 0;
	u->mem_room = fs->opts.mem_cap / FOFS_BLOCK_SIZE;
	u->room = u->mem_room && u->mem_room < u->image_room ? u->mem_room : u->image_room;
}

/**
 * fs_space_account() - recount the pages an inode holds in memory
 * @fs: the filesystem, lock held (shared: with @inode's lock)
 * @inode: the inode
 */
void fs_space_account(struct fs *fs, struct fs_inode *inode)
{
	uint64_t n;

	fs_assert_inode(fs, inode);
	n = fs_mem_blocks(inode); /* a system call: outside space_lock */
	fs_mutex_lock(&fs->space_lock);
	fs->space.cache_blocks -= inode->mblocks;
	inode->mblocks = n;
	fs->space.cache_blocks += inode->mblocks;
	fs_mutex_unlock(&fs->space_lock);
}

/**
 * fs_space_held_open() - memory a close would give back or make trimmable
 * @fs: the filesystem, lock held exclusively
 *
 * Files that are clean, removed, or written only through passthrough (their
 * last close writes them back when memory is short, fs_file_close()), held
 * open or pinned (by a commit writing them back, a collapse) or being
 * written back after their close: once let go, their memory can go.  Walks
 * the loaded files: for the ENOSPC and ENOMEM paths only.
 *
 * Return: 4 KiB blocks.
 */
static uint64_t held_walk(struct fs *fs, bool *pinned)
{
	uint64_t n = 0;

	fs_assert_held(&fs->lock);
	*pinned = false;
	for (const struct fs_inode *i = fs->loaded; i; i = i->lnext) {
		if (i->close_flush ||
		    ((i->nopen || i->pins) && (!i->dirty || !i->nlink || i->pt_writers))) {
			n += i->mblocks;
			*pinned |= i->pins || i->close_flush;
		}
	}
	return n;
}

uint64_t fs_space_held_open(struct fs *fs)
{
	bool pinned;

	return held_walk(fs, &pinned);
}

/**
 * fs_space_let_go() - files were let go: wake writers waiting for room
 * @fs: the filesystem, lock held (the waiters act once it is dropped)
 */
void fs_space_let_go(struct fs *fs)
{
	fs_assert_locked(fs);
	__atomic_add_fetch(&fs->space.releases, 1, __ATOMIC_RELEASE);
}

/* What fs_space_await_release() compares with: read before the attempt. */
uint64_t fs_space_releases(struct fs *fs)
{
	return __atomic_load_n(&fs->space.releases, __ATOMIC_ACQUIRE);
}

/**
 * fs_space_await_release() - wait a moment for files to be closed
 * @fs: the filesystem, lock not held
 * @seen: fs_space_releases() before the attempt that failed
 *
 * The kernel sends a close as an asynchronous RELEASE: after close(2) (and
 * rm(1)) returned, the next program's write can reach the daemon first and
 * find the file still open, its memory held (removed) or not trimmable
 * (clean), where tmpfs and ext4 would have had the room; a removed file
 * that a commit is writing back is let go when the commit ends.  While
 * such memory exists, waits up to two seconds for a close, or up to 30
 * while some of it is pinned by a commit or a write-back under way (a
 * commit of hundreds of MiB takes seconds on a busy host); a program that
 * really keeps its file open costs the writer that wait, then its error.
 *
 * Return: true if a file was closed since @seen: the caller tries again.
 */
bool fs_space_await_release(struct fs *fs, uint64_t seen)
{
	const struct timespec tick = { 0, 10 * 1000 * 1000 };
	bool pinned;
	uint64_t held;

	fs_lock(fs);
	held = held_walk(fs, &pinned);
	fs_unlock(fs);
	for (int i = 0; held && i < (pinned ? 3000 : 200); i++) {
		if (fs_space_releases(fs) != seen)
			return true;
		nanosleep(&tick, NULL);
	}
	return fs_space_releases(fs) != seen;
}

/**
 * fs_space_retry() - run a request again that found no room?
 * @fs: the filesystem, lock not held
 * @ret: what the request returned
 * @seen: fs_space_releases() before the attempt; updated for the next
 *
 * A request that failed with ENOSPC (a write, a create) or ENOMEM (a load)
 * runs again once a close on its way came (fs_space_await_release()).
 *
 * Return: true if the caller runs the request again.
 */
bool fs_space_retry(struct fs *fs, int ret, uint64_t *seen)
{
	if ((ret != -ENOSPC && ret != -ENOMEM) || !fs_space_await_release(fs, *seen))
		return false;
	*seen = fs_space_releases(fs);
	return true;
}

/**
 * fs_space_cold() - @n blocks of data move between memory and image only
 * @fs: the filesystem, lock held
 * @n: blocks
 * @to_cold: true when they now live only in the image
 */
void fs_space_cold(struct fs *fs, uint64_t n, bool to_cold)
{
	struct fs_space *s = &fs->space;

	fs_assert_held(&fs->lock);
	if (to_cold)
		s->cold_blocks += n;
	else
		s->cold_blocks -= n < s->cold_blocks ? n : s->cold_blocks;
}

/**
 * fs_space_mem_cap() - how much file data the daemon's memory may hold
 * @cglimit: the daemon's memory cgroup limit in bytes, or 0
 *
 * File data is charged to the daemon (writes it serves, loads, collapses):
 * under a cgroup limit, or the machine's memory without one, a margin stays
 * for the daemon itself: its request buffers (1 MiB a worker thread), the
 * threads' malloc arenas, the image writes in flight, collapses' new pages
 * (an eighth, at least 64 MiB: serving the data itself under a 384 MiB
 * limit, the daemon was seen holding 31 MiB of its own and peaking 46 MiB
 * above its file data).
 *
 * Return: bytes.
 */
uint64_t fs_space_mem_cap(uint64_t cglimit)
{
	uint64_t mem = cglimit ? cglimit :
		       (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t margin = mem / 8 > (64ull << 20) ? mem / 8 : 64ull << 20;

	margin *= SANITIZER_FACTOR;
	return mem > 2 * margin ? mem - margin : mem / 2;
}
