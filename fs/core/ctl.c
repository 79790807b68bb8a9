// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The control attributes (foliofs/ctl.h): setting user.foliofs.collapse
 * collapses a range now, user.foliofs.policy is checked before it is
 * stored, and two read-only views are generated on every read: a file's
 * region table (user.foliofs.map, paged) and the mount's status
 * (user.foliofs.status, the fields ctl.h lists).  The front end supplies
 * what only it knows (the data path) and answers with the text.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs.h"

/* "" for the whole file, or "OFFSET LENGTH" in bytes. */
static int parse_range(const char *value, size_t size, uint64_t *off, uint64_t *len)
{
	char buf[64], *end;

	*off = 0;
	*len = UINT64_MAX;
	if (!size)
		return 0;
	if (size >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, value, size);
	buf[size] = '\0';
	errno = 0;
	*off = strtoull(buf, &end, 0);
	*len = strtoull(end, &end, 0);
	return errno || *end || !*len ? -EINVAL : 0;
}

/**
 * fs_ctl_set_relock() - a setxattr of a control name
 * @fs: the filesystem, lock held (dropped while collapsing)
 * @inode: the inode
 * @name: the attribute name
 * @value: its value
 * @size: its length
 * @handled: set when the name was a control name and is done with; a
 *	valid folio policy or data path is left for the caller to store
 *	(fs_xattr_set())
 *
 * Return: 0; -EINVAL for a bad range, policy or data path; -EPERM for the read-only
 * views; errors from fsclp_collapse_relock().
 */
int fs_ctl_set_relock(struct fs *fs, struct fs_inode *inode, const char *name,
		      const char *value, size_t size, bool *handled)
{
	enum clp_policy p;
	uint64_t off, len;
	char buf[16];
	int ret;

	fs_assert_held(&fs->lock);
	*handled = true;
	if (!strcmp(name, FOFS_XATTR_COLLAPSE)) {
		ret = parse_range(value, size, &off, &len);
		return ret ? ret : fsclp_collapse_relock(fs, inode, off, len, true);
	}
	if (!strcmp(name, FOFS_XATTR_MAP) || !strcmp(name, FOFS_XATTR_STATUS))
		return -EPERM;		/* read-only views */
	*handled = false;
	if (!strcmp(name, FOFS_XATTR_DATAPATH))
		return fs_dp_parse(value, size, &(enum fs_dp_override){ 0 });
	if (strcmp(name, FOFS_XATTR_POLICY))
		return 0;
	if (size >= sizeof(buf) || !size)
		return -EINVAL;
	memcpy(buf, value, size);
	buf[size] = '\0';
	return clp_policy_parse(buf, &p);
}

/*
 * Open files on each data path (those with opens of both kinds, a writer
 * beside passthrough readers, count as passthrough).
 */
static void count_paths(struct fs *fs, uint64_t *tracked, uint64_t *passthrough)
{
	*tracked = *passthrough = 0;
	for (struct fs_inode *i = fs->loaded; i; i = i->lnext) {
		*passthrough += i->pt_opens > 0;
		*tracked += i->nopen > 0 && !i->pt_opens;
	}
}

/* Huge and keep-off regions of the loaded files: their map entries only. */
static void count_regions(struct fs *fs, uint64_t *files, uint64_t *huge, uint64_t *keep)
{
	*files = *huge = *keep = 0;
	for (struct fs_inode *i = fs->loaded; i; i = i->lnext, (*files)++)
		for (uint64_t r = 0; clp_map_next(&i->cmap, r, &r); r++) {
			*huge += clp_map_peek(&i->cmap, r)->state == CLP_R_HUGE;
			*keep += clp_map_peek(&i->cmap, r)->state == CLP_R_KEEP_OFF;
		}
}

static void put_u(struct strbuf *sb, enum fofs_status_field f, uint64_t v)
{
	strbuf_printf(sb, "%s=%llu\n", fofs_status_key(f), (unsigned long long)v);
}

