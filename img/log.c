// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The intent log.  A generation (img_commit()) is a whole-filesystem
 * checkpoint; between two of them an fsync appends one record batch to the
 * log instead: the changed inodes in full, directory entries added and
 * removed, and the next inode number, written into the block the last
 * batch (or the generation) preallocated, with the data extents those
 * inodes name already written copy-on-write, and made durable by one
 * fdatasync.  Reading the image replays the batches on top of the
 * generation and stops at the first one that is torn, or whose new data
 * fails its checksum (the flush that would have made it durable never
 * finished), so a crash at any instant loses only batches that were never
 * acknowledged.  The replay builds a model of the generation's records,
 * applies each batch with replace semantics and hands its callers one
 * merged record stream, so the daemon and fsck read a replayed image as
 * they read a generation.  Blocks a batch supersedes stay allocated until
 * the next generation is durable: an older batch must stay replayable.
 */
#include <errno.h>
#include <stdlib.h>

#include "img_int.h"

#define LH_CSUM_OFF   40u
#define LOG_BATCH_MAX (256ull << 20) /* a longer batch is garbage */
#define GOLDEN	      0x9e3779b97f4a7c15ull

/* ---------------------------------------------------------------- writing */

bool img_log_ready(const struct img *img)
{
	return img->log_ready;
}

uint64_t img_log_blocks(const struct img *img)
{
	return img->nlog;
}

void img_log_stat(const struct img *img, struct img_log_stat *st)
{
	*st = img->log_stat;
	st->blocks = img->nlog;
}

/*
 * Blocks the replayed state uses: the generation's count, with what the
 * batches added and superseded, and the log blocks past the preallocated
 * head (the generation counts the head).
 */
uint64_t img_state_used(const struct img *img)
{
	const struct img_log_stat *st = &img->log_stat;

	return img->sb.s_used_blocks + st->added - st->dropped + (img->nlog ? img->nlog - 1 : 0);
}

static int log_room(struct img *img, size_t more)
{
	size_t cap = img->caplog ? img->caplog : 64;
	void *p;

	while (cap < img->nlog + more)
		cap *= 2;
	if (cap == img->caplog)
		return 0;
	p = realloc(img->logblk, cap * sizeof(*img->logblk));
	if (!p)
		return -ENOMEM;
	img->logblk = p;
	img->caplog = cap;
	return 0;
}

/* Called by img_commit(): a new generation starts a new, empty log. */
void img_log_checkpointed(struct img *img, uint64_t head, bool ok)
{
	img->log_ready = ok && head;
	if (!ok)
		return;
	for (size_t i = 0; i < img->nlog; i++)
		img_free(img, img->logblk[i], FOFS_ORDER_SMALL);
	img->nlog = 0;
	if (head && !log_room(img, 1))
		img->logblk[img->nlog++] = head;
	else
		img->log_ready = false;
	img->log_head = head;
	img->log_seq = 1;
	memset(&img->log_stat, 0, sizeof(img->log_stat));
}

static void log_encode(uint8_t *block, const struct img *img, uint64_t seq, uint64_t next,
		       const uint8_t *payload, size_t used, bool last)
{
	memset(block, 0, FOFS_BLOCK_SIZE);
	put_le32(block, FOFS_LOG_MAGIC);
	put_le32(block + 4, (uint32_t)used);
	put_le64(block + 8, img->sb.s_generation);
	put_le64(block + 16, seq);
	put_le64(block + 24, next);
	put_le32(block + 32, last ? FOFS_LOG_LAST : 0);
	memcpy(block + sizeof(struct fofs_log_hdr), payload, used);
	put_le64(block + LH_CSUM_OFF, img_block_csum(block, LH_CSUM_OFF));
}

/**
 * img_log_append() - make one record batch durable with one flush
 * @img: the image, opened read-write, with a generation committed by it
 * @mw: the sealed batch (img_mw_finish() called)
 *
 * The batch starts in the preallocated head block; further blocks and the
 * next head are allocated here.  Every extent the batch names must be
 * written already: the one fdatasync covers them too.  After a failure the
 * log takes no more batches until the next img_commit().
 *
 * Return: 0; -EAGAIN if the log cannot take a batch now (no log feature,
 * no commit yet, or an earlier failure): commit instead; -ENOSPC; -ENOMEM;
 * -EIO or another errno from writing or syncing.
 */
