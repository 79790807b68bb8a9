// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * FUSE passthrough to the inode's memory file, so that a client's read,
 * write and mmap reach the daemon's shmem pages (and their huge folios)
 * directly.
 *
 * libfuse 3.17.1 and later negotiate this themselves (FUSE_CAP_PASSTHROUGH,
 * fi->backing_id), and this module uses that when built against them.
 * Debian 12's 3.14 cannot, so there this module speaks the missing bits of
 * the kernel protocol itself (fuse_proto.h), through fuse_session_custom_io()
 * hooks on the session's /dev/fuse descriptor.  They are installed with
 * every libfuse, because they also negotiate FUSE_HANDLE_KILLPRIV_V2, which
 * 3.14 does not know:
 *
 *  - read hook (and uring.c for requests from the ring, through
 *    pt_note_request()): note the unique id of every INIT, OPEN and CREATE request
 *    and whether the kernel offered FUSE_PASSTHROUGH in INIT; move the
 *    kernel's kill-suid/sgid flag of OPEN, CREATE, WRITE and SETATTR into
 *    a field libfuse passes on (FSOP_FLAG_KILL_SUIDGID, FSOP_FH_KILL_SUIDGID);
 *  - writev hook: in the INIT reply set FUSE_PASSTHROUGH (flags2) and
 *    max_stack_depth = 1; in OPEN/CREATE replies whose file handle carries
 *    PT_FH, set FOPEN_PASSTHROUGH and the backing id.  Every reply and
 *    notification leaves through it, so it also checks that none is sent
 *    with a filesystem lock held, and hands replies to requests that came
 *    over io_uring to uring.c.
 *
 * The backing id comes from FUSE_DEV_IOC_BACKING_OPEN on the memory file,
 * once per inode while it has passthrough opens, and is closed with the
 * last one.  Every open of an inode uses the same mode: once an inode is
 * open without passthrough, further opens are served by the daemon until
 * all close.  All state is in struct fsd, the session's userdata.
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
#include "fsop.h"

/* File handle of a passthrough open: marker bit, writer bit, backing id. */
#define PT_FH			(1ull << 63)
#define PT_FH_WRITER		(1ull << 62)
#define PT_FH_ID		0x7fffffffull

_Static_assert(!(FSOP_FH_KILL_SUIDGID & (PT_FH | PT_FH_WRITER | PT_FH_ID)),
	       "the kill bit is no part of a passthrough file handle");
_Static_assert(!(FSOP_FLAG_KILL_SUIDGID & (O_ACCMODE | O_CREAT | O_EXCL | O_NOCTTY |
	       O_TRUNC | O_APPEND | O_NONBLOCK | O_DSYNC | O_ASYNC | O_DIRECT |
	       O_LARGEFILE | O_DIRECTORY | O_NOFOLLOW | O_NOATIME | O_CLOEXEC |
	       O_SYNC | O_PATH | O_TMPFILE)), "the kill bit is no open flag");

static void pending_add(struct fsd_pt *pt, uint64_t unique, uint32_t opcode)
{
	pthread_mutex_lock(&pt->lock);
	for (unsigned i = 0; i < FSD_PENDING_MAX; i++) {
		if (!pt->pending[i].unique) {
			pt->pending[i].unique = unique;
			pt->pending[i].opcode = opcode;
			break;
		}
	}
	pthread_mutex_unlock(&pt->lock);
}

static uint32_t pending_take(struct fsd_pt *pt, uint64_t unique)
{
	uint32_t opcode = 0;

	pthread_mutex_lock(&pt->lock);
	for (unsigned i = 0; i < FSD_PENDING_MAX; i++) {
		if (pt->pending[i].unique == unique) {
			opcode = pt->pending[i].opcode;
			pt->pending[i].unique = 0;
			break;
		}
	}
	pthread_mutex_unlock(&pt->lock);
	return opcode;
}

/*
 * libfuse 3.14 drops the kernel's kill-suid/sgid flags; move each into a
 * field it passes to the handler: an open's or a write's flags (fi->flags),
 * or for SETATTR the file handle (fi->fh, with FATTR_FH set).
 */
