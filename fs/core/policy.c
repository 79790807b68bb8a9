// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The effective folio policy of a file: its user.foliofs.policy xattr
 * (set by the user, or inherited from its directory when it was created)
 * resolved against the mount's -o huge= default.  Loads, writeback's
 * extent sizes and the collapser all ask here, so they cannot disagree.
 */
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
