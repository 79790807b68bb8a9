/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon core: the in-memory filesystem (inodes, directory entries,
 * extended attributes), the memory files that hold open files' data, space
 * and memory accounting, the effective folio policy, writeback and commit,
 * and the glue to the collapser.  No FUSE here: the front end (fs/fuse/)
 * decodes requests into calls on this state, takes fs->lock around them and
 * converts the negative errno they return into a reply exactly once.
 *
 * Dependencies between the core's files run one way, lowest first
 * (docs/ARCHITECTURE.md; tests/layers.py checks the built library): log,
 * strbuf < lock < track < space < shm, dirty, damage, policy < data < inode <
 * dirent, xattr < namei, collapser < ctl, meta < writeback < file < fs.
 */
#ifndef FOLIOFS_CORE_FS_H
#define FOLIOFS_CORE_FS_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>

#include "foliofs/clp.h"
#include "foliofs/ctl.h"
#include "foliofs/img.h"
#include "strbuf.h"

/*
 * A mutex that knows its owner, so a function documented "lock held" can
 * assert it (fs_assert_held()).  Debug and sanitizer builds (assertions on)
 * make it an error-checking mutex: relocking, or unlocking a lock the
 * thread does not hold, aborts instead of deadlocking or corrupting.
 */
struct fs_mutex {
	pthread_mutex_t m;
	pthread_t owner;	/* valid while held; read atomically */
	bool held;		/* read atomically */
	const char *name;
	unsigned rank;	    /* enum fs_lock_rank */
	unsigned held_rank; /* the rank it was taken at (the holder's) */
};

/*
 * The filesystem lock (fs->lock): shared by requests that only read, or
 * exclusive.  A shared holder changes nothing but inode->nlookup, which it
 * increments atomically; everything else is changed only under the lock
 * held exclusively.  Built on a mutex and a condition variable rather than
 * pthread_rwlock_t so that an exclusive holder can wait on a condition
 * (fs_cond_wait()) as with a mutex.  New readers queue behind a waiting
 * writer: a stream of stats cannot starve a create or a commit.
 */
struct fs_rwlock {
	pthread_mutex_t m;	  /* the fields below; held only inside lock.c */
	pthread_cond_t free_cv;	  /* m: the readers or the writer left */
	uint32_t readers;	  /* m */
	uint32_t writers_waiting; /* m */
	bool writer;		  /* m; also read atomically, for assertions */
	pthread_t owner;	  /* the writer; valid while writer (atomic) */
	const char *name;
	unsigned rank; /* enum fs_lock_rank */
};

/*
 * The lock order, checked: a thread may take a lock only while every lock
 * it holds has a lower rank (with assertions on, fs_mutex_lock() aborts
 * otherwise, naming both).  So two locks of one rank are never nested.
 */
enum fs_lock_rank {
	FS_RANK_COMMIT = 1, /* fs->commit_lock */
	FS_RANK_FS,	    /* fs->lock */
	FS_RANK_NS,	    /* fs->ns_lock */
	FS_RANK_INODE,	    /* inode->lock: one inode, or a directory */
	FS_RANK_CHILD,	    /* inode->lock of an entry's inode, under its directory's */
	FS_RANK_CHILD2,	    /* ... and of a second entry's (a rename), higher number */
	FS_RANK_TABLE,	    /* fs->tab_lock */
	FS_RANK_FRONT,	    /* front-end state, taken without fs locks */
	FS_RANK_SPACE,	    /* fs->space_lock */
	FS_RANK_TRACK,	    /* fs->track_lock */
	FS_RANK_LEAF,	    /* nothing is taken under these */
	FS_RANK_NR
};

struct fs_xattr {
	struct fs_xattr *next;
	uint32_t value_len;
	uint16_t name_len;
	char *value;
	char name[];		/* NUL-terminated */
};

struct fs_dirent {
	struct fs_dirent *next, *prev;	/* in the directory, by cookie */
	struct fs_dirent *hnext;	/* hash chain */
	struct fs_inode *dir;
	struct fs_inode *inode;
	uint64_t cookie;		/* readdir offset, stable */
	uint16_t len;
	char name[];			/* NUL-terminated */
};

/*
 * Every field is protected by fs->lock unless noted: changed with it
 * exclusive, read with it in either mode.  Fields marked "ilock" belong to
 * the inode's own lock as well: they are changed with fs->lock exclusive,
 * or with it shared and inode->lock held (fs_assert_inode()), and read
 * the same ways, so requests on different files change attributes, xattrs
 * and served data side by side, and names in different directories.  An
 * inode stays in the table while it has links, lookups, opens or pins:
 * the table's lookups (fs_iget(), under tab_lock) need no inode lock, and
 * an inode is freed only under fs->lock exclusive.
 */
