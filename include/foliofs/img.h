/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Image library: everything that reads or writes a foliofs image, with no
 * dependency on libfuse.  It opens and locks an image, picks the newest valid
 * superblock, reads and parses the metadata record stream, allocates blocks
 * for folio-sized extents, writes and verifies data extents, and commits a new
 * metadata generation with an atomic superblock switch.  The daemon, mkfs,
 * fsck and the unit tests are its callers.  Functions return 0 or a negative
 * errno; -EUCLEAN means corruption and -EBADMSG a checksum mismatch, and
 * img_errmsg() then holds one line naming what is wrong.
 */
#ifndef FOLIOFS_IMG_H
#define FOLIOFS_IMG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "foliofs/format.h"

struct img;

/* img_open() flags */
#define IMG_O_RDONLY	0u
#define IMG_O_RDWR	(1u << 0)
#define IMG_O_NOLOCK	(1u << 1)	/* tests only: skip flock */
#define IMG_O_BUFFERED	(1u << 2)	/* no O_DIRECT: through the page cache */

/* One inode record as the parser hands it out (native byte order). */
struct img_xattr {
	const char *name;
	uint16_t name_len;
	const void *value;
	uint32_t value_len;
};

struct img_inode_rec {
	struct fofs_inode ino;
	const struct fofs_extent *ext;	/* ino.i_extents entries */
	const struct img_xattr *xattr;	/* ino.i_xattrs entries */
	const char *target;		/* ino.i_target_len bytes, no NUL */
};

struct img_region {
	uint64_t index;
	uint8_t state;
	uint8_t last;
};

/* Visitor for img_parse_meta(); a non-zero return stops the walk. */
struct img_meta_ops {
	int (*inode)(void *arg, const struct img_inode_rec *rec);
	int (*dirent)(void *arg, uint64_t parent, uint64_t ino,
		      const char *name, size_t name_len);
	int (*regions)(void *arg, uint64_t ino, const struct img_region *r,
		       size_t n);	/* may be NULL */
	/* bytes the log holds for a file (a replayed state only); NULL: refused */
	int (*write)(void *arg, uint64_t ino, uint64_t off, const void *data, size_t len);
};

/* Growing buffer that serializes a metadata record stream. */
struct img_mw {
	uint8_t *buf;
	size_t len;
	size_t cap;
	uint64_t records;
	uint64_t inodes;
};

/* What a commit records besides the record stream. */
struct img_commit_args {
	uint64_t next_ino;
	uint64_t time;		/* commit time; 0 for now */
	bool clean;		/* final commit of an unmount */
};

/* What the intent log held when the image was read (img_log_stat()). */
struct img_log_stat {
	uint64_t batches; /* record batches replayed */
	uint64_t blocks;  /* log blocks in use, the preallocated head too */
	uint64_t added;	  /* extent blocks the batches added ... */
	uint64_t dropped; /* ... and those they superseded */
	uint64_t checked; /* bytes of logged data verified */
	uint64_t written; /* file bytes the log itself holds */
	char stop[256];	  /* why replay stopped before an unwritten block */
	/*
	 * The batch replay stopped at is damaged, not torn: a later batch is
	 * sound, so it was acknowledged.  Replay kept the batches before it;
	 * the image needs fsck before it is written again.
	 */
	bool corrupt;
};

struct img_mkfs_opts {
	uint64_t size;		/* bytes; 0 keeps the current size */
	const char *label;	/* may be NULL */
	const uint8_t *uuid;	/* 16 bytes, NULL for a random one */
	uint64_t time;		/* 0 for now; tests pin it for golden images */
	bool sparse;		/* file target: do not preallocate */
	bool root_owner;	/* root directory owned by root_uid:root_gid */
	bool no_log;		/* without the intent log (-O ^log) */
	uint32_t root_uid, root_gid;	/* (else by the caller's uid and gid) */
};

/* Inline helpers shared by every caller. */
static inline uint64_t img_order_bytes(unsigned order)
{
	return (uint64_t)FOFS_BLOCK_SIZE << order;
}

static inline bool img_order_valid(unsigned order)
{
	return order == FOFS_ORDER_SMALL || order == FOFS_ORDER_LAF ||
	       order == FOFS_ORDER_PMD;
}

