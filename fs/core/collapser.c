// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The daemon's side of the collapser: per-inode region maps, synchronous
 * collapse on request, the keep-off bookkeeping on punch and truncate, and the
 * background collapser thread (a khugepaged for the daemon's memory).  The
 * collapse itself (collapse/) always runs without the filesystem lock: the
 * inode is pinned and its memory file duplicated first, and results are
 * folded back only if no punch or truncate raced with them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs.h"

/* Is region @r a huge page that a punch of [@off, @end) cuts in part? */
static bool splits_huge(struct fs_inode *inode, uint64_t r, uint64_t off, uint64_t end)
{
	uint64_t rs = r << CLP_REGION_SHIFT;

	return clp_map_peek(&inode->cmap, r)->state == CLP_R_HUGE &&
	       !(off <= rs && end >= rs + CLP_REGION_SIZE);
}

/**
 * fsclp_punch() - a hole was punched or zeroed in a loaded file
 * @fs: the filesystem, lock held
 * @inode: the file
 * @off: start
 * @len: length
 *
 * shmem has already split any huge page the range cut through; mark those
 * regions keep-off so no collapse refills the hole.  Only the two end
 * regions of the range can be cut in part.
 */
void fsclp_punch(struct fs *fs, struct fs_inode *inode, uint64_t off, uint64_t len)
{
	uint64_t end = len > UINT64_MAX - off ? UINT64_MAX : off + len;
	uint64_t first = off >> CLP_REGION_SHIFT, last;

	fs_assert_held(&fs->lock);
	if (!len)
		return;
	last = (end - 1) >> CLP_REGION_SHIFT;
	fs->clp.stats.splits += splits_huge(inode, first, off, end);
	if (last != first)
		fs->clp.stats.splits += splits_huge(inode, last, off, end);
	clp_map_punch(&inode->cmap, off, len, inode->size);
	inode->cmap_gen++;
	inode->clp_quiet = 0;
	fs_meta_dirty(fs, inode);
}

/**
 * fsclp_truncate() - a file's size changed from @old_size
 * @fs: the filesystem, lock held
 * @inode: the file, inode->size already the new size
 * @old_size: the size before
 */
void fsclp_truncate(struct fs *fs, struct fs_inode *inode, uint64_t old_size)
{
	uint64_t r = inode->size >> CLP_REGION_SHIFT;

	fs_assert_held(&fs->lock);
	if (inode->size < old_size && (inode->size & (CLP_REGION_SIZE - 1)) &&
	    clp_map_peek(&inode->cmap, r)->state == CLP_R_HUGE)
		fs->clp.stats.splits++;
	clp_map_truncate(&inode->cmap, old_size, inode->size);
	inode->cmap_gen++;
	inode->clp_quiet = 0;
	fs_meta_dirty(fs, inode);
}

/* What one collapse call works on, copied under the lock. */
struct clp_job {
	struct clp_params p;
	struct clp_stats st;
	int fd;
	uint64_t size, end, ino;
	enum clp_result first;	/* first failing region's result */
	bool stopped;		/* the walk ended early: told to stop */
};

/*
 * One region: its state is copied under fs->lock, the collapse runs with
 * the lock dropped, and the result is folded back only if no punch or
 * truncate raced with it (they know better).  Lock held on entry and exit.
 */
static enum clp_result collapse_region_relock(struct fs *fs, struct fs_inode *inode,
					      struct clp_job *job, uint64_t idx)
{
	struct clp_region reg = *clp_map_peek(&inode->cmap, idx);
	uint32_t gen = inode->cmap_gen;
	enum clp_result res;

	fs_unlock(fs);
	res = clp_collapse_step(&reg, job->fd, idx, job->size, &job->p, &job->st,
				fs->clp.trace, job->ino);
	fs_lock(fs);
	if (gen == inode->cmap_gen)
		clp_map_set(&inode->cmap, idx, &reg);
	return res;
}

/*
 * Walk the regions of [@off, job->end) that hold data; lock held, dropped
 * around each step.  The first failing region's result is kept, as
 * madvise(MADV_COLLAPSE) keeps its last failure; a failing seek is an errno.
 */
static int collapse_walk_relock(struct fs *fs, struct fs_inode *inode,
				struct clp_job *job, uint64_t off)
{
	uint64_t idx;
	int ret;

	fs_assert_held(&fs->lock);
	for (;;) {
		enum clp_result res;

		job->stopped = !job->p.explicit_req && fs->clp.stop;
		if (job->stopped)
			break;
		fs_unlock(fs);
		ret = clp_next_data(job->fd, off, job->end, &idx);
		fs_lock(fs);
		if (ret)
			return ret == -ENXIO ? 0 : ret;
		res = collapse_region_relock(fs, inode, job, idx);
		if (res != CLP_SUCCEEDED && job->first == CLP_SUCCEEDED)
			job->first = res;
		if (idx + 1 > (UINT64_MAX >> CLP_REGION_SHIFT))
			break;
		off = (idx + 1) << CLP_REGION_SHIFT;
	}
	return 0;
}

/*
 * A background pass that found nothing to try again (every region huge,
 * too sparse, a hole, keep-off: each stands until the data changes) marks
 * the file quiet at its page count.  Until that count moves (a write, a
 * punch, a collapse), later passes skip it: an idle mount costs its passes
 * a stat per file, not a look at every region (sparse.sh's idle check).
 */
static void clp_note_quiet(struct fs_inode *inode, const struct clp_job *job, int ret)
{
	bool quiet = !ret && !job->p.explicit_req && !job->stopped;

	for (int i = 0; i < CLP_NR_RESULTS && quiet; i++)
		if (job->st.by_result[i] && clp_result_transient((enum clp_result)i))
			quiet = false;
	inode->clp_quiet = quiet ? inode->mblocks : 0;
}

/**
 * fsclp_collapse_relock() - collapse a range of a file now
 * @fs: the filesystem, lock held (dropped while loading and collapsing)
 * @inode: the file; loaded if @explicit_req, skipped otherwise when not
 * @off: start
 * @len: length (UINT64_MAX: to the end)
 * @explicit_req: a user asked (ends keep-off, ignores backoff and the
 *	population threshold, as MADV_COLLAPSE does)
 *
 * Only regions that hold data are visited, so the cost follows the data,
 * not the file's size; a background pass stops at once when the collapser
 * is told to stop.
 *
 * Return: 0 if every eligible region ends huge; -EAGAIN, -ENOMEM, -EBUSY or
 * -EINVAL as the first failing region's result maps (clp_result_errno());
 * -errno from seeking the data or duplicating the memory file; errors from
 * loading the file.
 */
int fsclp_collapse_relock(struct fs *fs, struct fs_inode *inode, uint64_t off,
		   uint64_t len, bool explicit_req)
{
	struct clp_job job = { .p = { .max_ptes_none = fs->opts.max_ptes_none,
				      .explicit_req = explicit_req },
			       .first = CLP_SUCCEEDED };
	int ret;

	fs_assert_held(&fs->lock);
	if (!S_ISREG(inode->mode))
		return -EINVAL;
	if (inode->memfd < 0 && !explicit_req)
		return 0;
	if (!explicit_req && inode->clp_quiet && inode->clp_quiet == fs_mem_blocks(inode))
		return 0;
	ret = fs_data_load_relock(fs, inode);
	if (ret)
		return ret;
	job.p.policy = fs_inode_policy(fs, inode);
	job.fd = dup(inode->memfd);
	if (job.fd < 0)
		return -errno;
	job.size = inode->size;
	job.end = len > job.size - (off < job.size ? off : job.size) ? job.size : off + len;
	job.ino = inode->ino;
	inode->pins++;
	ret = collapse_walk_relock(fs, inode, &job, off);
	inode->pins--;
	close(job.fd);
	for (int i = 0; i < CLP_NR_RESULTS; i++)
		fs->clp.stats.by_result[i] += job.st.by_result[i];
	fs->clp.stats.collapsed += job.st.collapsed;
	fs_space_account(fs, inode);
	clp_note_quiet(inode, &job, ret);
	fs_inode_put_check(fs, inode);
	/* the collapser's edge: its result becomes an errno here, once */
	return ret ? ret : -clp_result_errno(job.first);
}

/* Next loaded inode after @cursor that the background collapser may touch. */
static struct fs_inode *next_candidate(struct fs *fs, uint64_t cursor)
{
	struct fs_inode *best = NULL;

	for (struct fs_inode *i = fs->loaded; i; i = i->lnext) {
		if (i->ino <= cursor || !S_ISREG(i->mode) || i->size < CLP_REGION_SIZE ||
		    (!i->nlink && !i->nopen))
			continue;
		if (clp_max_order(fs_inode_policy(fs, i), false) < CLP_ORDER_THP)
			continue;
		if (!best || i->ino < best->ino)
			best = i;
	}
	return best;
}

/* One pass: up to a few files, resuming where the last pass stopped. */
static void clp_pass_relock(struct fs *fs)
{
	for (unsigned n = 0; n < FS_CLP_FILES_PER_PASS && !fs->clp.stop; n++) {
		struct fs_inode *inode = next_candidate(fs, fs->clp.cursor);

		if (!inode) {
			if (fs->clp.cursor)
				fs->clp.stats.full_scans++;
			fs->clp.cursor = 0;
			return;
		}
		fs->clp.cursor = inode->ino;
		fsclp_collapse_relock(fs, inode, 0, UINT64_MAX, false);
	}
}

static void *clp_main(void *arg)
{
	struct fs *fs = arg;

	fs_lock(fs);
	while (!fs->clp.stop) {
		fs_cond_wait_ms(fs, &fs->clp.cond, fs->opts.scan_sleep_ms);
		if (!fs->clp.stop)
			clp_pass_relock(fs);
	}
	fs_unlock(fs);
	return NULL;
}

/**
 * fsclp_start() - start the background collapser (and the kernel tracer)
 * @fs: the filesystem
 *
 * Return: 0 (also when disabled with scan_sleep_ms=0); -errno.
 */
int fsclp_start(struct fs *fs)
{
	int ret;

	/* without tracefs (or root) the kernel's verdicts are simply not named */
	if (geteuid() != 0 || clp_trace_open(&fs->clp.trace))
		fs->clp.trace = NULL;
	if (!fs->opts.scan_sleep_ms)
		return 0;
	ret = -pthread_create(&fs->clp.thread, NULL, clp_main, fs);
	fs->clp.started = ret == 0;
	return ret;
}

void fsclp_stop(struct fs *fs)
{
	if (fs->clp.started) {
		fs_thread_stop(fs, fs->clp.thread, &fs->clp.stop, &fs->clp.cond);
		fs->clp.started = false;
	}
	clp_trace_close(fs->clp.trace);
	fs->clp.trace = NULL;
}

/**
 * fsclp_map_text() - one page of the region table of a file
 * @fs: the filesystem, lock held
 * @inode: the file
 * @first: first region of the page
 * @out: malloc'd NUL-terminated text, for the caller to free
 *
 * Lines: offset, state, resident pages, last result, kernel verdict,
 * failed attempts, for each region that holds data or has a state of its
 * own (a sparse file lists what it has, not its apparent size); at most
 * FS_MAP_PAGE regions (an xattr value holds 64 KiB), then "more N" if the
 * table goes on at region N.
 *
 * Return: 0; -ENOMEM.
 */
int fsclp_map_text(struct fs *fs, struct fs_inode *inode, uint64_t first, char **out)
{
	uint64_t r = first, data, mapped;
	struct strbuf sb;
	unsigned n = 0;

	fs_assert_held(&fs->lock);
	strbuf_init(&sb);
	while (n < FS_MAP_PAGE) {
		bool has_map = clp_map_next(&inode->cmap, r, &mapped);
		bool has_data = inode->memfd >= 0 &&
			!clp_next_data(inode->memfd, r << CLP_REGION_SHIFT, inode->size, &data);
		const struct clp_region *g;
		unsigned resident;

		if (!has_map && !has_data)
			break;
		r = !has_data || (has_map && mapped < data) ? mapped : data;
		g = clp_map_peek(&inode->cmap, r);
		/* now, not as the collapser's last visit (if any) saw it */
		if (inode->memfd < 0 ||
		    clp_region_resident(inode->memfd, r << CLP_REGION_SHIFT, &resident))
			resident = inode->memfd < 0 ? 0 : g->resident;
		strbuf_printf(&sb, "%llu %s %u %s %s %u\n",
			      (unsigned long long)(r << CLP_REGION_SHIFT),
			      clp_state_name((enum clp_state)g->state), resident,
			      clp_result_name((enum clp_result)g->last),
			      clp_kernel_result_name(g->kverdict), g->attempts);
		n++;
		r++;
	}
	if (n == FS_MAP_PAGE)
		strbuf_printf(&sb, "more %llu\n", (unsigned long long)r);
	return strbuf_finish(&sb, out);
}