static void put_s(struct strbuf *sb, enum fofs_status_field f, const char *v)
{
	strbuf_printf(sb, "%s=%s\n", fofs_status_key(f), v);
}

/* Cumulative, as histograms are read: fsyncs that took at most B us. */
static void put_fsync_buckets(struct strbuf *sb, const struct fs *fs)
{
	static const uint64_t bound[FOFS_FSYNC_NR_BUCKETS] = FOFS_FSYNC_BUCKETS_US;
	uint64_t n = 0;

	for (size_t b = 0; b < FOFS_FSYNC_NR_BUCKETS; b++) {
		n += fs->wb.fsync_us_hist[b];
		strbuf_printf(sb, "fsync_us_le_%llu=%llu\n", (unsigned long long)bound[b],
			      (unsigned long long)n);
	}
}

static int status_text(struct fs *fs, const struct fs_ctl_front *front, char **out)
{
	uint64_t huge, keep, files, resident = fs->space.cache_blocks * FOFS_BLOCK_SIZE;
	uint64_t tracked, passthrough;
	const char *why;
	struct strbuf sb;

	count_regions(fs, &files, &huge, &keep);
	count_paths(fs, &tracked, &passthrough);
	strbuf_init(&sb);
	/* where the image lives and who serves it: the mount's owner's business */
	if (front->owner) {
		put_u(&sb, FOFS_ST_DAEMON_PID, (uint64_t)getpid());
		put_s(&sb, FOFS_ST_IMAGE, fs->image_path);
	}
	put_s(&sb, FOFS_ST_IMAGE_MODE, fs->opts.ro ? "ro" : "rw");
	put_u(&sb, FOFS_ST_GENERATION, fs->wb.generation);
	put_s(&sb, FOFS_ST_DATA_PATH, front->data_path);
	put_s(&sb, FOFS_ST_PT_OFF_REASON, front->pt_why);
	put_u(&sb, FOFS_ST_FILES_LOADED, files);
	put_u(&sb, FOFS_ST_BYTES_RESIDENT, resident);
	put_u(&sb, FOFS_ST_BYTES_HUGE, huge * CLP_REGION_SIZE);
	put_u(&sb, FOFS_ST_HUGE_SHARE, resident ? huge * CLP_REGION_SIZE * 100 / resident : 0);
	put_u(&sb, FOFS_ST_HUGE_REGIONS, huge);
	put_u(&sb, FOFS_ST_KEEP_OFF_REGIONS, keep);
	put_u(&sb, FOFS_ST_COLLAPSED, fs->clp.stats.collapsed);
	put_u(&sb, FOFS_ST_FULL_SCANS, fs->clp.stats.full_scans);
	put_u(&sb, FOFS_ST_SPLITS, fs->clp.stats.splits);
	put_u(&sb, FOFS_ST_LOAD_COLLAPSED, fs->clp.load_collapsed);
	put_u(&sb, FOFS_ST_LOAD_COLLAPSE_FAILED, fs->clp.load_collapse_failed);
	put_u(&sb, FOFS_ST_COMMITS, fs->wb.commits);
	put_u(&sb, FOFS_ST_CACHE_SIZE, fs->opts.cache_size);
	put_s(&sb, FOFS_ST_HUGE, clp_policy_name(fs->opts.huge));
	put_s(&sb, FOFS_ST_KERNEL_VERDICTS, fs->clp.trace ? "on" : "off");
	put_u(&sb, FOFS_ST_IMAGE_BLOCKS, fs->space.total_blocks);
	put_u(&sb, FOFS_ST_IMAGE_USED_BLOCKS, fs->space.committed_used);
	strbuf_printf(&sb, "%s=%d\n", fofs_status_key(FOFS_ST_WRITEBACK_ERROR),
		      -fs->wb.last_error);
	put_s(&sb, FOFS_ST_IMAGE_IO, img_direct_io(fs->img, &why) ? "direct" : "buffered");
	put_u(&sb, FOFS_ST_FSYNCS, fs->wb.fsyncs);
	put_u(&sb, FOFS_ST_FSYNCS_SHARED, fs->wb.fsync_shared);
	put_u(&sb, FOFS_ST_LOG_BATCHES, fs->wb.log_batches);
	put_u(&sb, FOFS_ST_LOG_BLOCKS, fs->wb.log_blocks);
	put_u(&sb, FOFS_ST_WRITEBACK_ERRORS, fs->wb.errors);
	put_u(&sb, FOFS_ST_FSYNC_US_SUM, fs->wb.fsync_us_sum);
	put_s(&sb, FOFS_ST_TRANSPORT, front->transport);
	put_s(&sb, FOFS_ST_TRANSPORT_REASON, front->transport_why);
	put_u(&sb, FOFS_ST_RING_REQUESTS, front->ring_requests);
	put_u(&sb, FOFS_ST_FILES_TRACKED, tracked);
	put_u(&sb, FOFS_ST_FILES_PASSTHROUGH, passthrough);
	put_u(&sb, FOFS_ST_SCANS, fs->wb.scans);
	put_u(&sb, FOFS_ST_BYTES_SCANNED, fs->wb.scan_bytes);
	put_fsync_buckets(&sb, fs);
	for (int r = 0; r < CLP_NR_RESULTS; r++)
		if (fs->clp.stats.by_result[r])
			strbuf_printf(&sb, "result_%s=%llu\n",
				      clp_result_name((enum clp_result)r),
				      (unsigned long long)fs->clp.stats.by_result[r]);
	return strbuf_finish(&sb, out);
}

