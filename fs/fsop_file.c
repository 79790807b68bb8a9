// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * FUSE file operations: create/open/release, read and write served from the
 * inode's memfd, flush, fsync/fdatasync (a full commit), fallocate (0,
 * KEEP_SIZE, PUNCH_HOLE, ZERO_RANGE) and lseek SEEK_DATA/SEEK_HOLE.  Opening
 * a file loads its data into its memfd; the memfd outlives the last close
 * until writeback has made it clean.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs.h"

#define RELATIME_SECS	(24 * 3600)

/* The open regular file @ino; lock held. */
static int get_open(struct fs *fs, fuse_ino_t ino, struct fs_inode **out)
{
	struct fs_inode *inode = fs_iget(fs, ino);

	if (!inode || inode->memfd < 0)
		return -EBADF;
	*out = inode;
	return 0;
}

static int do_open(fuse_req_t req, struct fs *fs, struct fs_inode *inode,
		   struct fuse_file_info *fi)
{
	struct fs_caller c;
	uint64_t old;
	int ret;

	ret = S_ISDIR(inode->mode) ? -EISDIR : !S_ISREG(inode->mode) ? -ENXIO : 0;
	if (!ret)
		ret = fs_data_load(fs, inode);
	if (ret)
		return ret;
	if ((fi->flags & O_TRUNC) && inode->size) {
		fs_bad_punch(inode, 0, inode->size);	/* covers all: cannot fail */
		if (ftruncate(inode->memfd, 0) < 0)
			return -errno;
		fs_data_dirty(fs, inode, 0, inode->size + 1);
		old = inode->size;
		inode->size = 0;
		fsclp_truncate(fs, inode, old);
		/* a kill flag comes from a caller without CAP_FSETID */
		if (pt_kill_suidgid()) {
			fsop_caller(req, inode, false, &c);
			fs_kill_sxid(inode, FS_SXID_DATA, &c);
		}
		fs_touch(&inode->mtime);
		inode->ctime = inode->mtime;
		fs_meta_dirty(fs);
	}
	ret = pt_open(fs, inode, fi);
	if (ret)
		return ret;
	inode->nopen++;
	fs_data_use(fs, inode);
	return 0;
}

static void fsop_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fsop_fs(req);
	struct fs_inode *inode;
	int ret;

	pthread_mutex_lock(&fs->lock);
	inode = fs_iget(fs, ino);
	ret = inode ? do_open(req, fs, inode, fi) : -ENOENT;
	pthread_mutex_unlock(&fs->lock);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_open(req, fi);
}

static void fsop_create(fuse_req_t req, fuse_ino_t parent, const char *name,
			mode_t mode, struct fuse_file_info *fi)
{
	struct fs *fs = fsop_fs(req);
	struct fuse_entry_param e;
	struct fs_inode *inode;
	int ret;

	pthread_mutex_lock(&fs->lock);
	ret = fsop_make_node(req, parent, name, S_IFREG | (mode & 07777), 0, NULL,
			     &e, &inode);
	if (!ret)
		ret = do_open(req, fs, inode, fi);
	pthread_mutex_unlock(&fs->lock);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_create(req, &e, fi);
}

static void fsop_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fsop_fs(req);
	struct fs_inode *inode;

	pthread_mutex_lock(&fs->lock);
	inode = fs_iget(fs, ino);
	if (inode && inode->nopen) {
		pt_release(fs, inode, fi);
		inode->nopen--;
		fs_inode_put_check(fs, inode);
		fs_data_trim(fs);
	}
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_err(req, 0);
}

/* relatime: update atime if it is older than mtime/ctime or a day old. */
static void read_atime(struct fs *fs, struct fs_inode *inode)
{
	struct timespec now;

	fs_touch(&now);
	if (inode->atime.tv_sec > inode->mtime.tv_sec &&
	    inode->atime.tv_sec > inode->ctime.tv_sec &&
	    now.tv_sec - inode->atime.tv_sec < RELATIME_SECS)
		return;
	inode->atime = now;
	fs_meta_dirty(fs);
}

