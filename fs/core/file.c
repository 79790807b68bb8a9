// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * What the data and attribute requests do to a file: open (with O_TRUNC),
 * the checks before a read, write, truncate (one path for setattr and
 * O_TRUNC), fallocate (0, KEEP_SIZE, PUNCH_HOLE, ZERO_RANGE) and setattr.
 * Each admits the change against space and memory first, applies it to the
 * memory file, then marks the regions dirty and clears set-ID bits by
 * fs_sxid_kill()'s rule.  fs->lock is held throughout: exclusive, or for
 * the checks before a read, a served write and a setattr that keeps the
 * size, shared with the file's own lock.  Functions that drop them
 * meanwhile say so (_relock).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "fs.h"

#define RELATIME_SECS	(24 * 3600)

/**
 * fs_file_get() - the open regular file @ino
 * @fs: the filesystem, lock held
 * @ino: its inode number
 * @out: the inode, with its memory file
 *
 * Return: 0; -EBADF if it is not open here.
 */
int fs_file_get(struct fs *fs, uint64_t ino, struct fs_inode **out)
{
	struct fs_inode *inode = fs_iget(fs, ino);

	fs_assert_locked(fs);
	if (!inode || inode->memfd < 0)
		return -EBADF;
	*out = inode;
	return 0;
}

/*
 * Load @inode's data; when every descriptor is held by a dirty file, write
 * them back (dropping fs->lock) so they can be given back, and try again.
 */
static int load_relock(struct fs *fs, struct fs_inode *inode)
{
	int ret = fs_data_load_relock(fs, inode);

	if (ret != -EMFILE && ret != -ENFILE)
		return ret;
	inode->pins++;
	fs_unlock(fs);
	fs_commit(fs, false);	/* its failure is the next fsync's to report */
	fs_lock(fs);
	inode->pins--;
	return fs_data_load_relock(fs, inode);
}

/**
 * fs_file_truncate_relock() - change the size of a regular file
 * @fs: the filesystem, lock held (dropped while the file loads)
 * @inode: the file
 * @size: the new size
 *
 * Damage may only be cut away whole; the regions the change touches are
 * dirty, and the collapser's map forgets what lies past the end.  Times
 * and set-ID bits are the caller's.
 *
 * Return: 0; -EISDIR; -EINVAL for other non-regular files; -EIO if the cut
 * splits a damaged extent; -errno from loading or ftruncate(2).
 */
int fs_file_truncate_relock(struct fs *fs, struct fs_inode *inode, uint64_t size)
{
	uint64_t old;
	int ret;

	fs_assert_held(&fs->lock);
	ret = -EISDIR;
	if (S_ISDIR(inode->mode))
		return ret;
	ret = -EINVAL;
	if (!S_ISREG(inode->mode))
		return ret;
	ret = load_relock(fs, inode);
	if (!ret && size < inode->size)
		ret = fs_bad_punch(fs, inode, size, inode->size);
	if (ret)
		return ret;
	if (ftruncate(inode->memfd, (off_t)size) < 0)
		return -errno;
	fs_data_dirty(fs, inode, size < inode->size ? size : inode->size,
		      (size > inode->size ? size : inode->size) + 1);
	old = inode->size;
	inode->size = size;
	inode->size_gen++;
	fsclp_truncate(fs, inode, old);
	return 0;
}

/**
 * fs_file_open_relock() - one more open of a regular file
 * @fs: the filesystem, lock held (dropped while the file loads)
 * @inode: the file
 * @flags: the open(2) flags (access mode, O_TRUNC)
 * @c: the opener; its kill_sxid is the kernel's request to clear set-ID
 *
 * The caller (the front end) decides the data path and then counts the
 * open with inode->nopen++.
 *
 * Return: 0; -EISDIR; -ENXIO for other non-regular files; -EROFS for an
 * open that may write on a read-only daemon; -ESTALE for a file that was
 * removed and closed; errors from loading or truncating.
 */
