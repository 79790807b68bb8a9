// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * FUSE passthrough to the inode's memfd, so that a client's read, write and
 * mmap reach the daemon's shmem pages (and their huge folios) directly.
 *
 * libfuse 3.17.1 and later negotiate this themselves (FUSE_CAP_PASSTHROUGH,
 * fi->backing_id), and this module uses that when built against them.
 * Debian 12's 3.14 cannot, so there this module speaks the missing bits of
 * the kernel protocol itself, through fuse_session_custom_io() hooks on the
 * session's /dev/fuse descriptor (installed with every libfuse, because they
 * also negotiate FUSE_HANDLE_KILLPRIV_V2, which 3.14 does not know):
 *
 *  - read hook: note the unique id of every INIT, OPEN and CREATE request,
 *    and whether the kernel offered FUSE_PASSTHROUGH in INIT;
 *  - writev hook: in the INIT reply set FUSE_PASSTHROUGH (flags2 bit 5) and
 *    max_stack_depth = 1; in OPEN/CREATE replies whose file handle carries
 *    PT_FH, set FOPEN_PASSTHROUGH and the backing id.
 *
 * The backing id comes from FUSE_DEV_IOC_BACKING_OPEN on the memfd, once per
 * inode while it has passthrough opens, and is closed with the last one.
 * Every open of an inode uses the same mode: once an inode is open without
 * passthrough, further opens are served by the daemon until all close.
 * Layouts and numbers below are the kernel's uapi (include/uapi/linux/fuse.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <syslog.h>
#include <unistd.h>

#include "config.h"
#include "fs.h"

#define FUSE_OP_SETATTR		4
#define FUSE_OP_OPEN		14
#define FUSE_OP_WRITE		16
#define FUSE_OP_INIT		26
#define FUSE_OP_CREATE		35
#define IN_HDR_LEN		40	/* struct fuse_in_header */
#define OUT_HDR_LEN		16	/* struct fuse_out_header */
#define ENTRY_OUT_LEN		128	/* struct fuse_entry_out */
#define INIT_IN_FLAGS		12	/* fuse_init_in.flags */
#define INIT_IN_FLAGS2		16	/* fuse_init_in.flags2 */
#define INIT_OUT_FLAGS		12	/* fuse_init_out.flags */
#define INIT_OUT_FLAGS2		32	/* fuse_init_out.flags2 */
#define INIT_OUT_STACK		36	/* fuse_init_out.max_stack_depth */
#define INIT_EXT		(1u << 30)
#define INIT_WRITEBACK_CACHE	(1u << 16)
#define INIT_KILLPRIV_V2	(1u << 28)	/* FUSE_HANDLE_KILLPRIV_V2 */
#define FATTR_KILL_SUIDGID	(1u << 11)
#define WRITE_KILL_SUIDGID	(1u << 2)
#define OPEN_KILL_SUIDGID	(1u << 0)
#define INIT2_PASSTHROUGH	(1u << 5)	/* FUSE_PASSTHROUGH >> 32 */
#define FOPEN_PASSTHROUGH_FLAG	(1u << 7)
#define OPEN_OUT_FH		0
#define OPEN_OUT_FLAGS		8
#define OPEN_OUT_BACKING	12

struct backing_map {
	int32_t fd;
	uint32_t flags;
	uint64_t padding;
};
#define DEV_IOC_BACKING_OPEN	_IOW(229, 1, struct backing_map)
#define DEV_IOC_BACKING_CLOSE	_IOW(229, 2, uint32_t)

/* File handle of a passthrough open: marker bit plus the backing id. */
#define PT_FH			(1ull << 63)

#define PENDING_MAX		256

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static void wr32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

/* Requests whose replies the writev hook must patch. */
static struct {
	pthread_mutex_t lock;
	struct { uint64_t unique; uint32_t opcode; } slot[PENDING_MAX];
	bool offered;		/* the kernel offered FUSE_PASSTHROUGH */
	bool killpriv_offered;	/* ... and FUSE_HANDLE_KILLPRIV_V2 */
	struct fs *fs;
} pt = { .lock = PTHREAD_MUTEX_INITIALIZER };

/*
 * The request this worker thread is processing asked the filesystem to
 * clear set-user-ID and set-group-ID (KILLPRIV_V2).  libfuse reads and then
 * handles a request on the same thread, so the read hook can leave this
 * for the handler; libfuse 3.14 does not pass the flags on.
 */
static __thread bool req_kill_suidgid;

