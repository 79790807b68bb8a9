// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * FUSE namespace operations: lookup and forget, creating nodes (mkdir,
 * mknod, symlink, link), removing them (unlink, rmdir), rename with
 * RENAME_NOREPLACE and RENAME_EXCHANGE, readlink, and readdir/readdirplus
 * with offsets that are per-directory cookies, stable while entries come and
 * go.  Each operation takes the filesystem lock once and replies once.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE	(1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE		(1 << 1)
#endif

/* The directory @ino, still linked; lock held. */
static int get_dir(struct fs *fs, fuse_ino_t ino, struct fs_inode **out)
{
	struct fs_inode *dir = fs_iget(fs, ino);

	if (!dir || !dir->nlink)
		return -ENOENT;
	if (!S_ISDIR(dir->mode))
		return -ENOTDIR;
	*out = dir;
	return 0;
}

static void reply_entry_or_err(fuse_req_t req, int ret,
			       const struct fuse_entry_param *e)
{
	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_entry(req, e);
}

/*
 * Every entry reply carries attributes the kernel then caches: take them
 * after folding in what clients did to the memory directly (a write through
 * a shared mapping stamps only the memfd), as getattr does.
 */
static void entry_of(struct fs *fs, struct fs_inode *inode, struct fuse_entry_param *e)
{
	fs_data_sync_attr(fs, inode);
	fs_entry(inode, e);
}

/*
 * File handles (FUSE_EXPORT_SUPPORT): the kernel turns a handle back into
 * an inode by looking up "." in it, and finds a directory's parent with
 * "..".  Inode numbers are never reused (the superblock's next number only
 * grows), so a handle of a deleted file finds nothing and gets ESTALE.
 */
static int lookup_handle(struct fs *fs, fuse_ino_t ino, bool dotdot,
			 struct fuse_entry_param *e)
{
	struct fs_inode *inode;
	int ret;

	pthread_mutex_lock(&fs->lock);
	inode = fs_iget(fs, ino);
	ret = -ENOENT;
	if (inode && (inode->nlink || inode->nopen)) {
		ret = -ENOTDIR;
		if (dotdot && !S_ISDIR(inode->mode))
			goto out_unlock;
		if (dotdot)
			inode = inode->parent;
		inode->nlookup++;
		entry_of(fs, inode, e);
		ret = 0;
	}
out_unlock:
	pthread_mutex_unlock(&fs->lock);
	return ret;
}

static void fsop_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fsop_fs(req);
	struct fuse_entry_param e;
	struct fs_inode *dir;
	struct fs_dirent *d;
	int ret;

	if (!strcmp(name, ".") || !strcmp(name, "..")) {
		ret = lookup_handle(fs, parent, name[1] == '.', &e);
		goto out_reply;
	}
	ret = fs_check_name(name);
	if (ret)
		goto out_reply;
	pthread_mutex_lock(&fs->lock);
	ret = get_dir(fs, parent, &dir);
	if (!ret) {
		d = fs_dlookup(fs, dir, name);
		ret = d ? 0 : -ENOENT;
	}
	if (!ret) {
		d->inode->nlookup++;
		entry_of(fs, d->inode, &e);
	}
	pthread_mutex_unlock(&fs->lock);
out_reply:
	reply_entry_or_err(req, ret, &e);
}

static void forget_one(struct fs *fs, fuse_ino_t ino, uint64_t n)
{
	struct fs_inode *inode = fs_iget(fs, ino);

	if (!inode)
		return;
	inode->nlookup -= n < inode->nlookup ? n : inode->nlookup;
	fs_inode_put_check(fs, inode);
}

static void fsop_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct fs *fs = fsop_fs(req);

	pthread_mutex_lock(&fs->lock);
	forget_one(fs, ino, nlookup);
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_none(req);
}

static void fsop_forget_multi(fuse_req_t req, size_t count,
			      struct fuse_forget_data *forgets)
{
	struct fs *fs = fsop_fs(req);

	pthread_mutex_lock(&fs->lock);
	for (size_t i = 0; i < count; i++)
		forget_one(fs, forgets[i].ino, forgets[i].nlookup);
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_none(req);
}

