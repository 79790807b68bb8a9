// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * In-memory inodes: a hash table by inode number, lifetime by links,
 * lookups, opens and pins (an inode nothing refers to is freed, its
 * extents handed to the next commit), the set-ID rules every change
 * applies, and stat.  Directory entries are in dirent.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "fs.h"

#define BOGO_DIRENT	20	/* directory size per entry, as tmpfs */

static size_t ihash(const struct fs *fs, uint64_t ino)
{
	return (size_t)(XXH3_64bits(&ino, sizeof(ino)) & (fs->ibuckets - 1));
}

static int itab_grow(struct fs *fs)
{
	size_t n = fs->ibuckets ? fs->ibuckets * 2 : 1024, old = fs->ibuckets;
	struct fs_inode **tab = calloc(n, sizeof(*tab)), **prev = fs->itab;

	if (!tab)
		return -ENOMEM;
	fs->itab = tab;
	fs->ibuckets = n;
	for (size_t b = 0; b < old; b++) {
		for (struct fs_inode *i = prev[b], *nx; i; i = nx) {
			size_t h = ihash(fs, i->ino);

			nx = i->hnext;
			i->hnext = tab[h];
			tab[h] = i;
		}
	}
	free(prev);
	return 0;
}

/* Does a regular file carry set-ID bits?  Its writers then bypass passthrough. */
bool fs_inode_sxid(const struct fs_inode *inode)
{
	return S_ISREG(inode->mode) && (inode->mode & (S_ISUID | S_ISGID));
}

/**
 * fs_sxid_kill() - the set-ID bits a change must clear
 * @inode: the file
 * @cause: a data change (write, truncate, fallocate) or a chown
 * @c: who makes it
 *
 * The kernel's rule (setattr_should_drop_suidgid()): set-user-ID always
 * goes; set-group-ID goes when group execute is set, or when the caller is
 * neither in the file's group nor holds CAP_FSETID.  A data change by a
 * caller with CAP_FSETID clears nothing; a chown clears on any non-directory.
 *
 * Return: the mode bits to clear, 0 for none.
 */
uint32_t fs_sxid_kill(const struct fs_inode *inode, enum fs_sxid_cause cause,
		      const struct fs_caller *c)
{
	uint32_t mode = inode->mode, kill = 0;

	if (S_ISDIR(mode) || (cause == FS_SXID_DATA && (!S_ISREG(mode) || c->fsetid)))
		return 0;
	if (mode & S_ISUID)
		kill |= S_ISUID;
	if ((mode & S_ISGID) && ((mode & S_IXGRP) || !(c->in_group || c->fsetid)))
		kill |= S_ISGID;
	return kill;
}

/**
 * fs_kill_sxid() - clear the set-ID bits a change must clear
 * @fs: the filesystem, lock held
 * @inode: the file
 * @cause: see fs_sxid_kill()
 * @c: who makes the change
 *
 * The front end compares the mode before and after: the kernel's cached
 * mode is then stale.
 */
void fs_kill_sxid(struct fs *fs, struct fs_inode *inode, enum fs_sxid_cause cause,
		  const struct fs_caller *c)
{
	uint32_t kill = fs_sxid_kill(inode, cause, c);

	fs_assert_inode(fs, inode);
	if (!kill)
		return;
	fs_inode_set_mode(fs, inode, inode->mode & ~kill);
	fs_touch(&inode->ctime);
}

/**
 * fs_inode_set_mode() - change @inode's permission bits
 * @fs: the filesystem, lock held (shared: with @inode's lock)
 * @inode: the inode
 * @mode: the new mode; its type bits must be the inode's
 *
 * Stored atomically: lookups check the type without the inode's lock.
 */
void fs_inode_set_mode(struct fs *fs, struct fs_inode *inode, uint32_t mode)
{
	fs_assert_inode(fs, inode);
	__atomic_store_n(&inode->mode, mode, __ATOMIC_RELAXED);
}

/**
 * fs_iget() - the inode numbered @ino
 * @fs: the filesystem, lock held in either mode
 * @ino: its number
 *
 * Under fs->lock shared the table may be growing for a create in another
 * directory: the walk holds tab_lock.  The inode found stays while the
 * caller holds fs->lock (inodes are freed only under it exclusive).
 *
 * Return: the inode, or NULL.
 */
struct fs_inode *fs_iget(struct fs *fs, uint64_t ino)
{
	struct fs_inode *i;

	fs_assert_locked(fs);
	fs_tab_lock(fs);
	for (i = fs->itab[ihash(fs, ino)]; i; i = i->hnext)
		if (i->ino == ino)
			break;
	fs_tab_unlock(fs);
	return i;
}

/**
 * fs_inode_lookup() - count one more lookup the kernel holds on @inode
 * @fs: the filesystem, lock held in either mode
 * @inode: the inode it was given
 *
 * Lookups run with fs->lock shared, side by side: the one field they
 * change is counted atomically.  Everything that lowers the count holds
 * the lock exclusively, so a shared holder that sees it above zero knows
 * it stays so.
 */
void fs_inode_lookup(struct fs *fs, struct fs_inode *inode)
{
	fs_assert_locked(fs);
	__atomic_add_fetch(&inode->nlookup, 1, __ATOMIC_RELAXED);
}

/*
 * Put @inode in the table: tab_lock, or fs->lock exclusive.  A table that
 * cannot grow keeps its size (longer chains), so this cannot fail.
 */