int img_log_append(struct img *img, const struct img_mw *mw)
{
	uint64_t n = (mw->len + FOFS_LOG_PAYLOAD - 1) / FOFS_LOG_PAYLOAD, i;
	_Alignas(FOFS_BLOCK_SIZE) uint8_t block[FOFS_BLOCK_SIZE];
	uint64_t *blk;
	int ret;

	ret = -EAGAIN;
	if (!img->log_ready || !n)
		return ret;
	ret = -ENOMEM;
	blk = calloc(n + 1, sizeof(*blk));
	if (!blk || log_room(img, n))
		goto out_free;
	blk[0] = img->log_head;
	for (i = 1; i <= n; i++) {
		ret = img_alloc(img, FOFS_ORDER_SMALL, &blk[i]);
		if (ret)
			goto out_unalloc;
	}
	for (i = 0; i < n && !ret; i++) {
		size_t off = i * FOFS_LOG_PAYLOAD;
		size_t used = mw->len - off < FOFS_LOG_PAYLOAD ? mw->len - off : FOFS_LOG_PAYLOAD;

		log_encode(block, img, img->log_seq + i, blk[i + 1], mw->buf + off, used,
			   i + 1 == n);
		ret = img_bulk_write(img, block, sizeof(block), blk[i] * FOFS_BLOCK_SIZE);
	}
	if (!ret)
		ret = img_sync(img);
	if (ret)
		goto out_broken;
	for (i = 1; i <= n; i++)
		img->logblk[img->nlog++] = blk[i];
	img->log_head = blk[n];
	img->log_seq += n;
	free(blk);
	return 0;
out_broken:
	/* some of it may have landed: keep its blocks until a new generation */
	img->log_ready = false;
	for (i = 1; i <= n; i++)
		img->logblk[img->nlog++] = blk[i];
	free(blk);
	return ret;
out_unalloc:
	while (--i >= 1)
		img_unalloc(img, blk[i], FOFS_ORDER_SMALL);
out_free:
	free(blk);
	return ret;
}

/* ------------------------------------------------------- the merge model */

struct lm_inode {
	uint64_t ino;
	const uint8_t *rec, *reg; /* INODE and REGIONS bodies, or NULL */
	uint32_t rlen, glen;
	bool dead;
};

struct lm_dirent {
	uint64_t parent, ino, seq;
	const uint8_t *name;
	uint16_t len;
	bool dead;
};

/* A hash of indices + 1 (0: empty slot), open addressing. */
struct lm_tab {
	uint32_t *slot;
	size_t mask;
};

struct lm {
	struct img *img;
	bool reserve; /* the daemon's load: keep the bitmap */
	struct lm_inode *in;
	size_t nin, capin;
	struct lm_dirent *d;
	size_t nd, capd;
	struct lm_tab it, dt;
	uint8_t **bufs; /* batch streams the model points into */
	size_t nbufs;
	uint64_t seq;	    /* entry order */
	void *data;	    /* one 2 MiB extent, to verify */
	uint64_t batch_blk; /* first block of the batch at hand */
};

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
	for (size_t i = 0; i < n; i++) {
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
			 "batch at log block %llu: its data at block %llu %s; the batch "
			 "was never acknowledged",
			 (unsigned long long)lm->batch_blk, (unsigned long long)e->e_block,
			 ret == -EBADMSG ? "fails its checksum" : "is out of range");
		return 1;
	}
	if (!ret)
		lm->img->log_stat.checked += img_order_bytes(e->e_order);
	return ret;
}

