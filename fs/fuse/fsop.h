/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The FUSE front end: the only part of the daemon that includes libfuse.
 * It decodes requests (fsop_*.c), runs the core's rule for each under
 * fs->lock, and answers once, after the lock is dropped; passthrough.c
 * extends libfuse 3.14's protocol through fuse_session_custom_io(), and
 * main.c parses options and runs the session.  Everything the front end
 * owns lives in struct fsd, which libfuse hands to every callback and hook
 * as its userdata: no process-wide state.
 */
#ifndef FOLIOFS_FSOP_H
#define FOLIOFS_FSOP_H

#define FUSE_USE_VERSION 314

#include <fuse_lowlevel.h>
#include <semaphore.h>
#include <stdint.h>

#include "fs.h"
#include "fuse_proto.h"

/* Data path of the mount, decided at FUSE INIT. */
enum fsd_pt_mode {
	FSD_PT_UNDECIDED = 0,
	FSD_PT_ON,
	FSD_PT_OFF,
};

#define FSD_PENDING_MAX		256

/*
 * Passthrough negotiation and the requests whose replies the writev hook
 * patches.  pending is protected by lock; the rest is written before the
 * session serves requests, or by the INIT hook before any other request.
 */
struct fsd_pt {
	pthread_mutex_t lock;
	struct { uint64_t unique; uint32_t opcode; } pending[FSD_PENDING_MAX];
	bool offered;		/* the kernel offered FUSE_PASSTHROUGH */
	bool killpriv_offered;	/* ... and FUSE_HANDLE_KILLPRIV_V2 */
	bool ring_offered;	/* ... and FUSE_OVER_IO_URING */
	enum fsd_pt_mode mode;
	char why[160];		/* why passthrough is off */
	bool said;		/* the data path was reported */
};

/* Transport of the requests (uring.c): /dev/fuse, or FUSE over io_uring. */
enum fsd_ring_state {
	FSD_RING_OFF = 0,  /* classic: not asked for, or not to be had */
	FSD_RING_STARTING, /* asked for in INIT; queues registering */
	FSD_RING_ON,	   /* requests arrive over the ring */
	FSD_RING_FAILED,   /* the kernel refused it: classic */
};

struct ring_queue;
struct fsd;

/*
 * The ring: want and why are set before serving (why also by the first
 * failure, under lock); q, nq and evfd by the INIT hook before the queue
 * threads start; state and requests are atomic.
 */
struct fsd_ring {
	bool want;
	_Atomic enum fsd_ring_state state;
	char why[160];
	struct ring_queue *q; /* the servers, RING_SERVERS per kernel queue */
	unsigned nq;
	int evfd;		   /* written to stop the queue threads */
	struct fs_mutex lock;	   /* why, once serving */
	sem_t go;		   /* posted once per server: the INIT reply is out */
	_Atomic uint64_t requests; /* served from the ring */
	/* the session hooks, above: note a request and hand it to libfuse */
	void (*deliver)(struct fsd *d, void *req, size_t len);
};

/* The daemon: the core filesystem and what the front end adds to it. */
struct fsd {
	struct fs fs;
	struct fuse_session *se;	/* set before serving */
	int devfd;			/* its /dev/fuse descriptor */
	struct fsd_pt pt;
	struct fsd_ring ring;
};

/*
 * The kernel's "clear set-ID bits" flag of a request, which libfuse 3.14
 * does not pass on: passthrough.c's read hook moves it into fields that it
 * does pass on.  Bit 31 of an open's or a write's flags is no open flag;
 * bit 61 of a file handle is not used by ours (passthrough.c).
 */
#define FSOP_FLAG_KILL_SUIDGID	(1u << 31)
#define FSOP_FH_KILL_SUIDGID	(1ull << 61)

static inline struct fsd *fsop_fsd(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static inline struct fs *fsop_fs(fuse_req_t req)
{
	return &fsop_fsd(req)->fs;
}

/* fsop_req.c: what every operation family needs */
void fsop_caller(fuse_req_t req, struct fs_caller *c);
void fsop_caller_groups(fuse_req_t req, const struct fs_inode *inode,
			struct fs_caller *c);
void fsop_entry(struct fs *fs, struct fs_inode *inode, struct fuse_entry_param *e);
void fsop_negative_entry(struct fuse_entry_param *e);
void fsop_inval_attr(fuse_req_t req, uint64_t ino);

/* FUSE operation families */
void fsop_dir_ops(struct fuse_lowlevel_ops *ops);
void fsop_file_ops(struct fuse_lowlevel_ops *ops);
void fsop_attr_ops(struct fuse_lowlevel_ops *ops);
void fsop_xattr_ops(struct fuse_lowlevel_ops *ops);

/* passthrough.c */
int pt_install(struct fsd *d, struct fuse_session *se);

/* uring.c */
void ring_configure(struct fsd *d, int want);
void ring_patch_init(struct fsd *d, struct fk_init_out *out, bool offered);
void ring_init_sent(struct fsd *d);
bool ring_commit(struct fsd *d, const struct iovec *iov, int count, ssize_t *len);
void ring_stop(struct fsd *d);
void ring_release(struct fsd *d);
const char *ring_describe(struct fsd *d, const char **why);
void pt_init(struct fsd *d, struct fuse_conn_info *conn);
void pt_report(struct fsd *d);
void pt_open_relock(struct fsd *d, struct fs_inode *inode, struct fuse_file_info *fi);
uint32_t pt_release(struct fsd *d, struct fs_inode *inode, struct fuse_file_info *fi);
bool pt_writer_open(const struct fuse_file_info *fi);
void pt_backing_close(struct fsd *d, uint32_t id);

/* privs.c */
int fs_drop_privileges(void);

#endif /* FOLIOFS_FSOP_H */
