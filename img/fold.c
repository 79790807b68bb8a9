// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Folding logged file bytes into extents, for a reader that writes a new
 * generation from a replayed state without the daemon's memory files
 * (fsck -y).  Each 2 MiB region the bytes land in is read from its
 * extents, the bytes are laid over it, and the region is written to new
 * 4 KiB extents; the old ones are freed only after the next commit, so the
 * generation on disk stays intact until the new one replaces it.
 */
#include <errno.h>
#include <stdlib.h>

#include "img_int.h"

#define REGION img_order_bytes(FOFS_ORDER_PMD)
#define PAGES  (1u << FOFS_ORDER_PMD)

static int cmp_u64(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b;

	return *x < *y ? -1 : *x > *y;
}

/* The regions inside @size that the bytes touch, sorted, each once. */
static int fold_regions(const struct img_write *w, size_t nw, uint64_t size, uint64_t **out,
			size_t *n)
{
	uint64_t *r = calloc(2 * nw + 1, sizeof(*r));
	size_t k = 0, u = 0;

	if (!r)
		return -ENOMEM;
	for (size_t i = 0; i < nw; i++) {
		if (w[i].off >= size || !w[i].len)
			continue;
		r[k++] = w[i].off / REGION;
		r[k++] = (w[i].off + w[i].len - 1) / REGION;
	}
	qsort(r, k, sizeof(*r), cmp_u64);
	for (size_t i = 0; i < k; i++)
		if (!u || r[u - 1] != r[i])
			r[u++] = r[i];
	*out = r;
	*n = u;
	return 0;
}

/* Region @r's bytes: its extents, then the logged bytes in order. */
static int fold_read(struct img *img, const struct fofs_extent *ext, uint32_t a, uint32_t b,
		     const struct img_write *w, size_t nw, uint64_t r, uint8_t *buf, bool *have)
{
	uint64_t base = r * REGION;
	int ret = 0;

	memset(buf, 0, REGION);
	memset(have, 0, PAGES * sizeof(*have));
	for (uint32_t k = a; k < b && !ret; k++) {
		ret = img_read_extent(img, &ext[k], buf + (ext[k].e_file_off - base));
		for (uint64_t p = 0; p < (1u << ext[k].e_order); p++)
			have[(ext[k].e_file_off - base) / FOFS_BLOCK_SIZE + p] = true;
	}
	for (size_t i = 0; i < nw && !ret; i++) {
		uint64_t lo = w[i].off > base ? w[i].off : base;
		uint64_t hi =
			w[i].off + w[i].len < base + REGION ? w[i].off + w[i].len : base + REGION;

		if (lo >= hi)
			continue;
		memcpy(buf + (lo - base), (const uint8_t *)w[i].data + (lo - w[i].off), hi - lo);
		for (uint64_t p = (lo - base) / FOFS_BLOCK_SIZE;
		     p <= (hi - 1 - base) / FOFS_BLOCK_SIZE; p++)
			have[p] = true;
	}
	return ret;
}

/* Replace extents [@a, @b) of the list with 4 KiB ones for the pages held. */
static int fold_write(struct img *img, struct fofs_extent **ext, uint32_t *n, uint32_t a,
		      uint32_t b, uint64_t r, uint64_t size, const uint8_t *buf, const bool *have)
{
	uint32_t add = 0, keep = *n - (b - a), at = a;
	struct fofs_extent *out;
	int ret = 0;

	for (unsigned p = 0; p < PAGES; p++)
		add += have[p] && r * REGION + (uint64_t)p * FOFS_BLOCK_SIZE < size;
	out = malloc((keep + add + 1) * sizeof(*out));
	if (!out)
		return -ENOMEM;
	memcpy(out, *ext, a * sizeof(*out));
	for (unsigned p = 0; p < PAGES && !ret; p++) {
		struct fofs_extent e = { .e_file_off = r * REGION + (uint64_t)p * FOFS_BLOCK_SIZE };

		if (!have[p] || e.e_file_off >= size)
			continue;
		ret = img_alloc(img, FOFS_ORDER_SMALL, &e.e_block);
		if (!ret)
			ret = img_write_extent(img, &e, buf + (size_t)p * FOFS_BLOCK_SIZE);
		out[at++] = e;
	}
	if (ret) {
		while (at-- > a)
			img_unalloc(img, out[at].e_block, FOFS_ORDER_SMALL);
		free(out);
		return ret;
	}
	for (uint32_t k = a; k < b; k++) /* the generation on disk still names them */
		img_free(img, (*ext)[k].e_block, (*ext)[k].e_order);
	memcpy(out + at, *ext + b, (*n - b) * sizeof(*out));
	free(*ext);
	*ext = out;
	*n = at + (*n - b);
	return 0;
}

/**
 * img_fold_writes() - make a file's logged bytes part of its extents
 * @img: the image, opened read-write
 * @ext: the file's extents, sorted by offset; replaced by a new array
 * @n: their number, updated
 * @size: the file's size; bytes past it are dropped
 * @w: the logged bytes, in log order
 * @nw: how many
 *
 * The new extents are written but, as for every extent, durable only with
 * the next img_commit().
 *
 * Return: 0; -EBADMSG if an extent the bytes land in fails its checksum;
 * -ENOSPC; -ENOMEM; read and write errors.
 */
int img_fold_writes(struct img *img, struct fofs_extent **ext, uint32_t *n, uint64_t size,
		    const struct img_write *w, size_t nw)
{
	uint8_t *buf = aligned_alloc(FOFS_BLOCK_SIZE, REGION);
	bool have[PAGES];
	uint64_t *reg = NULL;
	size_t nr = 0;
	int ret = buf ? fold_regions(w, nw, size, &reg, &nr) : -ENOMEM;

	for (size_t i = 0; i < nr && !ret; i++) {
		uint32_t a = 0, b;

		while (a < *n && (*ext)[a].e_file_off < reg[i] * REGION)
			a++;
		for (b = a; b < *n && (*ext)[b].e_file_off < (reg[i] + 1) * REGION; b++)
			;
		ret = fold_read(img, *ext, a, b, w, nw, reg[i], buf, have);
		if (!ret)
			ret = fold_write(img, ext, n, a, b, reg[i], size, buf, have);
	}
	free(reg);
	free(buf);
	return ret;
}