void fs_inode_insert(struct fs *fs, struct fs_inode *inode)
{
	size_t h;

	fs_tab_lock(fs);
	if (fs->ninodes >= fs->ibuckets)
		(void)itab_grow(fs);
	h = ihash(fs, inode->ino);
	inode->hnext = fs->itab[h];
	fs->itab[h] = inode;
	__atomic_add_fetch(&fs->ninodes, 1, __ATOMIC_RELAXED); /* statfs reads it */
	fs_tab_unlock(fs);
}

struct fs_inode *fs_inode_alloc(uint64_t ino)
{
	struct fs_inode *inode = calloc(1, sizeof(*inode));

	if (!inode)
		return NULL;
	fs_mutex_init(&inode->lock, "inode lock", FS_RANK_INODE);
	inode->ino = ino;
	inode->memfd = -1;
	inode->next_cookie = FS_FIRST_COOKIE;
	clp_map_init(&inode->cmap);
	fs_dmap_init(&inode->dmap);
	fs_phash_init(inode);
	return inode;
}

/**
 * fs_inode_new() - make an inode with fresh timestamps, not yet in the table
 * @fs: the filesystem, lock held in either mode (namespace changes: shared
 *	with fs_ns_lock())
 * @mode: type and permission bits
 * @uid: owner
 * @gid: group
 * @out: the new inode, nlink 0; the caller links it, then puts it in the
 *	table (fs_inode_insert()), or gives it back (fs_inode_release())
 *
 * Its number is taken now and never reused, even if the create fails: a
 * gap costs nothing.  A regular file gets its memfd when first opened.
 *
 * Return: 0; -ENOMEM.
 */
int fs_inode_new(struct fs *fs, uint32_t mode, uint32_t uid, uint32_t gid,
		 struct fs_inode **out)
{
	struct fs_inode *inode;
	uint64_t ino;
	int ret;

	fs_assert_locked(fs);
	fs_tab_lock(fs);
	ino = fs->next_ino++;
	fs_tab_unlock(fs);
	ret = -ENOMEM;
	inode = fs_inode_alloc(ino);
	if (!inode)
		return ret;
	inode->mode = mode;
	inode->uid = uid;
	inode->gid = gid;
	fs_touch(&inode->ctime);
	inode->atime = inode->mtime = inode->ctime;
	*out = inode;
	return 0;
}

/* Free an inode that is in no table and holds no memfd. */
void fs_inode_release(struct fs_inode *inode)
{
	for (struct fs_xattr *x = inode->xattrs, *nx; x; x = nx) {
		nx = x->next;
		free(x->value);
		free(x);
	}
	free(inode->target);
	free(inode->ext);
	clp_map_release(&inode->cmap);
	spa_release(&inode->dmap);
	fs_phash_drop(inode);
	spa_release(&inode->phash);
	spa_release(&inode->plog);
	fs_bad_release(inode);
	fs_mutex_destroy(&inode->lock);
	free(inode);
}

void fs_inode_free(struct fs *fs, struct fs_inode *inode)
{
	fs_assert_held(&fs->lock);
	struct fs_inode **pp = &fs->itab[ihash(fs, inode->ino)];

	while (*pp != inode)
		pp = &(*pp)->hnext;
	*pp = inode->hnext;
	__atomic_sub_fetch(&fs->ninodes, 1, __ATOMIC_RELAXED);
	fs_track_forget(fs, inode);
	fs_dead_extents(fs, inode);
	fs_data_unload(fs, inode);
	fs_inode_release(inode);
}

/**
 * fs_inode_put_check() - free an inode nothing refers to any more
 * @fs: the filesystem, lock held
 * @inode: the inode
 *
 * Called after a link, lookup, open or pin is dropped.  Its extents go to the
 * dead list and are freed by the next commit.  An inode without links or
 * opens that the kernel still knows (its FORGET comes when the kernel
 * evicts it, on a thread of its own, maybe after the writes of the next
 * program) gives back its memory now: nothing can read it any more, and an
 * rm must make room at once, as on tmpfs.
 */
void fs_inode_put_check(struct fs *fs, struct fs_inode *inode)
{
	fs_assert_held(&fs->lock);
	if (inode->ino == FOFS_ROOT_INO || inode->nlink || inode->nopen || inode->pins)
		return;
	if (inode->nlookup)
		fs_data_unload(fs, inode);
	else
		fs_inode_free(fs, inode);
}

/* Passthrough writes change the memory unseen: ask it, not mblocks. */
static uint64_t inode_blocks(const struct fs_inode *inode)
{
	return inode->memfd >= 0 ? fs_mem_blocks(inode) : fs_ext_blocks(inode);
}

/**
 * fs_stat() - an inode's attributes, as stat(2) reports them
 * @fs: the filesystem, lock held (shared: with @inode's lock)
 * @inode: the inode
 * @st: filled in
 */
void fs_stat(const struct fs *fs, const struct fs_inode *inode, struct stat *st)
{
	fs_assert_inode(fs, inode);
	memset(st, 0, sizeof(*st));
	st->st_ino = inode->ino;
	st->st_mode = inode->mode;
	st->st_nlink = inode->nlink;
	st->st_uid = inode->uid;
	st->st_gid = inode->gid;
	st->st_rdev = inode->rdev;
	st->st_size = S_ISDIR(inode->mode) ?
		      (off_t)(inode->nentries + 2) * BOGO_DIRENT : (off_t)inode->size;
	st->st_blksize = FOFS_BLOCK_SIZE;
	st->st_blocks = (blkcnt_t)(inode_blocks(inode) * (FOFS_BLOCK_SIZE / 512));
	st->st_atim = inode->atime;
	st->st_mtim = inode->mtime;
	st->st_ctim = inode->ctime;
}

/* An empty inode table. */
int fs_itab_init(struct fs *fs)
{
	return itab_grow(fs);
}
