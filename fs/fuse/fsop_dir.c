// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * FUSE namespace requests: lookup and forget, mkdir, mknod, symlink, link,
 * unlink, rmdir, rename, readlink, and readdir/readdirplus with offsets that
 * are per-directory cookies, stable while entries come and go.  Each
 * request is decoded here, runs the core's rule (namei.c) under the
 * filesystem lock, and is answered once, after the lock is dropped.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsop.h"

static void reply_entry_or_err(fuse_req_t req, int ret,
			       const struct fuse_entry_param *e)
{
	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_entry(req, e);
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

	fs_lock(fs);
	inode = fs_iget(fs, ino);
	ret = -ENOENT;
	if (inode && (inode->nlink || inode->nopen)) {
		ret = -ENOTDIR;
		if (dotdot && !S_ISDIR(inode->mode))
			goto out_unlock;
		if (dotdot)
			inode = inode->parent;
		fs_inode_lookup(fs, inode);
		fsop_entry(fs, inode, e);
		ret = 0;
	}
out_unlock:
	fs_unlock(fs);
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
	/* the directory's lock keeps the entry; the inode's, its attributes */
	fs_lock_shared(fs);
	ret = fs_dir_lock(fs, parent, &dir);
	if (!ret) {
		d = fs_dlookup(fs, dir, name);
		ret = d ? 0 : -ENOENT;
		if (d) {
			fs_inode_lock_child(fs, d->inode);
			fs_inode_lookup(fs, d->inode);
			fsop_entry(fs, d->inode, &e);
			fs_inode_unlock(fs, d->inode);
		}
		fs_inode_unlock(fs, dir);
	}
	fs_unlock_shared(fs);
	if (ret == -ENOENT) {
		/*
		 * A negative entry the kernel may cache: every name change goes
		 * through it, so it drops the entry when the name appears, and
		 * open(O_CREAT) after a failed stat (fio, make, shells) costs no
		 * second LOOKUP.
		 */
		fsop_negative_entry(&e);
		ret = 0;
	}
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

	fs_lock(fs);
	forget_one(fs, ino, nlookup);
	fs_unlock(fs);
	fuse_reply_none(req);
}

static void fsop_forget_multi(fuse_req_t req, size_t count,
			      struct fuse_forget_data *forgets)
{
	struct fs *fs = fsop_fs(req);

	fs_lock(fs);
	for (size_t i = 0; i < count; i++)
		forget_one(fs, forgets[i].ino, forgets[i].nlookup);
	fs_unlock(fs);
	fuse_reply_none(req);
}

/* The entry of a name just made for @inode: under its lock, as getattr. */
static void new_entry(struct fs *fs, struct fs_inode *inode, struct fuse_entry_param *e)
{
	fs_inode_lock(fs, inode);
	fsop_entry(fs, inode, e);
	fs_inode_unlock(fs, inode);
}

/*
 * Names change with fs->lock shared and the directory's lock (namei.c);
 * a change that reaches beyond them (room made by unloading files, an
 * inode freed) answers -EAGAIN and runs again with the lock exclusive.
 */
static void make_and_reply(fuse_req_t req, fuse_ino_t parent, const char *name,
			   uint32_t mode, dev_t rdev, const char *target)
{
	struct fs *fs = fsop_fs(req);
	struct fuse_entry_param e;
	struct fs_inode *inode;
	struct fs_caller c;
	bool excl = false;
	int ret;

	fsop_caller(req, &c);
again:
	fs_lock_as(fs, excl);
	ret = fs_make_node(fs, parent, name, mode, rdev, target, &c, &inode);
	if (!ret)
		new_entry(fs, inode, &e);
	if (fs_unlock_retry(fs, &excl, ret))
		goto again;
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

	fs_lock_shared(fs);
	inode = fs_iget(fs, ino);
	ret = !inode ? -ENOENT : fs_inode_type(inode) != S_IFLNK ? -EINVAL : 0;
	if (!ret) {
		target = strdup(inode->target ? inode->target : "");
		ret = target ? 0 : -ENOMEM;
	}
	fs_unlock_shared(fs);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_readlink(req, target);
	free(target);
}

static void fsop_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t parent,
		      const char *name)
{
	struct fs *fs = fsop_fs(req);
	struct fuse_entry_param e;
	struct fs_inode *inode;
	bool excl = false;
	int ret;

again:
	fs_lock_as(fs, excl);
	ret = fs_link(fs, ino, parent, name, &inode);
	if (!ret)
		new_entry(fs, inode, &e);
	if (fs_unlock_retry(fs, &excl, ret))
		goto again;
	reply_entry_or_err(req, ret, &e);
}

static void remove_and_reply(fuse_req_t req, fuse_ino_t parent,
			     const char *name, bool dir)
{
	struct fs *fs = fsop_fs(req);
	bool excl = false;
	int ret;

again:
	fs_lock_as(fs, excl);
	ret = fs_remove(fs, parent, name, dir);
	if (fs_unlock_retry(fs, &excl, ret)) /* an inode to free, extents to the commit */
		goto again;
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

static void fsop_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
			fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	struct fs *fs = fsop_fs(req);
	bool excl = newparent != parent; /* across directories: the rename lock */
	int ret;

again:
	fs_lock_as(fs, excl);
	ret = fs_rename(fs, parent, name, newparent, newname, flags);
	if (fs_unlock_retry(fs, &excl, ret))
		goto again;
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

	fs_lock_shared(fs);
	ret = pass ? fs_dir_lock(fs, ino, &dir) : -ENOMEM;
	if (!ret) {
		pass->end = dir->next_cookie;
		fs_inode_unlock(fs, dir);
	}
	fs_unlock_shared(fs);
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
		fsop_entry(fsop_fs(req), inode, &e);
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
	fs_lock(fs); /* the entries' lookup counts, the directory's atime */
	ret = fs_dir_lock(fs, ino, &dir);
	if (ret)
		goto out_unlock;
	if (off == 0)	/* a new pass: opendir or rewinddir */
		pass->end = dir->next_cookie;
	if (off < 1 && !dir_emit(req, buf, size, &pos, ".", dir, 1, plus))
		goto out_dir;
	if (off < 2 && !dir_emit(req, buf, size, &pos, "..", dir->parent, 2, plus))
		goto out_dir;
	for (struct fs_dirent *d = dir->dhead; d; d = d->next) {
		if (d->cookie <= (uint64_t)off)
			continue;
		if (d->cookie >= pass->end)
			break;	/* the list is in cookie order */
		if (!dir_emit(req, buf, size, &pos, d->name, d->inode, d->cookie, plus))
			break;
		if (plus)
			fs_inode_lookup(fs, d->inode);
	}
	fs_touch(&dir->atime);
out_dir:
	fs_inode_unlock(fs, dir);
out_unlock:
	fs_unlock(fs);
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
	(void)datasync;
	(void)fi;
	fuse_reply_err(req, -fs_fsync(fsop_fs(req), ino));
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