int fs_file_open_relock(struct fs *fs, struct fs_inode *inode, int flags, const struct fs_caller *c)
{
	bool trunc = flags & O_TRUNC;
	int ret;

	fs_assert_held(&fs->lock);
	ret = S_ISDIR(inode->mode) ? -EISDIR : !S_ISREG(inode->mode) ? -ENXIO : 0;
	/* a passthrough open writes the memory file without asking us */
	if (!ret && ((flags & O_ACCMODE) != O_RDONLY || trunc))
		ret = fs_may_change(fs);
	/* unlinked and closed, its data went (fs_inode_put_check()): by handle */
	if (!ret && !inode->nlink && inode->memfd < 0)
		ret = -ESTALE;
	if (!ret)
		ret = load_relock(fs, inode);
	if (ret || !trunc || !inode->size)
		return ret;
	ret = fs_file_truncate_relock(fs, inode, 0);
	if (ret)
		return ret;
	if (c->kill_sxid)
		fs_kill_sxid(fs, inode, FS_SXID_DATA, c);
	fs_touch(&inode->mtime);
	inode->ctime = inode->mtime;
	fs_meta_dirty(fs, inode);
	return 0;
}

/**
 * fs_data_path() - the data path of one more open of a regular file
 * @fs: the filesystem, lock held
 * @inode: the file, loaded
 * @writer: the open may write
 * @pt_on: the connection offers passthrough
 *
 * Passthrough (the kernel reads, writes and maps the memory file itself)
 * for readers; tracked (the daemon serves read and write, and a client's
 * shared mapping goes through the kernel's page cache, so mapped writes
 * come back as WRITE and msync as FSYNC) for writers, so that every
 * change is seen and fsync costs what changed.  The kernel refuses to mix
 * the two on one inode: while a tracked open exists every open is
 * tracked; a writer arriving beside passthrough opens passes through with
 * its read(2) and write(2) served (FS_PATH_PT_SERVED; a mapping of it is
 * the memory file's, written unseen).  Set-ID writers and files with
 * damaged extents must be served, whatever the override.  The override
 * (user.foliofs.datapath): tracked serves readers too; passthrough gives
 * writers passthrough as well (PMD-mapped writable mappings; every fsync
 * scans what they may have written).
 *
 * Return: the path.
 */
enum fs_data_path fs_data_path(const struct fs *fs, const struct fs_inode *inode, bool writer,
			       bool pt_on)
{
	enum fs_dp_override o = fs_dp_override(fs, inode);
	bool served = (writer && fs_inode_sxid(inode)) || inode->nbad;

	fs_assert_held(&fs->lock);
	if (!pt_on || (inode->nopen && !inode->pt_opens))
		return FS_PATH_TRACKED;
	if (!served && (o == FS_DPO_PASSTHROUGH || (o == FS_DPO_AUTO && !writer)))
		return FS_PATH_PASSTHROUGH;
	return inode->pt_opens ? FS_PATH_PT_SERVED : FS_PATH_TRACKED;
}

/**
 * fs_file_close() - one open of a file is released
 * @fs: the filesystem, lock held exclusively
 * @inode: the inode
 * @pt_writer: the open was a passthrough writer's
 *
 * The inode may be freed here.  A file the kernel wrote unseen
 * (passthrough) is dirty until a commit has looked at it, and so stays in
 * memory; when it is closed while memory is over -o cache_size, the
 * caller writes it back at once (fs_file_close_flush()), so that it can
 * go, as a file the daemon wrote itself would.
 *
 * Return: true when the caller must call fs_file_close_flush() with the
 * lock dropped.
 */
bool fs_file_close(struct fs *fs, struct fs_inode *inode, bool pt_writer)
{
	bool flush;

	fs_assert_held(&fs->lock);
	inode->nopen--;
	flush = pt_writer && !inode->nopen && !inode->pt_writers && !inode->pt_mapped_rw &&
		inode->nlink && inode->dirty &&
		fs->space.cache_blocks > fs->opts.cache_size / FOFS_BLOCK_SIZE;
	inode->close_flush |= flush;
	fs_inode_put_check(fs, inode);
	fs_data_trim(fs, false);
	if (!flush)
		fs_space_let_go(fs);
	return flush;
}

/**
 * fs_file_close_flush() - write back a file closed while memory is short
 * @fs: the filesystem; no lock held
 * @ino: the inode
 *
 * As an fsync of it, then a trim: it goes if it is still closed.  Writers
 * waiting for room (fs_space_await_release()) are woken after.
 */
