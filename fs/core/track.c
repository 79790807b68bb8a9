// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * What changed since the image last recorded it, for the intent log: the
 * inodes whose record changed (attributes, link counts, xattrs, extents,
 * region states) on one list, and the namespace changes (an entry added,
 * an entry removed, an inode's last link gone) in the order they happened.
 * An fsync logs exactly these, so its batch costs what changed; a commit
 * or a logged batch forgets what it made durable, by change number, so a
 * change made while it was being written stays for the next one.
 */
#include <stdlib.h>
#include <string.h>

#include "fs.h"

static void track_inode(struct fs *fs, struct fs_inode *inode)
{
	inode->tseq = fs->meta_seq;
	if (inode->tracked)
		return;
	inode->tracked = true;
	inode->tprev = NULL;
	inode->tnext = fs->track.inodes;
	if (inode->tnext)
		inode->tnext->tprev = inode;
	fs->track.inodes = inode;
	fs->track.ninodes++;
}

/*
 * Metadata changed: the next commit has something to write, and @inode
 * (NULL: no inode's record) must be in the next log batch.  Lock held:
 * exclusive, or shared with @inode's lock (changes to different inodes
 * meet here, under track_lock).
 */
void fs_meta_dirty(struct fs *fs, struct fs_inode *inode)
{
	if (inode)
		fs_assert_inode(fs, inode);
	else
		fs_assert_held(&fs->lock);
	fs_mutex_lock(&fs->track_lock);
	fs->meta_seq++;
	if (inode)
		track_inode(fs, inode);
	fs_mutex_unlock(&fs->track_lock);
}

/* The number of the last change, for a reader with fs->lock shared. */
uint64_t fs_meta_seq(struct fs *fs)
{
	uint64_t seq;

	fs_assert_locked(fs);
	fs_mutex_lock(&fs->track_lock);
	seq = fs->meta_seq;
	fs_mutex_unlock(&fs->track_lock);
	return seq;
}

static void untrack(struct fs *fs, struct fs_inode *inode)
{
	if (inode->tprev)
		inode->tprev->tnext = inode->tnext;
	else
		fs->track.inodes = inode->tnext;
	if (inode->tnext)
		inode->tnext->tprev = inode->tprev;
	inode->tracked = false;
	fs->track.ninodes--;
}

/*
 * An inode leaves memory (its end is a DROP operation, if it had links),
 * or a create that failed gives it back.  Lock held: exclusive, or shared
 * with @inode's lock.
 */
void fs_track_forget(struct fs *fs, struct fs_inode *inode)
{
	fs_assert_inode(fs, inode);
	fs_mutex_lock(&fs->track_lock);
	if (inode->tracked)
		untrack(fs, inode);
	fs_mutex_unlock(&fs->track_lock);
}

static void track_op_locked(struct fs *fs, uint16_t type, uint64_t parent, const char *name,
			    uint64_t ino)
{
	size_t len = name ? strlen(name) : 0;
	struct fs_track_op *op;

	fs->meta_seq++;
	if (fs->track.overflow)
		return;
	if (fs->track.nops == fs->track.capops) {
		size_t cap = fs->track.capops ? fs->track.capops * 2 : 64;
		void *p = realloc(fs->track.ops, cap * sizeof(*fs->track.ops));

		if (!p)
			goto out_overflow;
		fs->track.ops = p;
		fs->track.capops = cap;
	}
	op = malloc(sizeof(*op) + len + 1);
	if (!op)
		goto out_overflow;
	op->type = type;
	op->parent = parent;
	op->ino = ino;
	op->seq = fs->meta_seq;
	op->len = (uint16_t)len;
	memcpy(op->name, name ? name : "", len + 1);
	fs->track.ops[fs->track.nops++] = op;
	return;
out_overflow:
	fs->track.overflow = true;
	fs->track.overflow_seq = fs->meta_seq;
}

/*
 * A namespace change, in order: an entry added (FOFS_REC_DIRENT) or
 * removed (FOFS_REC_UNLINK) in @parent, or inode @ino's last link gone
 * (FOFS_REC_DROP, no name).  Without memory for it the next fsync commits
 * instead (overflow).  Lock held: exclusive, or shared with ns_lock (the
 * directory's lock orders the changes to one name; track_lock, the list).
 */
void fs_track_op(struct fs *fs, uint16_t type, uint64_t parent, const char *name, uint64_t ino)
{
	fs_assert_ns(fs);
	fs_mutex_lock(&fs->track_lock);
	track_op_locked(fs, type, parent, name, ino);
	fs_mutex_unlock(&fs->track_lock);
}

/* Can the changes go in one log batch, or is a commit the cheaper record? */
bool fs_track_fits(const struct fs *fs)
{
	return !fs->track.overflow && fs->track.ninodes <= FS_LOG_MAX_INODES &&
	       fs->track.nops <= FS_LOG_MAX_OPS;
}

/*
 * The image now holds every change up to @seq (a commit: all of them; a
 * batch: those it logged).  Lock held.
 */
void fs_track_clean(struct fs *fs, uint64_t seq)
{
	size_t keep = 0;

	fs_assert_held(&fs->lock);
	for (struct fs_inode *i = fs->track.inodes, *n; i; i = n) {
		n = i->tnext;
		if (i->tseq <= seq)
			untrack(fs, i);
	}
	for (size_t k = 0; k < fs->track.nops; k++) {
		if (fs->track.ops[k]->seq <= seq)
			free(fs->track.ops[k]);
		else
			fs->track.ops[keep++] = fs->track.ops[k];
	}
	fs->track.nops = keep;
	if (fs->track.overflow && fs->track.overflow_seq <= seq)
		fs->track.overflow = false;
}

void fs_track_release(struct fs *fs)
{
	for (size_t k = 0; k < fs->track.nops; k++)
		free(fs->track.ops[k]);
	free(fs->track.ops);
	memset(&fs->track, 0, sizeof(fs->track));
}