static void move_kill_flag(uint8_t *arg, size_t len, uint32_t opcode)
{
	struct fk_setattr_in sa;
	struct fk_write_in w;
	struct fk_create_in c;
	struct fk_open_in o;

	if (opcode == FK_SETATTR && len >= sizeof(sa)) {
		memcpy(&sa, arg, sizeof(sa));
		if (!(sa.valid & FK_FATTR_KILL_SUIDGID))
			return;
		sa.fh = (sa.valid & FK_FATTR_FH ? sa.fh : 0) | FSOP_FH_KILL_SUIDGID;
		sa.valid |= FK_FATTR_FH;
		memcpy(arg, &sa, sizeof(sa));
	} else if (opcode == FK_WRITE && len >= sizeof(w)) {
		memcpy(&w, arg, sizeof(w));
		if (w.write_flags & FK_WRITE_KILL_SUIDGID)
			w.flags |= FSOP_FLAG_KILL_SUIDGID;
		memcpy(arg, &w, sizeof(w));
	} else if (opcode == FK_CREATE && len >= sizeof(c)) {
		memcpy(&c, arg, sizeof(c));
		if (c.open_flags & FK_OPEN_KILL_SUIDGID)
			c.flags |= FSOP_FLAG_KILL_SUIDGID;
		memcpy(arg, &c, sizeof(c));
	} else if (opcode == FK_OPEN && len >= sizeof(o)) {
		memcpy(&o, arg, sizeof(o));
		if (o.open_flags & FK_OPEN_KILL_SUIDGID)
			o.flags |= FSOP_FLAG_KILL_SUIDGID;
		memcpy(arg, &o, sizeof(o));
	}
}

static void note_init(struct fsd_pt *pt, const uint8_t *arg, size_t len)
{
	struct fk_init_in in;

	if (len < offsetof(struct fk_init_in, unused))
		return;
	memcpy(&in, arg, offsetof(struct fk_init_in, unused));
	pt->offered = (in.flags & FK_INIT_EXT) && (in.flags2 & FK_INIT2_PASSTHROUGH);
	pt->ring_offered = (in.flags & FK_INIT_EXT) && (in.flags2 & FK_INIT2_OVER_IO_URING);
	pt->killpriv_offered = in.flags & FK_INIT_HANDLE_KILLPRIV_V2;
}

/*
 * What the hooks must know of a request before libfuse sees it: the unique
 * id of INIT, OPEN and CREATE (their replies get patched), and the
 * kill-suid/sgid flags moved; for requests from /dev/fuse and the ring.
 */
static void pt_note_request(struct fsd *d, void *buf, size_t len)
{
	struct fk_in_header h;
	uint8_t *arg = (uint8_t *)buf + sizeof(h);

	if (len < sizeof(h))
		return;
	memcpy(&h, buf, sizeof(h));
	switch (h.opcode) {
	case FK_INIT:
		note_init(&d->pt, arg, len - sizeof(h));
		pending_add(&d->pt, h.unique, h.opcode);
		break;
	case FK_OPEN:
	case FK_CREATE:
		pending_add(&d->pt, h.unique, h.opcode);
		/* fall through */
	case FK_WRITE:
	case FK_SETATTR:
		move_kill_flag(arg, len - sizeof(h), h.opcode);
		break;
	}
}

/* A request from the ring (uring.c), laid out as read(2) would have. */
static void pt_deliver(struct fsd *d, void *req, size_t len)
{
	struct fuse_buf fb = { .mem = req, .size = len };

	pt_note_request(d, req, len);
	fuse_session_process_buf(d->se, &fb);
}