/* Bump a directory's times after its entries changed. */
static void dir_changed(struct fs_inode *dir)
{
	fs_touch(&dir->mtime);
	dir->ctime = dir->mtime;
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

/**
 * fsop_make_node() - create and link a new inode
 * @req: the request, for the caller's credentials
 * @parent: directory inode number
 * @name: new name
 * @mode: type and permission bits (umask already applied by the kernel)
 * @rdev: device number for device nodes
 * @target: symlink target or NULL
 * @e: the entry to reply with
 * @out: the new inode
 *
 * Lock held.
 *
 * Return: 0; -ENAMETOOLONG; -ENOENT / -ENOTDIR for a bad parent; -EEXIST;
 * -ENOSPC; -ENOMEM; -EMLINK if the parent has too many subdirectories.
 */
int fsop_make_node(fuse_req_t req, fuse_ino_t parent, const char *name,
		   uint32_t mode, dev_t rdev, const char *target,
		   struct fuse_entry_param *e, struct fs_inode **out)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct fs *fs = fsop_fs(req);
	uint32_t gid = ctx->gid;
	struct fs_inode *dir, *inode;
	int ret;

	ret = fs_check_name(name);
	if (!ret)
		ret = get_dir(fs, parent, &dir);
	if (ret)
		return ret;
	ret = -EEXIST;
	if (fs_dlookup(fs, dir, name))
		return ret;
	ret = -EMLINK;
	if (S_ISDIR(mode) && dir->nlink >= UINT32_MAX - 1)
		return ret;
	ret = fs_space_check(fs, 1);
	if (ret)
		return ret;
	inherit(dir, &mode, &gid);
	ret = fs_inode_new(fs, mode, ctx->uid, gid, &inode);
	if (ret)
		return ret;
	inode->rdev = rdev;
	inode->nlink = S_ISDIR(mode) ? 2 : 1;
	if (target) {
		inode->target = strdup(target);
		inode->size = strlen(target);
	}
	ret = (target && !inode->target) ? -ENOMEM : 0;
	if (!ret && (S_ISREG(mode) || S_ISDIR(mode)))
		ret = fsop_xattr_inherit(fs, dir, inode);
	if (!ret)
		ret = fs_link_add(fs, dir, name, inode);
	if (ret) {
		inode->nlink = 0;
		fs_inode_put_check(fs, inode);
		return ret;
	}
	if (S_ISDIR(mode))
		dir->nlink++;
	dir_changed(dir);
	inode->nlookup++;
	entry_of(fs, inode, e);
	*out = inode;
	return 0;
}

static void make_and_reply(fuse_req_t req, fuse_ino_t parent, const char *name,
			   uint32_t mode, dev_t rdev, const char *target)
{
	struct fs *fs = fsop_fs(req);
	struct fuse_entry_param e;
	struct fs_inode *inode;
	int ret;

	pthread_mutex_lock(&fs->lock);
	ret = fsop_make_node(req, parent, name, mode, rdev, target, &e, &inode);
	pthread_mutex_unlock(&fs->lock);
	reply_entry_or_err(req, ret, &e);
}

static void fsop_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		       mode_t mode)
{
	make_and_reply(req, parent, name, S_IFDIR | (mode & 07777), 0, NULL);
}

static void fsop_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		       mode_t mode, dev_t rdev)
{
	switch (mode & S_IFMT) {
	case S_IFREG: case S_IFIFO: case S_IFSOCK: case S_IFCHR: case S_IFBLK:
		break;
	default:
		fuse_reply_err(req, EINVAL);
		return;
	}
	make_and_reply(req, parent, name, mode, rdev, NULL);
}

static void fsop_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
			 const char *name)
{
	if (strlen(link) > FOFS_SYMLINK_MAX) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	make_and_reply(req, parent, name, S_IFLNK | 0777, 0, link);
}

static void fsop_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = fsop_fs(req);
	struct fs_inode *inode;
	char *target = NULL;
	int ret;

	pthread_mutex_lock(&fs->lock);
	inode = fs_iget(fs, ino);
	ret = !inode ? -ENOENT : !S_ISLNK(inode->mode) ? -EINVAL : 0;
	if (!ret) {
		target = strdup(inode->target ? inode->target : "");
		ret = target ? 0 : -ENOMEM;
	}
	pthread_mutex_unlock(&fs->lock);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_readlink(req, target);
	free(target);
}

static int do_link(struct fs *fs, fuse_ino_t ino, fuse_ino_t parent,
		   const char *name, struct fuse_entry_param *e)
{
	struct fs_inode *inode = fs_iget(fs, ino), *dir;
	int ret;

	ret = fs_check_name(name);
	if (!ret)
		ret = get_dir(fs, parent, &dir);
	if (ret)
		return ret;
	ret = !inode || !inode->nlink ? -ENOENT : S_ISDIR(inode->mode) ? -EPERM : 0;
	if (!ret && inode->nlink >= UINT32_MAX)
		ret = -EMLINK;
	if (!ret && fs_dlookup(fs, dir, name))
		ret = -EEXIST;
	if (!ret)
		ret = fs_space_check(fs, 1);
	if (!ret)
		ret = fs_link_add(fs, dir, name, inode);
	if (ret)
		return ret;
	inode->nlink++;
	fs_touch(&inode->ctime);
	dir_changed(dir);
	inode->nlookup++;
	entry_of(fs, inode, e);
	return 0;
}