void fs_file_close_flush(struct fs *fs, uint64_t ino)
{
	struct fs_inode *inode;
	int ret;

	fs_assert_unheld(&fs->lock);
	ret = fs_fsync(fs, ino);
	if (ret)
		fs_log(LOG_WARNING, "inode %llu: writing back a closed file: %s",
		       (unsigned long long)ino, strerror(-ret));
	fs_lock(fs);
	inode = fs_iget(fs, ino);
	if (inode)
		inode->close_flush = false;
	fs_data_trim(fs, false);
	fs_space_let_go(fs);
	fs_unlock(fs);
}

static int ts_cmp(const struct timespec *a, const struct timespec *b)
{
	if (a->tv_sec != b->tv_sec)
		return a->tv_sec < b->tv_sec ? -1 : 1;
	return a->tv_nsec < b->tv_nsec ? -1 : a->tv_nsec > b->tv_nsec;
}

/*
 * Would a read now update @inode's atime?  relatime: when the atime is
 * older than mtime or ctime, or a day old.
 */
static bool atime_due(const struct fs_inode *inode)
{
	struct timespec now;

	fs_touch(&now);
	/* whole timestamps, as the kernel's relatime compares them: seconds
	 * alone made every read in a write's second stamp the atime again */
	return ts_cmp(&inode->atime, &inode->mtime) <= 0 ||
	       ts_cmp(&inode->atime, &inode->ctime) <= 0 ||
	       now.tv_sec - inode->atime.tv_sec >= RELATIME_SECS;
}

static void read_atime(struct fs *fs, struct fs_inode *inode)
{
	if (!atime_due(inode))
		return;
	fs_touch(&inode->atime);
	fs_meta_dirty(fs, inode);
}

/**
 * fs_file_read_check() - may [@off, @off + @len) be read from the memory file?
 * @fs: the filesystem, lock held (shared: with @inode's lock)
 * @inode: an open file
 * @off: first byte
 * @len: bytes
 *
 * Damaged bytes are never served as zeros.  The memory file stays open
 * while the file is, so the read itself needs no lock.
 *
 * Return: 0 (atime updated, relatime); -EIO for damaged bytes.
 */
int fs_file_read_check(struct fs *fs, struct fs_inode *inode, uint64_t off,
		       uint64_t len)
{
	fs_assert_inode(fs, inode);
	if (fs_bad_overlaps(inode->bad, inode->nbad, off, off + len, false))
		return -EIO;
	read_atime(fs, inode);
	return 0;
}

/* The memory file's size is the file's: after a change that set it there. */
static void size_from_memfd(struct fs_inode *inode)
{
	struct stat st;

	if (fstat(inode->memfd, &st) == 0)
		inode->size = (uint64_t)st.st_size;
}

/* Pages a write at [off, off + len) adds beyond the current end of file. */
static uint64_t new_pages(const struct fs_inode *inode, uint64_t off, uint64_t len)
{
	uint64_t start = (inode->size + CLP_PAGE_SIZE - 1) & ~(CLP_PAGE_SIZE - 1);
	uint64_t end = off + len;

	if (off > start)
		start = off & ~(CLP_PAGE_SIZE - 1);
	return end > start ? (end - start + CLP_PAGE_SIZE - 1) / CLP_PAGE_SIZE : 0;
}

/**
 * fs_file_write_relock() - write(2) served by the daemon
 * @fs: the filesystem, lock held (shared: with @inode's lock); both are
 *	dropped while the bytes are copied into the memory file, so a large
 *	write (up to 1 MiB a request) holds up no other request
 * @inode: an open file (so its memory file stays while the lock is off)
 * @buf: the bytes
 * @size: how many
 * @off: where
 * @c: the writer; set-ID bits are cleared when its kill_sxid is set
 * @done: bytes written
 *
 * The checks and the bookkeeping run under the lock, before and after the
 * copy.  A truncate that ran meanwhile (inode->size_gen moved) may have cut
 * the memory file after the copy: its size is then read back from it, not
 * guessed from this write's end.
 *
 * Return: 0; -EFBIG past the largest file size; -EIO in a damaged region
 * (kept as committed, damage.c); -ENOSPC; -EAGAIN with fs->lock shared
 * when other files must be unloaded first (fs_space_check()); -errno from
 * pwrite(2).
 */
