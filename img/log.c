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

#include "replay.h"

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
	put_le32(block + 36, (uint32_t)img_log_fsid(&img->sb));
	memcpy(block + sizeof(struct fofs_log_hdr), payload, used);
	put_le64(block + LH_CSUM_OFF, img_block_csum(block, LH_CSUM_OFF, img_log_fsid(&img->sb)));
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

/* ------------------------------------------------------ reading the chain */

struct lbatch {
	uint8_t *buf;
	size_t len, cap;
	uint64_t *blk;
	size_t nblk, capblk;
};

/* Does @block's header say it is block @seq of this generation's log? */
static bool log_header_ours(const struct img *img, const uint8_t *block, uint64_t seq)
{
	return get_le32(block) == FOFS_LOG_MAGIC && get_le64(block + 8) == img->sb.s_generation &&
	       get_le64(block + 16) == seq &&
	       get_le32(block + 36) == (uint32_t)img_log_fsid(&img->sb);
}

/*
 * 0: a sound block of this log; 1: not one, the log ends; 2: its header
 * names this log at @seq but the block is damaged or torn; < 0: read error.
 */
static int log_block(struct img *img, uint64_t blk, uint64_t seq, uint8_t *block)
{
	uint64_t next;
	int ret;

	if (blk < FOFS_SUPER_SLOTS || blk >= img->sb.s_blocks)
		return 1;
	ret = img_bulk_read(img, block, FOFS_BLOCK_SIZE, blk * FOFS_BLOCK_SIZE);
	if (ret)
		return ret;
	if (!log_header_ours(img, block, seq))
		return 1;
	next = get_le64(block + 24);
	if (get_le64(block + LH_CSUM_OFF) !=
		    img_block_csum(block, LH_CSUM_OFF, img_log_fsid(&img->sb)) ||
	    get_le32(block + 4) > FOFS_LOG_PAYLOAD || next < FOFS_SUPER_SLOTS ||
	    next >= img->sb.s_blocks)
		return 2;
	return 0;
}

/*
 * Is a batch that starts at @blk, block @seq of the log, sound?  One is
 * written only after the batch before it was flushed and acknowledged.
 */
static bool log_batch_follows(struct img *img, uint64_t blk, uint64_t seq)
{
	_Alignas(FOFS_BLOCK_SIZE) uint8_t block[FOFS_BLOCK_SIZE];

	return log_block(img, blk, seq, block) == 0;
}

/*
 * Block @seq of the log, whose header names this log, failed its checksum
 * (@block holds it as read).  A torn write leaves that too, but only in
 * the last batch: follow the header's chain to the end of the batch and
 * say whether a later batch is sound.  A header itself damaged is taken
 * for a torn tail (nothing it names can be trusted).
 */
static bool log_damaged_block_followed(struct img *img, const uint8_t *block, uint64_t seq)
{
	_Alignas(FOFS_BLOCK_SIZE) uint8_t cur[FOFS_BLOCK_SIZE];
	uint64_t next = get_le64(block + 24);
	bool last = get_le32(block + 32) & FOFS_LOG_LAST;

	for (uint64_t n = 0; !last && n < LOG_BATCH_MAX / FOFS_LOG_PAYLOAD; n++) {
		if (log_block(img, next, ++seq, cur))
			return false;
		next = get_le64(cur + 24);
		last = get_le32(cur + 32) & FOFS_LOG_LAST;
	}
	return last && log_batch_follows(img, next, seq + 1);
}

/*
 * The batch at @first was not replayed (log_stat.stop says why) and a later
 * one is sound: the log is corrupt, as e2fsck says of a journal transaction
 * that failed its checksum with later ones behind it.
 */
static void log_corrupt(struct img *img, uint64_t first)
{
	char why[sizeof(img->log_stat.stop)];

	memcpy(why, img->log_stat.stop, sizeof(why));
	img->log_stat.corrupt = true;
	snprintf(img->log_stat.stop, sizeof(img->log_stat.stop),
		 "%.150s, but a later batch is sound: the batch at log block %llu is "
		 "corrupt, replay was aborted there",
		 why, (unsigned long long)first);
}

/* Why a batch was not replayed, once we know whether it was acknowledged. */
static void log_rejected(struct img *img, uint64_t first, uint64_t next, uint64_t seq)
{
	size_t n = strlen(img->log_stat.stop);

	if (log_batch_follows(img, next, seq))
		log_corrupt(img, first);
	else
		snprintf(img->log_stat.stop + n, sizeof(img->log_stat.stop) - n,
			 "; it was never acknowledged");
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
 * log_stat.stop; a damaged one with a sound batch after it sets
 * log_stat.corrupt); a negative errno.
 */
static int log_read_batch(struct img *img, uint64_t *blk, uint64_t *seq, struct lbatch *b)
{
	_Alignas(FOFS_BLOCK_SIZE) uint8_t block[FOFS_BLOCK_SIZE];
	uint64_t first = *blk;
	int ret;

	b->len = b->nblk = 0;
	for (;;) {
		ret = log_block(img, *blk, *seq, block);
		if (ret == 2 && log_damaged_block_followed(img, block, *seq)) {
			snprintf(img->log_stat.stop, sizeof(img->log_stat.stop),
				 "log block %llu fails its checksum", (unsigned long long)*blk);
			log_corrupt(img, first);
			return 1;
		}
		if ((ret == 1 && b->nblk) || ret == 2)
			snprintf(img->log_stat.stop, sizeof(img->log_stat.stop),
				 "batch at log block %llu is torn at block %llu; it was "
				 "never acknowledged",
				 (unsigned long long)first, (unsigned long long)*blk);
		if (ret == 2)
			ret = 1;
		if (!ret && b->len > LOG_BATCH_MAX) {
			snprintf(img->log_stat.stop, sizeof(img->log_stat.stop),
				 "batch at log block %llu has no end", (unsigned long long)first);
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

/* An applied batch: the model points into it, its blocks join the log. */
static int log_accept(struct lm *lm, struct lbatch *b, uint64_t next, uint64_t seq)
{
	struct img *img = lm->img;

	if (lm_keep(lm, b->buf) || log_room(img, b->nblk))
		return -ENOMEM;
	b->buf = NULL;
	b->len = b->cap = 0;
	for (size_t i = 1; i <= b->nblk; i++) {
		uint64_t blk = i < b->nblk ? b->blk[i] : next;

		if (lm->reserve && img_reserve(img, blk, 1)) {
			img_set_error(img, "log block %llu is out of range or in use",
				      (unsigned long long)blk);
			return -EUCLEAN;
		}
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
		ret = lm_batch(&lm, b.buf, b.len, b.blk[0]);
		if (ret == 1)
			log_rejected(img, b.blk[0], blk, seq);
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