static void fsop_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t parent,
		      const char *name)
{
	struct fs *fs = fsop_fs(req);
	struct fuse_entry_param e;
	int ret;

	pthread_mutex_lock(&fs->lock);
	ret = do_link(fs, ino, parent, name, &e);
	pthread_mutex_unlock(&fs->lock);
	reply_entry_or_err(req, ret, &e);
}

/* Drop one link of @inode; lock held. */
static void drop_link(struct fs *fs, struct fs_inode *inode)
{
	if (S_ISDIR(inode->mode))
		inode->nlink = 0;
	else if (inode->nlink)
		inode->nlink--;
	fs_touch(&inode->ctime);
	if (!inode->nlink)
		fs_dead_extents(fs, inode);
	fs_meta_dirty(fs);
}

static int do_remove(struct fs *fs, fuse_ino_t parent, const char *name, bool dir)
{
	struct fs_inode *pdir, *inode;
	struct fs_dirent *d;
	int ret;

	ret = get_dir(fs, parent, &pdir);
	if (ret)
		return ret;
	d = fs_dlookup(fs, pdir, name);
	if (!d)
		return -ENOENT;
	inode = d->inode;
	if (dir && !S_ISDIR(inode->mode))
		return -ENOTDIR;
	if (!dir && S_ISDIR(inode->mode))
		return -EISDIR;
	if (dir && inode->nentries)
		return -ENOTEMPTY;
	fs_link_del(fs, d);
	if (dir)
		pdir->nlink--;
	dir_changed(pdir);
	drop_link(fs, inode);
	fs_inode_put_check(fs, inode);
	return 0;
}

static void remove_and_reply(fuse_req_t req, fuse_ino_t parent,
			     const char *name, bool dir)
{
	struct fs *fs = fsop_fs(req);
	int ret;

	pthread_mutex_lock(&fs->lock);
	ret = do_remove(fs, parent, name, dir);
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_err(req, -ret);
}

static void fsop_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_and_reply(req, parent, name, false);
}

static void fsop_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_and_reply(req, parent, name, true);
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
	sd->inode = b;
	dd->inode = a;
	reparent(a, sd->dir, dd->dir);
	reparent(b, dd->dir, sd->dir);
	if (S_ISDIR(a->mode))
		a->parent = dd->dir;
	if (S_ISDIR(b->mode))
		b->parent = sd->dir;
	fs_touch(&a->ctime);
	b->ctime = a->ctime;
	dir_changed(sd->dir);
	dir_changed(dd->dir);
	fs_meta_dirty(fs);
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
		if (ret)
			return ret;
		/* Reuse the target's entry: nothing to allocate, nothing to undo. */
		dd->inode = inode;
		if (S_ISDIR(inode->mode))
			inode->parent = ndir;
		fs_link_del(fs, sd);
		if (S_ISDIR(victim->mode))
			ndir->nlink--;
		drop_link(fs, victim);
		fs_inode_put_check(fs, victim);
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
	dir_changed(odir);
	dir_changed(ndir);
	return 0;
}

static int do_rename(struct fs *fs, fuse_ino_t parent, const char *name,
		     fuse_ino_t newparent, const char *newname, unsigned flags)
{
	struct fs_inode *odir, *ndir;
	struct fs_dirent *sd, *dd;
	int ret;

	ret = -EINVAL;
	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE) ||
	    (flags & RENAME_NOREPLACE && flags & RENAME_EXCHANGE))
		return ret;
	ret = fs_check_name(newname);
	if (!ret)
		ret = get_dir(fs, parent, &odir);
	if (!ret)
		ret = get_dir(fs, newparent, &ndir);
	if (ret)
		return ret;
	sd = fs_dlookup(fs, odir, name);
	if (!sd)
		return -ENOENT;
	dd = fs_dlookup(fs, ndir, newname);
	if (flags & RENAME_NOREPLACE && dd)
		return -EEXIST;
	if (flags & RENAME_EXCHANGE)
		return dd ? rename_exchange(fs, sd, dd) : -ENOENT;
	if (dd && dd->inode == sd->inode)
		return 0;	/* two links to one inode: POSIX says do nothing */
	return rename_move(fs, sd, ndir, newname, dd);
}

