/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * On-disk format of a foliofs image: the single source of truth for every
 * structure written to an image.  All fields are little-endian and
 * fixed-width; the structures below describe the byte layout, and the image
 * library converts them to native order in its encode/decode helpers.  An
 * image is an array of 4 KiB blocks.  Blocks 0 and 1 hold two superblock
 * slots; a commit writes the slot (generation & 1), so a torn superblock write
 * leaves the previous generation intact (copy-on-write with an atomic
 * superblock switch).  Each slot block also holds, at FOFS_SUPER_BACKUP_OFF,
 * a backup copy of the newest superblock of the *other* slot, written once
 * that slot is durable: a slot damaged after its commit is recovered from
 * the backup, so one bad block never rolls a committed generation back.
 * Metadata is one record stream, written on every commit into freshly
 * allocated, chained metadata blocks; file data lives in extents
 * whose size is a folio order (0, 4 or 9: 4 KiB, 64 KiB, 2 MiB) and which are
 * aligned both in the file and on disk to their size.  With the LOG feature
 * an fsync does not write a generation: it appends a record batch to the
 * intent log, a chain of log blocks whose first block every generation
 * preallocates (s_log_head), and mount replays the batches on top of the
 * generation (docs/FORMAT.md).  Enum values are never renumbered; new ones
 * are appended.
 */
#ifndef FOLIOFS_FORMAT_H
#define FOLIOFS_FORMAT_H

#include <stdint.h>

#define FOFS_BLOCK_SHIFT	12
#define FOFS_BLOCK_SIZE		(1u << FOFS_BLOCK_SHIFT)
#define FOFS_MAGIC		0x31534f494c4f46ULL	/* "FOLIOS1\0" LE */
#define FOFS_META_MAGIC		0x424d4f46u		/* "FOMB" */
#define FOFS_LOG_MAGIC		0x474c4f46u		/* "FOLG" */
#define FOFS_VERSION		1u
#define FOFS_SUPER_SLOTS	2u	/* blocks 0 and 1 */
#define FOFS_SUPER_BACKUP_OFF	2048u	/* in a slot block: the other's backup */
#define FOFS_ROOT_INO		1ull
#define FOFS_INO_MAX		((1ull << 63) - 1)	/* numbers are 1..this */
#define FOFS_NAME_MAX		255u
#define FOFS_SYMLINK_MAX	4095u
#define FOFS_XATTR_NAME_MAX	255u
#define FOFS_XATTR_VALUE_MAX	65536u
#define FOFS_LABEL_LEN		64u

/* Folio orders an extent may have; anything else is corruption. */
enum fofs_order {
	FOFS_ORDER_SMALL = 0,	/* 4 KiB */
	FOFS_ORDER_LAF = 4,	/* 64 KiB */
	FOFS_ORDER_PMD = 9,	/* 2 MiB */
};

/* Feature words.  An unknown incompat bit refuses the mount; an unknown
 * ro_compat bit allows read-only use; unknown compat bits are ignored. */
#define FOFS_FEATURE_COMPAT_SB_BACKUP	(1ull << 0)	/* slot backups kept */
#define FOFS_FEATURE_COMPAT_SUPP	FOFS_FEATURE_COMPAT_SB_BACKUP
/* the intent log: s_log_head is the first log block of the generation */
#define FOFS_FEATURE_INCOMPAT_LOG	(1ull << 0)
/*
 * Log blocks name their filesystem: lh_fsid holds the low half of the
 * filesystem id (XXH3-64 of s_uuid) and the block checksum is seeded with
 * the whole id, as jbd2 seeds its checksums with the journal's UUID.  A log
 * block left behind by an earlier filesystem on the same image (mkfs -f)
 * can then never be replayed into this one, whatever its generation.
 */
#define FOFS_FEATURE_INCOMPAT_LOG_FSID	(1ull << 1)
#define FOFS_FEATURE_INCOMPAT_SUPP	(FOFS_FEATURE_INCOMPAT_LOG | FOFS_FEATURE_INCOMPAT_LOG_FSID)
#define FOFS_FEATURE_RO_COMPAT_SUPP	0ull

/* Superblock flags (s_flags). */
#define FOFS_SF_CLEAN		(1u << 0)	/* last commit was an unmount */

/*
 * Superblock; occupies the first bytes of block 0 or 1 (and, as a backup,
 * the bytes at FOFS_SUPER_BACKUP_OFF of the other block); the rest is zero.
 */