static void fsop_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		      struct fuse_file_info *fi)
{
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT(size);
	struct fs *fs = fsop_fs(req);
	struct fs_inode *inode;
	int ret;

	(void)fi;
	pthread_mutex_lock(&fs->lock);
	ret = get_open(fs, ino, &inode);
	if (!ret && fs_bad_overlaps(inode->bad, inode->nbad, (uint64_t)off,
				    (uint64_t)off + size, false))
		ret = -EIO;	/* damaged bytes are never served as zeros */
	if (!ret) {
		bv.buf[0].fd = inode->memfd;
		read_atime(fs, inode);
	}
	pthread_mutex_unlock(&fs->lock);
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	/* The memfd stays open while the file is: no lock needed to read it. */
	bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	bv.buf[0].pos = off;
	fuse_reply_data(req, &bv, 0);
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

/* @c: the writer, when the kernel asked to clear set-ID bits; else NULL */
static int do_write(struct fs *fs, struct fs_inode *inode, const char *buf,
		    size_t size, off_t off, const struct fs_caller *c, size_t *done)
{
	ssize_t n;
	int ret;

	ret = -EFBIG;
	if (off < 0 || (uint64_t)off + size > (uint64_t)INT64_MAX)
		return ret;
	ret = -EIO;	/* a region with damage stays as committed (damage.c) */
	if (fs_bad_overlaps(inode->bad, inode->nbad, (uint64_t)off, (uint64_t)off + size, true))
		return ret;
	ret = fs_space_check(fs, new_pages(inode, (uint64_t)off, size));
	if (ret)
		return ret;
	n = pwrite(inode->memfd, buf, size, off);
	if (n < 0)
		return -errno;
	if (c)
		fs_kill_sxid(inode, FS_SXID_DATA, c);
	if ((uint64_t)off + (uint64_t)n > inode->size)
		inode->size = (uint64_t)off + (uint64_t)n;
	fs_touch(&inode->mtime);
	inode->ctime = inode->mtime;
	fs_data_dirty(fs, inode, (uint64_t)off, (uint64_t)off + (uint64_t)n);
	fs_meta_dirty(fs);
	*done = (size_t)n;
	return 0;
}

static void fsop_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		       size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fs *fs = fsop_fs(req);
	struct fs_inode *inode;
	struct fs_caller caller;
	bool killed = false;
	size_t done = 0;
	int ret;

	(void)fi;
	pthread_mutex_lock(&fs->lock);
	ret = get_open(fs, ino, &inode);
	if (!ret) {
		uint32_t mode = inode->mode;

		fs_data_sync_attr(fs, inode);
		/* the kernel sets the kill flag for callers without CAP_FSETID;
		 * who they are is looked up only then */
		if (pt_kill_suidgid())
			fsop_caller(req, inode, false, &caller);
		ret = do_write(fs, inode, buf, size, off,
			       pt_kill_suidgid() ? &caller : NULL, &done);
		killed = mode != inode->mode;
	}
	pthread_mutex_unlock(&fs->lock);
	/*
	 * The kernel caches the mode it no longer has: drop its attributes
	 * before the reply, so no stat after the write can see the old mode.
	 * Attributes only (offset -1): no page locks, no deadlock with the
	 * writer.
	 */
	if (killed)
		fuse_lowlevel_notify_inval_inode(fs->se, ino, -1, 0);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_write(req, done);
}

static void fsop_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

static void fsop_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		       struct fuse_file_info *fi)
{
	(void)ino;
	(void)datasync;
	(void)fi;
	fuse_reply_err(req, -fs_commit(fsop_fs(req), false));
}

/* ZERO_RANGE on shmem: punch, then allocate the range again. */
static int zero_range(int fd, int mode, off_t off, off_t len)
{
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len) < 0)
		return -errno;
	if (fallocate(fd, mode & FALLOC_FL_KEEP_SIZE, off, len) < 0)
		return -errno;
	return 0;
}

