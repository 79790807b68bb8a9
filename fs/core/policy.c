// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The effective policies of a file.  Its folio policy: the
 * user.foliofs.policy xattr (set by the user, or inherited from its
 * directory when it was created) resolved against the mount's -o huge=
 * default; loads, writeback's extent sizes and the collapser all ask here,
 * so they cannot disagree.  Its data path override, user.foliofs.datapath,
 * stored and inherited the same way (fs_data_path() decides with it).
 */
#include <errno.h>
#include <string.h>

#include "fs.h"

/**
 * fs_inode_policy() - the effective folio policy of a file
 * @fs: the filesystem, lock held
 * @inode: the file
 *
 * An unreadable stored value counts as unset (the mount default).
 *
 * Return: the file's user.foliofs.policy resolved against -o huge=.
 */
enum clp_policy fs_inode_policy(const struct fs *fs, const struct fs_inode *inode)
{
	enum clp_policy p = CLP_POLICY_UNSET;
	char val[16];

	fs_assert_held(&fs->lock);
	for (const struct fs_xattr *x = inode->xattrs; x; x = x->next) {
		if (strcmp(x->name, FOFS_XATTR_POLICY) || x->value_len >= sizeof(val))
			continue;
		memcpy(val, x->value, x->value_len);
		val[x->value_len] = '\0';
		if (clp_policy_parse(val, &p))
			p = CLP_POLICY_UNSET;
	}
	return clp_policy_resolve(p, fs->opts.huge);
}

/**
 * fs_dp_parse() - read a data path override's value
 * @value: the value, not NUL-terminated
 * @len: its length
 * @out: set to the override it names
 *
 * Return: 0 for auto, tracked or passthrough; -EINVAL otherwise.
 */
int fs_dp_parse(const char *value, size_t len, enum fs_dp_override *out)
{
	static const char *const names[] = {
		[FS_DPO_AUTO] = "auto",
		[FS_DPO_TRACKED] = "tracked",
		[FS_DPO_PASSTHROUGH] = "passthrough",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (len == strlen(names[i]) && !memcmp(value, names[i], len)) {
			*out = (enum fs_dp_override)i;
			return 0;
		}
	}
	return -EINVAL;
}

/**
 * fs_dp_override() - a file's stored data path override
 * @fs: the filesystem, lock held (shared: with @inode's lock)
 * @inode: the file
 *
 * Return: what user.foliofs.datapath says; FS_DPO_AUTO when unset or
 * unreadable.
 */
enum fs_dp_override fs_dp_override(const struct fs *fs, const struct fs_inode *inode)
{
	enum fs_dp_override o = FS_DPO_AUTO;

	fs_assert_inode(fs, inode);
	for (const struct fs_xattr *x = inode->xattrs; x; x = x->next)
		if (!strcmp(x->name, FOFS_XATTR_DATAPATH) &&
		    fs_dp_parse(x->value, x->value_len, &o))
			o = FS_DPO_AUTO;
	return o;
}
