// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Replaying the intent log: a model of the generation's records (inodes,
 * their region states, directory entries, logged file bytes) that each log
 * batch is applied to with replace semantics, once the data its inodes name
 * verifies; then one merged record stream for the image's readers.  Blocks
 * a batch adds are reserved, and those it supersedes held, for the daemon;
 * fsck only counts them (img_state_used()).
 */
#include <errno.h>
#include <stdlib.h>

#include "replay.h"

#define GOLDEN 0x9e3779b97f4a7c15ull

static uint64_t ino_hash(uint64_t ino)
{
	return ino * GOLDEN;
}

static uint64_t name_hash(uint64_t parent, const uint8_t *name, size_t len)
{
	return img_xxh3(name, len) ^ (parent * GOLDEN);
}

static bool lm_ino_eq(const struct lm *lm, uint32_t i, uint64_t ino, const void *u, size_t v)
{
	(void)u;
	(void)v;
	return !lm->in[i].dead && lm->in[i].ino == ino;
}

static bool lm_name_eq(const struct lm *lm, uint32_t i, uint64_t parent, const void *name,
		       size_t len)
{
	const struct lm_dirent *d = &lm->d[i];

	return !d->dead && d->parent == parent && d->len == len && !memcmp(d->name, name, len);
}

typedef bool lm_eq_fn(const struct lm *lm, uint32_t i, uint64_t k, const void *u, size_t v);

/* The live entry with this key, or -1. */
static long lm_find(const struct lm *lm, const struct lm_tab *t, uint64_t h, lm_eq_fn *eq,
		    uint64_t k, const void *u, size_t v)
{
	if (!t->slot)
		return -1;
	for (size_t s = h & t->mask; t->slot[s]; s = (s + 1) & t->mask)
		if (eq(lm, t->slot[s] - 1, k, u, v))
			return (long)t->slot[s] - 1;
	return -1;
}

static void lm_put(struct lm_tab *t, uint64_t h, uint32_t idx)
{
	size_t s = h & t->mask;

	while (t->slot[s])
		s = (s + 1) & t->mask;
	t->slot[s] = idx + 1;
}

/* Keep the table at most half full; a rebuild leaves dead entries out. */
static int lm_grow(struct lm *lm, struct lm_tab *t, size_t n, bool inodes)
{
	size_t cap = t->slot ? t->mask + 1 : 1024;

	if ((n + 1) * 2 <= cap && t->slot)
		return 0;
	while ((n + 1) * 2 > cap)
		cap *= 2;
	free(t->slot);
	t->slot = calloc(cap, sizeof(*t->slot));
	if (!t->slot)
		return -ENOMEM;
	t->mask = cap - 1;
	for (size_t i = 0; i < (inodes ? lm->nin : lm->nd); i++) {	/* those made so far */
		if (inodes && !lm->in[i].dead)
			lm_put(t, ino_hash(lm->in[i].ino), (uint32_t)i);
		else if (!inodes && !lm->d[i].dead)
			lm_put(t, name_hash(lm->d[i].parent, lm->d[i].name, lm->d[i].len),
			       (uint32_t)i);
	}
	return 0;
}

static long lm_inode_find(const struct lm *lm, uint64_t ino)
{
	return lm_find(lm, &lm->it, ino_hash(ino), lm_ino_eq, ino, NULL, 0);
}

static long lm_dirent_find(const struct lm *lm, uint64_t parent, const uint8_t *name, size_t len)
{
	return lm_find(lm, &lm->dt, name_hash(parent, name, len), lm_name_eq, parent, name, len);
}

static int lm_inode_add(struct lm *lm, uint64_t ino, struct lm_inode **out)
{
	if (lm->nin == lm->capin) {
		size_t cap = lm->capin ? lm->capin * 2 : 1024;
		void *p = realloc(lm->in, cap * sizeof(*lm->in));

		if (!p)
			return -ENOMEM;
		lm->in = p;
		lm->capin = cap;
	}
	if (lm_grow(lm, &lm->it, lm->nin + 1, true))
		return -ENOMEM;
	*out = &lm->in[lm->nin];
	memset(*out, 0, sizeof(**out));
	(*out)->ino = ino;
	lm_put(&lm->it, ino_hash(ino), (uint32_t)lm->nin++);
	return 0;
}

