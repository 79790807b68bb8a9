// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * What every FUSE operation family needs from a request: who sent it (for
 * ownership and the set-ID rules), the entry a lookup-like reply carries,
 * and telling the kernel its cached attributes went stale.
 */
#include <string.h>

#include "fsop.h"

#define TIMEOUT_SECS	1.0

/**
 * fsop_caller() - who sends @req
 * @req: the request
 * @c: filled in; in_group is left false (fsop_caller_groups() fills it)
 *
 * Root is taken to hold CAP_FSETID, as the kernel's default_permissions
 * checks already treated it.
 */
void fsop_caller(fuse_req_t req, struct fs_caller *c)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);

	*c = (struct fs_caller){ .uid = ctx->uid, .gid = ctx->gid,
				 .fsetid = ctx->uid == 0 };
}

/**
 * fsop_caller_groups() - is the caller in the group of @inode?
 * @req: the request
 * @inode: the file it changes, fs->lock held (shared: with @inode's lock)
 * @c: from fsop_caller(); in_group set
 *
 * Supplementary groups (read from /proc by libfuse) are looked up only
 * when the rule needs them: a set-group-ID file without group execute.
 */
void fsop_caller_groups(fuse_req_t req, const struct fs_inode *inode,
			struct fs_caller *c)
{
	gid_t groups[64];
	int n;

	fs_assert_inode(fsop_fs(req), inode);
	c->in_group = c->gid == inode->gid;
	if (c->in_group || (inode->mode & (S_ISGID | S_IXGRP)) != S_ISGID)
		return;
	n = fuse_req_getgroups(req, 64, groups);
	for (int i = 0; i < n && i < 64; i++)
		c->in_group |= groups[i] == inode->gid;
}

/**
 * fsop_entry() - the entry a lookup, create or link replies with
 * @fs: the filesystem, lock held (shared: with @inode's lock)
 * @inode: the inode, looked up once more by the caller
 * @e: filled in
 *
 * The attributes are taken after folding in what clients did to the
 * memory directly (a write through a shared mapping stamps only the memory
 * file), as getattr does: the kernel caches them.
 */
void fsop_entry(struct fs *fs, struct fs_inode *inode, struct fuse_entry_param *e)
{
	fs_assert_inode(fs, inode);
	fs_data_sync_attr(fs, inode);
	memset(e, 0, sizeof(*e));
	e->ino = inode->ino;
	e->generation = 1;
	e->attr_timeout = TIMEOUT_SECS;
	e->entry_timeout = TIMEOUT_SECS;
	fs_stat(fs, inode, &e->attr);
}

/**
 * fsop_negative_entry() - "no such name", in a form the kernel caches
 * @e: filled in: inode 0, with the usual entry timeout
 */
void fsop_negative_entry(struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->entry_timeout = TIMEOUT_SECS;
}

/**
 * fsop_inval_attr() - drop the kernel's cached attributes of @ino
 * @req: the request that changed them (not yet answered)
 * @ino: the inode
 *
 * Sent before the reply, with no lock held, so no stat after the request
 * can see the old mode.  Attributes only (offset -1): no page locks, no
 * deadlock with a writer.
 */
void fsop_inval_attr(fuse_req_t req, uint64_t ino)
{
	fs_assert_unheld(&fsop_fs(req)->lock);
	fuse_lowlevel_notify_inval_inode(fsop_fsd(req)->se, ino, -1, 0);
}
