/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The parts of the kernel's FUSE protocol (include/uapi/linux/fuse.h,
 * version 7.42) that passthrough.c reads and patches on the wire and that
 * uring.c speaks (FUSE over io_uring), declared here because libfuse 3.14
 * does not install them and the system's linux/fuse.h may predate the 7.40
 * and 7.42 fields (max_stack_depth, backing_id, the ring).
 * Layouts are the kernel's; the assertions below pin every size and every
 * offset the hooks use, so a mistake fails the build, not a mount.
 */
#ifndef FOLIOFS_FUSE_PROTO_H
#define FOLIOFS_FUSE_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>

/* Opcodes (enum fuse_opcode). */
enum fk_opcode {
	FK_SETATTR = 4,
	FK_OPEN = 14,
	FK_WRITE = 16,
	FK_INIT = 26,
	FK_CREATE = 35,
};

/* fuse_init_in.flags / fuse_init_out.flags */
#define FK_INIT_WRITEBACK_CACHE		(1u << 16)
#define FK_INIT_HANDLE_KILLPRIV_V2	(1u << 28)
#define FK_INIT_EXT			(1u << 30)
/* ... flags2 (the upper 32 bits of the 64-bit flags) */
#define FK_INIT2_PASSTHROUGH		(1u << 5)
#define FK_INIT2_OVER_IO_URING		(1u << 9) /* FUSE_OVER_IO_URING, 1 << 41 */

/* Kill-suid/sgid flags of SETATTR, WRITE and OPEN/CREATE. */
#define FK_FATTR_FH			(1u << 6)
#define FK_FATTR_KILL_SUIDGID		(1u << 11)
#define FK_WRITE_KILL_SUIDGID		(1u << 2)
#define FK_OPEN_KILL_SUIDGID		(1u << 0)

/* fuse_open_out.open_flags */
#define FK_FOPEN_PASSTHROUGH		(1u << 7)

struct fk_in_header {
	uint32_t len;
	uint32_t opcode;
	uint64_t unique;
	uint64_t nodeid;
	uint32_t uid, gid, pid;
	uint16_t total_extlen;
	uint16_t padding;
};

struct fk_out_header {
	uint32_t len;
	int32_t error;
	uint64_t unique;
};

struct fk_init_in {
	uint32_t major, minor;
	uint32_t max_readahead;
	uint32_t flags;
	uint32_t flags2;
	uint32_t unused[11];
};

struct fk_init_out {
	uint32_t major, minor;
	uint32_t max_readahead;
	uint32_t flags;
	uint16_t max_background;
	uint16_t congestion_threshold;
	uint32_t max_write;
	uint32_t time_gran;
	uint16_t max_pages;
	uint16_t map_alignment;
	uint32_t flags2;
	uint32_t max_stack_depth;
	uint32_t unused[6];
};

struct fk_open_in {
	uint32_t flags;
	uint32_t open_flags;
};

struct fk_create_in {
	uint32_t flags;
	uint32_t mode;
	uint32_t umask;
	uint32_t open_flags;
};

struct fk_write_in {
	uint64_t fh;
	uint64_t offset;
	uint32_t size;
	uint32_t write_flags;
	uint64_t lock_owner;
	uint32_t flags;
	uint32_t padding;
};

struct fk_setattr_in {
	uint32_t valid;
	uint32_t padding;
	uint64_t fh;
	uint64_t size;
	uint64_t lock_owner;
	uint64_t atime, mtime, ctime;
	uint32_t atimensec, mtimensec, ctimensec;
	uint32_t mode;
	uint32_t unused4;
	uint32_t uid, gid;
	uint32_t unused5;
};

struct fk_open_out {
	uint64_t fh;
	uint32_t open_flags;
	int32_t backing_id;
};

struct fk_attr {
	uint64_t ino, size, blocks;
	uint64_t atime, mtime, ctime;
	uint32_t atimensec, mtimensec, ctimensec;
	uint32_t mode, nlink, uid, gid, rdev, blksize, flags;
};

struct fk_entry_out {
	uint64_t nodeid;
	uint64_t generation;
	uint64_t entry_valid, attr_valid;
	uint32_t entry_valid_nsec, attr_valid_nsec;
	struct fk_attr attr;
};

struct fk_backing_map {
	int32_t fd;
	uint32_t flags;
	uint64_t padding;
};