static int lm_dirent_add(struct lm *lm, const uint8_t *body)
{
	struct lm_dirent *d;

	if (lm->nd == lm->capd) {
		size_t cap = lm->capd ? lm->capd * 2 : 1024;
		void *p = realloc(lm->d, cap * sizeof(*lm->d));

		if (!p)
			return -ENOMEM;
		lm->d = p;
		lm->capd = cap;
	}
	if (lm_grow(lm, &lm->dt, lm->nd + 1, false))
		return -ENOMEM;
	d = &lm->d[lm->nd];
	d->parent = get_le64(body);
	d->ino = get_le64(body + 8);
	d->len = get_le16(body + 16);
	d->name = body + sizeof(struct fofs_dirent);
	d->seq = lm->seq++;
	d->dead = false;
	lm_put(&lm->dt, name_hash(d->parent, d->name, d->len), (uint32_t)lm->nd++);
	return 0;
}

/* ------------------------------------------------- extents of a record */

static uint32_t rec_nextents(const uint8_t *rec)
{
	return rec ? get_le32(rec + 80) : 0;
}

static void rec_extent(const uint8_t *rec, uint32_t i, struct fofs_extent *e)
{
	const uint8_t *p = rec + sizeof(struct fofs_inode) + (size_t)i * sizeof(*e);

	memset(e, 0, sizeof(*e));
	e->e_file_off = get_le64(p);
	e->e_block = get_le64(p + 8);
	e->e_order = p[16];
	e->e_checksum = get_le64(p + 24);
}

enum lm_change { LM_ADDED, LM_REWRITTEN, LM_DROPPED };

/*
 * Walk the extents of an inode's old and new record (both sorted by file
 * offset) and show @fn every extent @new has that @old lacks (same offset,
 * block and order), or holds with new bytes, and every one @old has that
 * @new lacks.
 */
static int lm_diff(struct lm *lm, const uint8_t *old, const uint8_t *new,
		   int (*fn)(struct lm *lm, const struct fofs_extent *e, enum lm_change c))
{
	uint32_t no = rec_nextents(old), nn = rec_nextents(new), i = 0, k = 0;
	struct fofs_extent o, n;
	int ret = 0;

	while (!ret && (i < no || k < nn)) {
		if (i < no)
			rec_extent(old, i, &o);
		if (k < nn)
			rec_extent(new, k, &n);
		if (k == nn || (i < no && o.e_file_off < n.e_file_off)) {
			ret = fn(lm, &o, LM_DROPPED);
			i++;
		} else if (i == no || n.e_file_off < o.e_file_off) {
			ret = fn(lm, &n, LM_ADDED);
			k++;
		} else if (o.e_block != n.e_block || o.e_order != n.e_order) {
			ret = fn(lm, &o, LM_DROPPED);
			if (!ret)
				ret = fn(lm, &n, LM_ADDED);
			i++;
			k++;
		} else {
			if (o.e_checksum != n.e_checksum)
				ret = fn(lm, &n, LM_REWRITTEN);
			i++;
			k++;
		}
	}
	return ret;
}

/* Verify pass: new data must be on disk, or the batch was never flushed. */
static int lm_verify_one(struct lm *lm, const struct fofs_extent *e, enum lm_change c)
{
	int ret;

	if (c == LM_DROPPED)
		return 0;
	if (e->e_block + (1ull << e->e_order) > lm->img->sb.s_blocks)
		ret = -EUCLEAN;
	else
		ret = img_read_extent(lm->img, e, lm->data);
	if (ret == -EBADMSG || ret == -EUCLEAN) {
		snprintf(lm->img->log_stat.stop, sizeof(lm->img->log_stat.stop),
			 "batch at log block %llu: its data at block %llu %s",
			 (unsigned long long)lm->batch_blk, (unsigned long long)e->e_block,
			 ret == -EBADMSG ? "fails its checksum" : "is out of range");
		return 1;
	}
	if (!ret)
		lm->img->log_stat.checked += img_order_bytes(e->e_order);
	return ret;
}

