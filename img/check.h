/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Private to the checker (check.c: the model and the passes over it;
 * checkrun.c: running a check, the log and the repair commit).
 */
#ifndef FOLIOFS_IMG_CHECK_H
#define FOLIOFS_IMG_CHECK_H

#include "img_int.h"

struct ck_inode {
	struct fofs_inode ino;
	struct fofs_extent *ext;
	struct img_xattr *xattr;
	uint8_t *blob; /* xattr names/values and target */
	const char *target;
	uint32_t refs;	  /* directory entries naming it */
	uint32_t subdirs; /* entries in it naming directories */
	bool reached;
	bool dropped; /* duplicate record, ignored */
	bool *bad;    /* per extent: checksum mismatch */
	bool *drop;   /* per extent: to be dropped */
};

struct ck_dirent {
	uint64_t parent;
	uint64_t ino;
	char *name;
	uint16_t len;
	bool dead;
};

struct ck_regions {
	uint64_t ino;
	struct img_region *r;
	size_t n;
};

/* Bytes the intent log holds for a file. */
struct ck_write {
	uint64_t ino, off;
	void *data;
	size_t len;
	bool dead;
};

struct ck {
	struct img *img;
	struct ck_write *w;
	size_t nw, capw;
	struct ck_regions *rg;
	size_t nrg, caprg;
	const struct img_check_opts *o;
	struct img_check_result *r;
	struct ck_inode *in;
	size_t nin, capin;
	struct ck_dirent *d;
	size_t nd, capd;
	uint64_t next_ino;
	bool dirty; /* the model differs from the image */
};

__attribute__((format(printf, 3, 4))) void ck_find(struct ck *ck, bool fixable, const char *fmt,
						   ...);
void *ck_grow(void *arr, size_t *cap, size_t n, size_t size);
int ck_on_inode(void *arg, const struct img_inode_rec *rec);
int ck_on_dirent(void *arg, uint64_t parent, uint64_t ino, const char *name, size_t len);
int ck_on_regions(void *arg, uint64_t ino, const struct img_region *r, size_t n);
int ck_on_write(void *arg, uint64_t ino, uint64_t off, const void *data, size_t len);
struct ck_inode *ck_get(struct ck *ck, uint64_t ino);
void ck_pass_inodes(struct ck *ck);
int ck_pass_blocks(struct ck *ck, void *buf);
void ck_pass_dirents(struct ck *ck);
int ck_pass_connect(struct ck *ck);
void ck_pass_regions(struct ck *ck);
void ck_pass_writes(struct ck *ck);
int ck_fold_writes(struct ck *ck);
void ck_pass_nlink(struct ck *ck);

#endif /* FOLIOFS_IMG_CHECK_H */