struct fs_inode {
	struct fs_mutex lock;		/* "ilock": see above */
	struct fs_inode *hnext;		/* inode hash chain */
	struct fs_inode *lnext, *lprev;	/* fs->loaded list, when memfd >= 0 */
	struct fs_inode *wnext, *wprev; /* fs->pt_written list (lock) */
	uint64_t ino;
	/* ilock; the type bits never change, and under fs->lock shared mode
	 * is stored atomically (fs_inode_set_mode()), so a lookup can check
	 * a type without the inode lock (fs_inode_type()) */
	uint32_t mode;
	uint32_t uid, gid; /* ilock */
	uint32_t nlink;	   /* ilock; changes with ns_lock too (fs_assert_ns()) */
	uint64_t size;	   /* ilock */
	uint64_t rdev;
	struct timespec atime, mtime, ctime; /* ilock */
	struct fs_xattr *xattrs;	     /* ilock */
	char *target;			/* symlink target */
	/* extents that failed their checksum at load (damage.c) */
	struct fofs_extent *bad;
	uint32_t nbad;
	/* committed extents: changed only with fs->commit_lock held too */
	struct fofs_extent *ext;
	uint32_t next, capext;
	uint64_t ext_size;		/* a file size all of ext lies inside */
	int memfd;			/* -1 while the data is not loaded */
	/* truncates: a served write copies with the locks dropped, and
	 * re-reads the size if one ran meanwhile (fs_file_write_relock()) */
	uint32_t size_gen;
	bool loading;			/* fs_data_load_relock() reads it in */
	uint64_t nlookup;		/* also raised under lock shared: fs_inode_lookup() */
	uint32_t nopen;
	uint32_t pins;			/* writeback or a load holds the memfd */
	/* data not yet written back: per 2 MiB region (dirty.c), or all (ilock) */
	struct spa dmap;
	bool dall;
	/*
	 * Regions whose changes only the intent log holds (their extents are
	 * older): the next commit rewrites them.  And, once fsync'd (ph_on),
	 * the XXH3 of every 4 KiB page of the regions written since the load,
	 * so an fsync finds the pages that changed.  Both: commit_lock.
	 */
	struct spa plog;
	struct spa phash; /* uint64_t[CLP_REGION_PAGES] per region */
	bool ph_on;
	bool dirty; /* dall or any bit in dmap (ilock) */
	/*
	 * A commit that wrote new extents for this inode failed: they are
	 * installed but maybe not on disk (a failed fdatasync forgets the
	 * lost pages), so the next commit rewrites instead of reusing them.
	 */
	bool wb_unsynced;
	/* opens whose reads and writes bypass the daemon (the front end's
	 * passthrough); their writes are unseen, so writeback rehashes */
	int backing_id;			/* > 0 while such opens exist */
	uint32_t pt_opens, pt_writers;
	/* a passthrough open could map the memfd shared and writable since
	 * the load: its mapping may change it after the last close */
	bool pt_mapped_rw;
	bool close_flush;	   /* lock: closed, being written back to go (fs_file_close()) */
	struct timespec mfd_mtime; /* memfd mtime last folded into mtime (ilock) */
	/* collapser: one entry per 2 MiB region; gen counts punches */
	struct clp_map cmap;
	uint32_t cmap_gen;
	/* pages the memory file held when a background pass last found
	 * nothing to try again in it; while unchanged, passes skip it (ilock) */
	uint64_t clp_quiet;
	uint64_t mblocks; /* 4 KiB pages in the memfd (as cache_blocks) */
	/* directories: the entries, in cookie order (ilock, and ns_lock to change) */
	struct fs_dirent *dhead, *dtail;
	uint64_t next_cookie; /* ilock */
	uint32_t nentries;    /* ilock */
	/* set by the create or rename that links it, under the new parent's lock */
	struct fs_inode *parent;
	/* changed since the image recorded it (track.c; struct fs_track) */
	struct fs_inode *tnext, *tprev;
	uint64_t tseq; /* meta_seq of its last change */
	bool tracked;
	bool fsync_target; /* in the log batch being built */
};

/* Who a change comes from, as the set-ID rules need to know. */
struct fs_caller {
	uint32_t uid, gid;
	bool fsetid;		/* holds CAP_FSETID (root) */
	bool in_group;		/* the file's group is one of the caller's */
	bool kill_sxid;		/* the kernel asked to clear set-ID bits */
};

