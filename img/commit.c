// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Reading and committing generations.  A commit writes the sealed record
 * stream into freshly allocated metadata blocks (never one the committed
 * generation uses), makes data and metadata durable, then writes the new
 * superblock into the slot the previous generation does not occupy and makes
 * that durable.  Until that last write lands the previous generation is
 * intact on disk, so a crash at any instant leaves either the old or the new
 * generation, never a mixture.  Blocks freed since the last commit are only
 * reused after the new superblock is durable.  Data extents are written here
 * too, each with its XXH3-64 checksum, and verified when read.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "img_int.h"

#define MH_CSUM_OFF	24u

/*
 * XXH3-64 of a metadata or log block with its checksum field read as 0,
 * seeded with @seed (0: the plain XXH3-64).
 */
uint64_t img_block_csum(uint8_t *block, size_t csum_off, uint64_t seed)
{
	uint8_t saved[8];
	uint64_t csum;

	memcpy(saved, block + csum_off, 8);
	memset(block + csum_off, 0, 8);
	csum = img_xxh3_seeded(block, FOFS_BLOCK_SIZE, seed);
	memcpy(block + csum_off, saved, 8);
	return csum;
}

static int read_meta_block(struct img *img, uint64_t blk, uint8_t *block,
			   uint32_t *used, uint64_t *next)
{
	int ret;

	ret = img_bulk_read(img, block, FOFS_BLOCK_SIZE, blk * FOFS_BLOCK_SIZE);
	if (ret) {
		img_set_error(img, "cannot read metadata block %llu: %s",
			   (unsigned long long)blk, strerror(-ret));
		return ret;
	}
	ret = -EUCLEAN;
	if (get_le32(block) != FOFS_META_MAGIC ||
	    get_le64(block + 8) != img->sb.s_generation) {
		img_set_error(img, "metadata block %llu is not part of generation %llu",
			   (unsigned long long)blk,
			   (unsigned long long)img->sb.s_generation);
		return ret;
	}
	ret = -EBADMSG;
	if (get_le64(block + MH_CSUM_OFF) != img_block_csum(block, MH_CSUM_OFF, 0)) {
		img_set_error(img, "metadata block %llu checksum mismatch",
			   (unsigned long long)blk);
		return ret;
	}
	*used = get_le32(block + 4);
	*next = get_le64(block + 16);
	ret = -EUCLEAN;
	if (*used > FOFS_META_PAYLOAD || (*next &&
	    (*next < FOFS_SUPER_SLOTS || *next >= img->sb.s_blocks))) {
		img_set_error(img, "metadata block %llu has a bad length or link",
			   (unsigned long long)blk);
		return ret;
	}
	return 0;
}

/**
 * img_read_meta() - read and verify the committed metadata chain
 * @img: the image
 * @buf: the record stream, to be freed by the caller
 * @len: its length
 *
 * Also remembers the chain's blocks so that the next commit frees them.
 *
 * Return: 0; -EBADMSG for a block checksum mismatch; -EUCLEAN for a broken
 * chain (wrong generation, loop, length mismatch); -EIO and other read
 * errors; -ENOMEM.
 */
int img_read_meta(struct img *img, void **buf, size_t *len)
{
	const struct fofs_super *sb = &img->sb;
	_Alignas(FOFS_BLOCK_SIZE) uint8_t block[FOFS_BLOCK_SIZE];
	uint64_t blk = sb->s_meta_head, n = 0, next;
	uint8_t *out = NULL;
	size_t off = 0;
	uint32_t used;
	int ret;

	ret = -ENOMEM;
	free(img->meta);
	img->meta = calloc(sb->s_meta_blocks, sizeof(uint64_t));
	out = malloc(sb->s_meta_blocks * FOFS_META_PAYLOAD);
	if (!img->meta || !out)
		goto out_free;
	for (n = 0; blk; n++, blk = next) {
		ret = -EUCLEAN;
		if (n == sb->s_meta_blocks) {
			img_set_error(img, "metadata chain is longer than the %llu "
				   "blocks the superblock records",
				   (unsigned long long)sb->s_meta_blocks);
			goto out_free;
		}
		ret = read_meta_block(img, blk, block, &used, &next);
		if (ret)
			goto out_free;
		memcpy(out + off, block + sizeof(struct fofs_meta_hdr), used);
		off += used;
		img->meta[n] = blk;
	}
	ret = -EUCLEAN;
	if (n != sb->s_meta_blocks || off != sb->s_meta_bytes) {
		img_set_error(img, "metadata chain holds %llu blocks / %zu bytes, "
			   "superblock says %llu / %llu", (unsigned long long)n, off,
			   (unsigned long long)sb->s_meta_blocks,
			   (unsigned long long)sb->s_meta_bytes);
		goto out_free;
	}
	img->nmeta = n;
	*buf = out;
	*len = off;
	return 0;
out_free:
	free(out);
	return ret;
}

