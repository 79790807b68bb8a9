/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Private to the image library: the model the intent log is replayed into
 * (replay.c), as log.c drives it while it reads the log's blocks.
 */
#ifndef FOLIOFS_IMG_REPLAY_H
#define FOLIOFS_IMG_REPLAY_H

#include "img_int.h"

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

/* File bytes a batch logged (FOFS_REC_WRITE), applied after the extents. */
struct lm_patch {
	uint64_t ino, off, len;
	const uint8_t *rec; /* the record body */
	uint32_t rlen;
	bool dead;
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
	uint64_t cur_ino;   /* the inode whose extents are being diffed */
	struct lm_patch *pt;
	size_t npt, cappt;
};

int lm_start(struct lm *lm, const uint8_t *buf, size_t len);
int lm_batch(struct lm *lm, const uint8_t *buf, size_t len, uint64_t blk);
int lm_keep(struct lm *lm, uint8_t *buf);
int lm_emit(struct lm *lm, struct img_mw *mw);
void lm_release(struct lm *lm);

#endif /* FOLIOFS_IMG_REPLAY_H */
