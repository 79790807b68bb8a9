// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Conversion between the daemon's in-memory inodes and directory entries and
 * the image's metadata record stream: loading the committed generation at
 * mount, and serializing the current state for a commit.  Entries are
 * written per directory in cookie order, so readdir order survives a remount.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>


#include "fs.h"

struct load_patch {
	uint64_t ino, off;
	size_t len;
	void *data;
};

struct load_state {
	struct fs *fs;
	struct { uint64_t parent, ino; char *name; } *d;
	size_t nd, capd;
	struct load_patch *pt; /* bytes the intent log held */
	size_t npt;
};

static int load_xattrs(struct fs_inode *inode, const struct img_inode_rec *rec)
{
	struct fs_xattr **tail = &inode->xattrs;

	for (uint32_t i = 0; i < rec->ino.i_xattrs; i++) {
		const struct img_xattr *x = &rec->xattr[i];
		struct fs_xattr *fx = calloc(1, sizeof(*fx) + x->name_len + 1);

		if (!fx)
			return -ENOMEM;
		fx->value = malloc(x->value_len ? x->value_len : 1);
		if (!fx->value) {
			free(fx);
			return -ENOMEM;
		}
		memcpy(fx->name, x->name, x->name_len);
		fx->name_len = x->name_len;
		if (x->value_len)
			memcpy(fx->value, x->value, x->value_len);
		fx->value_len = x->value_len;
		*tail = fx;
		tail = &fx->next;
	}
	return 0;
}

static void ts_set(struct timespec *ts, int64_t sec, uint32_t ns)
{
	ts->tv_sec = (time_t)sec;
	ts->tv_nsec = ns;
}

static int load_inode(void *arg, const struct img_inode_rec *rec)
{
	struct load_state *ls = arg;
	const struct fofs_inode *ri = &rec->ino;
	struct fs_inode *inode;


	if (!ri->i_ino || ri->i_ino > FOFS_INO_MAX || fs_iget(ls->fs, ri->i_ino)) {
		img_set_error(ls->fs->img, "inode number %llu is out of range or recorded "
			      "twice", (unsigned long long)ri->i_ino);
		return -EUCLEAN;
	}
	inode = fs_inode_alloc(ri->i_ino);
	if (!inode)
		return -ENOMEM;
	inode->mode = ri->i_mode;
	inode->uid = ri->i_uid;
	inode->gid = ri->i_gid;
	inode->nlink = ri->i_nlink;
	inode->size = inode->ext_size = ri->i_size;
	inode->rdev = ri->i_rdev;
	ts_set(&inode->atime, ri->i_atime, ri->i_atime_ns);
	ts_set(&inode->mtime, ri->i_mtime, ri->i_mtime_ns);
	ts_set(&inode->ctime, ri->i_ctime, ri->i_ctime_ns);
	inode->next = inode->capext = ri->i_extents;
	inode->ext = malloc((ri->i_extents + 1) * sizeof(*inode->ext));
	inode->target = ri->i_target_len ? strndup(rec->target, ri->i_target_len) : NULL;
	if (!inode->ext || (ri->i_target_len && !inode->target) ||
	    load_xattrs(inode, rec)) {
		fs_inode_release(inode);
		return -ENOMEM;
	}
	if (ri->i_extents)
		memcpy(inode->ext, rec->ext, ri->i_extents * sizeof(*inode->ext));
	if (inode->nlink)
		fs_space_cold(ls->fs, fs_ext_blocks(inode), true);
	fs_inode_insert(ls->fs, inode);
	return 0;
}

static int load_dirent(void *arg, uint64_t parent, uint64_t ino,
		       const char *name, size_t len)
{
	struct load_state *ls = arg;

	if (ls->nd == ls->capd) {
		size_t cap = ls->capd ? ls->capd * 2 : 1024;
		void *p = realloc(ls->d, cap * sizeof(*ls->d));

		if (!p)
			return -ENOMEM;
		ls->d = p;
		ls->capd = cap;
	}
	ls->d[ls->nd].name = strndup(name, len);
	if (!ls->d[ls->nd].name)
		return -ENOMEM;
	ls->d[ls->nd].parent = parent;
	ls->d[ls->nd].ino = ino;
	ls->nd++;
	return 0;
}

