// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The daemon's side of the collapser: per-inode region maps, the effective
 * folio policy of a file (its user.foliofs.policy xattr, inherited from the
 * directory at create, against the mount default), synchronous collapse on
 * request, the keep-off bookkeeping on punch and truncate, and the
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

/**
 * fs_inode_policy() - the effective folio policy of a file
 * @fs: the filesystem, lock held
 * @inode: the file
 *
 * Return: the file's user.foliofs.policy resolved against -o huge=.
 */
enum clp_policy fs_inode_policy(struct fs *fs, const struct fs_inode *inode)
{
	enum clp_policy p = CLP_POLICY_UNSET;
	char val[16];

	for (struct fs_xattr *x = inode->xattrs; x; x = x->next) {
		if (strcmp(x->name, FS_XATTR_POLICY) || x->value_len >= sizeof(val))
			continue;
		memcpy(val, x->value, x->value_len);
		val[x->value_len] = '\0';
		if (clp_policy_parse(val, &p))
			p = CLP_POLICY_UNSET;
	}
	return clp_policy_resolve(p, fs->opts.huge);
}

/* Keep the region map as long as the file; lock held. */
static int cmap_fit(struct fs_inode *inode)
{
	return clp_map_resize(&inode->cmap, inode->size);
}

/**
 * fsclp_punch() - a hole was punched or zeroed in a loaded file
 * @fs: the filesystem, lock held
 * @inode: the file
 * @off: start
 * @len: length
 *
 * shmem has already split any huge page the range cut through; mark those
 * regions keep-off so no collapse refills the hole.
 */
void fsclp_punch(struct fs *fs, struct fs_inode *inode, uint64_t off, uint64_t len)
{
	if (cmap_fit(inode))
		return;
	for (uint64_t r = off >> CLP_REGION_SHIFT;
	     r < inode->cmap.n && (r << CLP_REGION_SHIFT) < off + len; r++) {
		uint64_t rs = r << CLP_REGION_SHIFT;

		if (inode->cmap.r[r].state == CLP_R_HUGE &&
		    !(off <= rs && off + len >= rs + CLP_REGION_SIZE))
			fs->clp_stats.splits++;
	}
	clp_map_punch(&inode->cmap, off, len, inode->size);
	inode->cmap_gen++;
	fs_meta_dirty(fs);
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

	if (inode->size < old_size && (inode->size & (CLP_REGION_SIZE - 1)) &&
	    r < inode->cmap.n && inode->cmap.r[r].state == CLP_R_HUGE)
		fs->clp_stats.splits++;
	clp_map_truncate(&inode->cmap, old_size, inode->size);
	cmap_fit(inode);
	inode->cmap_gen++;
	fs_meta_dirty(fs);
}

static uint64_t shm_ino_of(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 ? (uint64_t)st.st_ino : 0;
}

/**
 * fsclp_collapse() - collapse a range of a file now
 * @fs: the filesystem, lock held (dropped while collapsing)
 * @inode: the file; loaded if @explicit_req, skipped otherwise when not
 * @off: start
 * @len: length (UINT64_MAX: to the end)
 * @explicit_req: a user asked (ends keep-off, ignores backoff and the
 *	population threshold, as MADV_COLLAPSE does)
 *
 * Return: 0 if every eligible region ends huge; -EAGAIN, -ENOMEM, -EBUSY or
 * -EINVAL as the first failing region's result maps (see clp_result_errno());
 * -ENOMEM; errors from loading the file.
 */