/* Apply pass: count (and for the daemon, reserve or hold) the blocks. */
/* New extents carry every byte logged for their range before them. */
static void lm_patch_kill(struct lm *lm, uint64_t ino, uint64_t off, uint64_t end)
{
	for (size_t i = 0; i < lm->npt; i++) {
		struct lm_patch *p = &lm->pt[i];

		if (p->ino == ino && p->off < end && p->off + p->len > off)
			p->dead = true;
	}
}

static int lm_patch_add(struct lm *lm, const uint8_t *body, uint32_t len)
{
	if (lm->npt == lm->cappt) {
		size_t cap = lm->cappt ? lm->cappt * 2 : 64;
		void *p = realloc(lm->pt, cap * sizeof(*lm->pt));

		if (!p)
			return -ENOMEM;
		lm->pt = p;
		lm->cappt = cap;
	}
	lm->pt[lm->npt++] = (struct lm_patch){
		.ino = get_le64(body),
		.off = get_le64(body + 8),
		.len = get_le32(body + 16),
		.rec = body,
		.rlen = len,
	};
	return 0;
}

static int lm_account(struct lm *lm, const struct fofs_extent *e, enum lm_change c)
{
	struct img *img = lm->img;
	uint64_t n = 1ull << e->e_order;

	/* new, rewritten or dropped (a punched region): written from memory
	 * that already held the logged bytes, which must not land again */
	lm_patch_kill(lm, lm->cur_ino, e->e_file_off, e->e_file_off + img_order_bytes(e->e_order));
	if (c == LM_ADDED) {
		img->log_stat.added += n;
		if (lm->reserve && img_reserve(img, e->e_block, n)) {
			img_set_error(img,
				      "log batch at block %llu: an extent uses blocks "
				      "%llu+%llu that are out of range or in use",
				      (unsigned long long)lm->batch_blk,
				      (unsigned long long)e->e_block, (unsigned long long)n);
			return -EUCLEAN;
		}
	} else if (c == LM_DROPPED) {
		img->log_stat.dropped += n;
		if (lm->reserve) /* the generation still names it */
			img_free(img, e->e_block, e->e_order);
	}
	return 0;
}

/* ------------------------------------------------------ building the model */