static int load_write(void *arg, uint64_t ino, uint64_t off, const void *data, size_t len)
{
	struct load_state *ls = arg;
	void *p = realloc(ls->pt, (ls->npt + 1) * sizeof(*ls->pt));

	if (!p)
		return -ENOMEM;
	ls->pt = p;
	ls->pt[ls->npt] = (struct load_patch){ ino, off, len, malloc(len) };
	if (!ls->pt[ls->npt].data)
		return -ENOMEM;
	memcpy(ls->pt[ls->npt++].data, data, len);
	return 0;
}

/* Lock held; dropped while a file loads (only the mount runs now). */
static int patch_all_relock(struct load_state *ls)
{
	struct fs *fs = ls->fs;
	int ret = 0;

	for (size_t i = 0; i < ls->npt && !ret; i++) {
		struct fs_inode *inode = fs_iget(fs, ls->pt[i].ino);

		if (!inode || !S_ISREG(inode->mode) || !inode->nlink) {
			img_set_error(fs->img,
				      "logged write to inode %llu, which is not a "
				      "linked regular file",
				      (unsigned long long)ls->pt[i].ino);
			return -EUCLEAN;
		}
		ret = fs_data_patch_relock(fs, inode, ls->pt[i].off, ls->pt[i].data, ls->pt[i].len);
	}
	return ret;
}

static int link_all(struct load_state *ls)
{
	struct fs *fs = ls->fs;

	for (size_t i = 0; i < ls->nd; i++) {
		struct fs_inode *dir = fs_iget(fs, ls->d[i].parent);
		struct fs_inode *inode = fs_iget(fs, ls->d[i].ino);
		int ret;

		if (!dir || !S_ISDIR(dir->mode) || !inode || fs_dlookup(fs, dir, ls->d[i].name)) {
			img_set_error(fs->img, "directory entry '%s' (directory %llu, "
				      "inode %llu) is dangling or duplicated", ls->d[i].name,
				      (unsigned long long)ls->d[i].parent,
				      (unsigned long long)ls->d[i].ino);
			return -EUCLEAN;
		}
		ret = fs_link_add(fs, dir, ls->d[i].name, inode);
		if (ret)
			return ret;
	}
	return 0;
}

static int load_regions(void *arg, uint64_t ino, const struct img_region *r,
			size_t n)
{
	struct load_state *ls = arg;
	struct fs_inode *inode = fs_iget(ls->fs, ino);

	if (!inode) {
		img_set_error(ls->fs->img, "region record of missing inode %llu",
			      (unsigned long long)ino);
		return -EUCLEAN;
	}
	for (size_t i = 0; i < n; i++) {
		struct clp_region reg = *clp_map_peek(&inode->cmap, r[i].index);

		if (r[i].index >= (inode->size + CLP_REGION_SIZE - 1) >> CLP_REGION_SHIFT)
			continue;	/* fsck trims these; harmless here */
		reg.state = r[i].state;
		reg.last = r[i].last;
		if (clp_map_set(&inode->cmap, r[i].index, &reg))
			return -ENOMEM;
	}
	return 0;
}

/**
 * fs_load_image() - build the in-memory filesystem from the image
 * @fs: initialized filesystem
 *
 * On -EUCLEAN / -EBADMSG the reason is in img_errmsg(fs->img), recorded
 * by the image library or by this file's visitors: the caller says it,
 * once.
 *
 * Return: 0; -EUCLEAN for damaged or inconsistent metadata; -EBADMSG for a
 * checksum mismatch; -ENOMEM; read errors.
 */
int fs_load_image(struct fs *fs)
{
	struct img_meta_ops ops = { load_inode, load_dirent, load_regions, load_write };
	struct load_state ls = { .fs = fs };
	struct fs_inode *root;
	int ret;

	fs_lock(fs);
	ret = img_load(fs->img, &ops, &ls);
	/* a replayed log may have handed out numbers past the generation's */
	if (fs->next_ino < img_sb(fs->img)->s_next_ino)
		fs->next_ino = img_sb(fs->img)->s_next_ino;
	if (!ret)
		ret = link_all(&ls);
	root = fs_iget(fs, FOFS_ROOT_INO);
	if (!ret && (!root || !S_ISDIR(root->mode))) {
		img_set_error(fs->img, "root directory is missing");
		ret = -EUCLEAN;
	}
	if (!ret)
		root->parent = root;
	if (!ret)
		ret = patch_all_relock(&ls);
	for (size_t i = 0; i < ls.nd; i++)
		free(ls.d[i].name);
	free(ls.d);
	for (size_t i = 0; i < ls.npt; i++)
		free(ls.pt[i].data);
	free(ls.pt);
	fs->meta_cseq = fs->meta_seq;
	fs_track_clean(fs, fs->meta_seq); /* loading is no change */
	fs_unlock(fs);
	return ret;
}

