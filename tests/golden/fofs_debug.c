// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Test helper: shows what an image holds (superblock, inodes, extents with
 * their folio orders) and damages images in precise ways for the golden
 * fsck tests and the bad-image integration tests.  Structural damage (link
 * counts, dangling entries, orphans, shared extents) is made by rewriting the
 * record stream and committing it with the image library, so that only the
 * intended inconsistency is present.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "foliofs/img.h"

struct model {
	struct img_mw mw;
	const char *kind;
	uint64_t arg;
	int done;
	uint64_t seen_block;	/* first data block seen, for "share" */
};

static int show_inode(void *arg, const struct img_inode_rec *rec)
{
	(void)arg;
	printf("inode %llu mode %06o nlink %u size %llu extents %u xattrs %u\n",
	       (unsigned long long)rec->ino.i_ino, rec->ino.i_mode, rec->ino.i_nlink,
	       (unsigned long long)rec->ino.i_size, rec->ino.i_extents,
	       rec->ino.i_xattrs);
	for (uint32_t i = 0; i < rec->ino.i_extents; i++)
		printf("  extent off %llu order %u block %llu\n",
		       (unsigned long long)rec->ext[i].e_file_off, rec->ext[i].e_order,
		       (unsigned long long)rec->ext[i].e_block);
	return 0;
}

static int show_dirent(void *arg, uint64_t parent, uint64_t ino,
		       const char *name, size_t len)
{
	(void)arg;
	printf("dirent %llu '%.*s' -> %llu\n", (unsigned long long)parent, (int)len,
	       name, (unsigned long long)ino);
	return 0;
}

static int show_regions(void *arg, uint64_t ino, const struct img_region *r,
			size_t n)
{
	(void)arg;
	for (size_t i = 0; i < n; i++)
		printf("region %llu index %llu state %u\n", (unsigned long long)ino,
		       (unsigned long long)r[i].index, r[i].state);
	return 0;
}

static int mod_regions(void *arg, uint64_t ino, const struct img_region *r,
		       size_t n)
{
	struct model *m = arg;

	return img_mw_regions(&m->mw, ino, r, n);
}

static int mod_inode(void *arg, const struct img_inode_rec *rec)
{
	struct model *m = arg;
	struct img_inode_rec r = *rec;
	struct fofs_extent *ext = malloc((rec->ino.i_extents + 1) * sizeof(*ext));
	int ret;

	if (!ext)
		return -ENOMEM;
	if (rec->ino.i_extents)
		memcpy(ext, rec->ext, rec->ino.i_extents * sizeof(*ext));
	r.ext = ext;
	if (!strcmp(m->kind, "nlink") && rec->ino.i_ino == m->arg && !m->done++)
		r.ino.i_nlink += 3;
	if (!strcmp(m->kind, "share") && rec->ino.i_extents) {
		if (!m->seen_block)
			m->seen_block = ext[0].e_block;
		else if (!m->done++ && ext[0].e_order == 0)
			ext[0].e_block = m->seen_block;
	}
	if (!strcmp(m->kind, "beyond") && rec->ino.i_ino == m->arg && !m->done++)
		r.ino.i_size = 0;
	ret = img_mw_inode(&m->mw, &r);
	free(ext);
	return ret;
}

static int mod_dirent(void *arg, uint64_t parent, uint64_t ino,
		      const char *name, size_t len)
{
	struct model *m = arg;

	if (!strcmp(m->kind, "orphan") && ino == m->arg)
		return 0;
	if (!strcmp(m->kind, "dangling") && !m->done++)
		img_mw_dirent(&m->mw, parent, 999999, "dangling", 8);
	return img_mw_dirent(&m->mw, parent, ino, name, len);
}

static int rewrite(const char *path, const char *kind, uint64_t arg)
{
	struct img_meta_ops ops = { .inode = mod_inode, .dirent = mod_dirent,
				    .regions = mod_regions };
	struct img_commit_args args;
	struct model m = { .kind = kind, .arg = arg };
	struct img *img = NULL;
	int ret;

	img_mw_init(&m.mw);
	ret = img_open(path, IMG_O_RDWR, &img);
	if (!ret)
		ret = img_load(img, &ops, &m);
	if (!ret)
		ret = img_mw_finish(&m.mw);
	args = (struct img_commit_args){ .next_ino = img_sb(img)->s_next_ino };
	if (!ret)
		ret = img_commit(img, &m.mw, &args);
	if (ret)
		fprintf(stderr, "fofs_debug: %s: %s\n", img_errmsg(img), strerror(-ret));
	img_mw_release(&m.mw);
	img_close(img);
	return ret ? 1 : 0;
}

static int show(const char *path)
{
	struct img_meta_ops ops = { .inode = show_inode, .dirent = show_dirent,
				    .regions = show_regions };
	struct img *img = NULL;
	const struct fofs_super *sb;
	int ret;

	ret = img_open(path, IMG_O_RDONLY | IMG_O_NOLOCK, &img);
	if (!ret) {
		sb = img_sb(img);
		printf("super generation %llu blocks %llu used %llu meta_head %llu "
		       "meta_blocks %llu inodes %llu flags %u log_head %llu\n",
		       (unsigned long long)sb->s_generation, (unsigned long long)sb->s_blocks,
		       (unsigned long long)sb->s_used_blocks, (unsigned long long)sb->s_meta_head,
		       (unsigned long long)sb->s_meta_blocks, (unsigned long long)sb->s_inodes,
		       sb->s_flags, (unsigned long long)sb->s_log_head);
		ret = img_load(img, &ops, NULL);
	}
	if (ret)
		fprintf(stderr, "fofs_debug: %s\n", img ? img_errmsg(img) : strerror(-ret));
	img_close(img);
	return ret ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "show"))
		return show(argv[2]);
	if (argc >= 4 && !strcmp(argv[1], "damage"))
		return rewrite(argv[2], argv[3], argc > 4 ? strtoull(argv[4], NULL, 0) : 0);
	fprintf(stderr, "usage: fofs_debug show IMAGE\n"
		"       fofs_debug damage IMAGE nlink|orphan|dangling|share|beyond [INO]\n");
	return 2;
}