__attribute__((format(printf, 2, 3))) static int lm_bad(struct lm *lm, const char *fmt, ...)
{
	char line[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (lm->batch_blk)
		img_set_error(lm->img, "log batch at block %llu: %s",
			      (unsigned long long)lm->batch_blk, line);
	else
		img_set_error(lm->img, "metadata: %s", line);
	return -EUCLEAN;
}

/*
 * A later record of the inode gives its size: bytes logged past it were
 * cut by a truncate and must not come back if the file grows again.
 */
static void lm_patch_clip(struct lm *lm, uint64_t ino, uint64_t size)
{
	for (size_t i = 0; i < lm->npt; i++) {
		struct lm_patch *p = &lm->pt[i];

		if (p->dead || p->ino != ino || p->off + p->len <= size)
			continue;
		if (p->off >= size)
			p->dead = true;
		else
			p->len = size - p->off;
	}
}

static int lm_inode_rec(struct lm *lm, const uint8_t *body, uint32_t len)
{
	long i = lm_inode_find(lm, get_le64(body));
	struct lm_inode *in;
	int ret;

	if (i >= 0 && lm->in[i].rec && !lm->batch_blk)
		return lm_bad(lm, "inode %llu is recorded twice",
			      (unsigned long long)get_le64(body));
	if (i < 0) {
		ret = lm_inode_add(lm, get_le64(body), &in);
		if (ret)
			return ret;
	} else {
		in = &lm->in[i];
	}
	lm->cur_ino = in->ino;
	ret = lm->batch_blk ? lm_diff(lm, in->rec, body, lm_account) : 0;
	if (lm->batch_blk)
		lm_patch_clip(lm, in->ino, get_le64(body + 24)); /* i_size */
	in->rec = body;
	in->rlen = len;
	if (lm->batch_blk) /* replaced: its REGIONS record follows, if any */
		in->reg = NULL;
	return ret;
}

static int lm_regions_rec(struct lm *lm, const uint8_t *body, uint32_t len)
{
	long i = lm_inode_find(lm, get_le64(body));
	struct lm_inode *in;
	int ret;

	if (i < 0 && lm->batch_blk)
		return lm_bad(lm, "region states of unknown inode %llu",
			      (unsigned long long)get_le64(body));
	if (i < 0) { /* the consumer's parse reports it */
		ret = lm_inode_add(lm, get_le64(body), &in);
		if (ret)
			return ret;
	} else {
		in = &lm->in[i];
	}
	in->reg = body;
	in->glen = len;
	return 0;
}

static int lm_entry_rec(struct lm *lm, uint16_t type, const uint8_t *body)
{
	uint16_t nlen = get_le16(body + 16);
	long i = lm_dirent_find(lm, get_le64(body), body + sizeof(struct fofs_dirent), nlen);

	if (type == FOFS_REC_DIRENT && i >= 0)
		return lm_bad(lm, "entry '%.*s' in directory %llu exists already", (int)nlen,
			      (const char *)body + sizeof(struct fofs_dirent),
			      (unsigned long long)get_le64(body));
	if (type == FOFS_REC_DIRENT)
		return lm_dirent_add(lm, body);
	if (i < 0)
		return lm_bad(lm, "removed entry '%.*s' is not in directory %llu", (int)nlen,
			      (const char *)body + sizeof(struct fofs_dirent),
			      (unsigned long long)get_le64(body));
	lm->d[i].dead = true;
	return 0;
}

/* DROP: the inode and its extents go; it may never have been logged. */
static int lm_drop_rec(struct lm *lm, const uint8_t *body)
{
	long i = lm_inode_find(lm, get_le64(body));
	int ret;

	if (i < 0)
		return 0;
	lm->cur_ino = lm->in[i].ino;
	ret = lm_diff(lm, lm->in[i].rec, NULL, lm_account);
	lm_patch_kill(lm, lm->cur_ino, 0, UINT64_MAX);
	lm->in[i].dead = true;
	return ret;
}

static int lm_record(struct lm *lm, uint16_t type, const uint8_t *body, uint32_t len)
{
	switch (type) {
	case FOFS_REC_INODE:
		return lm_inode_rec(lm, body, len);
	case FOFS_REC_REGIONS:
		return lm_regions_rec(lm, body, len);
	case FOFS_REC_DIRENT:
	case FOFS_REC_UNLINK:
		return lm_entry_rec(lm, type, body);
	case FOFS_REC_DROP:
		return lm_drop_rec(lm, body);
	case FOFS_REC_WRITE:
		return lm_patch_add(lm, body, len);
	case FOFS_REC_NEXT_INO:
		if (get_le64(body) > lm->img->sb.s_next_ino)
			lm->img->sb.s_next_ino = get_le64(body);
		return 0;
	default:
		return 0;
	}
}

/* Apply every record of a stream already parsed and found sound. */
static int lm_apply(struct lm *lm, const uint8_t *buf)
{
	const uint8_t *p = buf, *body;
	uint16_t type;
	uint32_t len;
	int ret = 0;

	for (p = img_rec_next(p, &type, &body, &len); type != FOFS_REC_END && !ret;
	     p = img_rec_next(p, &type, &body, &len))
		ret = lm_record(lm, type, body, len);
	return ret;
}

/* Before a batch is applied, the data its inodes name must verify. */
static int lm_verify(struct lm *lm, const uint8_t *buf)
{
	const uint8_t *p = buf, *body;
	uint16_t type;
	uint32_t len;
	int ret = 0;

	for (p = img_rec_next(p, &type, &body, &len); type != FOFS_REC_END && !ret;
	     p = img_rec_next(p, &type, &body, &len)) {
		long i = type == FOFS_REC_INODE ? lm_inode_find(lm, get_le64(body)) : -1;

		if (type == FOFS_REC_INODE)
			ret = lm_diff(lm, i >= 0 ? lm->in[i].rec : NULL, body, lm_verify_one);
	}
	return ret;
}

/* The generation's records, the model every batch is applied to. */
int lm_start(struct lm *lm, const uint8_t *buf, size_t len)
{
	char why[160];
	int ret;

	lm->data = aligned_alloc(FOFS_BLOCK_SIZE, img_order_bytes(FOFS_ORDER_PMD));
	if (!lm->data)
		return -ENOMEM;
	ret = img_parse_meta(buf, len, NULL, NULL, why, sizeof(why));
	if (ret) {
		img_set_error(lm->img, "metadata: %s", why);
		return ret;
	}
	return lm_apply(lm, buf);
}

/* --------------------------------------------------- the merged stream */

struct lm_order {
	uint64_t parent, seq;
	uint32_t idx;
};

static int lm_order_cmp(const void *a, const void *b)
{
	const struct lm_order *x = a, *y = b;

	if (x->parent != y->parent)
		return x->parent < y->parent ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/*
 * Inodes (each followed by its regions), the logged bytes in order, then
 * entries per directory in order.
 */
int lm_emit(struct lm *lm, struct img_mw *mw)
{
	struct lm_order *o = calloc(lm->nd + 1, sizeof(*o));
	size_t n = 0;
	int ret = o ? 0 : -ENOMEM;

	for (size_t i = 0; i < lm->nin && !ret; i++) {
		const struct lm_inode *in = &lm->in[i];

		if (!in->dead && in->rec)
			ret = img_mw_raw(mw, FOFS_REC_INODE, in->rec, in->rlen);
		if (!in->dead && in->reg && !ret)
			ret = img_mw_raw(mw, FOFS_REC_REGIONS, in->reg, in->glen);
	}
	for (size_t i = 0; i < lm->npt && !ret; i++) {
		if (lm->pt[i].dead)
			continue;
		ret = img_mw_write(mw, lm->pt[i].ino, lm->pt[i].off,
				   lm->pt[i].rec + sizeof(struct fofs_write), lm->pt[i].len);
		lm->img->log_stat.written += lm->pt[i].len;
	}
	for (size_t i = 0; i < lm->nd && !ret; i++)
		if (!lm->d[i].dead)
			o[n++] = (struct lm_order){ lm->d[i].parent, lm->d[i].seq, (uint32_t)i };
	if (!ret)
		qsort(o, n, sizeof(*o), lm_order_cmp);
	for (size_t i = 0; i < n && !ret; i++) {
		const struct lm_dirent *d = &lm->d[o[i].idx];

		ret = img_mw_dirent(mw, d->parent, d->ino, (const char *)d->name, d->len);
	}
	free(o);
	return ret ? ret : img_mw_finish(mw);
}

void lm_release(struct lm *lm)
{
	for (size_t i = 0; i < lm->nbufs; i++)
		free(lm->bufs[i]);
	free(lm->bufs);
	free(lm->in);
	free(lm->d);
	free(lm->it.slot);
	free(lm->dt.slot);
	free(lm->data);
	free(lm->pt);
}

/* A complete batch: sound, its data on disk, then applied. 1: rejected. */
int lm_batch(struct lm *lm, const uint8_t *buf, size_t len, uint64_t blk)
{
	char why[160];
	int ret;

	lm->batch_blk = blk;
	if (img_parse_batch(buf, len, why, sizeof(why))) {
		snprintf(lm->img->log_stat.stop, sizeof(lm->img->log_stat.stop),
			 "batch at log block %llu is damaged: %s", (unsigned long long)blk, why);
		return 1;
	}
	ret = lm_verify(lm, buf);
	return ret ? ret : lm_apply(lm, buf);
}

/* An applied batch stays in memory: the model points into it. */
int lm_keep(struct lm *lm, uint8_t *buf)
{
	void *p = realloc(lm->bufs, (lm->nbufs + 1) * sizeof(*lm->bufs));

	if (!p)
		return -ENOMEM;
	lm->bufs = p;
	lm->bufs[lm->nbufs++] = buf;
	return 0;
}