/*
 * Keep-off regions must outlive a remount: the hole would look sparse.
 * Only those inside the @size recorded with them.
 */
static int serialize_regions(struct img_mw *mw, const struct fs_inode *inode, uint64_t size)
{
	uint64_t end = (size + CLP_REGION_SIZE - 1) >> CLP_REGION_SHIFT;
	struct img_region *r;
	size_t n = 0;
	int ret;

	for (uint64_t i = 0; clp_map_next(&inode->cmap, i, &i) && i < end; i++)
		n += clp_map_peek(&inode->cmap, i)->state == CLP_R_KEEP_OFF;
	if (!n)
		return 0;
	r = calloc(n, sizeof(*r));
	if (!r)
		return -ENOMEM;
	n = 0;
	for (uint64_t i = 0; clp_map_next(&inode->cmap, i, &i) && i < end; i++)
		if (clp_map_peek(&inode->cmap, i)->state == CLP_R_KEEP_OFF)
			r[n++] = (struct img_region){ i, CLP_R_KEEP_OFF,
						      clp_map_peek(&inode->cmap, i)->last };
	ret = img_mw_regions(mw, inode->ino, r, n);
	free(r);
	return ret;
}

/*
 * A truncate drops the extents past the new size only at the next data
 * commit; a metadata-only commit before it (one that frees deleted files)
 * must not pair the new size with the old extents.  It records the size
 * they were written for: the truncate is then simply not committed yet.
 */
static uint64_t ext_fit_size(const struct fs_inode *inode)
{
	if (inode->next && inode->ext[inode->next - 1].e_file_off >= inode->size)
		return inode->ext_size;
	return inode->size;
}

static int serialize_inode(struct img_mw *mw, const struct fs_inode *inode, uint64_t size)
{
	struct img_inode_rec rec = { 0 };
	struct img_xattr *xa = NULL;
	uint32_t nx = 0;
	int ret;

	for (struct fs_xattr *x = inode->xattrs; x; x = x->next)
		nx++;
	if (nx && !(xa = calloc(nx, sizeof(*xa))))
		return -ENOMEM;
	nx = 0;
	for (struct fs_xattr *x = inode->xattrs; x; x = x->next, nx++)
		xa[nx] = (struct img_xattr){ x->name, x->name_len, x->value, x->value_len };
	rec.ino = (struct fofs_inode){
		.i_ino = inode->ino,
		.i_mode = inode->mode,
		.i_uid = inode->uid,
		.i_gid = inode->gid,
		.i_nlink = inode->nlink,
		.i_size = size,
		.i_rdev = inode->rdev,
		.i_atime = inode->atime.tv_sec,
		.i_atime_ns = (uint32_t)inode->atime.tv_nsec,
		.i_mtime = inode->mtime.tv_sec,
		.i_mtime_ns = (uint32_t)inode->mtime.tv_nsec,
		.i_ctime = inode->ctime.tv_sec,
		.i_ctime_ns = (uint32_t)inode->ctime.tv_nsec,
		.i_extents = inode->next,
		.i_xattrs = nx,
		.i_target_len = inode->target ? (uint32_t)strlen(inode->target) : 0,
	};
	rec.ext = inode->ext;
	rec.xattr = xa;
	rec.target = inode->target;
	ret = img_mw_inode(mw, &rec);
	free(xa);
	return ret ? ret : serialize_regions(mw, inode, size);
}