int img_open(const char *path, unsigned flags, struct img **out);
void img_close(struct img *img);
void img_set_error(struct img *img, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
const char *img_errmsg(const struct img *img);

/* How the superblock in use was found. */
enum img_sb_state {
	IMG_SB_OK = 0,		/* the newest slot is sound */
	IMG_SB_TORN,		/* a slot is unreadable: a torn write of a commit
				 * never acknowledged, or an older generation
				 * damaged; nothing committed is lost */
	IMG_SB_RECOVERED,	/* the newest committed slot is damaged; its
				 * backup copy is in use */
};

enum img_sb_state img_super_state(const struct img *img, const char **note);
int img_super_rewrite(struct img *img);
const struct fofs_super *img_sb(const struct img *img);
int img_fd(const struct img *img);
bool img_direct_io(const struct img *img, const char **why);
void img_drop_cache(struct img *img);

void img_super_encode(const struct fofs_super *sb, void *block);
int img_super_decode(const void *block, struct fofs_super *sb,
		     char *msg, size_t msglen);

int img_read_meta(struct img *img, void **buf, size_t *len);
int img_read_state(struct img *img, void **buf, size_t *len);
int img_parse_meta(const void *buf, size_t len, const struct img_meta_ops *ops,
		   void *arg, char *msg, size_t msglen);
int img_load(struct img *img, const struct img_meta_ops *ops, void *arg);

void img_mw_init(struct img_mw *mw);
void img_mw_release(struct img_mw *mw);
int img_mw_inode(struct img_mw *mw, const struct img_inode_rec *rec);
int img_mw_dirent(struct img_mw *mw, uint64_t parent, uint64_t ino,
		  const char *name, size_t name_len);
int img_mw_regions(struct img_mw *mw, uint64_t ino, const struct img_region *r,
		   size_t n);
int img_mw_unlink(struct img_mw *mw, uint64_t parent, const char *name, size_t name_len);
int img_mw_drop(struct img_mw *mw, uint64_t ino);
int img_mw_next_ino(struct img_mw *mw, uint64_t next);
int img_mw_write(struct img_mw *mw, uint64_t ino, uint64_t off, const void *data, size_t len);
int img_mw_splice(struct img_mw *mw, const struct img_mw *from);
int img_mw_finish(struct img_mw *mw);

/* the intent log */
bool img_log_ready(const struct img *img);
int img_log_append(struct img *img, const struct img_mw *mw);
uint64_t img_log_blocks(const struct img *img);
void img_log_stat(const struct img *img, struct img_log_stat *st);
uint64_t img_state_used(const struct img *img);

int img_alloc(struct img *img, unsigned order, uint64_t *blk);
int img_reserve(struct img *img, uint64_t blk, uint64_t nblocks);
void img_free(struct img *img, uint64_t blk, unsigned order);
void img_unalloc(struct img *img, uint64_t blk, unsigned order);
uint64_t img_used_blocks(const struct img *img);
uint64_t img_pending_blocks(const struct img *img);

/* File bytes the intent log held, for img_fold_writes(). */
struct img_write {
	uint64_t off;
	const void *data;
	size_t len;
};

int img_fold_writes(struct img *img, struct fofs_extent **ext, uint32_t *n, uint64_t size,
		    const struct img_write *w, size_t nw);
int img_write_extent(struct img *img, struct fofs_extent *e, const void *buf);
int img_read_extent(struct img *img, const struct fofs_extent *e, void *buf);
int img_commit(struct img *img, struct img_mw *mw,
	       const struct img_commit_args *args);

/* fsck */
struct img_check_opts {
	bool repair;		/* -y / -p: apply safe repairs */
	bool verify_data;	/* read every extent and check its checksum */
	void (*report)(void *arg, const char *line);
	void (*progress)(void *arg, uint64_t done, uint64_t total); /* or NULL */
	void *arg;
};

struct img_check_result {
	unsigned found;		/* problems found */
	unsigned fixed;		/* of which repaired */
	unsigned unfixable;	/* of which no repair exists */
	uint64_t inodes;
	uint64_t dirents;
	uint64_t data_blocks;
	uint64_t generation;
};

int img_check(const char *path, const struct img_check_opts *opts,
	      struct img_check_result *res);

int img_format(const char *path, const struct img_mkfs_opts *opts,
	       char *msg, size_t msglen);
int img_probe(const char *path, struct fofs_super *sb);
int img_parse_size(const char *s, uint64_t *out);
int img_parse_uint(const char *s, uint64_t max, uint64_t *out);

uint64_t img_xxh3(const void *buf, size_t len);

#endif /* FOLIOFS_IMG_H */