int fsclp_collapse(struct fs *fs, struct fs_inode *inode, uint64_t off,
		   uint64_t len, bool explicit_req)
{
	struct clp_params p = { .max_ptes_none = fs->opts.max_ptes_none,
				.explicit_req = explicit_req };
	struct clp_map copy = { 0 };
	struct clp_stats st = { 0 };
	uint64_t size, gen;
	int fd, ret;

	if (!S_ISREG(inode->mode))
		return -EINVAL;
	if (inode->memfd < 0 && !explicit_req)
		return 0;
	ret = fs_data_load(fs, inode);
	if (ret)
		return ret;
	p.policy = fs_inode_policy(fs, inode);
	ret = cmap_fit(inode);
	if (ret)
		return ret;
	if (clp_map_resize(&copy, inode->size))
		return -ENOMEM;
	if (copy.n)
		memcpy(copy.r, inode->cmap.r, copy.n * sizeof(*copy.r));
	fd = dup(inode->memfd);
	if (fd < 0) {
		clp_map_release(&copy);
		return -errno;
	}
	size = inode->size;
	gen = inode->cmap_gen;
	inode->pins++;
	pthread_mutex_unlock(&fs->lock);
	ret = clp_collapse_range(&copy, fd, off, len, size, &p, &st, fs->tracefd,
				 shm_ino_of(fd));
	close(fd);
	pthread_mutex_lock(&fs->lock);
	inode->pins--;
	for (int i = 0; i < CLP_NR_RESULTS; i++)
		fs->clp_stats.by_result[i] += st.by_result[i];
	fs->clp_stats.collapsed += st.collapsed;
	/* a punch or truncate meanwhile knows better than these results */
	if (gen == inode->cmap_gen && copy.n == inode->cmap.n && copy.n)
		memcpy(inode->cmap.r, copy.r, copy.n * sizeof(*copy.r));
	clp_map_release(&copy);
	fs_data_account(fs, inode);
	fs_inode_put_check(fs, inode);
	return ret;
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
static void clp_pass(struct fs *fs)
{
	for (unsigned n = 0; n < FS_CLP_FILES_PER_PASS && !fs->clp_stop; n++) {
		struct fs_inode *inode = next_candidate(fs, fs->clp_cursor);

		if (!inode) {
			if (fs->clp_cursor)
				fs->clp_stats.full_scans++;
			fs->clp_cursor = 0;
			return;
		}
		fs->clp_cursor = inode->ino;
		fsclp_collapse(fs, inode, 0, UINT64_MAX, false);
	}
}

static void *clp_main(void *arg)
{
	struct fs *fs = arg;

	pthread_mutex_lock(&fs->lock);
	while (!fs->clp_stop) {
		fs_wait_ms(fs, &fs->clp_cond, fs->opts.scan_sleep_ms);
		if (!fs->clp_stop)
			clp_pass(fs);
	}
	pthread_mutex_unlock(&fs->lock);
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

	fs->tracefd = geteuid() == 0 ? clp_trace_open() : -1;
	if (fs->tracefd < 0)
		fs->tracefd = -1;
	if (!fs->opts.scan_sleep_ms)
		return 0;
	ret = -pthread_create(&fs->clp_thread, NULL, clp_main, fs);
	fs->clp_started = ret == 0;
	return ret;
}

void fsclp_stop(struct fs *fs)
{
	if (fs->clp_started) {
		fs_thread_stop(fs, fs->clp_thread, &fs->clp_stop, &fs->clp_cond);
		fs->clp_started = false;
	}
	clp_trace_close(fs->tracefd);
	fs->tracefd = -1;
}

/**
 * fsclp_map_text() - one page of the region table of a file
 * @fs: the filesystem, lock held
 * @inode: the file
 * @first: first region of the page
 * @out: malloc'd NUL-terminated text, for the caller to free
 *
 * Lines: offset, state, resident pages, last result, kernel verdict,
 * failed attempts; at most FS_MAP_PAGE regions (an xattr value holds
 * 64 KiB), then "more N" if the table goes on at region N.
 *
 * Return: 0; -ENOMEM.
 */
int fsclp_map_text(struct fs *fs, struct fs_inode *inode, size_t first, char **out)
{
	size_t cap, len = 0, last;
	char *buf;

	(void)fs;
	cmap_fit(inode);
	last = first + FS_MAP_PAGE < inode->cmap.n ? first + FS_MAP_PAGE : inode->cmap.n;
	cap = 96 * (FS_MAP_PAGE + 2);
	buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	buf[0] = '\0';
	for (size_t r = first; r < last; r++) {
		const struct clp_region *g = &inode->cmap.r[r];

		len += (size_t)snprintf(buf + len, cap - len, "%llu %s %u %s %s %u\n",
			(unsigned long long)(r << CLP_REGION_SHIFT),
			clp_state_name((enum clp_state)g->state), g->resident,
			clp_result_name((enum clp_result)g->last),
			clp_kernel_result_name(g->kverdict), g->attempts);
	}
	if (last < inode->cmap.n)
		snprintf(buf + len, cap - len, "more %zu\n", last);
	*out = buf;
	return 0;
}