enum fs_sxid_cause {
	FS_SXID_DATA,		/* write, truncate, fallocate */
	FS_SXID_CHOWN,
};

struct fs_opts {
	unsigned commit_interval;	/* seconds between periodic writebacks */
	bool ro;
	bool passthrough;		/* the front end may pass data through */
	enum clp_policy huge;		/* mount default folio policy */
	uint64_t cache_size;		/* bytes of clean, closed data kept */
	uint64_t mem_cap;		/* bytes of file data memory may hold */
	uint64_t max_loaded;		/* memory files (descriptors) kept, 0: any */
	unsigned scan_sleep_ms;		/* background collapser period, 0 off */
	unsigned max_ptes_none;		/* empty pages a region may have */
};

#define FS_CLP_FILES_PER_PASS	4
#define FS_MAP_PAGE		700	/* regions per map xattr page */
#define FS_FIRST_COOKIE		3	/* readdir: 1 and 2 are "." and ".." */

/*
 * Where the image's blocks go (space.c); protected by fs->lock, except
 * cache_blocks: changed with fs->lock exclusive, or shared with
 * fs->space_lock (a served write recounts its file's pages), and read the
 * same ways (fs_space_use()).
 */
struct fs_space {
	uint64_t total_blocks;		/* the image's size; set at mount */
	uint64_t cache_blocks;		/* sum of mblocks over loaded inodes */
	uint64_t cold_blocks;		/* extents of linked files not in memory */
	/* extents of files being loaded: already on disk, so memory takes
	 * them whatever room the image has left for new data */
	uint64_t loading_blocks;
	uint64_t committed_used;	/* of the last commit */
	uint64_t committed_meta;
	struct fofs_extent *dead;	/* extents of destroyed inodes */
	size_t ndead, capdead;
	/*
	 * Files let go (atomic): a client's close reaches the daemon as an
	 * asynchronous RELEASE, which may come after the next program's
	 * writes; those wait a moment for it (fs_space_await_release()).
	 */
	uint64_t releases;
};

/* One space figure for statfs, admission and the shm size (space.c). */
struct fs_space_use {
	uint64_t total;			/* blocks in the image */
	uint64_t used;			/* data (memory and image) and metadata */
	uint64_t reserve;		/* free, kept for copy-on-write */
	uint64_t image_room;		/* data blocks memory may hold: the image */
	uint64_t mem_room;		/* ... and memory (mem_cap); 0: no cap */
	uint64_t room;			/* the tighter of the two */
	uint64_t cached;		/* data blocks memory holds now */
};

/* The private tmpfs for memory files (shm.c); protected by fs->lock. */
struct fs_shm {
	int mnt;			/* detached mount, or -1: plain memfds */
	uint64_t limit;			/* its size in blocks */
};

/* The collapser glue (collapser.c); protected by fs->lock unless noted. */
struct fs_clp {
	struct clp_stats stats;
	uint64_t load_collapsed;	/* regions loaded as huge pages */
	uint64_t load_collapse_failed;
	struct clp_trace *trace;	/* kernel verdicts, or NULL; set at start */
	uint64_t cursor;		/* inode number the scan resumes after */
	pthread_t thread;		/* owned by fsclp_start/stop */
	pthread_cond_t cond;
	bool stop, started;
};

/* One namespace change for the intent log (track.c). */
struct fs_track_op {
	uint64_t parent, ino, seq;
	uint16_t type; /* FOFS_REC_DIRENT, _UNLINK or _DROP */
	uint16_t len;
	char name[];
};

/*
 * Changes the image does not hold yet (track.c): changed with fs->lock
 * exclusive, or shared with fs->track_lock (fs_meta_dirty()); read the
 * same ways (fs_meta_seq()).
 */
struct fs_track {
	struct fs_inode *inodes; /* via tnext/tprev */
	size_t ninodes;
	struct fs_track_op **ops; /* in order */
	size_t nops, capops;
	bool overflow; /* an op went unrecorded: commit */
	uint64_t overflow_seq;
};

/* Beyond these an fsync commits a generation instead of a log batch. */
#define FS_LOG_MAX_INODES 4096
#define FS_LOG_MAX_OPS	  16384
#define FS_LOG_MAX_BLOCKS 65536 /* 256 MiB of log */
/* Periodic writeback checkpoints once the log holds this much. */
#define FS_LOG_CHECKPOINT_BLOCKS 16384