struct fofs_super {
	uint64_t s_magic;		/*   0 FOFS_MAGIC */
	uint32_t s_version;		/*   8 FOFS_VERSION */
	uint32_t s_block_size;		/*  12 FOFS_BLOCK_SIZE */
	uint64_t s_feature_compat;	/*  16 */
	uint64_t s_feature_incompat;	/*  24 */
	uint64_t s_feature_ro_compat;	/*  32 */
	uint8_t  s_uuid[16];		/*  40 */
	char     s_label[FOFS_LABEL_LEN]; /* 56 NUL-padded */
	uint64_t s_blocks;		/* 120 blocks in the image */
	uint64_t s_generation;		/* 128 commit counter, >= 1 */
	uint64_t s_meta_head;		/* 136 first metadata block */
	uint64_t s_meta_blocks;		/* 144 blocks in the chain */
	uint64_t s_meta_bytes;		/* 152 record stream length */
	uint64_t s_used_blocks;		/* 160 supers + metadata + data */
	uint64_t s_inodes;		/* 168 inode records */
	uint64_t s_next_ino;		/* 176 never reused */
	uint64_t s_mkfs_time;		/* 184 seconds since the epoch */
	uint64_t s_commit_time;		/* 192 seconds since the epoch */
	uint32_t s_flags;		/* 200 FOFS_SF_* */
	uint32_t s_pad0;		/* 204 */
	uint64_t s_log_head;		/* 208 INCOMPAT_LOG: first log block */
	uint64_t s_reserved[4];		/* 216 zero */
	uint64_t s_checksum;		/* 248 XXH3-64 of bytes 0..247 */
};					/* 256 */
_Static_assert(sizeof(struct fofs_super) == 256, "fofs_super size");

/* Header of every metadata block; the payload follows it. */
struct fofs_meta_hdr {
	uint32_t mh_magic;		/*  0 FOFS_META_MAGIC */
	uint32_t mh_used;		/*  4 payload bytes in this block */
	uint64_t mh_generation;		/*  8 commit that wrote it */
	uint64_t mh_next;		/* 16 next block, 0 ends the chain */
	uint64_t mh_checksum;		/* 24 XXH3-64 of the block, this field 0 */
};					/* 32 */
_Static_assert(sizeof(struct fofs_meta_hdr) == 32, "fofs_meta_hdr size");
#define FOFS_META_PAYLOAD	(FOFS_BLOCK_SIZE - sizeof(struct fofs_meta_hdr))

/*
 * Header of every intent log block; the payload follows it.  A batch is one
 * record stream (ending in END) cut into blocks with consecutive lh_seq; its
 * last block carries FOFS_LOG_LAST.  lh_next is always set: the last block
 * of a batch points at the block preallocated for the next batch.
 */
struct fofs_log_hdr {
	uint32_t lh_magic;	/*  0 FOFS_LOG_MAGIC */
	uint32_t lh_used;	/*  4 payload bytes in this block */
	uint64_t lh_generation; /*  8 the generation the log extends */
	uint64_t lh_seq;	/* 16 block number in the log, from 1 */
	uint64_t lh_next;	/* 24 next log block */
	uint32_t lh_flags;	/* 32 FOFS_LOG_* */
	uint32_t lh_fsid;	/* 36 INCOMPAT_LOG_FSID: low 32 bits of the id; else 0 */
	uint64_t lh_checksum;	/* 40 XXH3-64 of the block, this field 0, seeded
				 * with the filesystem id (INCOMPAT_LOG_FSID) */
};				/* 48 */
_Static_assert(sizeof(struct fofs_log_hdr) == 48, "fofs_log_hdr size");
#define FOFS_LOG_PAYLOAD (FOFS_BLOCK_SIZE - sizeof(struct fofs_log_hdr))
#define FOFS_LOG_LAST	 (1u << 0) /* last block of a batch */

/*
 * Record types.  A generation's stream holds INODE, DIRENT, REGIONS and
 * END; a log batch may also hold the four log-only types, and its INODE
 * and REGIONS records replace the inode's earlier ones (a REGIONS record
 * follows its INODE record in a batch).
 */
enum fofs_rec_type {
	FOFS_REC_INODE = 1,
	FOFS_REC_DIRENT = 2,
	FOFS_REC_END = 3,
	FOFS_REC_REGIONS = 4,
	FOFS_REC_UNLINK = 5,   /* log: struct fofs_dirent, d_ino 0, name */
	FOFS_REC_DROP = 6,     /* log: u64 inode number; its last link went */
	FOFS_REC_NEXT_INO = 7, /* log: u64 next inode number */
	FOFS_REC_WRITE = 8,    /* log: struct fofs_write, then the bytes */
};

/* Every record starts with this header; rh_len counts the bytes after it. */
struct fofs_rec_hdr {
	uint16_t rh_type;		/* 0 fofs_rec_type */
	uint16_t rh_pad;		/* 2 zero */
	uint32_t rh_len;		/* 4 */
};					/* 8 */
_Static_assert(sizeof(struct fofs_rec_hdr) == 8, "fofs_rec_hdr size");