/* The generation's extents take their blocks; two owners of one are corruption. */
static int load_inode(void *arg, const struct img_inode_rec *rec)
{
	struct img *img = arg;

	for (uint32_t i = 0; i < rec->ino.i_extents; i++) {
		const struct fofs_extent *e = &rec->ext[i];

		if (img_reserve(img, e->e_block, 1ull << e->e_order)) {
			img_set_error(img,
				      "inode %llu: extent at offset %llu uses "
				      "blocks %llu+%u that are out of range or shared",
				      (unsigned long long)rec->ino.i_ino,
				      (unsigned long long)e->e_file_off,
				      (unsigned long long)e->e_block, 1u << e->e_order);
			return -EUCLEAN;
		}
	}
	return 0;
}

/* Reserve the generation's metadata chain, log head and extents; check the count. */
static int load_reserve(struct img *img, const void *buf, size_t len)
{
	struct img_meta_ops wrap = { .inode = load_inode };
	const struct fofs_super *sb = &img->sb;
	char why[192];
	int ret;

	for (size_t i = 0; i < img->nmeta; i++) {
		ret = img_reserve(img, img->meta[i], 1);
		if (ret) {
			img_set_error(img,
				      "metadata block %llu is out of range or "
				      "listed twice",
				      (unsigned long long)img->meta[i]);
			return ret;
		}
	}
	if ((sb->s_feature_incompat & FOFS_FEATURE_INCOMPAT_LOG) &&
	    img_reserve(img, sb->s_log_head, 1)) {
		img_set_error(img, "log head %llu is in use by metadata",
			      (unsigned long long)sb->s_log_head);
		return -EUCLEAN;
	}
	why[0] = '\0';
	img->err[0] = '\0';
	ret = img_parse_meta(buf, len, &wrap, img, why, sizeof(why));
	if (ret && why[0])
		img_set_error(img, "metadata: %s", why);
	if (ret)
		return ret;
	if (img->used != sb->s_used_blocks) {
		img_set_error(img,
			      "superblock counts %llu used blocks, metadata "
			      "references %llu",
			      (unsigned long long)sb->s_used_blocks, (unsigned long long)img->used);
		return -EUCLEAN;
	}
	return 0;
}

/**
 * img_load() - read the committed state and build the allocator
 * @img: the image
 * @ops: visitor for the records (may be NULL)
 * @arg: passed to @ops
 *
 * The state is the generation with the intent log replayed on top; blocks
 * the log superseded stay held until the next img_commit().
 *
 * Return: 0; -EUCLEAN / -EBADMSG for damaged metadata, extents that leave the
 * image or share blocks, or a used-block count that disagrees with the
 * superblock; -EUCLEAN too for an image opened read-write whose log is
 * corrupt (img_log_stat()); read errors; -ENOMEM; or a callback's non-zero
 * return.
 */
int img_load(struct img *img, const struct img_meta_ops *ops, void *arg)
{
	char why[192];
	size_t len;
	void *buf;
	int ret;

	ret = img_bitmap_init(img);
	if (ret)
		return ret;
	ret = img_read_meta(img, &buf, &len);
	if (ret)
		return ret;
	ret = load_reserve(img, buf, len);
	if (!ret)
		ret = img_log_replay(img, &buf, &len, true);
	if (!ret && img->log_stat.corrupt && (img->flags & IMG_O_RDWR)) {
		/* writing would make the loss of the later batches final */
		img_set_error(img, "intent log: %s", img->log_stat.stop);
		ret = -EUCLEAN;
	}
	if (ret)
		goto out_buf;
	why[0] = '\0';
	ret = ops ? img_parse_meta(buf, len, ops, arg, why, sizeof(why)) : 0;
	if (ret && why[0])
		img_set_error(img, "metadata: %s", why);
out_buf:
	free(buf);
	return ret;
}

/**
 * img_write_extent() - write one extent's data and record its checksum
 * @img: the image
 * @e: extent with e_block and e_order set; e_checksum is filled in
 * @buf: img_order_bytes(e->e_order) bytes
 *
 * Not durable until the next img_commit().
 *
 * Return: 0; -errno from pwrite(2) (-EIO, -ENOSPC for a full host fs).
 */
int img_write_extent(struct img *img, struct fofs_extent *e, const void *buf)
{
	size_t len = img_order_bytes(e->e_order);
	int ret;

	e->e_checksum = img_xxh3(buf, len);
	ret = img_bulk_write(img, buf, len, e->e_block * FOFS_BLOCK_SIZE);
	return ret;
}