/* "user.foliofs.map" or "user.foliofs.map.N": its length up to ".N". */
static bool map_name(const char *name, size_t *mlen)
{
	*mlen = strlen(FOFS_XATTR_MAP);
	return !strncmp(name, FOFS_XATTR_MAP, *mlen) && (!name[*mlen] || name[*mlen] == '.');
}

/**
 * fs_ctl_is_name() - is @name in the control namespace (user.foliofs.*)?
 * @name: an attribute name
 *
 * A setxattr there may collapse (dropping fs->lock) or set the folio
 * policy the collapser reads: fs_ctl_set_relock() runs with fs->lock
 * exclusive, where other attributes change under the inode's lock.
 *
 * Return: true if so.
 */
bool fs_ctl_is_name(const char *name)
{
	return !strncmp(name, FOFS_XATTR_PREFIX, strlen(FOFS_XATTR_PREFIX));
}

/**
 * fs_ctl_is_view() - is @name one of the generated views (map, status)?
 * @name: an attribute name
 *
 * Views read state across the filesystem: they are made with fs->lock
 * exclusive, where stored attributes are read with it shared.
 *
 * Return: true if so.
 */
bool fs_ctl_is_view(const char *name)
{
	size_t mlen;

	return map_name(name, &mlen) || !strcmp(name, FOFS_XATTR_STATUS);
}

/**
 * fs_ctl_view() - the text of a read-only control attribute
 * @fs: the filesystem, lock held
 * @inode: the inode asked
 * @name: the attribute name
 * @front: what the front end adds to the status (data path, transport)
 * @text: malloc'd text, for the caller to free; NULL if @name is no view
 *
 * "user.foliofs.map" is the first page of a file's region table and
 * "user.foliofs.map.N" the page from region N.
 *
 * Return: 0; -ENODATA for a bad page name or a map of a non-regular file;
 * -ENOMEM.
 */
int fs_ctl_view(struct fs *fs, struct fs_inode *inode, const char *name,
		const struct fs_ctl_front *front, char **text)
{
	size_t mlen;
	char *end;

	fs_assert_held(&fs->lock);
	*text = NULL;
	if (map_name(name, &mlen)) {
		uint64_t first = name[mlen] ? strtoull(name + mlen + 1, &end, 10) : 0;

		if (name[mlen] && (*end || end == name + mlen + 1))
			return -ENODATA;
		return S_ISREG(inode->mode) ? fsclp_map_text(fs, inode, first, text) : -ENODATA;
	}
	if (!strcmp(name, FOFS_XATTR_STATUS))
		return status_text(fs, front, text);
	return 0;
}
