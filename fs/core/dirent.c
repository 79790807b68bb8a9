// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Directory entries: one hash table by (directory, name) for lookups, and
 * per directory a list ordered by a cookie that never changes while the
 * entry exists, so readdir offsets stay stable under concurrent change.
 * Link counts are the caller's business (namei.c); these functions only
 * add, find and remove names.
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

struct fs_dirent *fs_dlookup(struct fs *fs, struct fs_inode *dir,
			     const char *name)
{
	size_t len = strlen(name);
	struct fs_dirent *d;

	fs_assert_locked(fs);
	for (d = fs->dtab[dhash(fs, dir->ino, name, len)]; d; d = d->hnext)
		if (d->dir == dir && d->len == len && !memcmp(d->name, name, len))
			return d;
	return NULL;
}

/**
 * fs_link_add() - add a name for an inode to a directory
 * @fs: the filesystem, lock held
 * @dir: the directory
 * @name: the name, already checked with fs_check_name()
 * @inode: the inode named; link counts are the caller's business
 *
 * Return: 0; -ENOMEM.
 */
int fs_link_add(struct fs *fs, struct fs_inode *dir, const char *name,
		struct fs_inode *inode)
{
	size_t len = strlen(name), h;
	struct fs_dirent *d;

	fs_assert_held(&fs->lock);
	if (fs->ndirents >= fs->dbuckets && dtab_grow(fs))
		return -ENOMEM;
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
	h = dhash(fs, dir->ino, name, len);
	d->hnext = fs->dtab[h];
	fs->dtab[h] = d;
	fs->ndirents++;
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
 * @fs: the filesystem, lock held
 * @d: the entry; freed
 */
void fs_link_del(struct fs *fs, struct fs_dirent *d)
{
	struct fs_inode *dir = d->dir;
	struct fs_dirent **pp = &fs->dtab[dhash(fs, dir->ino, d->name, d->len)];

	fs_assert_held(&fs->lock);
	while (*pp != d)
		pp = &(*pp)->hnext;
	*pp = d->hnext;
	if (d->prev)
		d->prev->next = d->next;
	else
		dir->dhead = d->next;
	if (d->next)
		d->next->prev = d->prev;
	else
		dir->dtail = d->prev;
	fs->ndirents--;
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
 * fs_get_dir() - the directory @ino, still linked
 * @fs: the filesystem, lock held
 * @ino: its inode number
 * @out: the directory
 *
 * Return: 0; -ENOENT if there is none or it was removed; -ENOTDIR.
 */
int fs_get_dir(struct fs *fs, uint64_t ino, struct fs_inode **out)
{
	struct fs_inode *dir = fs_iget(fs, ino);

	fs_assert_locked(fs);
	if (!dir || !dir->nlink)
		return -ENOENT;
	if (fs_inode_type(dir) != S_IFDIR)
		return -ENOTDIR;
	*out = dir;
	return 0;
}