/**
 * img_read_extent() - read one extent and verify its checksum
 * @img: the image
 * @e: the extent
 * @buf: img_order_bytes(e->e_order) bytes
 *
 * Return: 0; -EBADMSG on a checksum mismatch; -EUCLEAN if the image is
 * shorter than the extent; -errno from pread(2).
 */
int img_read_extent(struct img *img, const struct fofs_extent *e, void *buf)
{
	size_t len = img_order_bytes(e->e_order);
	int ret;

	ret = img_bulk_read(img, buf, len, e->e_block * FOFS_BLOCK_SIZE);
	if (ret)
		return ret;
	return img_xxh3(buf, len) == e->e_checksum ? 0 : -EBADMSG;
}

/**
 * img_meta_write_chain() - allocate and write metadata blocks for a stream
 * @img: the image
 * @mw: sealed stream
 * @generation: generation the blocks belong to
 * @head: first block
 * @nblocks: blocks written
 * @blocks: their numbers (caller frees)
 *
 * On failure every block it allocated is given back.
 *
 * Return: 0; -ENOSPC; -ENOMEM; write errors.
 */
int img_meta_write_chain(struct img *img, const struct img_mw *mw,
			 uint64_t generation, uint64_t *head, uint64_t *nblocks,
			 uint64_t **blocks)
{
	uint64_t n = (mw->len + FOFS_META_PAYLOAD - 1) / FOFS_META_PAYLOAD, i;
	_Alignas(FOFS_BLOCK_SIZE) uint8_t block[FOFS_BLOCK_SIZE];
	uint64_t *blk;
	int ret = -ENOMEM;

	blk = calloc(n ? n : 1, sizeof(*blk));
	if (!blk)
		return ret;
	for (i = 0; i < n; i++) {
		ret = img_alloc(img, FOFS_ORDER_SMALL, &blk[i]);
		if (ret)
			goto out_unalloc;
	}
	for (i = 0; i < n; i++) {
		size_t off = i * FOFS_META_PAYLOAD;
		size_t used = mw->len - off < FOFS_META_PAYLOAD ?
			      mw->len - off : FOFS_META_PAYLOAD;

		memset(block, 0, sizeof(block));
		put_le32(block, FOFS_META_MAGIC);
		put_le32(block + 4, (uint32_t)used);
		put_le64(block + 8, generation);
		put_le64(block + 16, i + 1 < n ? blk[i + 1] : 0);
		memcpy(block + sizeof(struct fofs_meta_hdr), mw->buf + off, used);
		put_le64(block + MH_CSUM_OFF, img_block_csum(block, MH_CSUM_OFF, 0));
		ret = img_bulk_write(img, block, sizeof(block), blk[i] * FOFS_BLOCK_SIZE);
		if (ret)
			goto out_unalloc_all;
	}
	*head = n ? blk[0] : 0;
	*nblocks = n;
	*blocks = blk;
	return 0;
out_unalloc_all:
	i = n;
out_unalloc:
	while (i--)
		img_unalloc(img, blk[i], FOFS_ORDER_SMALL);
	free(blk);
	return ret;
}

int img_sync(struct img *img)
{
	return fdatasync(img->fd) < 0 ? -errno : 0;
}

/*
 * A slot block: the new superblock, and in its backup area the backup of
 * the generation now current, which lives in the other slot (that slot is
 * about to become the older one; its own block will carry the new
 * generation's backup once this one is durable).
 */
static int write_super(struct img *img, const struct fofs_super *sb)
{
	uint8_t block[FOFS_BLOCK_SIZE], prev[FOFS_BLOCK_SIZE];
	int ret;

	img_super_encode(sb, block);
	if (img->sb.s_generation) {
		img_super_encode(&img->sb, prev);
		memcpy(block + FOFS_SUPER_BACKUP_OFF, prev, 256);
	}
	ret = img_pwrite_full(img->fd, block, sizeof(block),
			      (sb->s_generation % FOFS_SUPER_SLOTS) * FOFS_BLOCK_SIZE);
	return ret ? ret : img_sync(img);
}

/*
 * Once @sb's slot is durable, its backup goes into the other slot block.
 * It becomes durable with the next commit's first flush (at unmount, at
 * once): a damaged slot is then recovered without loss.
 */
static int write_backup(struct img *img, const struct fofs_super *sb, bool sync)
{
	uint8_t block[FOFS_BLOCK_SIZE];
	uint64_t other = (sb->s_generation + 1) % FOFS_SUPER_SLOTS;
	int ret;

	img_super_encode(sb, block);
	ret = img_pwrite_full(img->fd, block, 256,
			      other * FOFS_BLOCK_SIZE + FOFS_SUPER_BACKUP_OFF);
	return ret || !sync ? ret : img_sync(img);
}

