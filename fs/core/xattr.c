// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Extended attributes of the user.* and trusted.* namespaces, kept per
 * inode as a list and stored with it in the image.  The kernel's VFS
 * already enforces who may touch which namespace (trusted.* needs
 * CAP_SYS_ADMIN, user.* only on files and directories, write permission to
 * set); other namespaces are absent, and setting them is EOPNOTSUPP, never
 * ENOSYS, which would make the kernel stop asking.  The folio policy a
 * new file inherits from its directory is one of these attributes.
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

static int set_checks(struct fs_xattr **pp, const char *name, size_t size, int flags)
{
	if (!name_supported(name))
		return -EOPNOTSUPP;
	if (strlen(name) > FOFS_XATTR_NAME_MAX)
		return -ERANGE;
	if (size > FOFS_XATTR_VALUE_MAX)
		return -E2BIG;
	if ((flags & XATTR_CREATE) && pp)
		return -EEXIST;
	if ((flags & XATTR_REPLACE) && !pp)
		return -ENODATA;
	return 0;
}

/* After a set or remove: a new folio policy is the collapser's to look at. */
static void attr_changed(struct fs *fs, struct fs_inode *inode, const char *name)
{
	fs_touch(&inode->ctime);
	fs_meta_dirty(fs, inode);
	if (!strcmp(name, FOFS_XATTR_POLICY))
		inode->clp_quiet = 0;
}

/**
 * fs_xattr_set() - setxattr(2)
 * @fs: the filesystem, lock held (shared: with @inode's lock)
 * @inode: the inode
 * @name: full name, namespace included
 * @value: the value
 * @size: its length
 * @flags: 0, XATTR_CREATE or XATTR_REPLACE
 *
 * Return: 0; -EOPNOTSUPP for other namespaces; -ERANGE for a long name;
 * -E2BIG for a large value; -EEXIST; -ENODATA; -ENOSPC; -ENOMEM; -EAGAIN
 * with fs->lock shared when memory must be made first (fs_space_check()).
 */
int fs_xattr_set(struct fs *fs, struct fs_inode *inode, const char *name,
		 const char *value, size_t size, int flags)
{
	struct fs_xattr **pp = xattr_find(inode, name), *x;
	size_t nlen = strlen(name);
	char *copy;
	int ret;

	fs_assert_inode(fs, inode);
	ret = fs_may_change(fs);
	if (!ret)
		ret = set_checks(pp, name, size, flags);
	if (!ret)
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
	attr_changed(fs, inode, name);
	return 0;
}

/**
 * fs_xattr_get() - a copy of one attribute's value
 * @fs: the filesystem, lock held (shared: with @inode's lock)
 * @inode: the inode
 * @name: full name
 * @value: malloc'd copy, for the caller to free (answered after unlocking)
 * @len: its length
 *
 * Return: 0; -ENODATA; -ENOMEM.
 */
int fs_xattr_get(struct fs *fs, struct fs_inode *inode, const char *name,
		 char **value, size_t *len)
{
	struct fs_xattr **pp = xattr_find(inode, name);

	fs_assert_inode(fs, inode);
	if (!pp)
		return -ENODATA;
	*len = (*pp)->value_len;
	*value = malloc(*len ? *len : 1);
	if (!*value)
		return -ENOMEM;
	memcpy(*value, (*pp)->value, *len);
	return 0;
}

/**
 * fs_xattr_list() - the names, each NUL-terminated, as listxattr(2) wants
 * @fs: the filesystem, lock held (shared: with @inode's lock)
 * @inode: the inode
 * @names: malloc'd list, for the caller to free; NULL when empty
 * @len: its length
 *
 * Return: 0; -ENOMEM.
 */
int fs_xattr_list(struct fs *fs, struct fs_inode *inode, char **names, size_t *len)
{
	size_t n = 0;

	fs_assert_inode(fs, inode);
	*names = NULL;
	for (struct fs_xattr *x = inode->xattrs; x; x = x->next)
		n += x->name_len + 1u;
	*len = n;
	if (!n)
		return 0;
	*names = malloc(n);
	if (!*names)
		return -ENOMEM;
	n = 0;
	for (struct fs_xattr *x = inode->xattrs; x; x = x->next) {
		memcpy(*names + n, x->name, x->name_len + 1u);
		n += x->name_len + 1u;
	}
	return 0;
}

/**
 * fs_xattr_remove() - removexattr(2)
 * @fs: the filesystem, lock held (shared: with @inode's lock)
 * @inode: the inode
 * @name: full name
 *
 * Return: 0; -ENODATA; -EROFS on a daemon started read-only.
 */
int fs_xattr_remove(struct fs *fs, struct fs_inode *inode, const char *name)
{
	struct fs_xattr **pp = xattr_find(inode, name), *x;
	int ret;

	fs_assert_inode(fs, inode);
	ret = fs_may_change(fs);
	if (ret)
		return ret;
	if (!pp)
		return -ENODATA;
	x = *pp;
	*pp = x->next;
	free(x->value);
	free(x);
	attr_changed(fs, inode, name);
	return 0;
}

/**
 * fs_xattr_inherit() - a new inode takes its directory's folio policy and
 * data path override
 * @fs: the filesystem, lock held in either mode
 * @dir: the parent directory, its lock held
 * @inode: the new inode, its lock held
 *
 * Return: 0; -ENOMEM; -ENOSPC.
 */
int fs_xattr_inherit(struct fs *fs, struct fs_inode *dir, struct fs_inode *inode)
{
	static const char *const names[] = { FOFS_XATTR_POLICY, FOFS_XATTR_DATAPATH };
	int ret = 0;

	fs_assert_inode(fs, dir);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) && !ret; i++) {
		struct fs_xattr **pp = xattr_find(dir, names[i]);

		if (pp)
			ret = fs_xattr_set(fs, inode, names[i], (*pp)->value, (*pp)->value_len, 0);
	}
	return ret;
}
