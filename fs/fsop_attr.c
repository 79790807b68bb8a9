// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * FUSE attribute operations: getattr, setattr (chmod, chown, utimens,
 * truncate) and statfs.  Permission checks are the kernel's: the mount uses
 * default_permissions, so by the time a setattr arrives the caller has been
 * found allowed, and the kernel has already turned "kill suid/sgid" into a
 * mode change.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "fs.h"

static void fsop_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fsop_fs(req);
	struct fs_inode *inode;
	struct stat st;
	int ret;

	(void)fi;
	pthread_mutex_lock(&fs->lock);
	inode = fs_iget(fs, ino);
	ret = -ENOENT;
	if (inode) {
		fs_data_sync_attr(fs, inode);
		fs_stat(inode, &st);
		ret = 0;
	}
	pthread_mutex_unlock(&fs->lock);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_attr(req, &st, 1.0);
}

/* Change the size of a regular file; lock held. */
static int set_size(struct fs *fs, struct fs_inode *inode, uint64_t size)
{
	uint64_t old;
	int ret;

	ret = -EISDIR;
	if (S_ISDIR(inode->mode))
		return ret;
	ret = -EINVAL;
	if (!S_ISREG(inode->mode))
		return ret;
	ret = fs_data_load(fs, inode);
	if (!ret && size < inode->size)	/* cutting damage away whole only */
		ret = fs_bad_punch(inode, size, inode->size);
	if (ret)
		return ret;
	if (ftruncate(inode->memfd, (off_t)size) < 0)
		return -errno;
	fs_data_dirty(fs, inode, size < inode->size ? size : inode->size,
		      (size > inode->size ? size : inode->size) + 1);
	old = inode->size;
	inode->size = size;
	fsclp_truncate(fs, inode, old);
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
static void chown_sxid(struct fs *fs, struct fs_inode *inode, int to_set,
		       const struct fs_caller *c)
{
	if (fs->killpriv && (!to_set || (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID))))
		fs_kill_sxid(inode, FS_SXID_CHOWN, c);
}

static int do_setattr(struct fs *fs, struct fs_inode *inode,
		      const struct stat *attr, int to_set, const struct fs_caller *c)
{
	struct fs_caller writer = *c;
	struct timespec now;
	int ret;

	chown_sxid(fs, inode, to_set, c);
	fs_touch(&now);
	if (to_set & FUSE_SET_ATTR_SIZE) {
		ret = set_size(fs, inode, (uint64_t)attr->st_size);
		if (ret)
			return ret;
		if (!(to_set & FUSE_SET_ATTR_MTIME))
			inode->mtime = now;
	}
	/* the kernel asks to clear set-ID bits when the caller lacks CAP_FSETID */
	writer.fsetid = false;
	if ((to_set & FUSE_SET_ATTR_SIZE) && pt_kill_suidgid())
		fs_kill_sxid(inode, FS_SXID_DATA, &writer);
	if (to_set & FUSE_SET_ATTR_MODE)
		inode->mode = (inode->mode & S_IFMT) | (attr->st_mode & 07777);
	if (to_set & FUSE_SET_ATTR_UID)
		inode->uid = attr->st_uid;
	if (to_set & FUSE_SET_ATTR_GID)
		inode->gid = attr->st_gid;
	if (to_set & FUSE_SET_ATTR_ATIME)
		set_time(&inode->atime, &attr->st_atim,
			 to_set & FUSE_SET_ATTR_ATIME_NOW, &now);
	if (to_set & FUSE_SET_ATTR_MTIME)
		set_time(&inode->mtime, &attr->st_mtim,
			 to_set & FUSE_SET_ATTR_MTIME_NOW, &now);
	inode->ctime = (to_set & FUSE_SET_ATTR_CTIME) ? attr->st_ctim : now;
	fs_meta_dirty(fs);
	return 0;
}

/**
 * fsop_caller() - who sends @req, for the set-ID rules
 * @req: the request
 * @inode: the file it changes, lock held
 * @fsetid: whether to treat the caller as holding CAP_FSETID
 * @c: filled in
 *
 * Group membership is looked up (supplementary groups from /proc) only
 * when the rule needs it: a set-group-ID file without group execute.
 */
void fsop_caller(fuse_req_t req, const struct fs_inode *inode, bool fsetid,
		 struct fs_caller *c)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	gid_t groups[64];
	int n;

	*c = (struct fs_caller){ .uid = ctx->uid, .fsetid = fsetid,
				 .in_group = ctx->gid == inode->gid };
	if (c->in_group || (inode->mode & (S_ISGID | S_IXGRP)) != S_ISGID)
		return;
	n = fuse_req_getgroups(req, 64, groups);
	for (int i = 0; i < n && i < 64; i++)
		c->in_group |= groups[i] == inode->gid;
}

static void fsop_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
			 int to_set, struct fuse_file_info *fi)
{
	struct fs *fs = fsop_fs(req);
	struct fs_caller caller;
	struct fs_inode *inode;
	struct stat st;
	int ret;

	(void)fi;
	pthread_mutex_lock(&fs->lock);
	inode = fs_iget(fs, ino);
	ret = -ENOENT;
	if (inode) {
		fs_data_sync_attr(fs, inode);
		fsop_caller(req, inode, fuse_req_ctx(req)->uid == 0, &caller);
		ret = do_setattr(fs, inode, attr, to_set, &caller);
	}
	if (!ret)
		fs_stat(inode, &st);
	pthread_mutex_unlock(&fs->lock);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_attr(req, &st, 1.0);
}

static void fsop_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = fsop_fs(req);
	uint64_t total, used, reserve, mem, cached;
	struct statvfs sv;

	(void)ino;
	memset(&sv, 0, sizeof(sv));
	pthread_mutex_lock(&fs->lock);
	fs_data_account_unseen(fs);
	total = img_sb(fs->img)->s_blocks;
	used = fs->cache_blocks + fs->cold_blocks + fs->committed_meta + FOFS_SUPER_SLOTS;
	reserve = fs_space_reserve(fs);
	mem = fs->opts.mem_cap / FOFS_BLOCK_SIZE;
	cached = fs->cache_blocks;
	sv.f_files = fs->ninodes + (total > used ? total - used : 0);
	sv.f_ffree = total > used ? total - used : 0;
	pthread_mutex_unlock(&fs->lock);
	sv.f_bsize = FOFS_BLOCK_SIZE;
	sv.f_frsize = FOFS_BLOCK_SIZE;
	sv.f_blocks = total;
	sv.f_bfree = total > used ? total - used : 0;
	/* the copy-on-write reserve is free but not available, like ext4's */
	sv.f_bavail = sv.f_bfree > reserve ? sv.f_bfree - reserve : 0;
	/* and files in memory cannot grow past what memory may hold */
	if (mem && sv.f_bavail > (mem > cached ? mem - cached : 0))
		sv.f_bavail = mem > cached ? mem - cached : 0;
	sv.f_favail = sv.f_ffree;
	sv.f_namemax = FOFS_NAME_MAX;
	fuse_reply_statfs(req, &sv);
}

void fsop_attr_ops(struct fuse_lowlevel_ops *ops)
{
	ops->getattr = fsop_getattr;
	ops->setattr = fsop_setattr;
	ops->statfs = fsop_statfs;
}