int fs_file_write_relock(struct fs *fs, struct fs_inode *inode, const char *buf, size_t size,
			 uint64_t off, const struct fs_caller *c, size_t *done)
{
	bool excl = fs_rwlock_held(&fs->lock, true);
	uint32_t gen;
	ssize_t n;
	int ret;

	fs_assert_inode(fs, inode);
	ret = fs_may_change(fs);
	if (ret)
		return ret;
	ret = -EFBIG;
	if (off > (uint64_t)INT64_MAX || off + size > (uint64_t)INT64_MAX)
		return ret;
	ret = -EIO;
	if (fs_bad_overlaps(inode->bad, inode->nbad, off, off + size, true))
		return ret;
	ret = fs_space_check(fs, new_pages(inode, off, size));
	if (ret)
		return ret;
	gen = inode->size_gen;
	fs_inode_unlock(fs, inode);
	fs_unlock_as(fs, excl);
	n = pwrite(inode->memfd, buf, size, (off_t)off);
	ret = n < 0 ? -errno : 0;
	fs_lock_as(fs, excl);
	fs_inode_lock(fs, inode);
	if (ret)
		return ret;
	if (c->kill_sxid)
		fs_kill_sxid(fs, inode, FS_SXID_DATA, c);
	if (gen != inode->size_gen)
		size_from_memfd(inode);
	else if (off + (uint64_t)n > inode->size)
		inode->size = off + (uint64_t)n;
	fs_touch(&inode->mtime);
	inode->ctime = inode->mtime;
	fs_data_dirty(fs, inode, off, off + (uint64_t)n);
	fs_meta_dirty(fs, inode);
	*done = (size_t)n;
	return 0;
}

/* ZERO_RANGE on shmem: punch, then allocate the range again. */
static int zero_range(int fd, int mode, uint64_t off, uint64_t len)
{
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
		      (off_t)len) < 0)
		return -errno;
	if (fallocate(fd, mode & FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) < 0)
		return -errno;
	return 0;
}

/* The modes we serve, and damage: only punched away whole, never filled. */
static int fallocate_check(struct fs *fs, struct fs_inode *inode, int mode,
			   uint64_t off, uint64_t len)
{
	const int known = FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE |
			  FALLOC_FL_ZERO_RANGE;
	int ret;

	ret = -EOPNOTSUPP;
	if (mode & ~known || ((mode & FALLOC_FL_PUNCH_HOLE) &&
	    (!(mode & FALLOC_FL_KEEP_SIZE) || (mode & FALLOC_FL_ZERO_RANGE))))
		return ret;
	ret = -EINVAL;
	if (off > (uint64_t)INT64_MAX || !len || len > (uint64_t)INT64_MAX)
		return ret;
	ret = mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE) ?
	      fs_bad_punch(fs, inode, off, off + len) :
	      fs_bad_overlaps(inode->bad, inode->nbad, off, off + len, true) ? -EIO : 0;
	if (ret || (mode & FALLOC_FL_PUNCH_HOLE))
		return ret;
	return fs_space_check(fs, len / CLP_PAGE_SIZE + 1);
}

/**
 * fs_file_fallocate() - fallocate(2) served by the daemon
 * @fs: the filesystem, lock held
 * @inode: an open file
 * @mode: 0, KEEP_SIZE, PUNCH_HOLE|KEEP_SIZE, ZERO_RANGE (|KEEP_SIZE)
 * @off: start
 * @len: length
 * @c: the caller; with KILLPRIV_V2 the set-ID rule is ours here (the
 *	kernel sends no kill flag)
 *
 * Return: 0; -EOPNOTSUPP for other modes; -EINVAL; -EIO for damage;
 * -ENOSPC; -errno from fallocate(2).
 */
