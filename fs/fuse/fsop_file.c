// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * FUSE file requests: create/open/release, read and write served from the
 * inode's memory file, flush, fsync/fdatasync (a commit), fallocate and
 * lseek SEEK_DATA/SEEK_HOLE.  Each is decoded here, runs the core's rule
 * (file.c) under the filesystem lock, chooses the data path of an open
 * (passthrough.c), and is answered once, after the lock is dropped.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsop.h"

/* The writer of @fi asked by the kernel to clear set-ID bits (@kill). */
static void kill_caller(fuse_req_t req, const struct fs_inode *inode, bool kill,
			struct fs_caller *c)
{
	fsop_caller(req, c);
	if (!kill)
		return;
	/* the kernel sets the flag for callers without CAP_FSETID; who they
	 * are (their groups) is looked up only then */
	c->fsetid = false;
	c->kill_sxid = true;
	fsop_caller_groups(req, inode, c);
}

static int do_open(fuse_req_t req, struct fs_inode *inode, struct fuse_file_info *fi)
{
	struct fsd *d = fsop_fsd(req);
	bool kill = (unsigned)fi->flags & FSOP_FLAG_KILL_SUIDGID;
	struct fs_caller c;
	int ret;

	fi->flags &= ~(int)FSOP_FLAG_KILL_SUIDGID;
	kill_caller(req, inode, kill, &c);
	ret = fs_file_open_relock(&d->fs, inode, fi->flags, &c);
	if (ret)
		return ret;
	pt_open_relock(d, inode, fi);
	inode->nopen++;
	fs_data_use(&d->fs, inode);
	return 0;
}

static void fsop_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fsop_fs(req);
	uint64_t seen = fs_space_releases(fs);
	struct fs_inode *inode;
	int ret;

again:
	fs_lock(fs);
	inode = fs_iget(fs, ino);
	ret = inode ? do_open(req, inode, fi) : -ENOENT;
	fs_unlock(fs);
	/* a load that memory could not take: a close may be on its way */
	if (fs_space_retry(fs, ret, &seen))
		goto again;
	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_open(req, fi);
}

static void fsop_create(fuse_req_t req, fuse_ino_t parent, const char *name,
			mode_t mode, struct fuse_file_info *fi)
{
	struct fs *fs = fsop_fs(req);
	uint64_t seen = fs_space_releases(fs);
	struct fuse_entry_param e;
	struct fs_inode *inode;
	struct fs_caller c;
	int ret, made;

	fsop_caller(req, &c);
again:
	fs_lock(fs);
	ret = made = fs_make_node(fs, parent, name, S_IFREG | (mode & 07777), 0, NULL, &c, &inode);
	if (!ret)
		ret = do_open(req, inode, fi);
	if (!ret)
		fsop_entry(fs, inode, &e);
	fs_unlock(fs);
	/* no room for the new inode (checked before it is made) */
	if (made && fs_space_retry(fs, made, &seen))
		goto again;
	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_create(req, &e, fi);
}

static void fsop_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fsd *d = fsop_fsd(req);
	struct fs_inode *inode;
	bool flush = false;
	uint32_t id = 0;

	fs_lock(&d->fs);
	inode = fs_iget(&d->fs, ino);
	if (inode && inode->nopen) {
		bool writer = pt_writer_open(fi);

		id = pt_release(d, inode, fi);
		flush = fs_file_close(&d->fs, inode, writer);
	}
	fs_unlock(&d->fs);
	pt_backing_close(d, id);
	fuse_reply_err(req, 0);
	/* the client does not wait for a RELEASE: write back after the reply */
	if (flush)
		fs_file_close_flush(&d->fs, ino);
}

static void fsop_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		      struct fuse_file_info *fi)
{
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT(size);
	struct fs *fs = fsop_fs(req);
	struct fs_inode *inode;
	int ret;

	(void)fi;
	fs_lock_shared(fs);
	ret = fs_file_get(fs, ino, &inode);
	if (!ret) {
		fs_inode_lock(fs, inode); /* relatime may stamp the atime */
		ret = fs_file_read_check(fs, inode, (uint64_t)off, size);
		fs_inode_unlock(fs, inode);
	}
	if (!ret)
		bv.buf[0].fd = inode->memfd;
	fs_unlock_shared(fs);
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	/* The memory file stays open while the file is: no lock to read it. */
	bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	bv.buf[0].pos = off;
	fuse_reply_data(req, &bv, 0);
}

static void fsop_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		       size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fs *fs = fsop_fs(req);
	uint64_t seen = fs_space_releases(fs);
	struct fs_inode *inode;
	struct fs_caller c;
	bool killed = false;
	bool excl = false;
	size_t done = 0;
	int ret;

again:
	/* the file's own lock, unless memory must be made by unloading
	 * other files first (-EAGAIN): that takes the filesystem */
	fs_lock_as(fs, excl);
	ret = fs_file_get(fs, ino, &inode);
	if (!ret) {
		uint32_t mode;

		fs_inode_lock(fs, inode);
		mode = inode->mode;
		fs_data_sync_attr(fs, inode);
		kill_caller(req, inode, (unsigned)fi->flags & FSOP_FLAG_KILL_SUIDGID, &c);
		ret = fs_file_write_relock(fs, inode, buf, size, (uint64_t)off, &c, &done);
		killed = mode != inode->mode;
		fs_inode_unlock(fs, inode);
	}
	if (fs_unlock_retry(fs, &excl, ret))
		goto again;
	/* a removed file's RELEASE may still be on its way: wait, then again */
	if (fs_space_retry(fs, ret, &seen))
		goto again;
	/* the kernel caches the mode it no longer has: drop it first */
	if (killed)
		fsop_inval_attr(req, ino);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_write(req, done);
}

static void fsop_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		       struct fuse_file_info *fi)
{
	(void)datasync; /* the log records attributes either way: as cheap */
	(void)fi;
	fuse_reply_err(req, -fs_fsync(fsop_fs(req), ino));
}

static void fsop_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off,
			   off_t len, struct fuse_file_info *fi)
{
	struct fs *fs = fsop_fs(req);
	struct fs_inode *inode;
	struct fs_caller c;
	bool killed = false;
	int ret;

	(void)fi;
	fs_lock(fs);
	ret = fs_file_get(fs, ino, &inode);
	if (!ret) {
		uint32_t was = inode->mode;

		fs_data_sync_attr(fs, inode);
		fsop_caller(req, &c);
		if (fs->killpriv)	/* the rule is ours only then */
			fsop_caller_groups(req, inode, &c);
		ret = fs_file_fallocate(fs, inode, mode, (uint64_t)off, (uint64_t)len, &c);
		killed = was != inode->mode;
	}
	fs_unlock(fs);
	if (killed)	/* as in fsop_write(): before the reply */
		fsop_inval_attr(req, ino);
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
	fs_lock(fs);
	ret = fs_file_get(fs, ino, &inode);
	if (!ret && whence != SEEK_DATA && whence != SEEK_HOLE)
		ret = -EINVAL;
	if (!ret) {
		res = lseek(inode->memfd, off, whence);
		ret = res < 0 ? -errno : 0;
	}
	fs_unlock(fs);
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
	/*
	 * No flush: close(2) has nothing to tell the daemon (data reaches it
	 * by write or passthrough, locks stay in the kernel), and the ENOSYS
	 * libfuse answers makes the kernel stop sending FLUSH at all, which
	 * saves a round trip on every close (a fifth of a create's).
	 */
	ops->fsync = fsop_fsync;
	ops->fallocate = fsop_fallocate;
	ops->lseek = fsop_lseek;
}
