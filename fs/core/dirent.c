// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Directory entries: one hash table by (directory, name) for lookups, and
 * per directory a list ordered by a cookie that never changes while the
 * entry exists, so readdir offsets stay stable under concurrent change.
 * Link counts are the caller's business (namei.c); these functions only
 * add, find and remove names.  A directory's own list and counts change
 * under its lock (with fs->lock shared and ns_lock: fs_assert_dir()); the
 * hash chains, which mix directories, under tab_lock.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "fs.h"

static size_t dhash(const struct fs *fs, uint64_t dir, const char *name, size_t len)
{
	return (size_t)(XXH3_64bits_withSeed(name, len, dir) & (fs->dbuckets - 1));
}

static int dtab_grow(struct fs *fs)
{
	size_t n = fs->dbuckets ? fs->dbuckets * 2 : 1024, old = fs->dbuckets;
	struct fs_dirent **tab = calloc(n, sizeof(*tab)), **prev = fs->dtab;

	if (!tab)
		return -ENOMEM;
	fs->dtab = tab;
	fs->dbuckets = n;
	for (size_t b = 0; b < old; b++) {
		for (struct fs_dirent *d = prev[b], *nx; d; d = nx) {
			size_t h = dhash(fs, d->dir->ino, d->name, d->len);

			nx = d->hnext;
			d->hnext = tab[h];
			tab[h] = d;
		}
	}
	free(prev);
	return 0;
}

int fs_check_name(const char *name)
{
	return strlen(name) > FOFS_NAME_MAX ? -ENAMETOOLONG : 0;
}

/**
 * fs_dlookup() - the entry @name in @dir
 * @fs: the filesystem, lock held in either mode
 * @dir: the directory, its lock held (fs_dir_lock())
 * @name: the name
 *
 * The entry stays while the caller holds @dir's lock.
 *
 * Return: the entry, or NULL.
 */
struct fs_dirent *fs_dlookup(struct fs *fs, struct fs_inode *dir,
			     const char *name)
{
	size_t len = strlen(name);
	struct fs_dirent *d;

	fs_assert_inode(fs, dir);
	fs_tab_lock(fs);
	for (d = fs->dtab[dhash(fs, dir->ino, name, len)]; d; d = d->hnext)
		if (d->dir == dir && d->len == len && !memcmp(d->name, name, len))
			break;
	fs_tab_unlock(fs);
	return d;
}

/* Chain @d into the hash table; a table that cannot grow stays as it is. */
static void dtab_add(struct fs *fs, struct fs_dirent *d)
{
	size_t h;

	fs_tab_lock(fs);
	if (fs->ndirents >= fs->dbuckets)
		(void)dtab_grow(fs);
	h = dhash(fs, d->dir->ino, d->name, d->len);
	d->hnext = fs->dtab[h];
	fs->dtab[h] = d;
	fs->ndirents++;
	fs_tab_unlock(fs);
}

static void dtab_del(struct fs *fs, struct fs_dirent *d)
{
	struct fs_dirent **pp;

	fs_tab_lock(fs);
	pp = &fs->dtab[dhash(fs, d->dir->ino, d->name, d->len)];
	while (*pp != d)
		pp = &(*pp)->hnext;
	*pp = d->hnext;
	fs->ndirents--;
	fs_tab_unlock(fs);
}

/**
 * fs_link_add() - add a name for an inode to a directory
 * @fs: the filesystem, lock held (shared: with ns_lock)
 * @dir: the directory, its lock held
 * @name: the name, already checked with fs_check_name()
 * @inode: the inode named, its lock held as a child (or not yet in the
 *	table); link counts are the caller's business
 *
 * Return: 0; -ENOMEM.
 */
int fs_link_add(struct fs *fs, struct fs_inode *dir, const char *name,
		struct fs_inode *inode)
{
	size_t len = strlen(name);
	struct fs_dirent *d;

	fs_assert_dir(fs, dir);
	fs_assert_inode(fs, inode);
	d = malloc(sizeof(*d) + len + 1);
	if (!d)
		return -ENOMEM;
	memcpy(d->name, name, len + 1);
	d->len = (uint16_t)len;
	d->dir = dir;
	d->inode = inode;
	d->cookie = dir->next_cookie++;
	d->next = NULL;
	d->prev = dir->dtail;
	if (dir->dtail)
		dir->dtail->next = d;
	else
		dir->dhead = d;
	dir->dtail = d;
	dtab_add(fs, d);
	dir->nentries++;
	if (S_ISDIR(inode->mode))
		inode->parent = dir;
	fs_meta_dirty(fs, dir);
	fs_meta_dirty(fs, inode);
	fs_track_op(fs, FOFS_REC_DIRENT, dir->ino, d->name, inode->ino);
	return 0;
}

/**
 * fs_link_del() - remove a directory entry (link counts are the caller's)
 * @fs: the filesystem, lock held (shared: with ns_lock)
 * @d: the entry, its directory's lock held; freed
 */
void fs_link_del(struct fs *fs, struct fs_dirent *d)
{
	struct fs_inode *dir = d->dir;

	fs_assert_dir(fs, dir);
	dtab_del(fs, d);
	if (d->prev)
		d->prev->next = d->next;
	else
		dir->dhead = d->next;
	if (d->next)
		d->next->prev = d->prev;
	else
		dir->dtail = d->prev;
	dir->nentries--;
	fs_meta_dirty(fs, dir);
	fs_track_op(fs, FOFS_REC_UNLINK, dir->ino, d->name, 0);
	free(d);
}

/* An empty entry table. */
int fs_dtab_init(struct fs *fs)
{
	return dtab_grow(fs);
}

/**
 * fs_dir_lock() - the directory @ino, still linked, with its lock taken
 * @fs: the filesystem, lock held in either mode
 * @ino: its inode number
 * @out: the directory; release with fs_inode_unlock()
 *
 * Its link count is read under its lock: an rmdir changes it holding the
 * directory's lock as a child.
 *
 * Return: 0; -ENOENT if there is none or it was removed; -ENOTDIR.
 */
int fs_dir_lock(struct fs *fs, uint64_t ino, struct fs_inode **out)
{
	struct fs_inode *dir;

	fs_assert_locked(fs);
	dir = fs_iget(fs, ino);
	if (!dir)
		return -ENOENT;
	if (fs_inode_type(dir) != S_IFDIR)
		return -ENOTDIR;
	fs_inode_lock(fs, dir);
	if (!dir->nlink) {
		fs_inode_unlock(fs, dir);
		return -ENOENT;
	}
	*out = dir;
	return 0;
}