/* Writeback (writeback.c); protected by fs->lock unless noted. */
struct fs_wb {
	int last_error;			/* of the last commit, for fsync */
	uint64_t commits;
	uint64_t generation;		/* the image's, as of the last commit */
	uint64_t log_batches;		/* fsyncs recorded by the intent log */
	uint64_t fsyncs, fsync_shared;	/* fsyncs; served by another's batch */
	/* writebacks of a file that may have changed unseen (a passthrough
	 * writer or mapping), found by comparing all of it, and its bytes */
	uint64_t scans, scan_bytes;
	uint64_t errors;		/* commits that failed */
	uint64_t fsync_us_sum;		/* fsync latency: total, and by */
	uint64_t fsync_us_hist[FOFS_FSYNC_NR_BUCKETS + 1]; /* bucket (+Inf last) */
	uint64_t log_blocks;		/* the log's size after the last writeback */
	uint8_t *buf;			/* commit_lock: one region, mapped once */
	/* group commit: fsyncs in line for the next batch, by ticket */
	uint64_t ticket; /* the last handed out */
	uint64_t done;	 /* every ticket up to this is durable */
	uint64_t *want;	 /* their inodes */
	size_t nwant, capwant;
	pthread_t thread;		/* owned by fs_wb_start/stop */
	pthread_cond_t cond;
	bool stop, started;
};

/*
 * The filesystem.  Lock order (enum fs_lock_rank, checked): commit_lock,
 * then lock (either mode), then ns_lock, then a directory's or one inode's
 * lock, then the lock of the inode an entry of that directory names (as a
 * child), then tab_lock, then space_lock or track_lock (leaves); the front
 * end's locks are taken without these.
 *
 * lock protects every field below and every inode, entry and xattr unless
 * a note says otherwise: changed only with it exclusive, read with it in
 * either mode.  Under it shared, a request may change one inode's own
 * state (the fields marked ilock in struct fs_inode: attributes, xattrs,
 * link count, served data, a directory's entries) holding that inode's
 * lock; what such a change touches beyond the inode has its own lock:
 * space_lock (the memory pages counted), track_lock (the change list and
 * meta_seq), tab_lock (the hash tables, their counts, next_ino).  A name
 * is made, linked, removed or renamed within its directory under lock
 * shared with ns_lock shared, the directory's lock and the named inodes'
 * as children (namei.c); a commit's
 * walk freezes ns_lock (exclusive), so it sees no create half done.
 * Everything else (renames across directories, opens, loads, trims,
 * freeing an inode, the collapser, fsync) changes with lock exclusive, which stands for every
 * lock below it.  So stats, reads and lookups run beside each other and
 * beside writes, chmods, xattr changes and namespace changes elsewhere.
 *
 * lock is never held across image I/O, a served write's copy, a memory
 * file's creation or registration, or a collapse, so a commit
 * (commit_lock) runs beside requests: it takes lock exclusively only to
 * snapshot and to finish, and shared to install extents and walk the
 * metadata, one inode lock at a time (readers go on).  No reply is sent
 * with any of them held.
 */
struct fs {
	struct fs_mutex commit_lock;	/* one commit at a time; the allocator */
	struct fs_rwlock lock;		/* all in-memory state */
	struct fs_mutex space_lock;	/* cache_blocks, inode->mblocks: shared */
	struct fs_mutex track_lock;	/* track, meta_seq, inode->t*: shared */
	/* namespace changes under lock shared, or the commit's walk (fs_ns_lock()) */
	struct fs_rwlock ns_lock;
	struct fs_mutex tab_lock;	/* itab, dtab, their counts, next_ino: shared */
	pthread_cond_t load_cond;	/* an inode finished loading (lock) */
	struct img *img;		/* image I/O: commit_lock; reads: none */
	const char *image_path;		/* set at mount */
	struct fs_opts opts;		/* set at mount */
	bool ro_said;			/* a refused change was logged (atomic) */
	bool killpriv;			/* set at FUSE INIT: set-ID bits are ours */
	struct fs_inode **itab;		/* tab_lock */
	size_t ibuckets, ninodes;	/* tab_lock; ninodes also read atomically */
	struct fs_dirent **dtab;	/* tab_lock */
	size_t dbuckets, ndirents;	/* tab_lock */
	struct fs_inode *loaded;	/* inodes with a memfd, most recent first */
	struct fs_inode *pt_written;	/* inodes with passthrough writers (lock) */
	struct fs_inode *loaded_tail;
	uint64_t nloaded;		/* how many */
	uint64_t next_ino;		/* tab_lock */
	uint64_t meta_seq;  /* metadata changes (track_lock) */
	uint64_t meta_cseq; /* ... committed */
	struct fs_track track;
	struct fs_space space;
	struct fs_shm shm;
	struct fs_clp clp;
	struct fs_wb wb;
};

