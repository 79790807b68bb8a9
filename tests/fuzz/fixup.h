/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Checksum fix-ups for the fuzz harnesses: a mutated input almost never
 * carries a valid XXH3, so without these the parsers would reject every
 * input at the first checksum and nothing behind it would be fuzzed.  The
 * harness repairs the superblock, metadata block and END record checksums
 * of its copy of the input, as a hostile writer with the format in hand
 * would.
 */
#ifndef FOLIOFS_FUZZ_FIXUP_H
#define FOLIOFS_FUZZ_FIXUP_H

#include <stdint.h>
#include <string.h>

#include "foliofs/img.h"

static inline uint64_t fx_get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline uint32_t fx_get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline void fx_put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

/* Make the END record of a stream (if one is found) carry the right checksum. */
static inline void fx_fix_stream(uint8_t *buf, size_t len)
{
	size_t off = 0;
	uint64_t records = 0;

	while (off + 8 <= len) {
		uint16_t type = (uint16_t)(buf[off] | buf[off + 1] << 8);
		uint32_t rlen = fx_get32(buf + off + 4);

		if (rlen > len - off - 8)
			return;
		if (type == FOFS_REC_END && rlen == 16) {
			fx_put64(buf + off + 8, records);
			fx_put64(buf + off + 16, img_xxh3(buf, off));
			return;
		}
		off += 8 + rlen;
		records++;
	}
}

static inline void fx_fix_super(uint8_t *block)
{
	fx_put64(block + 248, img_xxh3(block, 248));
}

static inline void fx_fix_meta_block(uint8_t *block)
{
	memset(block + 24, 0, 8);
	fx_put64(block + 24, img_xxh3(block, FOFS_BLOCK_SIZE));
}

/*
 * Fix a whole image of @nblocks: both superblocks, the END record of the
 * chain the newer superblock points to (when it fits in the buffer), and
 * every block that looks like a metadata block.
 */
static inline void fx_fix_image(uint8_t *img, size_t nblocks)
{
	uint8_t stream[65536];
	size_t slen = 0, pos[64], cnt = 0;
	uint64_t blk;

	if (nblocks < 3)
		return;
	blk = fx_get64(img + FOFS_BLOCK_SIZE + 128) > fx_get64(img + 128) ?
	      fx_get64(img + FOFS_BLOCK_SIZE + 136) : fx_get64(img + 136);
	while (blk >= 2 && blk < nblocks && cnt < 64) {
		uint8_t *b = img + blk * FOFS_BLOCK_SIZE;
		uint32_t used = fx_get32(b + 4);

		if (fx_get32(b) != FOFS_META_MAGIC || used > FOFS_META_PAYLOAD ||
		    slen + used > sizeof(stream))
			break;
		pos[cnt++] = blk;
		memcpy(stream + slen, b + 32, used);
		slen += used;
		blk = fx_get64(b + 16);
	}
	fx_fix_stream(stream, slen);
	slen = 0;
	for (size_t i = 0; i < cnt; i++) {
		uint8_t *b = img + pos[i] * FOFS_BLOCK_SIZE;
		uint32_t used = fx_get32(b + 4);

		memcpy(b + 32, stream + slen, used);
		slen += used;
	}
	for (size_t i = 2; i < nblocks; i++)
		if (fx_get32(img + i * FOFS_BLOCK_SIZE) == FOFS_META_MAGIC)
			fx_fix_meta_block(img + i * FOFS_BLOCK_SIZE);
	fx_fix_super(img);
	fx_fix_super(img + FOFS_BLOCK_SIZE);
}

#endif /* FOLIOFS_FUZZ_FIXUP_H */