/**
 * pt_kill_suidgid() - does the current request ask to clear suid/sgid?
 *
 * Return: true for a write, truncate or O_TRUNC open by a caller without
 * CAP_FSETID, as the kernel decided.
 */
bool pt_kill_suidgid(void)
{
	return req_kill_suidgid;
}

static void note_kill(const uint8_t *arg, size_t len, uint32_t opcode)
{
	size_t at = opcode == FUSE_OP_SETATTR ? 0 : opcode == FUSE_OP_WRITE ? 20 :
		    opcode == FUSE_OP_OPEN ? 4 : 12;
	uint32_t bit = opcode == FUSE_OP_SETATTR ? FATTR_KILL_SUIDGID :
		       opcode == FUSE_OP_WRITE ? WRITE_KILL_SUIDGID : OPEN_KILL_SUIDGID;

	req_kill_suidgid = len >= at + 4 && (rd32(arg + at) & bit);
}

static void pending_add(uint64_t unique, uint32_t opcode)
{
	pthread_mutex_lock(&pt.lock);
	for (unsigned i = 0; i < PENDING_MAX; i++) {
		if (!pt.slot[i].unique) {
			pt.slot[i].unique = unique;
			pt.slot[i].opcode = opcode;
			break;
		}
	}
	pthread_mutex_unlock(&pt.lock);
}

static uint32_t pending_take(uint64_t unique)
{
	uint32_t opcode = 0;

	pthread_mutex_lock(&pt.lock);
	for (unsigned i = 0; i < PENDING_MAX; i++) {
		if (pt.slot[i].unique == unique) {
			opcode = pt.slot[i].opcode;
			pt.slot[i].unique = 0;
			break;
		}
	}
	pthread_mutex_unlock(&pt.lock);
	return opcode;
}

static ssize_t pt_read(int fd, void *buf, size_t len, void *userdata)
{
	ssize_t n = read(fd, buf, len);
	uint8_t *b = buf;
	uint32_t opcode;
	uint64_t unique;

	(void)userdata;
	if (n < IN_HDR_LEN)
		return n;
	opcode = rd32(b + 4);
	memcpy(&unique, b + 8, 8);
	req_kill_suidgid = false;
	if (opcode == FUSE_OP_INIT && n >= IN_HDR_LEN + INIT_IN_FLAGS2 + 4) {
		uint32_t flags = rd32(b + IN_HDR_LEN + INIT_IN_FLAGS);

		pt.offered = (flags & INIT_EXT) &&
			     (rd32(b + IN_HDR_LEN + INIT_IN_FLAGS2) & INIT2_PASSTHROUGH);
		pt.killpriv_offered = flags & INIT_KILLPRIV_V2;
		pending_add(unique, opcode);
		return n;
	}
	if (opcode == FUSE_OP_OPEN || opcode == FUSE_OP_CREATE)
		pending_add(unique, opcode);
	if (opcode == FUSE_OP_OPEN || opcode == FUSE_OP_CREATE ||
	    opcode == FUSE_OP_WRITE || opcode == FUSE_OP_SETATTR)
		note_kill(b + IN_HDR_LEN, (size_t)n - IN_HDR_LEN, opcode);
	return n;
}

/* Pointer to @len bytes at payload offset @off, if one iovec holds them. */
static uint8_t *payload_at(struct iovec *iov, int count, size_t off, size_t len)
{
	for (int i = 1; i < count; i++) {
		if (off + len <= iov[i].iov_len)
			return (uint8_t *)iov[i].iov_base + off;
		if (off < iov[i].iov_len)
			return NULL;
		off -= iov[i].iov_len;
	}
	return NULL;
}

static void patch_init(struct iovec *iov, int count)
{
	uint8_t *out = payload_at(iov, count, 0, INIT_OUT_STACK + 4);
	struct fs *fs = pt.fs;

	/*
	 * KILLPRIV_V2 makes the kernel mark the superblock SB_NOSEC, which
	 * spares every write a GETXATTR of security.capability; in return the
	 * daemon clears suid/sgid itself (pt_kill_suidgid(), chown).
	 */
	if (out && pt.killpriv_offered) {
		wr32(out + INIT_OUT_FLAGS, rd32(out + INIT_OUT_FLAGS) | INIT_KILLPRIV_V2);
		fs->killpriv = true;
	}
	if (fs->pt_mode != FS_PT_UNDECIDED)
		return;
	fs->pt_mode = FS_PT_OFF;
	if (!out || !(rd32(out + INIT_OUT_FLAGS) & INIT_EXT) ||
	    (rd32(out + INIT_OUT_FLAGS) & INIT_WRITEBACK_CACHE)) {
		snprintf(fs->pt_why, sizeof(fs->pt_why),
			 "the INIT reply cannot carry FUSE_PASSTHROUGH");
		return;
	}
	wr32(out + INIT_OUT_FLAGS2, rd32(out + INIT_OUT_FLAGS2) | INIT2_PASSTHROUGH);
	wr32(out + INIT_OUT_STACK, 1);
	fs->pt_mode = FS_PT_ON;
	pt_report(fs);
}