static void fsop_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
			fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	struct fs *fs = fsop_fs(req);
	int ret;

	pthread_mutex_lock(&fs->lock);
	ret = do_rename(fs, parent, name, newparent, newname, flags);
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_err(req, -ret);
}

/*
 * One readdir pass ends at the cookie the directory had when the pass
 * began (opendir or rewinddir): an entry created or renamed meanwhile gets
 * a cookie past it, so no pass returns an entry twice and every pass ends,
 * however busy the directory (as tmpfs's stable offsets do).
 */
struct dir_pass {
	uint64_t end;		/* protected by fs->lock */
};

static void fsop_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fsop_fs(req);
	struct dir_pass *pass = malloc(sizeof(*pass));
	struct fs_inode *dir;
	int ret;

	pthread_mutex_lock(&fs->lock);
	ret = pass ? get_dir(fs, ino, &dir) : -ENOMEM;
	if (!ret)
		pass->end = dir->next_cookie;
	pthread_mutex_unlock(&fs->lock);
	if (ret) {
		free(pass);
		fuse_reply_err(req, -ret);
		return;
	}
	fi->fh = (uintptr_t)pass;
	fuse_reply_open(req, fi);
}

/* Add one entry to a readdir buffer; returns false when it is full. */
static bool dir_emit(fuse_req_t req, char *buf, size_t size, size_t *pos,
		     const char *name, struct fs_inode *inode, uint64_t cookie,
		     bool plus)
{
	struct fuse_entry_param e;
	size_t n;

	if (plus) {
		entry_of(fsop_fs(req), inode, &e);
		n = fuse_add_direntry_plus(req, buf + *pos, size - *pos, name, &e,
					   (off_t)cookie);
	} else {
		struct stat st = { .st_ino = inode->ino, .st_mode = inode->mode };

		n = fuse_add_direntry(req, buf + *pos, size - *pos, name, &st,
				      (off_t)cookie);
	}
	if (n > size - *pos)
		return false;
	*pos += n;
	return true;
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct dir_pass *pass, bool plus)
{
	struct fs *fs = fsop_fs(req);
	struct fs_inode *dir;
	size_t pos = 0;
	char *buf;
	int ret;

	buf = calloc(1, size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_lock(&fs->lock);
	ret = get_dir(fs, ino, &dir);
	if (ret)
		goto out_unlock;
	if (off == 0)	/* a new pass: opendir or rewinddir */
		pass->end = dir->next_cookie;
	if (off < 1 && !dir_emit(req, buf, size, &pos, ".", dir, 1, plus))
		goto out_unlock;
	if (off < 2 && !dir_emit(req, buf, size, &pos, "..", dir->parent, 2, plus))
		goto out_unlock;
	for (struct fs_dirent *d = dir->dhead; d; d = d->next) {
		if (d->cookie <= (uint64_t)off)
			continue;
		if (d->cookie >= pass->end)
			break;	/* the list is in cookie order */
		if (!dir_emit(req, buf, size, &pos, d->name, d->inode, d->cookie, plus))
			break;
		if (plus)
			d->inode->nlookup++;
	}
	fs_touch(&dir->atime);
out_unlock:
	pthread_mutex_unlock(&fs->lock);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_buf(req, buf, pos);
	free(buf);
}

static void fsop_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			 struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, (struct dir_pass *)(uintptr_t)fi->fh, false);
}

static void fsop_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			     off_t off, struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, (struct dir_pass *)(uintptr_t)fi->fh, true);
}

static void fsop_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	free((struct dir_pass *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

static void fsop_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
			  struct fuse_file_info *fi)
{
	(void)ino;
	(void)datasync;
	(void)fi;
	fuse_reply_err(req, -fs_commit(fsop_fs(req), false));
}

void fsop_dir_ops(struct fuse_lowlevel_ops *ops)
{
	ops->lookup = fsop_lookup;
	ops->forget = fsop_forget;
	ops->forget_multi = fsop_forget_multi;
	ops->mkdir = fsop_mkdir;
	ops->mknod = fsop_mknod;
	ops->symlink = fsop_symlink;
	ops->readlink = fsop_readlink;
	ops->link = fsop_link;
	ops->unlink = fsop_unlink;
	ops->rmdir = fsop_rmdir;
	ops->rename = fsop_rename;
	ops->opendir = fsop_opendir;
	ops->readdir = fsop_readdir;
	ops->readdirplus = fsop_readdirplus;
	ops->releasedir = fsop_releasedir;
	ops->fsyncdir = fsop_fsyncdir;
}