static ssize_t pt_read(int fd, void *buf, size_t len, void *userdata)
{
	ssize_t n = read(fd, buf, len);

	if (n > 0)
		pt_note_request(userdata, buf, (size_t)n);
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

static void patch_init(struct fsd *d, struct iovec *iov, int count)
{
	uint8_t *at = payload_at(iov, count, 0, sizeof(struct fk_init_out));
	struct fk_init_out out;

	if (at)
		memcpy(&out, at, sizeof(out));
	/*
	 * KILLPRIV_V2 makes the kernel mark the superblock SB_NOSEC, which
	 * spares every write a GETXATTR of security.capability; in return the
	 * daemon clears suid/sgid itself (the kill flags, chown).
	 */
	if (at && d->pt.killpriv_offered) {
		out.flags |= FK_INIT_HANDLE_KILLPRIV_V2;
		d->fs.killpriv = true;
	}
	if (d->pt.mode == FSD_PT_UNDECIDED) {
		d->pt.mode = FSD_PT_OFF;
		if (!at || !(out.flags & FK_INIT_EXT) || (out.flags & FK_INIT_WRITEBACK_CACHE)) {
			snprintf(d->pt.why, sizeof(d->pt.why),
				 "the INIT reply cannot carry FUSE_PASSTHROUGH");
		} else {
			out.flags2 |= FK_INIT2_PASSTHROUGH;
			out.max_stack_depth = 1;
			d->pt.mode = FSD_PT_ON;
		}
	}
	if (at)
		ring_patch_init(d, &out, d->pt.ring_offered);
	if (at)
		memcpy(at, &out, sizeof(out));
	pt_report(d);
}

/**
 * pt_report() - say once which data path the mount uses, and why
 * @d: the daemon
 *
 * Called before a background daemon detaches when the answer is already
 * known (so the shell that mounted sees it), and at INIT otherwise; syslog
 * gets it too.
 */
void pt_report(struct fsd *d)
{
	if (d->pt.said || d->pt.mode == FSD_PT_UNDECIDED)
		return;
	d->pt.said = true;
	if (d->pt.mode == FSD_PT_ON)
		fs_log(LOG_INFO, "data path: FUSE passthrough to the daemon's shared memory");
	else
		fs_log(LOG_NOTICE, "data path: served by the daemon (passthrough off: %s)",
		       d->pt.why);
}

static void patch_open(struct iovec *iov, int count, size_t at_off)
{
	uint8_t *at = payload_at(iov, count, at_off, sizeof(struct fk_open_out));
	struct fk_open_out out;

	if (!at)
		return;
	memcpy(&out, at, sizeof(out));
	if (!(out.fh & PT_FH))
		return;
	out.open_flags |= FK_FOPEN_PASSTHROUGH;
	out.backing_id = (int32_t)(out.fh & PT_FH_ID);
	memcpy(at, &out, sizeof(out));
}

/* Patch the replies whose requests pending_add() noted; true for INIT. */
static bool pt_patch_reply(struct fsd *d, struct iovec *iov, int count,
			   const struct fk_out_header *h)
{
	if (!h->unique)
		return false; /* a notification */
	if (count < 2 || h->error) {
		pending_take(&d->pt, h->unique); /* an error reply: forget it */
		return false;
	}
	switch (pending_take(&d->pt, h->unique)) {
	case FK_INIT:
		patch_init(d, iov, count);
		return true;
	case FK_OPEN:
		patch_open(iov, count, 0);
		break;
	case FK_CREATE:
		patch_open(iov, count, sizeof(struct fk_entry_out));
		break;
	}
	return false;
}

/*
 * Every reply and notification leaves here: patched, then committed to
 * the ring when its request came that way, else written to /dev/fuse.
 */
static ssize_t pt_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	struct fsd *d = userdata;
	struct fk_out_header h;
	ssize_t n;
	bool init;

	/* none under a filesystem lock */
	fs_assert_unheld(&d->fs.lock);
	fs_assert_unheld(&d->fs.commit_lock);
	if (count < 1 || iov[0].iov_len < sizeof(h))
		return writev(fd, iov, count);
	memcpy(&h, iov[0].iov_base, sizeof(h));
	init = pt_patch_reply(d, iov, count, &h);
	if (!init && ring_commit(d, iov, count, &n))
		return n;
	n = writev(fd, iov, count);
	if (init && n >= 0)
		ring_init_sent(d); /* the kernel takes REGISTER from now on */
	return n;
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
 * @d: the daemon; its fsd is the session's userdata
 * @se: a mounted session
 *
 * With -o nopassthrough, or without CAP_SYS_ADMIN (BACKING_OPEN needs it),
 * the mount serves data itself; the hooks still negotiate KILLPRIV_V2.
 *
 * Return: 0; -errno from fuse_session_custom_io().
 */
int pt_install(struct fsd *d, struct fuse_session *se)
{
	static const struct fuse_custom_io io = { .read = pt_read, .writev = pt_writev };

	d->devfd = fuse_session_fd(se);
	d->se = se;
	d->ring.deliver = pt_deliver;
	if (!d->fs.opts.passthrough) {
		d->pt.mode = FSD_PT_OFF;
		snprintf(d->pt.why, sizeof(d->pt.why), "disabled by -o nopassthrough");
	} else if (geteuid() != 0) {
		d->pt.mode = FSD_PT_OFF;
		snprintf(d->pt.why, sizeof(d->pt.why),
			 "needs CAP_SYS_ADMIN (mounted by an unprivileged user)");
	} else if (!kernel_has_passthrough()) {
		d->pt.mode = FSD_PT_OFF;
		snprintf(d->pt.why, sizeof(d->pt.why), "%s", NO_KERNEL_PT);
	}
	/* hooked in every mode and version: KILLPRIV_V2 is negotiated here */
	return fuse_session_custom_io(se, &io, d->devfd);
}

/**
 * pt_init() - settle the data path once the kernel's INIT has arrived
 * @d: the daemon
 * @conn: the connection being negotiated
 *
 * Called from the FUSE init callback, before the INIT reply is sent.
 */
void pt_init(struct fsd *d, struct fuse_conn_info *conn)
{
	/* The hooks must see every request and reply: no splice. */
	conn->want &= ~(unsigned)(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE |
				   FUSE_CAP_SPLICE_MOVE);
	if (d->pt.mode == FSD_PT_OFF)
		return;
#if HAVE_FUSE_PASSTHROUGH_API
	/* libfuse >= 3.17.1 negotiates it; BACKING_OPEN stays an ioctl here */
	if (conn->capable_ext & FUSE_CAP_PASSTHROUGH) {
		conn->want_ext |= FUSE_CAP_PASSTHROUGH;
		conn->max_backing_stack_depth = 1;
		d->pt.mode = FSD_PT_ON;
		return;
	}
	d->pt.offered = false;
#endif
	if (!d->pt.offered) {
		d->pt.mode = FSD_PT_OFF;
		snprintf(d->pt.why, sizeof(d->pt.why), "%s", NO_KERNEL_PT);
	}
}

/* Register @fd with the kernel; runs without fs->lock: a system call. */
static int backing_open_unlocked(struct fsd *d, uint64_t ino, int fd)
{
	struct fk_backing_map map = { .fd = fd };
	int id = ioctl(d->devfd, FK_DEV_IOC_BACKING_OPEN, &map);

	if (id <= 0) {
		int err = errno;

		fs_log(LOG_ERR,
		       "inode %llu: FUSE_DEV_IOC_BACKING_OPEN: %s; "
		       "serving it without passthrough",
		       (unsigned long long)ino, strerror(err));
		return 0;
	}
	return id;
}

/**
 * pt_backing_close() - give a backing id back to the kernel
 * @d: the daemon; fs->lock not held (a system call)
 * @id: from pt_release(), or 0 for none
 */
void pt_backing_close(struct fsd *d, uint32_t id)
{
	fs_assert_unheld(&d->fs.lock);
	if (id && ioctl(d->devfd, FK_DEV_IOC_BACKING_CLOSE, &id) < 0)
		fs_log(LOG_ERR, "FUSE_DEV_IOC_BACKING_CLOSE %u: %s", id, strerror(errno));
}

/* The path of this open (fs_data_path()), as far as the connection goes. */
static enum fs_data_path pt_path(struct fsd *d, struct fs_inode *inode, bool writer)
{
	return fs_data_path(&d->fs, inode, writer, d->pt.mode == FSD_PT_ON);
}

/*
 * Give @inode a backing id, registering its memfd with fs->lock dropped
 * (the inode pinned, so its memfd stays).  Another open may have done the
 * same meanwhile: the first id stays, a second goes back.
 */
static void backing_get_relock(struct fsd *d, struct fs_inode *inode)
{
	int id;

	inode->pins++;
	fs_unlock(&d->fs);
	id = backing_open_unlocked(d, inode->ino, inode->memfd);
	fs_lock(&d->fs);
	inode->pins--;
	if (!id) /* refused: served, as said in the log */
		return;
	if (inode->backing_id) {
		fs_unlock(&d->fs);
		pt_backing_close(d, (uint32_t)id);
		fs_lock(&d->fs);
		return;
	}
	inode->backing_id = id;
}

/**
 * pt_open_relock() - choose the data path of one open
 * @d: the daemon, fs->lock held; dropped while the kernel registers the
 *     file's memfd, so callers re-check what they need
 * @inode: a loaded regular file
 * @fi: the open; on passthrough its fh carries the backing id
 *
 * A failed backing open falls back to serving the file; it does not fail
 * the open.
 */
void pt_open_relock(struct fsd *d, struct fs_inode *inode, struct fuse_file_info *fi)
{
	bool writer = (fi->flags & O_ACCMODE) != O_RDONLY;
	enum fs_data_path path;

	fs_assert_held(&d->fs.lock);
	fi->keep_cache = 0;	/* any other open flag breaks passthrough */
	fi->fh = 0;
	if (pt_path(d, inode, writer) == FS_PATH_TRACKED)
		return;
	if (!inode->backing_id)
		backing_get_relock(d, inode);
	/* what an open that went on meanwhile decided holds for this one */
	path = pt_path(d, inode, writer);
	if (!inode->backing_id || path == FS_PATH_TRACKED)
		return;
	inode->pt_opens++;
	if (writer) {
		fs_data_watch(&d->fs, inode, (fi->flags & O_ACCMODE) == O_RDWR);
		inode->pt_writers++;
		fs_data_dirty(&d->fs, inode, 0, UINT64_MAX);
	}
	/* read(2) and write(2) reach the daemon; mmap maps the memory file */
	fi->direct_io = path == FS_PATH_PT_SERVED;
	fi->fh = PT_FH | (writer ? PT_FH_WRITER : 0) | (uint32_t)inode->backing_id;
#if HAVE_FUSE_PASSTHROUGH_API
	fi->backing_id = inode->backing_id;
#endif
}

/* Was @fi a passthrough open that could write (the kernel writes unseen)? */
bool pt_writer_open(const struct fuse_file_info *fi)
{
	return (fi->fh & PT_FH) && (fi->fh & PT_FH_WRITER);
}

/**
 * pt_release() - drop one open
 * @d: the daemon, fs->lock held
 * @inode: the inode
 * @fi: the open being released
 *
 * Return: the backing id the last passthrough open leaves, for the caller
 * to give back with pt_backing_close() once the lock is dropped; or 0.
 */
uint32_t pt_release(struct fsd *d, struct fs_inode *inode, struct fuse_file_info *fi)
{
	uint32_t id;

	fs_assert_held(&d->fs.lock);
	if (!(fi->fh & PT_FH) || !inode->pt_opens)
		return 0;
	if (fi->fh & PT_FH_WRITER)
		fs_data_writer_closed(&d->fs, inode);
	else
		fs_data_sync_attr(&d->fs, inode);
	if ((fi->fh & PT_FH_WRITER) && inode->pt_writers)
		inode->pt_writers--;
	if (--inode->pt_opens)
		return 0;
	id = (uint32_t)inode->backing_id;
	inode->backing_id = 0;
	return id;
}
