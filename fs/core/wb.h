/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Private to writeback.c and fsync.c: one writeback pass over some inodes
 * (a commit's: every dirty one; an fsync's: the one file), its items and
 * the steps both drive: take, write (no fs lock), install, finish.
 */
#ifndef FOLIOFS_CORE_WB_H
#define FOLIOFS_CORE_WB_H

#include "fs.h"

struct wb_item {
	struct fs_inode *inode;
	struct spa dmap; /* regions to rehash, taken from the inode */
	bool dall;	 /* rehash every region that holds data */
	uint64_t size;
	int memfd;
	unsigned max_order;
	bool no_reuse;		 /* the inode's wb_unsynced at snapshot */
	bool relog;		 /* the region being stored was patched by the log */
	struct fofs_extent *bad; /* damaged extents: their regions are kept */
	uint32_t nbad;
	struct fofs_extent *old;
	uint32_t nold;
	bool *reused;
	struct fofs_extent *new;
	uint32_t nnew, capnew;
	struct clp_run run; /* the memfd's data run last found */
};

struct wb {
	struct fs *fs;
	struct wb_item *items;
	size_t n;
	uint8_t *buf; /* one region */
	uint64_t meta_seq;
	bool installed; /* the new extent lists replaced the old */
	bool log;	/* an fsync's log batch, not a generation */
};

int wb_take(struct wb *wb, struct fs_inode *i);
int wb_buffer(struct wb *wb);
int wb_write(struct wb *wb);
void wb_install(struct wb *wb);
void wb_finish(struct wb *wb, bool ok);
void wb_abandon(struct wb *wb);
void wb_release(struct wb *wb);
int fs_commit_locked(struct fs *fs, bool clean);
bool fs_pending_crowds(struct fs *fs);

#endif /* FOLIOFS_CORE_WB_H */