static int do_fallocate(struct fs *fs, struct fs_inode *inode, int mode,
			off_t off, off_t len, const struct fs_caller *c)
{
	const int known = FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE |
			  FALLOC_FL_ZERO_RANGE;
	struct stat st;
	int ret;

	ret = -EOPNOTSUPP;
	if (mode & ~known || ((mode & FALLOC_FL_PUNCH_HOLE) &&
	    (!(mode & FALLOC_FL_KEEP_SIZE) || (mode & FALLOC_FL_ZERO_RANGE))))
		return ret;
	ret = -EINVAL;
	if (off < 0 || len <= 0)
		return ret;
	/* damage may only be punched away whole; nothing else touches it */
	ret = mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE) ?
	      fs_bad_punch(inode, (uint64_t)off, (uint64_t)off + (uint64_t)len) :
	      fs_bad_overlaps(inode->bad, inode->nbad, (uint64_t)off,
			      (uint64_t)off + (uint64_t)len, true) ? -EIO : 0;
	if (ret)
		return ret;
	if (!(mode & FALLOC_FL_PUNCH_HOLE)) {
		ret = fs_space_check(fs, (uint64_t)len / CLP_PAGE_SIZE + 1);
		if (ret)
			return ret;
	}
	if (mode & FALLOC_FL_ZERO_RANGE)
		ret = zero_range(inode->memfd, mode, off, len);
	else
		ret = fallocate(inode->memfd, mode, off, len) < 0 ? -errno : 0;
	if (ret)
		return ret;
	/* the kernel sends no kill flag here: the rule is ours (root aside) */
	if (fs->killpriv)
		fs_kill_sxid(inode, FS_SXID_DATA, c);
	if (fstat(inode->memfd, &st) == 0)
		inode->size = (uint64_t)st.st_size;
	if (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) {
		fs_touch(&inode->mtime);
		inode->ctime = inode->mtime;
		fsclp_punch(fs, inode, (uint64_t)off, (uint64_t)len);
	}
	fs_data_dirty(fs, inode, (uint64_t)off, (uint64_t)off + (uint64_t)len);
	fs_meta_dirty(fs);
	return 0;
}

static void fsop_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off,
			   off_t len, struct fuse_file_info *fi)
{
	struct fs *fs = fsop_fs(req);
	struct fs_inode *inode;
	struct fs_caller caller;
	bool killed = false;
	int ret;

	(void)fi;
	pthread_mutex_lock(&fs->lock);

	ret = get_open(fs, ino, &inode);
	if (!ret) {
		uint32_t was = inode->mode;

		fs_data_sync_attr(fs, inode);
		if (fs->killpriv)	/* the rule is ours only then */
			fsop_caller(req, inode, fuse_req_ctx(req)->uid == 0, &caller);
		ret = do_fallocate(fs, inode, mode, off, len, &caller);
		killed = was != inode->mode;
	}
	pthread_mutex_unlock(&fs->lock);
	if (killed)	/* as in fsop_write(): before the reply */
		fuse_lowlevel_notify_inval_inode(fs->se, ino, -1, 0);
	fuse_reply_err(req, -ret);
}

static void fsop_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		       struct fuse_file_info *fi)
{
	struct fs *fs = fsop_fs(req);
	struct fs_inode *inode;
	off_t res = -1;
	int ret;

	(void)fi;
	pthread_mutex_lock(&fs->lock);
	ret = get_open(fs, ino, &inode);
	if (!ret && whence != SEEK_DATA && whence != SEEK_HOLE)
		ret = -EINVAL;
	if (!ret) {
		res = lseek(inode->memfd, off, whence);
		ret = res < 0 ? -errno : 0;
	}
	pthread_mutex_unlock(&fs->lock);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_lseek(req, res);
}

void fsop_file_ops(struct fuse_lowlevel_ops *ops)
{
	ops->open = fsop_open;
	ops->create = fsop_create;
	ops->release = fsop_release;
	ops->read = fsop_read;
	ops->write = fsop_write;
	ops->flush = fsop_flush;
	ops->fsync = fsop_fsync;
	ops->fallocate = fsop_fallocate;
	ops->lseek = fsop_lseek;
}