/**
 * pt_report() - say once which data path the mount uses, and why
 * @fs: the filesystem
 *
 * Called before a background daemon detaches when the answer is already
 * known (so the shell that mounted sees it), and at INIT otherwise; syslog
 * gets it too.
 */
void pt_report(struct fs *fs)
{
	if (fs->pt_said || fs->pt_mode == FS_PT_UNDECIDED)
		return;
	fs->pt_said = true;
	if (fs->pt_mode == FS_PT_ON)
		fs_log(LOG_INFO, "data path: FUSE passthrough to the daemon's shared memory");
	else
		fs_log(LOG_NOTICE, "data path: served by the daemon (passthrough off: %s)",
		       fs->pt_why);
}

static void patch_open(struct iovec *iov, int count, size_t at)
{
	uint8_t *out = payload_at(iov, count, at, 16);
	uint64_t fh;

	if (!out)
		return;
	memcpy(&fh, out + OPEN_OUT_FH, 8);
	if (!(fh & PT_FH))
		return;
	wr32(out + OPEN_OUT_FLAGS, rd32(out + OPEN_OUT_FLAGS) | FOPEN_PASSTHROUGH_FLAG);
	wr32(out + OPEN_OUT_BACKING, (uint32_t)(fh & 0x7fffffff));
}

static ssize_t pt_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	uint64_t unique;
	int32_t error;

	(void)userdata;
	if (count >= 2 && iov[0].iov_len >= OUT_HDR_LEN) {
		memcpy(&error, (uint8_t *)iov[0].iov_base + 4, 4);
		memcpy(&unique, (uint8_t *)iov[0].iov_base + 8, 8);
		switch (unique && !error ? pending_take(unique) : 0) {
		case FUSE_OP_INIT:
			patch_init(iov, count);
			break;
		case FUSE_OP_OPEN:
			patch_open(iov, count, 0);
			break;
		case FUSE_OP_CREATE:
			patch_open(iov, count, ENTRY_OUT_LEN);
			break;
		}
	} else if (count >= 1 && iov[0].iov_len >= OUT_HDR_LEN) {
		memcpy(&unique, (uint8_t *)iov[0].iov_base + 8, 8);
		if (unique)
			pending_take(unique);	/* an error reply: forget it */
	}
	return writev(fd, iov, count);
}

#define NO_KERNEL_PT "the kernel does not offer FUSE passthrough (needs Linux " \
		     ">= 6.9 with CONFIG_FUSE_PASSTHROUGH)"

/* Linux >= 6.9, where passthrough can be offered at all (known before INIT). */
static bool kernel_has_passthrough(void)
{
	struct utsname u;
	unsigned major = 0, minor = 0;

	if (uname(&u) || sscanf(u.release, "%u.%u", &major, &minor) != 2)
		return true;	/* unknown: let INIT tell */
	return major > 6 || (major == 6 && minor >= 9);
}

/**
 * pt_install() - hook the session so passthrough can be negotiated
 * @fs: the filesystem
 * @se: a mounted session
 *
 * With -o nopassthrough, or without CAP_SYS_ADMIN (BACKING_OPEN needs it),
 * the mount serves data itself; the hooks still negotiate KILLPRIV_V2.
 *
 * Return: 0; -errno from fuse_session_custom_io().
 */
int pt_install(struct fs *fs, struct fuse_session *se)
{
	static const struct fuse_custom_io io = { .read = pt_read, .writev = pt_writev };

	fs->devfd = fuse_session_fd(se);
	fs->se = se;
	pt.fs = fs;
	if (!fs->opts.passthrough) {
		fs->pt_mode = FS_PT_OFF;
		snprintf(fs->pt_why, sizeof(fs->pt_why), "disabled by -o nopassthrough");
	} else if (geteuid() != 0) {
		fs->pt_mode = FS_PT_OFF;
		snprintf(fs->pt_why, sizeof(fs->pt_why),
			 "needs CAP_SYS_ADMIN (mounted by an unprivileged user)");
	} else if (!kernel_has_passthrough()) {
		fs->pt_mode = FS_PT_OFF;
		snprintf(fs->pt_why, sizeof(fs->pt_why), "%s", NO_KERNEL_PT);
	}
	/* hooked in every mode and version: KILLPRIV_V2 is negotiated here */
	return fuse_session_custom_io(se, &io, fs->devfd);
}

