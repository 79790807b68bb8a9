// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The namespace rules: creating nodes (with set-group-ID directories and
 * the folio policy inherited), hard links, unlink and rmdir, and rename
 * with RENAME_NOREPLACE and RENAME_EXCHANGE.  Link counts, parents and
 * directory times are kept here; the entries themselves are dirent.c's.
 * Every function runs with fs->lock held and returns 0 or a negative errno.
 *
 * The lock scheme: creates, links and removals run with fs->lock shared,
 * holding ns_lock shared (a commit's walk waits for them), the directory's
 * lock (its entries, link count and times) and then, as a child, the lock
 * of the inode the entry names (its link count and ctime).  Two such
 * changes in different directories run side by side; two in one directory
 * take turns, as under the kernel's own directory lock.  What reaches
 * beyond those - freeing an inode, handing its extents to the next commit,
 * unloading files to make room - answers -EAGAIN under shared, and the
 * front end runs the request again with fs->lock exclusive.  A rename in
 * one directory takes the directory's lock and the two inodes' (the lower
 * number first); one across directories, which may move a directory
 * between two others and must see that it does not move below itself,
 * takes fs->lock exclusive, as the kernel takes s_vfs_rename_mutex for it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE	(1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE		(1 << 1)
#endif

/* Bump a directory's times after its entries changed.  Its lock held. */
static void dir_changed(struct fs *fs, struct fs_inode *dir)
{
	fs_assert_dir(fs, dir);
	fs_touch(&dir->mtime);
	dir->ctime = dir->mtime;
	fs_meta_dirty(fs, dir);
}

/* An entry now names @to: for the log, a removal and an addition.  Both locked. */
static void retarget(struct fs *fs, struct fs_dirent *d, struct fs_inode *to)
{
	fs_assert_dir(fs, d->dir);
	fs_assert_inode(fs, to);
	d->inode = to;
	fs_track_op(fs, FOFS_REC_UNLINK, d->dir->ino, d->name, 0);
	fs_track_op(fs, FOFS_REC_DIRENT, d->dir->ino, d->name, to->ino);
	fs_meta_dirty(fs, to);
}

/* The new inode's group and mode, per setgid directories. */
static void inherit(const struct fs_inode *dir, uint32_t *mode, uint32_t *gid)
{
	if (!(dir->mode & S_ISGID))
		return;
	*gid = dir->gid;
	if (S_ISDIR(*mode))
		*mode |= S_ISGID;
}

/*
 * Begin a change to directory @parent's entries: ns_lock, then the
 * directory's lock (both nothing with fs->lock exclusive).
 */
static int dir_begin(struct fs *fs, uint64_t parent, struct fs_inode **dir)
{
	int ret;

	fs_ns_lock(fs);
	ret = fs_dir_lock(fs, parent, dir);
	if (ret)
		fs_ns_unlock(fs);
	return ret;
}

static void dir_end(struct fs *fs, struct fs_inode *dir)
{
	fs_inode_unlock(fs, dir);
	fs_ns_unlock(fs);
}

/* May @name be created in @dir?  Its lock held. */
static int may_create(struct fs *fs, struct fs_inode *dir, const char *name, uint32_t mode)
{
	int ret;

	fs_assert_dir(fs, dir);
	ret = -EEXIST;
	if (fs_dlookup(fs, dir, name))
		return ret;
	ret = -EMLINK;
	if (S_ISDIR(mode) && dir->nlink >= UINT32_MAX - 1)
		return ret;
	return fs_space_check(fs, 1);
}

/* Fill in and link @inode, made for @dir; both locked.  Return: 0; -ENOMEM; -ENOSPC. */
static int make_link(struct fs *fs, struct fs_inode *dir, const char *name, struct fs_inode *inode,
		     uint64_t rdev, const char *target)
{
	int ret;

	inode->rdev = rdev;
	inode->nlink = S_ISDIR(inode->mode) ? 2 : 1;
	if (target) {
		inode->target = strdup(target);
		inode->size = strlen(target);
	}
	ret = (target && !inode->target) ? -ENOMEM : 0;
	if (!ret && (S_ISREG(inode->mode) || S_ISDIR(inode->mode)))
		ret = fs_xattr_inherit(fs, dir, inode);
	if (!ret)
		ret = fs_link_add(fs, dir, name, inode);
	return ret;
}

/**
 * fs_make_node() - create and link a new inode
 * @fs: the filesystem, lock held in either mode
 * @parent: directory inode number
 * @name: new name
 * @mode: type and permission bits (umask already applied by the kernel)
 * @rdev: device number for device nodes
 * @target: symlink target or NULL
 * @c: the caller, who owns the new inode
 * @out: the new inode, looked up once (the caller replies with its entry)
 *
 * The inode is filled in and linked under the directory's lock before it
 * joins the inode table, so no one finds it half made.
 *
 * Return: 0; -ENAMETOOLONG; -ENOENT / -ENOTDIR for a bad parent; -EEXIST;
 * -ENOSPC; -ENOMEM; -EMLINK if the parent has too many subdirectories;
 * -EAGAIN with fs->lock shared if the request needs it exclusive.
 */
int fs_make_node(struct fs *fs, uint64_t parent, const char *name, uint32_t mode,
		 uint64_t rdev, const char *target, const struct fs_caller *c,
		 struct fs_inode **out)
{
	uint32_t gid = c->gid;
	struct fs_inode *dir, *inode;
	int ret;

	fs_assert_locked(fs);
	ret = fs_may_change(fs);
	if (!ret)
		ret = fs_check_name(name);
	if (!ret)
		ret = dir_begin(fs, parent, &dir);
	if (ret)
		return ret;
	ret = may_create(fs, dir, name, mode);
	if (ret)
		goto out_dir;
	inherit(dir, &mode, &gid);
	ret = fs_inode_new(fs, mode, c->uid, gid, &inode);
	if (ret)
		goto out_dir;
	fs_inode_lock_child(fs, inode);
	ret = make_link(fs, dir, name, inode, rdev, target);
	if (ret) {
		fs_track_forget(fs, inode);
		fs_inode_unlock(fs, inode);
		fs_inode_release(inode);
		goto out_dir;
	}
	fs_inode_insert(fs, inode);
	if (S_ISDIR(mode))
		dir->nlink++;
	dir_changed(fs, dir);
	fs_inode_lookup(fs, inode);
	fs_inode_unlock(fs, inode);
	*out = inode;
out_dir:
	dir_end(fs, dir);
	return ret;
}

/* May @inode, named in a directory whose lock is held, have one more link? */
static int may_link(struct fs *fs, struct fs_inode *dir, const char *name, struct fs_inode *inode)
{
	int ret;

	ret = -ENOENT;
	if (!inode->nlink)
		return ret;
	ret = -EMLINK;
	if (inode->nlink >= UINT32_MAX)
		return ret;
	ret = -EEXIST;
	if (fs_dlookup(fs, dir, name))
		return ret;
	ret = fs_space_check(fs, 1);
	if (!ret)
		ret = fs_link_add(fs, dir, name, inode);
	return ret;
}

/**
 * fs_link() - give inode @ino one more name
 * @fs: the filesystem, lock held in either mode
 * @ino: the inode
 * @parent: the directory of the new name
 * @name: the new name
 * @out: the inode, looked up once more (the caller replies with its entry)
 *
 * Return: 0; -ENAMETOOLONG; -ENOENT; -ENOTDIR; -EPERM for a directory;
 * -EMLINK; -EEXIST; -ENOSPC; -ENOMEM; -EAGAIN with fs->lock shared if the
 * request needs it exclusive.
 */
int fs_link(struct fs *fs, uint64_t ino, uint64_t parent, const char *name,
	    struct fs_inode **out)
{
	struct fs_inode *inode, *dir;
	int ret;

	fs_assert_locked(fs);
	ret = fs_may_change(fs);
	if (!ret)
		ret = fs_check_name(name);
	if (!ret)
		ret = dir_begin(fs, parent, &dir);
	if (ret)
		return ret;
	inode = fs_iget(fs, ino);
	ret = !inode ? -ENOENT : fs_inode_type(inode) == S_IFDIR ? -EPERM : 0;
	if (ret)
		goto out_dir;
	fs_inode_lock_child(fs, inode);
	ret = may_link(fs, dir, name, inode);
	if (!ret) {
		inode->nlink++;
		fs_touch(&inode->ctime);
		fs_inode_lookup(fs, inode);
		*out = inode;
	}
	fs_inode_unlock(fs, inode);
	if (!ret)
		dir_changed(fs, dir);
out_dir:
	dir_end(fs, dir);
	return ret;
}

/*
 * May @inode lose a link in the lock mode held?  With fs->lock only shared
 * not when its last link goes and it holds extents (they go to the
 * commit's dead list), nothing else holds it (it is freed) or only the
 * kernel's lookup does while it holds memory (that is given back): each
 * reaches beyond the inode.  The lookup count only rises under shared, so one seen
 * here stays.  Return: 0; -EAGAIN to run again with fs->lock exclusive.
 */
static int drop_link_check(struct fs *fs, const struct fs_inode *inode)
{
	if (fs_rwlock_held(&fs->lock, true) || (inode->nlink > 1 && !S_ISDIR(inode->mode)))
		return 0;
	/* it stays as it is: its memory goes when nothing holds it (an unload) */
	if (!inode->next && (inode->nopen || inode->pins ||
			     (__atomic_load_n(&inode->nlookup, __ATOMIC_RELAXED) &&
			      inode->memfd < 0 && !inode->loading)))
		return 0;
	return -EAGAIN;
}

/* Drop one link of @inode; its lock held (drop_link_check() passed). */
static void drop_link(struct fs *fs, struct fs_inode *inode)
{
	fs_assert_inode(fs, inode);
	if (S_ISDIR(inode->mode))
		inode->nlink = 0;
	else if (inode->nlink)
		inode->nlink--;
	fs_touch(&inode->ctime);
	if (!inode->nlink) {
		if (inode->next)
			fs_dead_extents(fs, inode);
		fs_track_op(fs, FOFS_REC_DROP, 0, NULL, inode->ino);
	}
	fs_meta_dirty(fs, inode);
}

/* May the entry @d be removed (an rmdir: @dir)?  Its inode's lock held. */
static int may_remove(struct fs *fs, struct fs_dirent *d, bool dir)
{
	struct fs_inode *inode = d->inode;

	fs_assert_inode(fs, inode);
	if (dir && !S_ISDIR(inode->mode))
		return -ENOTDIR;
	if (!dir && S_ISDIR(inode->mode))
		return -EISDIR;
	if (dir && inode->nentries)
		return -ENOTEMPTY;
	return drop_link_check(fs, inode);
}

/**
 * fs_remove() - unlink or rmdir
 * @fs: the filesystem, lock held in either mode
 * @parent: the directory
 * @name: the name to remove
 * @dir: rmdir (the name must be an empty directory) rather than unlink
 *
 * Return: 0; -ENOENT; -ENOTDIR; -EISDIR; -ENOTEMPTY; -EAGAIN with fs->lock
 * shared if the request needs it exclusive.
 */
int fs_remove(struct fs *fs, uint64_t parent, const char *name, bool dir)
{
	struct fs_inode *pdir, *inode;
	struct fs_dirent *d;
	int ret;

	fs_assert_locked(fs);
	ret = fs_may_change(fs);
	if (!ret)
		ret = dir_begin(fs, parent, &pdir);
	if (ret)
		return ret;
	d = fs_dlookup(fs, pdir, name);
	ret = -ENOENT;
	if (!d)
		goto out_dir;
	inode = d->inode;
	fs_inode_lock_child(fs, inode);
	ret = may_remove(fs, d, dir);
	if (!ret) {
		fs_link_del(fs, d);
		if (dir)
			pdir->nlink--;
		dir_changed(fs, pdir);
		drop_link(fs, inode);
	}
	fs_inode_unlock(fs, inode);
	if (!ret && fs_rwlock_held(&fs->lock, true))
		fs_inode_put_check(fs, inode);
out_dir:
	dir_end(fs, pdir);
	return ret;
}

/* Is @dir equal to @anc or below it?  Lock held. */
static bool is_below(struct fs_inode *dir, struct fs_inode *anc)
{
	for (;;) {
		if (dir == anc)
			return true;
		if (!dir->parent || dir->parent == dir)
			return false;
		dir = dir->parent;
	}
}

/* A directory moves from @from to @to: fix the parents' link counts. */
static void reparent(struct fs_inode *inode, struct fs_inode *from,
		     struct fs_inode *to)
{
	if (!S_ISDIR(inode->mode) || from == to)
		return;
	from->nlink--;
	to->nlink++;
}

static int rename_exchange(struct fs *fs, struct fs_dirent *sd, struct fs_dirent *dd)
{
	struct fs_inode *a = sd->inode, *b = dd->inode;

	if ((S_ISDIR(a->mode) && is_below(dd->dir, a)) ||
	    (S_ISDIR(b->mode) && is_below(sd->dir, b)))
		return -EINVAL;
	retarget(fs, sd, b);
	retarget(fs, dd, a);
	reparent(a, sd->dir, dd->dir);
	reparent(b, dd->dir, sd->dir);
	if (S_ISDIR(a->mode))
		a->parent = dd->dir;
	if (S_ISDIR(b->mode))
		b->parent = sd->dir;
	fs_touch(&a->ctime);
	b->ctime = a->ctime;
	dir_changed(fs, sd->dir);
	dir_changed(fs, dd->dir);
	return 0;
}

static int rename_replace_check(struct fs_inode *src, struct fs_inode *dst)
{
	if (S_ISDIR(src->mode) && !S_ISDIR(dst->mode))
		return -ENOTDIR;
	if (!S_ISDIR(src->mode) && S_ISDIR(dst->mode))
		return -EISDIR;
	if (S_ISDIR(dst->mode) && dst->nentries)
		return -ENOTEMPTY;
	return 0;
}

static int rename_move(struct fs *fs, struct fs_dirent *sd, struct fs_inode *ndir,
		       const char *newname, struct fs_dirent *dd)
{
	struct fs_inode *inode = sd->inode, *odir = sd->dir;
	int ret;

	if (S_ISDIR(inode->mode) && is_below(ndir, inode))
		return -EINVAL;
	if (dd) {
		struct fs_inode *victim = dd->inode;

		ret = rename_replace_check(inode, victim);
		if (!ret)
			ret = drop_link_check(fs, victim);
		if (ret)
			return ret;
		/* Reuse the target's entry: nothing to allocate, nothing to undo. */
		retarget(fs, dd, inode);
		if (S_ISDIR(inode->mode))
			inode->parent = ndir;
		fs_link_del(fs, sd);
		if (S_ISDIR(victim->mode))
			ndir->nlink--;
		drop_link(fs, victim); /* freed, if it may be, by the caller */
	} else {
		ret = fs_space_check(fs, 1);
		if (!ret)
			ret = fs_link_add(fs, ndir, newname, inode);
		if (ret)
			return ret;
		fs_link_del(fs, sd);
	}
	reparent(inode, odir, ndir);
	fs_touch(&inode->ctime);
	dir_changed(fs, odir);
	dir_changed(fs, ndir);
	return 0;
}

/* Rename between two directories whose locks are held (or one). */
static int rename_in(struct fs *fs, struct fs_inode *odir, const char *name, struct fs_inode *ndir,
		     const char *newname, unsigned flags)
{
	struct fs_dirent *sd, *dd;
	struct fs_inode *a, *b;
	int ret;

	sd = fs_dlookup(fs, odir, name);
	if (!sd)
		return -ENOENT;
	dd = fs_dlookup(fs, ndir, newname);
	if (flags & RENAME_NOREPLACE && dd)
		return -EEXIST;
	if (flags & RENAME_EXCHANGE && !dd)
		return -ENOENT;
	if (!(flags & RENAME_EXCHANGE) && dd && dd->inode == sd->inode)
		return 0; /* two links to one inode: POSIX says do nothing */
	a = sd->inode;
	b = dd ? dd->inode : NULL;
	fs_inode_lock_two(fs, a, b);
	if (flags & RENAME_EXCHANGE)
		ret = rename_exchange(fs, sd, dd);
	else
		ret = rename_move(fs, sd, ndir, newname, dd);
	fs_inode_unlock_two(fs, a, b);
	if (!ret && b && b != a && fs_rwlock_held(&fs->lock, true))
		fs_inode_put_check(fs, b); /* a replaced file's last link */
	return ret;
}

/**
 * fs_rename() - rename(2) with RENAME_NOREPLACE and RENAME_EXCHANGE
 * @fs: the filesystem, lock held in either mode (across directories:
 *	exclusively)
 * @parent: the source directory
 * @name: the source name
 * @newparent: the target directory
 * @newname: the target name
 * @flags: 0, RENAME_NOREPLACE or RENAME_EXCHANGE
 *
 * A directory cannot move below itself; a replaced target must be of the
 * same kind (and an empty directory); renaming one of two links of an
 * inode onto the other does nothing, as POSIX says.
 *
 * Return: 0; -EINVAL; -ENAMETOOLONG; -ENOENT; -ENOTDIR; -EISDIR; -EEXIST;
 * -ENOTEMPTY; -ENOSPC; -ENOMEM; -EAGAIN with fs->lock shared if the
 * request needs it exclusive (across directories, or a replaced inode to
 * free).
 */
int fs_rename(struct fs *fs, uint64_t parent, const char *name,
	      uint64_t newparent, const char *newname, unsigned flags)
{
	struct fs_inode *odir, *ndir;
	int ret;

	fs_assert_locked(fs);
	ret = fs_may_change(fs);
	if (ret)
		return ret;
	ret = -EINVAL;
	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE) ||
	    (flags & RENAME_NOREPLACE && flags & RENAME_EXCHANGE))
		return ret;
	ret = fs_check_name(newname);
	if (ret)
		return ret;
	ret = -EAGAIN;
	if (newparent != parent && !fs_rwlock_held(&fs->lock, true))
		return ret;
	ret = dir_begin(fs, parent, &odir);
	if (ret)
		return ret;
	ndir = odir;
	if (newparent != parent)
		ret = fs_dir_lock(fs, newparent, &ndir); /* exclusive: takes nothing */
	if (!ret) {
		ret = rename_in(fs, odir, name, ndir, newname, flags);
		if (ndir != odir)
			fs_inode_unlock(fs, ndir);
	}
	dir_end(fs, odir);
	return ret;
}
