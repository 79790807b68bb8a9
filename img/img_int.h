/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Private state of the image library: the open image handle, its block
 * bitmap and the little-endian load/store helpers used by the encoders.
 * Nothing outside img/ includes this header.
 */
#ifndef FOLIOFS_IMG_INT_H
#define FOLIOFS_IMG_INT_H

#include <endian.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "foliofs/img.h"

struct img_range {
	uint64_t blk;
	uint64_t n;
};

/*
 * Callers serialize commits and allocation (the daemon's commit mutex); the
 * handle itself takes no lock.
 */
struct img {
	int fd;				/* superblocks, locking; buffered */
	int dfd;			/* extents and metadata: O_DIRECT, or -1 */
	char direct_why[96];		/* why dfd is -1 */
	unsigned flags;
	bool sparse;			/* a file not all allocated on its host */
	struct fofs_super sb;		/* newest valid superblock */
	enum img_sb_state sb_state;	/* how it was found (img_super_state()) */
	unsigned sb_bad_slot;		/* the slot that failed, if any */
	char sb_note[200];		/* one line on sb_state, or "" */
	uint64_t *bitmap;		/* one bit per block, 1 = in use */
	uint64_t used;			/* bits set in bitmap */
	struct img_range *pending;	/* freed, reusable after next commit */
	size_t npending, cappending;
	uint64_t pending_blocks;
	uint64_t *meta;			/* blocks of the committed chain */
	size_t nmeta;
	uint64_t alloc_hint[10];	/* next-fit cursor per order */
	/* intent log (log.c) */
	uint64_t log_head; /* block the next batch starts in */
	uint64_t log_seq;  /* lh_seq of that block */
	bool log_ready;	   /* a commit of ours set the generation */
	uint64_t *logblk;  /* log blocks since the commit, head too */
	size_t nlog, caplog;
	struct img_log_stat log_stat;	/* what the replay found */
	uint64_t unflushed;		/* bytes of buffered I/O since the cache was dropped */
	char err[256];
};

#define IMG_WRITEOUT_BYTES	(8ull << 20)
#define IMG_DIRECT_MIN		(2ull << 20)	/* smaller bulk I/O is buffered */

int img_bulk_read(struct img *img, void *buf, size_t len, uint64_t off);
int img_bulk_write(struct img *img, const void *buf, size_t len, uint64_t off);

__attribute__((format(printf, 3, 4)))
static inline void img_msg(char *msg, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!msg || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, len, fmt, ap);
	va_end(ap);
}

static inline void put_le16(uint8_t *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, 2);
}

static inline void put_le32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static inline void put_le64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

static inline uint16_t get_le16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return le16toh(v);
}

static inline uint32_t get_le32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return le32toh(v);
}

static inline uint64_t get_le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

static inline bool img_bit(const struct img *img, uint64_t blk)
{
	return img->bitmap[blk / 64] & (1ull << (blk % 64));
}

int img_bitmap_init(struct img *img);
void img_release_pending(struct img *img);
int img_meta_write_chain(struct img *img, const struct img_mw *mw,
			 uint64_t generation, uint64_t *head, uint64_t *nblocks,
			 uint64_t **blocks);
int img_mw_raw(struct img_mw *mw, uint16_t type, const void *body, uint32_t len);
int img_parse_batch(const void *buf, size_t len, char *msg, size_t msglen);
const uint8_t *img_rec_next(const uint8_t *p, uint16_t *type, const uint8_t **body, uint32_t *len);
uint64_t img_block_csum(uint8_t *block, size_t csum_off, uint64_t seed);
uint64_t img_xxh3_seeded(const void *buf, size_t len, uint64_t seed);
uint64_t img_log_fsid(const struct fofs_super *sb);
int img_sync(struct img *img);
int img_log_replay(struct img *img, void **buf, size_t *len, bool reserve);
void img_log_checkpointed(struct img *img, uint64_t head, bool ok);
int img_pread_full(int fd, void *buf, size_t len, uint64_t off);
int img_pwrite_full(int fd, const void *buf, size_t len, uint64_t off);

#endif /* FOLIOFS_IMG_INT_H */