/**
 * pt_init() - settle the data path once the kernel's INIT has arrived
 * @fs: the filesystem
 * @conn: the connection being negotiated
 *
 * Called from the FUSE init callback, before the INIT reply is sent.
 */
void pt_init(struct fs *fs, struct fuse_conn_info *conn)
{
	/* The hooks must see every request and reply: no splice. */
	conn->want &= ~(unsigned)(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE |
				   FUSE_CAP_SPLICE_MOVE);
	if (fs->pt_mode == FS_PT_OFF)
		return;
#if HAVE_FUSE_PASSTHROUGH_API
	/* libfuse >= 3.17.1 negotiates it; BACKING_OPEN stays an ioctl here */
	if (conn->capable_ext & FUSE_CAP_PASSTHROUGH) {
		conn->want_ext |= FUSE_CAP_PASSTHROUGH;
		conn->max_backing_stack_depth = 1;
		fs->pt_mode = FS_PT_ON;
		return;
	}
	pt.offered = false;
#endif
	if (!pt.offered) {
		fs->pt_mode = FS_PT_OFF;
		snprintf(fs->pt_why, sizeof(fs->pt_why), "%s", NO_KERNEL_PT);
	}
}

static int backing_open(struct fs *fs, struct fs_inode *inode)
{
	struct backing_map map = { .fd = inode->memfd };
	int id = ioctl(fs->devfd, DEV_IOC_BACKING_OPEN, &map);

	if (id <= 0) {
		fs_log(LOG_ERR, "inode %llu: FUSE_DEV_IOC_BACKING_OPEN: %s; "
			"serving it without passthrough",
			(unsigned long long)inode->ino, strerror(errno));
		return -errno;
	}
	inode->backing_id = id;
	return 0;
}

/**
 * pt_open() - choose the data path of one open
 * @fs: the filesystem, lock held
 * @inode: a loaded regular file
 * @fi: the open; on passthrough its fh carries the backing id
 *
 * Return: 0 (a failed backing open falls back, it does not fail the open).
 */
int pt_open(struct fs *fs, struct fs_inode *inode, struct fuse_file_info *fi)
{
	bool writer = (fi->flags & O_ACCMODE) != O_RDONLY;

	fi->keep_cache = 0;	/* any other open flag breaks passthrough */
	fi->fh = 0;
	if (fs->pt_mode != FS_PT_ON || (inode->nopen && !inode->pt_opens))
		return 0;
	/* Writes to set-ID files must reach the daemon, which clears the bits;
	 * a file with damaged extents is served by it, which fails their reads. */
	if ((writer && fs_inode_sxid(inode)) || inode->nbad)
		return 0;
	if (!inode->backing_id && backing_open(fs, inode))
		return 0;
	inode->pt_opens++;
	if (writer) {
		inode->pt_writers++;
		fs_data_dirty(fs, inode, 0, UINT64_MAX);
	}
	fi->fh = PT_FH | (uint64_t)(writer ? 1ull << 62 : 0) | (uint32_t)inode->backing_id;
#if HAVE_FUSE_PASSTHROUGH_API
	fi->backing_id = inode->backing_id;
#endif
	return 0;
}

/**
 * pt_release() - drop one open; close the backing id with the last one
 * @fs: the filesystem, lock held
 * @inode: the inode
 * @fi: the open being released
 */
void pt_release(struct fs *fs, struct fs_inode *inode, struct fuse_file_info *fi)
{
	uint32_t id;

	if (!(fi->fh & PT_FH) || !inode->pt_opens)
		return;
	fs_data_sync_attr(fs, inode);
	if ((fi->fh & (1ull << 62)) && inode->pt_writers)
		inode->pt_writers--;
	if (--inode->pt_opens)
		return;
	id = (uint32_t)inode->backing_id;
	if (ioctl(fs->devfd, DEV_IOC_BACKING_CLOSE, &id) < 0)
		fs_log(LOG_ERR, "FUSE_DEV_IOC_BACKING_CLOSE %u: %s", id,
			strerror(errno));
	inode->backing_id = 0;
}