/* lock.c: locks that know their owner, waits, time */
void fs_mutex_init(struct fs_mutex *l, const char *name, enum fs_lock_rank rank);
void fs_mutex_destroy(struct fs_mutex *l);
void fs_mutex_lock(struct fs_mutex *l);
void fs_mutex_unlock(struct fs_mutex *l);
bool fs_mutex_held(const struct fs_mutex *l);
void fs_rwlock_init(struct fs_rwlock *l, const char *name, enum fs_lock_rank rank);
void fs_rwlock_destroy(struct fs_rwlock *l);
bool fs_rwlock_held(const struct fs_rwlock *l, bool excl);
void fs_lock(struct fs *fs);
void fs_unlock(struct fs *fs);
bool fs_trylock(struct fs *fs);
void fs_lock_shared(struct fs *fs);
void fs_unlock_shared(struct fs *fs);
void fs_lock_as(struct fs *fs, bool excl);
void fs_unlock_as(struct fs *fs, bool excl);
bool fs_unlock_retry(struct fs *fs, bool *excl, int ret);
void fs_commit_lock(struct fs *fs);
void fs_commit_unlock(struct fs *fs);
void fs_cond_wait(struct fs *fs, pthread_cond_t *cond);
void fs_cond_wait_ms(struct fs *fs, pthread_cond_t *cond, unsigned ms);
void fs_thread_stop(struct fs *fs, pthread_t thread, bool *stop,
		    pthread_cond_t *cond);
void fs_touch(struct timespec *ts);
void fs_inode_lock(struct fs *fs, struct fs_inode *inode);
void fs_inode_lock_child(struct fs *fs, struct fs_inode *inode);
void fs_inode_lock_two(struct fs *fs, struct fs_inode *a, struct fs_inode *b);
void fs_inode_unlock_two(struct fs *fs, struct fs_inode *a, struct fs_inode *b);
void fs_inode_unlock(struct fs *fs, struct fs_inode *inode);
bool fs_inode_held(const struct fs *fs, const struct fs_inode *inode);
void fs_ns_lock(struct fs *fs);
void fs_ns_unlock(struct fs *fs);
void fs_ns_freeze(struct fs *fs);
void fs_ns_thaw(struct fs *fs);
bool fs_ns_held(const struct fs *fs);
void fs_tab_lock(struct fs *fs);
void fs_tab_unlock(struct fs *fs);

/* Is @l held by this thread: exclusively, for fs->lock (an fs_rwlock)? */
#define fs_lock_held_(l) \
	_Generic((l),                                                           \
		struct fs_rwlock *: fs_rwlock_held((const void *)(l), true),    \
		const struct fs_rwlock *: fs_rwlock_held((const void *)(l), true), \
		struct fs_mutex *: fs_mutex_held((const void *)(l)),            \
		const struct fs_mutex *: fs_mutex_held((const void *)(l)))
/* ... or in any mode */
#define fs_lock_any_(l) \
	_Generic((l),                                                            \
		struct fs_rwlock *: fs_rwlock_held((const void *)(l), false),    \
		const struct fs_rwlock *: fs_rwlock_held((const void *)(l), false), \
		struct fs_mutex *: fs_mutex_held((const void *)(l)),             \
		const struct fs_mutex *: fs_mutex_held((const void *)(l)))
/*
 * Abort unless this thread holds @l (a no-op without assertions); for
 * fs->lock, held exclusively: what a function that changes state needs.
 */
#define fs_assert_held(l) assert_held_(fs_lock_held_(l), (l)->name, __func__)
/* Abort unless this thread holds fs->lock, shared or exclusive: readers. */
#define fs_assert_locked(fs) assert_held_(fs_lock_any_(&(fs)->lock), "lock", __func__)
/* Abort if this thread holds @l in any mode: before a reply, a wait on I/O. */
#define fs_assert_unheld(l) assert_held_(!fs_lock_any_(l), (l)->name, __func__)
/*
 * Abort unless this thread may change @inode's own state (the fields
 * marked ilock): fs->lock exclusive, or shared with @inode->lock.
 */
#define fs_assert_inode(fs, inode) \
	assert_held_(fs_inode_held((fs), (inode)), "inode lock", __func__)
