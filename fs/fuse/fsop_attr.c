// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * FUSE attribute requests: getattr, setattr (chmod, chown, utimens,
 * truncate) and statfs.  Permission checks are the kernel's: the mount uses
 * default_permissions, so by the time a setattr arrives the caller has been
 * found allowed.  The rules are the core's (file.c, space.c); this file
 * decodes and answers.
 */
#include <errno.h>
#include <string.h>
#include <sys/statvfs.h>

#include "fsop.h"

#define ATTR_TIMEOUT	1.0

static void fsop_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fsop_fs(req);
	struct fs_inode *inode;
	struct stat st;
	int ret;

	(void)fi;
	fs_lock_shared(fs);
	inode = fs_iget(fs, ino);
	ret = -ENOENT;
	if (inode) {
		fs_inode_lock(fs, inode);
		fs_data_sync_attr(fs, inode); /* a passthrough writer's changes */
		fs_stat(fs, inode, &st);
		fs_inode_unlock(fs, inode);
		ret = 0;
	}
	fs_unlock_shared(fs);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_attr(req, &st, ATTR_TIMEOUT);
}

/* libfuse's FUSE_SET_ATTR_* to the core's FS_ATTR_*. */
static void decode_setattr(const struct stat *attr, int to_set, struct fs_setattr *a)
{
	static const struct { int fuse; unsigned fs; } map[] = {
		{ FUSE_SET_ATTR_MODE, FS_ATTR_MODE }, { FUSE_SET_ATTR_UID, FS_ATTR_UID },
		{ FUSE_SET_ATTR_GID, FS_ATTR_GID }, { FUSE_SET_ATTR_SIZE, FS_ATTR_SIZE },
		{ FUSE_SET_ATTR_ATIME, FS_ATTR_ATIME }, { FUSE_SET_ATTR_MTIME, FS_ATTR_MTIME },
		{ FUSE_SET_ATTR_ATIME_NOW, FS_ATTR_ATIME_NOW },
		{ FUSE_SET_ATTR_MTIME_NOW, FS_ATTR_MTIME_NOW },
		{ FUSE_SET_ATTR_CTIME, FS_ATTR_CTIME },
	};

	*a = (struct fs_setattr){ .mode = attr->st_mode, .uid = attr->st_uid,
				  .gid = attr->st_gid, .size = (uint64_t)attr->st_size,
				  .atime = attr->st_atim, .mtime = attr->st_mtim,
				  .ctime = attr->st_ctim };
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (to_set & map[i].fuse)
			a->valid |= map[i].fs;
}

static void fsop_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
			 int to_set, struct fuse_file_info *fi)
{
	struct fs *fs = fsop_fs(req);
	struct fs_setattr a;
	struct fs_caller c;
	struct fs_inode *inode;
	struct stat st;
	bool excl;
	int ret;

	decode_setattr(attr, to_set, &a);
	fsop_caller(req, &c);
	c.kill_sxid = fi && (fi->fh & FSOP_FH_KILL_SUIDGID);
	/* a truncate may load the file and frees pages: the filesystem's;
	 * chmod, chown and utimens change the inode alone */
	excl = a.valid & FS_ATTR_SIZE;
	fs_lock_as(fs, excl);
	inode = fs_iget(fs, ino);
	ret = -ENOENT;
	if (inode) {
		fs_inode_lock(fs, inode);
		fs_data_sync_attr(fs, inode);
		fsop_caller_groups(req, inode, &c);
		ret = fs_setattr_relock(fs, inode, &a, &c);
		if (!ret)
			fs_stat(fs, inode, &st);
		fs_inode_unlock(fs, inode);
	}
	fs_unlock_as(fs, excl);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_attr(req, &st, ATTR_TIMEOUT);
}

static void fsop_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = fsop_fs(req);
	struct fs_space_use u;
	struct statvfs sv;
	uint64_t cached, free_blocks;

	(void)ino;
	memset(&sv, 0, sizeof(sv));
	fs_lock(fs);
	fs_data_account_unseen(fs);
	fs_space_use(fs, &u);
	cached = u.cached;
	sv.f_files = __atomic_load_n(&fs->ninodes, __ATOMIC_RELAXED);
	fs_unlock(fs);
	free_blocks = u.total > u.used ? u.total - u.used : 0;
	/* the copy-on-write reserve is free but not available, like ext4's;
	 * and files in memory cannot grow past what memory may hold */
	sv.f_bsize = FOFS_BLOCK_SIZE;
	sv.f_frsize = FOFS_BLOCK_SIZE;
	sv.f_blocks = u.total;
	sv.f_bfree = free_blocks;
	sv.f_bavail = u.room > cached ? u.room - cached : 0;
	sv.f_files += free_blocks;
	sv.f_ffree = free_blocks;
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