int fs_file_fallocate(struct fs *fs, struct fs_inode *inode, int mode,
		      uint64_t off, uint64_t len, const struct fs_caller *c)
{
	int ret;

	fs_assert_held(&fs->lock);
	ret = fs_may_change(fs);
	if (!ret)
		ret = fallocate_check(fs, inode, mode, off, len);
	if (ret)
		return ret;
	if (mode & FALLOC_FL_ZERO_RANGE)
		ret = zero_range(inode->memfd, mode, off, len);
	else if (fallocate(inode->memfd, mode, (off_t)off, (off_t)len) < 0)
		ret = -errno;
	if (ret)
		return ret;
	if (fs->killpriv)
		fs_kill_sxid(fs, inode, FS_SXID_DATA, c);
	size_from_memfd(inode);
	if (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) {
		fs_touch(&inode->mtime);
		inode->ctime = inode->mtime;
		fsclp_punch(fs, inode, off, len);
	}
	fs_data_dirty(fs, inode, off, off + len);
	fs_meta_dirty(fs, inode);
	return 0;
}

static void set_time(struct timespec *ts, const struct timespec *val,
		     bool now, const struct timespec *cur)
{
	*ts = now ? *cur : *val;
}

/*
 * chown: with KILLPRIV_V2 the kernel leaves clearing set-ID bits to us; the
 * rule looks at the group before the change.  A SETATTR with nothing to set
 * is either chown(f, -1, -1) or the kernel removing privileges before a
 * write or fallocate (file_remove_privs()); the two cannot be told apart, and
 * both clear by this rule for any caller without CAP_FSETID.  (tmpfs refuses
 * chown(f, -1, -1) by a non-owner with EPERM; see docs/POSIX.md.)
 */
static void chown_sxid(struct fs *fs, struct fs_inode *inode, unsigned valid,
		       const struct fs_caller *c)
{
	if (fs->killpriv && (!valid || (valid & (FS_ATTR_UID | FS_ATTR_GID))))
		fs_kill_sxid(fs, inode, FS_SXID_CHOWN, c);
}

/**
 * fs_setattr_relock() - chmod, chown, utimens and truncate
 * @fs: the filesystem, lock held (dropped while a truncated file loads);
 *	without FS_ATTR_SIZE it may be shared, with @inode's lock
 * @inode: the inode
 * @a: what to set (FS_ATTR_* in @a->valid)
 * @c: the caller; kill_sxid is the kernel's request to clear set-ID bits
 *
 * Permission checks are the kernel's (default_permissions).
 *
 * Return: 0; errors from fs_file_truncate_relock().
 */
int fs_setattr_relock(struct fs *fs, struct fs_inode *inode,
		      const struct fs_setattr *a, const struct fs_caller *c)
{
	struct fs_caller writer = *c;
	struct timespec now;
	int ret;

	fs_assert_inode(fs, inode);
	if (a->valid & FS_ATTR_SIZE)
		fs_assert_held(&fs->lock);
	ret = fs_may_change(fs);
	if (ret)
		return ret;
	chown_sxid(fs, inode, a->valid, c);
	fs_touch(&now);
	if (a->valid & FS_ATTR_SIZE) {
		ret = fs_file_truncate_relock(fs, inode, a->size);
		if (ret)
			return ret;
		if (!(a->valid & FS_ATTR_MTIME))
			inode->mtime = now;
	}
	/* the kernel asks to clear set-ID bits when the caller lacks CAP_FSETID */
	writer.fsetid = false;
	if ((a->valid & FS_ATTR_SIZE) && c->kill_sxid)
		fs_kill_sxid(fs, inode, FS_SXID_DATA, &writer);
	if (a->valid & FS_ATTR_MODE)
		fs_inode_set_mode(fs, inode, (inode->mode & S_IFMT) | (a->mode & 07777));
	if (a->valid & FS_ATTR_UID)
		inode->uid = a->uid;
	if (a->valid & FS_ATTR_GID)
		inode->gid = a->gid;
	if (a->valid & FS_ATTR_ATIME)
		set_time(&inode->atime, &a->atime, a->valid & FS_ATTR_ATIME_NOW, &now);
	if (a->valid & FS_ATTR_MTIME)
		set_time(&inode->mtime, &a->mtime, a->valid & FS_ATTR_MTIME_NOW, &now);
	inode->ctime = (a->valid & FS_ATTR_CTIME) ? a->ctime : now;
	fs_meta_dirty(fs, inode);
	return 0;
}