/* Abort unless this thread may change names and links (fs_ns_lock()). */
#define fs_assert_ns(fs) assert_held_(fs_ns_held(fs), "ns_lock", __func__)
/* Abort unless names and links hold still: fs->lock exclusive, or fs_ns_freeze(). */
#define fs_assert_ns_frozen(fs)                                                                 \
	assert_held_(fs_rwlock_held(&(fs)->lock, true) || fs_rwlock_held(&(fs)->ns_lock, true), \
		     "ns_lock", __func__)
/*
 * Abort unless this thread may change @dir's entries: fs->lock exclusive,
 * or shared with ns_lock and @dir's lock.
 */
#define fs_assert_dir(fs, dir) \
	assert_held_(fs_ns_held(fs) && fs_inode_held((fs), (dir)), "directory lock", __func__)
void assert_held_(bool ok, const char *lock, const char *func);

/* log.c */
void fs_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* space.c: blocks of the image and of memory */
uint64_t fs_ext_blocks(const struct fs_inode *inode);
uint64_t fs_mem_blocks(const struct fs_inode *inode);
void fs_space_use(struct fs *fs, struct fs_space_use *u);
void fs_space_account(struct fs *fs, struct fs_inode *inode);
void fs_space_cold(struct fs *fs, uint64_t n, bool to_cold);
uint64_t fs_space_held_open(struct fs *fs);
void fs_space_let_go(struct fs *fs);
uint64_t fs_space_releases(struct fs *fs);
bool fs_space_await_release(struct fs *fs, uint64_t seen);
bool fs_space_retry(struct fs *fs, int ret, uint64_t *seen);
uint64_t fs_space_mem_cap(uint64_t cglimit);

/* shm.c: the memory files */
void shm_init(struct fs *fs);
void shm_exit(struct fs *fs);
int shm_create(struct fs *fs, uint64_t ino, int *fd);
void shm_update_limit(struct fs *fs);
uint64_t shm_memory_limit(void);

/* track.c: what the next log batch must record */
void fs_meta_dirty(struct fs *fs, struct fs_inode *inode);
uint64_t fs_meta_seq(struct fs *fs);
void fs_track_forget(struct fs *fs, struct fs_inode *inode);
void fs_track_op(struct fs *fs, uint16_t type, uint64_t parent, const char *name, uint64_t ino);
bool fs_track_fits(const struct fs *fs);
void fs_track_clean(struct fs *fs, uint64_t seq);
void fs_track_release(struct fs *fs);

/* dirty.c: which 2 MiB regions writeback must look at */
#define FS_CHUNK_SHIFT 18 /* dirty map: 256 KiB chunks, 8 per region */
#define FS_CHUNK_SIZE  (1u << FS_CHUNK_SHIFT)
void fs_dmap_init(struct spa *dmap);
void fs_phash_init(struct fs_inode *inode);
void fs_phash_drop(struct fs_inode *inode);
uint64_t *fs_phash_get(struct fs_inode *inode, uint64_t r, bool make);
bool fs_plog_any(const struct fs_inode *inode);
bool fs_data_changed(const struct fs_inode *inode);
void fs_data_dirty(struct fs *fs, struct fs_inode *inode, uint64_t off,
		   uint64_t end);

/* damage.c */
void fs_bad_install(struct fs *fs, struct fs_inode *inode, struct fofs_extent *bad,
		    uint32_t n);
void fs_bad_release(struct fs_inode *inode);
bool fs_bad_overlaps(const struct fofs_extent *bad, uint32_t n, uint64_t off,
		     uint64_t end, bool regions);
bool fs_bad_next_region(const struct fofs_extent *bad, uint32_t n, uint64_t from,
			uint64_t *r);
int fs_bad_punch(struct fs *fs, struct fs_inode *inode, uint64_t off, uint64_t end);

/* policy.c */
enum fs_data_path {
	FS_PATH_TRACKED,     /* the daemon serves reads and writes; mmap cached */
	FS_PATH_PASSTHROUGH, /* the kernel uses the memory file itself */
	FS_PATH_PT_SERVED,   /* passthrough, read(2) and write(2) served */
};

enum fs_dp_override { FS_DPO_AUTO, FS_DPO_TRACKED, FS_DPO_PASSTHROUGH };

enum fs_dp_override fs_dp_override(const struct fs *fs, const struct fs_inode *inode);
int fs_dp_parse(const char *value, size_t len, enum fs_dp_override *out);
enum clp_policy fs_inode_policy(const struct fs *fs, const struct fs_inode *inode);