/* Apply pass: count (and for the daemon, reserve or hold) the blocks. */
static int lm_account(struct lm *lm, const struct fofs_extent *e, enum lm_change c)
{
	struct img *img = lm->img;
	uint64_t n = 1ull << e->e_order;

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
	ret = lm->batch_blk ? lm_diff(lm, in->rec, body, lm_account) : 0;
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
	ret = lm_diff(lm, lm->in[i].rec, NULL, lm_account);
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
static int lm_start(struct lm *lm, const uint8_t *buf, size_t len)
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

/* Inodes (each followed by its regions), then entries per directory in order. */
static int lm_emit(struct lm *lm, struct img_mw *mw)
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

static void lm_release(struct lm *lm)
{
	for (size_t i = 0; i < lm->nbufs; i++)
		free(lm->bufs[i]);
	free(lm->bufs);
	free(lm->in);
	free(lm->d);
	free(lm->it.slot);
	free(lm->dt.slot);
	free(lm->data);
}

/* ------------------------------------------------------ reading the chain */

struct lbatch {
	uint8_t *buf;
	size_t len, cap;
	uint64_t *blk;
	size_t nblk, capblk;
};

/* 0: a sound block of this log; 1: not one, the log ends; < 0: read error. */
static int log_block(struct img *img, uint64_t blk, uint64_t seq, uint8_t *block)
{
	uint64_t next;
	int ret;

	if (blk < FOFS_SUPER_SLOTS || blk >= img->sb.s_blocks)
		return 1;
	ret = img_bulk_read(img, block, FOFS_BLOCK_SIZE, blk * FOFS_BLOCK_SIZE);
	if (ret)
		return ret;
	if (get_le32(block) != FOFS_LOG_MAGIC || get_le64(block + 8) != img->sb.s_generation ||
	    get_le64(block + 16) != seq ||
	    get_le64(block + LH_CSUM_OFF) != img_block_csum(block, LH_CSUM_OFF))
		return 1;
	next = get_le64(block + 24);
	if (get_le32(block + 4) > FOFS_LOG_PAYLOAD || next < FOFS_SUPER_SLOTS ||
	    next >= img->sb.s_blocks)
		return 1;
	return 0;
}

static int lbatch_push(struct lbatch *b, const uint8_t *payload, size_t used, uint64_t blk)
{
	void *p;

	if (b->len + used > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 65536;

		if (!(p = realloc(b->buf, cap)))
			return -ENOMEM;
		b->buf = p;
		b->cap = cap;
	}
	if (b->nblk == b->capblk) {
		size_t cap = b->capblk ? b->capblk * 2 : 16;

		if (!(p = realloc(b->blk, cap * sizeof(*b->blk))))
			return -ENOMEM;
		b->blk = p;
		b->capblk = cap;
	}
	memcpy(b->buf + b->len, payload, used);
	b->len += used;
	b->blk[b->nblk++] = blk;
	return 0;
}

/*
 * Read the batch starting at *@blk.  Return: 0 and the next block in *@blk;
 * 1 when the log ends there (an unwritten block, or a torn batch: said in
 * log_stat.stop); a negative errno.
 */
static int log_read_batch(struct img *img, uint64_t *blk, uint64_t *seq, struct lbatch *b)
{
	_Alignas(FOFS_BLOCK_SIZE) uint8_t block[FOFS_BLOCK_SIZE];
	int ret;

	b->len = b->nblk = 0;
	for (;;) {
		ret = log_block(img, *blk, *seq, block);
		if (ret == 1 && b->nblk)
			snprintf(img->log_stat.stop, sizeof(img->log_stat.stop),
				 "batch at log block %llu is torn at block %llu; it was "
				 "never acknowledged",
				 (unsigned long long)b->blk[0], (unsigned long long)*blk);
		if (!ret && b->len > LOG_BATCH_MAX) {
			snprintf(img->log_stat.stop, sizeof(img->log_stat.stop),
				 "batch at log block %llu has no end",
				 (unsigned long long)b->blk[0]);
			ret = 1;
		}
		if (!ret)
			ret = lbatch_push(b, block + sizeof(struct fofs_log_hdr),
					  get_le32(block + 4), *blk);
		if (ret)
			return ret;
		*blk = get_le64(block + 24);
		(*seq)++;
		if (get_le32(block + 32) & FOFS_LOG_LAST)
			return 0;
	}
}

/* A complete batch: sound, its data on disk, then applied. 1: rejected. */
static int lm_batch(struct lm *lm, struct lbatch *b)
{
	char why[160];
	int ret;

	lm->batch_blk = b->blk[0];
	if (img_parse_batch(b->buf, b->len, why, sizeof(why))) {
		snprintf(lm->img->log_stat.stop, sizeof(lm->img->log_stat.stop),
			 "batch at log block %llu is damaged: %s", (unsigned long long)b->blk[0],
			 why);
		return 1;
	}
	ret = lm_verify(lm, b->buf);
	return ret ? ret : lm_apply(lm, b->buf);
}

/* An applied batch: the model points into it, its blocks join the log. */
static int log_accept(struct lm *lm, struct lbatch *b, uint64_t next, uint64_t seq)
{
	struct img *img = lm->img;
	void *p = realloc(lm->bufs, (lm->nbufs + 1) * sizeof(*lm->bufs));

	if (!p || log_room(img, b->nblk))
		return -ENOMEM;
	lm->bufs = p;
	lm->bufs[lm->nbufs++] = b->buf;
	b->buf = NULL;
	b->len = b->cap = 0;
	for (size_t i = 1; i <= b->nblk; i++) {
		uint64_t blk = i < b->nblk ? b->blk[i] : next;

		if (lm->reserve && img_reserve(img, blk, 1))
			return lm_bad(lm, "log block %llu is out of range or in use",
				      (unsigned long long)blk);
		img->logblk[img->nlog++] = blk;
	}
	img->log_head = next;
	img->log_seq = seq;
	img->log_stat.batches++;
	return 0;
}

/**
 * img_log_replay() - apply the intent log to the generation's record stream
 * @img: the image; with @reserve, its bitmap holds the generation
 * @buf: the generation's stream, replaced by the merged one when the log
 *	holds batches
 * @len: its length
 * @reserve: reserve what the batches add, and hold what they supersede
 *
 * Return: 0; -EUCLEAN for a batch that is sound but cannot apply (an entry
 * added twice, extents sharing blocks) or a damaged generation stream;
 * -ENOMEM; read errors.
 */
int img_log_replay(struct img *img, void **buf, size_t *len, bool reserve)
{
	struct lm lm = { .img = img, .reserve = reserve };
	struct lbatch b = { 0 };
	struct img_mw mw;
	uint64_t blk = img->sb.s_log_head, seq = 1;
	int ret;

	memset(&img->log_stat, 0, sizeof(img->log_stat));
	img->nlog = 0;
	img->log_ready = false;
	if (!(img->sb.s_feature_incompat & FOFS_FEATURE_INCOMPAT_LOG))
		return 0;
	ret = log_room(img, 1);
	if (ret)
		return ret;
	img->logblk[img->nlog++] = blk;
	img->log_head = blk;
	img->log_seq = 1;
	while (!(ret = log_read_batch(img, &blk, &seq, &b))) {
		if (!lm.data && (ret = lm_start(&lm, *buf, *len)))
			break;
		ret = lm_batch(&lm, &b);
		if (!ret)
			ret = log_accept(&lm, &b, blk, seq);
		if (ret)
			break;
	}
	img_mw_init(&mw);
	if (ret == 1)
		ret = 0;
	if (!ret && img->log_stat.batches)
		ret = lm_emit(&lm, &mw);
	if (!ret && img->log_stat.batches) {
		free(*buf);
		*buf = mw.buf;
		*len = mw.len;
	} else {
		img_mw_release(&mw);
	}
	lm_release(&lm);
	free(b.buf);
	free(b.blk);
	return ret;
}

/**
 * img_read_state() - the committed state: the generation with its log replayed
 * @img: the image
 * @buf: the merged record stream, to be freed by the caller
 * @len: its length
 *
 * For readers that keep their own block accounting (fsck): nothing is
 * reserved; img_state_used() says what the state uses.
 *
 * Return: as img_read_meta() and img_log_replay().
 */
int img_read_state(struct img *img, void **buf, size_t *len)
{
	int ret = img_read_meta(img, buf, len);

	if (ret)
		return ret;
	ret = img_log_replay(img, buf, len, false);
	if (ret) {
		free(*buf);
		*buf = NULL;
	}
	return ret;
}