#define FK_DEV_IOC_BACKING_OPEN		_IOW(229, 1, struct fk_backing_map)
#define FK_DEV_IOC_BACKING_CLOSE	_IOW(229, 2, uint32_t)

/*
 * FUSE over io_uring (7.42): each ring entry registers two buffers, this
 * header and a payload.  A request arrives as its fuse_in_header in
 * in_out, its first argument (the per-opcode struct) in op_in and the rest
 * in the payload (payload_sz bytes); the reply goes back as the
 * fuse_out_header in in_out and its arguments in the payload.
 */
#define FK_URING_IN_OUT_HEADER_SZ 128
#define FK_URING_OP_IN_OUT_SZ	  128

struct fk_uring_ent_in_out {
	uint64_t flags;
	uint64_t commit_id; /* the request's unique id, for the commit */
	uint32_t payload_sz;
	uint32_t padding;
	uint64_t reserved;
};

struct fk_uring_req_header {
	uint8_t in_out[FK_URING_IN_OUT_HEADER_SZ];
	uint8_t op_in[FK_URING_OP_IN_OUT_SZ];
	struct fk_uring_ent_in_out ring_ent_in_out;
};

/* The uring command (sqe->cmd_op) and its 128-byte SQE's command area. */
enum fk_uring_cmd {
	FK_IO_URING_CMD_REGISTER = 1,
	FK_IO_URING_CMD_COMMIT_AND_FETCH = 2,
};

struct fk_uring_cmd_req {
	uint64_t flags;
	uint64_t commit_id;
	uint16_t qid;
	uint8_t padding[6];
};

_Static_assert(sizeof(struct fk_in_header) == 40, "fuse_in_header");
_Static_assert(sizeof(struct fk_out_header) == 16, "fuse_out_header");
_Static_assert(sizeof(struct fk_init_in) == 64, "fuse_init_in");
_Static_assert(offsetof(struct fk_init_in, flags) == 12, "fuse_init_in.flags");
_Static_assert(offsetof(struct fk_init_in, flags2) == 16, "fuse_init_in.flags2");
_Static_assert(sizeof(struct fk_init_out) == 64, "fuse_init_out");
_Static_assert(offsetof(struct fk_init_out, flags) == 12, "fuse_init_out.flags");
_Static_assert(offsetof(struct fk_init_out, flags2) == 32, "fuse_init_out.flags2");
_Static_assert(offsetof(struct fk_init_out, max_stack_depth) == 36,
	       "fuse_init_out.max_stack_depth");
_Static_assert(sizeof(struct fk_open_in) == 8, "fuse_open_in");
_Static_assert(sizeof(struct fk_create_in) == 16, "fuse_create_in");
_Static_assert(sizeof(struct fk_write_in) == 40, "fuse_write_in");
_Static_assert(offsetof(struct fk_write_in, write_flags) == 20, "fuse_write_in.write_flags");
_Static_assert(offsetof(struct fk_write_in, flags) == 32, "fuse_write_in.flags");
_Static_assert(sizeof(struct fk_setattr_in) == 88, "fuse_setattr_in");
_Static_assert(offsetof(struct fk_setattr_in, fh) == 8, "fuse_setattr_in.fh");
_Static_assert(sizeof(struct fk_open_out) == 16, "fuse_open_out");
_Static_assert(offsetof(struct fk_open_out, backing_id) == 12, "fuse_open_out.backing_id");
_Static_assert(sizeof(struct fk_attr) == 88, "fuse_attr");
_Static_assert(sizeof(struct fk_entry_out) == 128, "fuse_entry_out");
_Static_assert(sizeof(struct fk_backing_map) == 16, "fuse_backing_map");
_Static_assert(sizeof(struct fk_uring_ent_in_out) == 32, "fuse_uring_ent_in_out");
_Static_assert(offsetof(struct fk_uring_ent_in_out, payload_sz) == 16,
	       "fuse_uring_ent_in_out.payload_sz");
_Static_assert(sizeof(struct fk_uring_req_header) == 288, "fuse_uring_req_header");
_Static_assert(offsetof(struct fk_uring_req_header, ring_ent_in_out) == 256,
	       "fuse_uring_req_header.ring_ent_in_out");
_Static_assert(sizeof(struct fk_uring_cmd_req) == 24, "fuse_uring_cmd_req");
_Static_assert(offsetof(struct fk_uring_cmd_req, qid) == 16, "fuse_uring_cmd_req.qid");

#endif /* FOLIOFS_FUSE_PROTO_H */