/*
 * Inode record body.  It is followed by i_extents struct fofs_extent, then
 * i_xattrs xattr entries (struct fofs_xattr, name, value), then i_target_len
 * bytes of symlink target.
 */
struct fofs_inode {
	uint64_t i_ino;			/*   0 */
	uint32_t i_mode;		/*   8 type and permission bits */
	uint32_t i_uid;			/*  12 */
	uint32_t i_gid;			/*  16 */
	uint32_t i_nlink;		/*  20 */
	uint64_t i_size;		/*  24 */
	uint64_t i_rdev;		/*  32 */
	int64_t  i_atime;		/*  40 seconds */
	int64_t  i_mtime;		/*  48 */
	int64_t  i_ctime;		/*  56 */
	uint32_t i_atime_ns;		/*  64 */
	uint32_t i_mtime_ns;		/*  68 */
	uint32_t i_ctime_ns;		/*  72 */
	uint32_t i_flags;		/*  76 reserved, zero */
	uint32_t i_extents;		/*  80 */
	uint32_t i_xattrs;		/*  84 */
	uint32_t i_target_len;		/*  88 symlink target bytes */
	uint32_t i_pad;			/*  92 zero */
};					/*  96 */
_Static_assert(sizeof(struct fofs_inode) == 96, "fofs_inode size");

/* A data extent: 4096 << e_order bytes at e_file_off, on disk at e_block. */
struct fofs_extent {
	uint64_t e_file_off;		/*  0 aligned to the extent size */
	uint64_t e_block;		/*  8 aligned to the extent size */
	uint8_t  e_order;		/* 16 fofs_order */
	uint8_t  e_pad[7];		/* 17 zero */
	uint64_t e_checksum;		/* 24 XXH3-64 of the whole extent */
};					/* 32 */
_Static_assert(sizeof(struct fofs_extent) == 32, "fofs_extent size");

/* An extended attribute: header, then name (no NUL), then value. */
struct fofs_xattr {
	uint16_t x_name_len;		/* 0 */
	uint16_t x_pad;			/* 2 zero */
	uint32_t x_value_len;		/* 4 */
};					/* 8 */
_Static_assert(sizeof(struct fofs_xattr) == 8, "fofs_xattr size");

/* Directory entry record body, followed by d_name_len bytes of name. */
struct fofs_dirent {
	uint64_t d_parent;		/*  0 directory inode */
	uint64_t d_ino;			/*  8 target inode */
	uint16_t d_name_len;		/* 16 1..FOFS_NAME_MAX */
	uint8_t  d_pad[6];		/* 18 zero */
};					/* 24 */
_Static_assert(sizeof(struct fofs_dirent) == 24, "fofs_dirent size");

/*
 * Collapser state of a file's 2 MiB regions that must survive a remount
 * (keep-off after a partial punch), followed by r_count entries.
 */
struct fofs_regions {
	uint64_t r_ino;			/*  0 */
	uint32_t r_count;		/*  8 */
	uint32_t r_pad;			/* 12 zero */
};					/* 16 */
_Static_assert(sizeof(struct fofs_regions) == 16, "fofs_regions size");

struct fofs_region_ent {
	uint64_t re_index;		/*  0 region number (offset >> 21) */
	uint8_t  re_state;		/*  8 enum clp_state */
	uint8_t  re_last;		/*  9 enum clp_result */
	uint8_t  re_pad[6];		/* 10 zero */
};					/* 16 */
_Static_assert(sizeof(struct fofs_region_ent) == 16, "fofs_region_ent size");

/*
 * Log only: bytes an fsync wrote into the log instead of rewriting their
 * extents (a small change to a large extent).  Replay writes them over
 * the file's data after the inode's extents; a later batch whose record
 * gives the file new extents there supersedes them.
 */
struct fofs_write {
	uint64_t w_ino; /*  0 */
	uint64_t w_off; /*  8 file offset */
	uint32_t w_len; /* 16 bytes that follow, <= FOFS_WRITE_MAX */
	uint32_t w_pad; /* 20 zero */
};			/* 24 */
_Static_assert(sizeof(struct fofs_write) == 24, "fofs_write size");
#define FOFS_WRITE_MAX (1u << 20)

/* Last record of the stream: guards against a truncated stream. */
struct fofs_end {
	uint64_t end_records;		/* 0 records before this one */
	uint64_t end_checksum;		/* 8 XXH3-64 of the stream before it */
};					/* 16 */
_Static_assert(sizeof(struct fofs_end) == 16, "fofs_end size");

#endif /* FOLIOFS_FORMAT_H */