/**
 * img_super_rewrite() - write the superblock in use back into its slot
 * @img: an image opened read-write whose newest slot was damaged
 *	(IMG_SB_RECOVERED), or whose other slot is unreadable (IMG_SB_TORN)
 *
 * The primary area of the bad slot is rewritten; for a torn slot it gets
 * the current superblock too, as a second sound copy.
 *
 * Return: 0; -EROFS; -errno from writing or syncing.
 */
int img_super_rewrite(struct img *img)
{
	uint8_t block[FOFS_BLOCK_SIZE];
	int ret;

	if (!(img->flags & IMG_O_RDWR))
		return -EROFS;
	if (img->sb_state == IMG_SB_OK)
		return 0;
	img_super_encode(&img->sb, block);
	ret = img_pwrite_full(img->fd, block, FOFS_SUPER_BACKUP_OFF,
			      (uint64_t)img->sb_bad_slot * FOFS_BLOCK_SIZE);
	if (!ret)
		ret = img_sync(img);
	if (!ret)
		ret = write_backup(img, &img->sb, true);
	if (!ret) {
		img->sb_state = IMG_SB_OK;
		img->sb_note[0] = '\0';
	}
	return ret;
}

/**
 * img_commit() - make a new generation durable
 * @img: the image, opened read-write
 * @mw: the sealed record stream (img_mw_finish() called)
 * @args: next inode number and whether this is an unmount
 *
 * Every extent the stream references must already be written with
 * img_write_extent().  On failure the previous generation stays current and
 * nothing queued by img_free() is released.
 *
 * Return: 0; -EROFS if opened read-only; -ENOSPC if no room for the
 * metadata; -EIO or other errno from writing or syncing the image.
 */
int img_commit(struct img *img, struct img_mw *mw,
	       const struct img_commit_args *args)
{
	struct fofs_super sb = img->sb;
	uint64_t *blocks = NULL;
	int ret;

	ret = -EROFS;
	if (!(img->flags & IMG_O_RDWR))
		return ret;
	sb.s_generation++;
	sb.s_log_head = 0;
	if (sb.s_feature_incompat & FOFS_FEATURE_INCOMPAT_LOG) {
		/* the new generation's log starts empty, in a block of its own */
		ret = img_alloc(img, FOFS_ORDER_SMALL, &sb.s_log_head);
		if (ret)
			return ret;
	}
	ret = img_meta_write_chain(img, mw, sb.s_generation, &sb.s_meta_head,
				   &sb.s_meta_blocks, &blocks);
	if (ret)
		goto out_unalloc_head;
	ret = img_sync(img);
	if (ret)
		goto out_unalloc;
	sb.s_meta_bytes = mw->len;
	sb.s_inodes = mw->inodes;
	sb.s_next_ino = args->next_ino;
	sb.s_used_blocks = img->used - img->pending_blocks - img->nmeta - img->nlog;
	sb.s_commit_time = args->time ? args->time : (uint64_t)time(NULL);
	sb.s_flags = args->clean ? (sb.s_flags | FOFS_SF_CLEAN) :
				   (sb.s_flags & ~FOFS_SF_CLEAN);
	sb.s_feature_compat |= FOFS_FEATURE_COMPAT_SB_BACKUP;
	ret = write_super(img, &sb);
	if (ret)
		goto out_hold;
	/* the generation is committed; a failed backup costs only redundancy */
	write_backup(img, &sb, args->clean);
	posix_fadvise(img->fd, 0, 0, POSIX_FADV_DONTNEED);
	img->unflushed = 0;
	for (size_t i = 0; i < img->nmeta; i++)
		img_free(img, img->meta[i], FOFS_ORDER_SMALL);
	img->sb = sb;
	img_log_checkpointed(img, sb.s_log_head, true);
	img_release_pending(img);
	free(img->meta);
	img->meta = blocks;
	img->nmeta = sb.s_meta_blocks;
	return 0;
out_hold:
	/*
	 * The superblock may have landed and point at the new chain: keep
	 * its blocks from reuse until a later commit supersedes it, but do
	 * not count them as used then.
	 */
	for (uint64_t i = 0; i < sb.s_meta_blocks; i++)
		img_free(img, blocks[i], FOFS_ORDER_SMALL);
	if (sb.s_log_head)
		img_free(img, sb.s_log_head, FOFS_ORDER_SMALL);
	free(blocks);
	img_log_checkpointed(img, 0, false);
	return ret;
out_unalloc:
	for (uint64_t i = 0; i < sb.s_meta_blocks; i++)
		img_unalloc(img, blocks[i], FOFS_ORDER_SMALL);
	free(blocks);
out_unalloc_head:
	if (sb.s_log_head)
		img_unalloc(img, sb.s_log_head, FOFS_ORDER_SMALL);
	img_log_checkpointed(img, 0, false);
	return ret;
}
