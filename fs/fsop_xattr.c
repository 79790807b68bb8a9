// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * FUSE extended attribute operations for the user.* and trusted.*
 * namespaces.  The kernel's VFS already enforces who may touch which
 * namespace (trusted.* needs CAP_SYS_ADMIN, user.* only on files and
 * directories, write permission to set); this file stores the attributes and
 * answers every other namespace as absent.  Unsupported sets answer
 * EOPNOTSUPP, never ENOSYS, which would make the kernel stop asking.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "fs.h"

static bool name_supported(const char *name)
{
	return !strncmp(name, "user.", 5) || !strncmp(name, "trusted.", 8);
}

static struct fs_xattr **xattr_find(struct fs_inode *inode, const char *name)
{
	struct fs_xattr **pp;

	for (pp = &inode->xattrs; *pp; pp = &(*pp)->next)
		if (!strcmp((*pp)->name, name))
			return pp;
	return NULL;
}

static int do_setxattr(struct fs *fs, struct fs_inode *inode, const char *name,
		       const char *value, size_t size, int flags)
{
	struct fs_xattr **pp = xattr_find(inode, name), *x;
	size_t nlen = strlen(name);
	char *copy;
	int ret;

	ret = -EOPNOTSUPP;
	if (!name_supported(name))
		return ret;
	ret = -ERANGE;
	if (nlen > FOFS_XATTR_NAME_MAX)
		return ret;
	ret = -E2BIG;
	if (size > FOFS_XATTR_VALUE_MAX)
		return ret;
	if ((flags & XATTR_CREATE) && pp)
		return -EEXIST;
	if ((flags & XATTR_REPLACE) && !pp)
		return -ENODATA;
	ret = fs_space_check(fs, size / FOFS_BLOCK_SIZE + 1);
	if (ret)
		return ret;
	copy = malloc(size ? size : 1);
	if (!copy)
		return -ENOMEM;
	if (size)
		memcpy(copy, value, size);
	if (pp) {
		x = *pp;
		free(x->value);
	} else {
		x = calloc(1, sizeof(*x) + nlen + 1);
		if (!x) {
			free(copy);
			return -ENOMEM;
		}
		memcpy(x->name, name, nlen + 1);
		x->name_len = (uint16_t)nlen;
		x->next = inode->xattrs;
		inode->xattrs = x;
	}
	x->value = copy;
	x->value_len = (uint32_t)size;
	fs_touch(&inode->ctime);
	fs_meta_dirty(fs);
	return 0;
}

static void fsop_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			  const char *value, size_t size, int flags)
{
	struct fs *fs = fsop_fs(req);
	struct fs_inode *inode;
	int ret;

	pthread_mutex_lock(&fs->lock);
	inode = fs_iget(fs, ino);
	ret = inode ? do_setxattr(fs, inode, name, value, size, flags) : -ENOENT;
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_err(req, -ret);
}

/* Reply with a value or a size, as getxattr/listxattr want; lock held. */
static int reply_sized(fuse_req_t req, const void *buf, size_t len, size_t size)
{
	if (!size) {
		fuse_reply_xattr(req, len);
		return 0;
	}
	if (size < len)
		return -ERANGE;
	fuse_reply_buf(req, buf, len);
	return 0;
}

static void fsop_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			  size_t size)
{
	struct fs *fs = fsop_fs(req);
	struct fs_inode *inode;
	struct fs_xattr **pp;
	int ret;

	pthread_mutex_lock(&fs->lock);
	inode = fs_iget(fs, ino);
	pp = inode ? xattr_find(inode, name) : NULL;
	ret = !inode ? -ENOENT : !pp ? -ENODATA :
	      reply_sized(req, (*pp)->value, (*pp)->value_len, size);
	pthread_mutex_unlock(&fs->lock);
	if (ret)
		fuse_reply_err(req, -ret);
}

static void fsop_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct fs *fs = fsop_fs(req);
	struct fs_inode *inode;
	size_t len = 0;
	char *buf = NULL;
	int ret;

	pthread_mutex_lock(&fs->lock);
	inode = fs_iget(fs, ino);
	ret = inode ? 0 : -ENOENT;
	for (struct fs_xattr *x = inode ? inode->xattrs : NULL; x; x = x->next)
		len += x->name_len + 1u;
	if (!ret && size && len) {
		buf = malloc(len);
		ret = buf ? 0 : -ENOMEM;
		len = 0;
		for (struct fs_xattr *x = inode->xattrs; buf && x; x = x->next) {
			memcpy(buf + len, x->name, x->name_len + 1u);
			len += x->name_len + 1u;
		}
	}
	if (!ret)
		ret = reply_sized(req, buf, len, size);
	pthread_mutex_unlock(&fs->lock);
	free(buf);
	if (ret)
		fuse_reply_err(req, -ret);
}

static void fsop_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct fs *fs = fsop_fs(req);
	struct fs_inode *inode;
	struct fs_xattr **pp, *x;
	int ret;

	pthread_mutex_lock(&fs->lock);
	inode = fs_iget(fs, ino);
	pp = inode ? xattr_find(inode, name) : NULL;
	ret = !inode ? -ENOENT : !pp ? -ENODATA : 0;
	if (!ret) {
		x = *pp;
		*pp = x->next;
		free(x->value);
		free(x);
		fs_touch(&inode->ctime);
		fs_meta_dirty(fs);
	}
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_err(req, -ret);
}

void fsop_xattr_ops(struct fuse_lowlevel_ops *ops)
{
	ops->setxattr = fsop_setxattr;
	ops->getxattr = fsop_getxattr;
	ops->listxattr = fsop_listxattr;
	ops->removexattr = fsop_removexattr;
}