/* data.c: memory files filled from the image, and given back */
int fs_data_load_relock(struct fs *fs, struct fs_inode *inode);
void fs_data_unload(struct fs *fs, struct fs_inode *inode);
void fs_data_watch(struct fs *fs, struct fs_inode *inode, bool rw);
void fs_data_sync_attr(struct fs *fs, struct fs_inode *inode);
void fs_data_writer_closed(struct fs *fs, struct fs_inode *inode);
void fs_data_use(struct fs *fs, struct fs_inode *inode);
/* Files that must stay loaded a trim after a release looks at, at most. */
#define FS_TRIM_SKIPS 64
void fs_data_trim(struct fs *fs, bool all);
void fs_data_trim_to(struct fs *fs, uint64_t budget);
void fs_data_account_unseen(struct fs *fs);
int fs_space_check(struct fs *fs, uint64_t blocks);
void fs_dead_extents(struct fs *fs, struct fs_inode *inode);
int fs_data_patch_relock(struct fs *fs, struct fs_inode *inode, uint64_t off, const void *data,
			 size_t len);

/* inode.c */
int fs_itab_init(struct fs *fs);
struct fs_inode *fs_iget(struct fs *fs, uint64_t ino);
void fs_inode_lookup(struct fs *fs, struct fs_inode *inode);
struct fs_inode *fs_inode_alloc(uint64_t ino);
void fs_inode_insert(struct fs *fs, struct fs_inode *inode);
void fs_inode_free(struct fs *fs, struct fs_inode *inode);
void fs_inode_release(struct fs_inode *inode);
int fs_inode_new(struct fs *fs, uint32_t mode, uint32_t uid, uint32_t gid,
		 struct fs_inode **out);
void fs_inode_put_check(struct fs *fs, struct fs_inode *inode);
bool fs_inode_sxid(const struct fs_inode *inode);
uint32_t fs_sxid_kill(const struct fs_inode *inode, enum fs_sxid_cause cause,
		      const struct fs_caller *c);
void fs_kill_sxid(struct fs *fs, struct fs_inode *inode, enum fs_sxid_cause cause,
		  const struct fs_caller *c);
void fs_stat(const struct fs *fs, const struct fs_inode *inode, struct stat *st);
void fs_inode_set_mode(struct fs *fs, struct fs_inode *inode, uint32_t mode);

/* @inode's file type (S_IFMT bits): never changes, read without its lock. */
/**
 * fs_may_change() - may a request change the filesystem?
 * @fs: the filesystem
 *
 * A daemon started read-only (-o ro) opened its image read-only: it takes
 * no change, whatever the kernel's mount flags say after a mount -o
 * remount,rw, which the kernel does not ask a FUSE daemon about.  Every
 * core function that changes the filesystem asks here first; the first
 * refusal is said once in the log.
 *
 * Return: 0, or -EROFS.
 */
static inline int fs_may_change(struct fs *fs)
{
	if (!fs->opts.ro)
		return 0;
	if (!__atomic_exchange_n(&fs->ro_said, true, __ATOMIC_RELAXED))
		fs_log(LOG_WARNING,
		       "refusing changes: this daemon was started read-only "
		       "(-o ro) and its image is not written; unmount and mount read-write "
		       "to change it");
	return -EROFS;
}

static inline uint32_t fs_inode_type(const struct fs_inode *inode)
{
	return __atomic_load_n(&inode->mode, __ATOMIC_RELAXED) & S_IFMT;
}

/* dirent.c: names */
int fs_dtab_init(struct fs *fs);
int fs_check_name(const char *name);
struct fs_dirent *fs_dlookup(struct fs *fs, struct fs_inode *dir,
			     const char *name);
int fs_link_add(struct fs *fs, struct fs_inode *dir, const char *name,
		struct fs_inode *inode);
void fs_link_del(struct fs *fs, struct fs_dirent *de);
int fs_dir_lock(struct fs *fs, uint64_t ino, struct fs_inode **out);

/* xattr.c: extended attributes */
int fs_xattr_set(struct fs *fs, struct fs_inode *inode, const char *name,
		 const char *value, size_t size, int flags);
int fs_xattr_get(struct fs *fs, struct fs_inode *inode, const char *name, char **value,
		 size_t *len);
int fs_xattr_list(struct fs *fs, struct fs_inode *inode, char **names, size_t *len);
int fs_xattr_remove(struct fs *fs, struct fs_inode *inode, const char *name);
int fs_xattr_inherit(struct fs *fs, struct fs_inode *dir, struct fs_inode *inode);

/* namei.c: creating, linking, removing and renaming */
int fs_make_node(struct fs *fs, uint64_t parent, const char *name, uint32_t mode,
		 uint64_t rdev, const char *target, const struct fs_caller *c,
		 struct fs_inode **out);