/**
 * fs_serialize() - write every linked inode and entry into a record stream
 * @fs: the filesystem, lock held exclusively, or shared with namespace
 *	changes stopped (fs_ns_freeze()): it only reads, so lookups, stats
 *	and reads go on meanwhile, and so do changes made under an inode's
 *	lock; names and links hold still, so no entry is recorded without
 *	its inode
 * @mw: an empty writer; sealed on success
 *
 * Each inode is recorded under its own lock, whole.  One changed while
 * the walk runs carries a change number past the one the commit read
 * first (fs_meta_seq()), so it stays tracked and the next log batch or
 * commit records it again: nothing is lost, at worst written twice.
 *
 * Inodes without links (open but unlinked) are left out: after a crash they
 * are gone, and their extents are free, as for an orphan on ext4.
 *
 * Return: 0; -ENOMEM.
 */
int fs_serialize(struct fs *fs, struct img_mw *mw)
{
	int ret = 0;

	fs_assert_ns_frozen(fs);
	for (size_t b = 0; b < fs->ibuckets && !ret; b++) {
		for (struct fs_inode *i = fs->itab[b]; i && !ret; i = i->hnext) {
			if (!i->nlink && i->ino != FOFS_ROOT_INO)
				continue;
			fs_inode_lock(fs, i); /* a write or chmod may be changing it */
			ret = serialize_inode(mw, i, ext_fit_size(i));
			fs_inode_unlock(fs, i);
		}
	}
	for (size_t b = 0; b < fs->ibuckets && !ret; b++) {
		for (struct fs_inode *i = fs->itab[b]; i && !ret; i = i->hnext) {
			if (fs_inode_type(i) != S_IFDIR || !i->nlink)
				continue;
			for (struct fs_dirent *d = i->dhead; d && !ret; d = d->next)
				ret = img_mw_dirent(mw, i->ino, d->inode->ino, d->name, d->len);
		}
	}
	return ret ? ret : img_mw_finish(mw);
}

/*
 * The size a log batch records for an inode whose data it does not write:
 * the extents' own size while its data is dirty (the new bytes are not on
 * disk, so a larger size would read as zeros after a crash).
 */
static uint64_t log_size(const struct fs_inode *inode)
{
	uint64_t size = ext_fit_size(inode);

	if (!inode->fsync_target && (inode->dirty || inode->pt_writers) && inode->ext_size < size)
		size = inode->ext_size;
	return size;
}

static int log_ops(struct fs *fs, struct img_mw *mw)
{
	int ret = 0;

	for (size_t k = 0; k < fs->track.nops && !ret; k++) {
		const struct fs_track_op *op = fs->track.ops[k];

		if (op->type == FOFS_REC_DIRENT)
			ret = img_mw_dirent(mw, op->parent, op->ino, op->name, op->len);
		else if (op->type == FOFS_REC_UNLINK)
			ret = img_mw_unlink(mw, op->parent, op->name, op->len);
		else
			ret = img_mw_drop(mw, op->ino);
	}
	return ret;
}

/**
 * fs_log_batch() - one intent log batch: every change not yet recorded
 * @fs: the filesystem, lock held
 * @mw: an empty writer; sealed on success
 * @targets: the inodes fsync'd (their data just written back, each with
 *	fsync_target set), recorded even when nothing else about them changed
 * @nt: how many
 * @bytes: records of file bytes the batch carries (after the inodes)
 * @seq: the change number the batch covers, for fs_track_clean()
 *
 * Namespace changes come first, in order, then the changed inodes that
 * still have links, the logged bytes, then the next inode number.
 *
 * Return: 0; -ENOMEM.
 */
int fs_log_batch(struct fs *fs, struct img_mw *mw, struct fs_inode **targets, size_t nt,
		 const struct img_mw *bytes, uint64_t *seq)
{
	int ret;

	fs_assert_held(&fs->lock);
	*seq = fs->meta_seq;
	ret = log_ops(fs, mw);
	for (struct fs_inode *i = fs->track.inodes; i && !ret; i = i->tnext)
		if (i->nlink || i->ino == FOFS_ROOT_INO)
			ret = serialize_inode(mw, i, log_size(i));
	for (size_t k = 0; k < nt && !ret; k++)
		if (!targets[k]->tracked && targets[k]->nlink)
			ret = serialize_inode(mw, targets[k], log_size(targets[k]));
	if (!ret)
		ret = img_mw_splice(mw, bytes);
	if (!ret)
		ret = img_mw_next_ino(mw, fs->next_ino);
	return ret ? ret : img_mw_finish(mw);
}
