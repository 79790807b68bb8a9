// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * FUSE extended attribute requests.  Stored attributes are the core's
 * (xattr.c), the control names and generated views too (ctl.c); this file
 * decodes, copies the answer out under the lock, and replies after it is
 * dropped.  A zero size asks for the length only, as getxattr(2) does.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsop.h"

static void fsop_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			  const char *value, size_t size, int flags)
{
	struct fs *fs = fsop_fs(req);
	struct fs_inode *inode;
	bool handled = false;
	bool excl;
	int ret;

	/* a stored attribute is the inode's alone; control names are not */
	excl = fs_ctl_is_name(name);
again:
	fs_lock_as(fs, excl);
	inode = fs_iget(fs, ino);
	ret = -ENOENT;
	if (inode && excl)
		ret = fs_ctl_set_relock(fs, inode, name, value, size, &handled);
	else if (inode)
		ret = 0;
	if (!ret && !handled) {
		fs_inode_lock(fs, inode);
		ret = fs_xattr_set(fs, inode, name, value, size, flags);
		fs_inode_unlock(fs, inode);
	}
	if (fs_unlock_retry(fs, &excl, ret)) /* memory must be made first */
		goto again;
	fuse_reply_err(req, -ret);
}

/* Answer a value or a size, as getxattr/listxattr want; no lock held. */
static void reply_sized(fuse_req_t req, int ret, const char *buf, size_t len,
			size_t size)
{
	fs_assert_unheld(&fsop_fs(req)->lock);
	if (!ret && size && size < len)
		ret = -ERANGE;
	if (ret)
		fuse_reply_err(req, -ret);
	else if (!size)
		fuse_reply_xattr(req, len);
	else
		fuse_reply_buf(req, buf, len);
}

static void fsop_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			  size_t size)
{
	struct fsd *d = fsop_fsd(req);
	bool on = d->pt.mode == FSD_PT_ON;
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct fs_ctl_front front = { .data_path = on ? "passthrough" : "daemon",
				      .pt_why = on ? "-" : d->pt.why,
				      .ring_requests = d->ring.requests,
				      .owner = !ctx->uid || ctx->uid == getuid() };
	struct fs_inode *inode;
	char *value = NULL;
	size_t len = 0;
	bool excl;
	int ret;

	front.transport = ring_describe(d, &front.transport_why);
	/* stored attributes are read side by side; views look everywhere */
	excl = fs_ctl_is_view(name);
	fs_lock_as(&d->fs, excl);
	inode = fs_iget(&d->fs, ino);
	ret = !inode ? -ENOENT : excl ? fs_ctl_view(&d->fs, inode, name, &front, &value) : 0;
	if (!ret && value) {
		len = strlen(value);
	} else if (!ret) {
		fs_inode_lock(&d->fs, inode);
		ret = fs_xattr_get(&d->fs, inode, name, &value, &len);
		fs_inode_unlock(&d->fs, inode);
	}
	fs_unlock_as(&d->fs, excl);
	reply_sized(req, ret, value, len, size);
	free(value);
}

static void fsop_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct fs *fs = fsop_fs(req);
	struct fs_inode *inode;
	char *names = NULL;
	size_t len = 0;
	int ret;

	fs_lock_shared(fs);
	inode = fs_iget(fs, ino);
	ret = -ENOENT;
	if (inode) {
		fs_inode_lock(fs, inode);
		ret = fs_xattr_list(fs, inode, &names, &len);
		fs_inode_unlock(fs, inode);
	}
	fs_unlock_shared(fs);
	reply_sized(req, ret, names, len, size);
	free(names);
}

static void fsop_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct fs *fs = fsop_fs(req);
	struct fs_inode *inode;
	int ret;

	fs_lock_shared(fs);
	inode = fs_iget(fs, ino);
	ret = -ENOENT;
	if (inode) {
		fs_inode_lock(fs, inode);
		ret = fs_xattr_remove(fs, inode, name);
		fs_inode_unlock(fs, inode);
	}
	fs_unlock_shared(fs);
	fuse_reply_err(req, -ret);
}

void fsop_xattr_ops(struct fuse_lowlevel_ops *ops)
{
	ops->setxattr = fsop_setxattr;
	ops->getxattr = fsop_getxattr;
	ops->listxattr = fsop_listxattr;
	ops->removexattr = fsop_removexattr;
}