int fs_link(struct fs *fs, uint64_t ino, uint64_t parent, const char *name,
	    struct fs_inode **out);
int fs_remove(struct fs *fs, uint64_t parent, const char *name, bool dir);
int fs_rename(struct fs *fs, uint64_t parent, const char *name,
	      uint64_t newparent, const char *newname, unsigned flags);

/* collapser.c */
void fsclp_punch(struct fs *fs, struct fs_inode *inode, uint64_t off, uint64_t len);
void fsclp_truncate(struct fs *fs, struct fs_inode *inode, uint64_t old_size);
int fsclp_collapse_relock(struct fs *fs, struct fs_inode *inode, uint64_t off,
			  uint64_t len, bool explicit_req);
int fsclp_start(struct fs *fs);
void fsclp_stop(struct fs *fs);
int fsclp_map_text(struct fs *fs, struct fs_inode *inode, uint64_t first, char **out);

/* file.c: what the data requests do */
int fs_file_open_relock(struct fs *fs, struct fs_inode *inode, int flags,
			const struct fs_caller *c);
int fs_file_get(struct fs *fs, uint64_t ino, struct fs_inode **out);
enum fs_data_path fs_data_path(const struct fs *fs, const struct fs_inode *inode, bool writer,
			       bool pt_on);
bool fs_file_close(struct fs *fs, struct fs_inode *inode, bool pt_writer);
void fs_file_close_flush(struct fs *fs, uint64_t ino);
int fs_file_read_check(struct fs *fs, struct fs_inode *inode, uint64_t off,
		       uint64_t len);
int fs_file_write_relock(struct fs *fs, struct fs_inode *inode, const char *buf, size_t size,
			 uint64_t off, const struct fs_caller *c, size_t *done);
int fs_file_truncate_relock(struct fs *fs, struct fs_inode *inode, uint64_t size);
int fs_file_fallocate(struct fs *fs, struct fs_inode *inode, int mode,
		      uint64_t off, uint64_t len, const struct fs_caller *c);

/* What a setattr changes (FS_ATTR_* in valid), as the front end decoded it. */
enum {
	FS_ATTR_MODE = 1 << 0,
	FS_ATTR_UID = 1 << 1,
	FS_ATTR_GID = 1 << 2,
	FS_ATTR_SIZE = 1 << 3,
	FS_ATTR_ATIME = 1 << 4,
	FS_ATTR_MTIME = 1 << 5,
	FS_ATTR_ATIME_NOW = 1 << 6,
	FS_ATTR_MTIME_NOW = 1 << 7,
	FS_ATTR_CTIME = 1 << 8,
};

struct fs_setattr {
	unsigned valid;
	uint32_t mode, uid, gid;
	uint64_t size;
	struct timespec atime, mtime, ctime;
};

int fs_setattr_relock(struct fs *fs, struct fs_inode *inode,
		      const struct fs_setattr *a, const struct fs_caller *c);

/* ctl.c: the control attributes (user.foliofs.*) */
int fs_ctl_set_relock(struct fs *fs, struct fs_inode *inode, const char *name,
		      const char *value, size_t size, bool *handled);

/* What only the front end knows, for the status: how requests arrive. */
struct fs_ctl_front {
	const char *data_path;	   /* "passthrough" or "daemon" */
	const char *pt_why;	   /* why passthrough is off, or "-" */
	const char *transport;	   /* "io_uring" or "classic" */
	const char *transport_why; /* why the ring is not in use, or "-" */
	uint64_t ring_requests;	   /* requests that came over the ring */
	bool owner;		   /* the caller is root or the daemon's user */
};

bool fs_ctl_is_name(const char *name);
bool fs_ctl_is_view(const char *name);
int fs_ctl_view(struct fs *fs, struct fs_inode *inode, const char *name,
		const struct fs_ctl_front *front, char **text);

/* meta.c: the image's records to memory and back */
int fs_load_image(struct fs *fs);
int fs_serialize(struct fs *fs, struct img_mw *mw);
int fs_log_batch(struct fs *fs, struct img_mw *mw, struct fs_inode **targets, size_t nt,
		 const struct img_mw *bytes, uint64_t *seq);

/* writeback.c */
int fs_commit(struct fs *fs, bool clean);
int fs_fsync(struct fs *fs, uint64_t ino);
int fs_wb_start(struct fs *fs);
void fs_wb_stop(struct fs *fs);

/* fs.c: the filesystem object */
int fs_init(struct fs *fs, struct img *img, const struct fs_opts *opts);
void fs_destroy(struct fs *fs);

#endif /* FOLIOFS_CORE_FS_H */
