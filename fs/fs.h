/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The foliofs daemon's in-memory filesystem: inodes, directory entries, the
 * memfd that holds an open inode's data, and the commit machinery that turns
 * them into a new image generation.  All metadata lives in memory while
 * mounted; the image holds the last committed generation.  The FUSE
 * operation files (fsop_*.c) translate requests into calls on this state and
 * convert errors to replies exactly once.
 */
#ifndef FOLIOFS_FS_H
#define FOLIOFS_FS_H

#define FUSE_USE_VERSION 314

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "foliofs/clp.h"
#include "foliofs/ctl.h"
#include "foliofs/img.h"
#include "strbuf.h"

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
 * Every field is protected by fs->lock unless noted.  An inode stays in the
 * table while it has links, lookups, opens or pins.
 */
struct fs_inode {
	struct fs_inode *hnext;		/* inode hash chain */
	struct fs_inode *lnext, *lprev;	/* fs->loaded list, when memfd >= 0 */
	uint64_t ino;
	uint32_t mode, uid, gid, nlink;
	uint64_t size, rdev;
	struct timespec atime, mtime, ctime;
	struct fs_xattr *xattrs;
	char *target;			/* symlink target */
	/* extents that failed their checksum at load (damage.c) */
	struct fofs_extent *bad;
	uint32_t nbad;
	/* committed extents: changed only under fs->commit_lock too */
	struct fofs_extent *ext;
	uint32_t next, capext;
	uint64_t ext_size;		/* a file size all of ext lies inside */
	int memfd;			/* -1 while the data is not loaded */
	bool loading;			/* fs_data_load() runs unlocked */
	uint64_t nlookup;
	uint32_t nopen;
	uint32_t pins;			/* writeback holds the memfd */
	/* data not yet written back: per 2 MiB region (fs_dmap_*), or all */
	struct spa dmap;
	bool dall;
	bool dirty;			/* dall or any bit in dmap */
	/*
	 * A commit that wrote new extents for this inode failed: they are
	 * installed but maybe not on disk (a failed fdatasync forgets the
	 * lost pages), so the next commit rewrites instead of reusing them.
	 */
	bool wb_unsynced;
	/* passthrough (see passthrough.c) */
	int backing_id;			/* > 0 while passthrough opens exist */
	uint32_t pt_opens, pt_writers;
	struct timespec mfd_mtime;	/* memfd mtime last folded into mtime */
	/* collapser: one entry per 2 MiB region; gen counts punches */
	struct clp_map cmap;
	uint32_t cmap_gen;
	uint64_t mblocks;		/* 4 KiB pages allocated in the memfd */
	/* directories */
	struct fs_dirent *dhead, *dtail;
	uint64_t next_cookie;
	uint32_t nentries;
	struct fs_inode *parent;
};

/* Who a change comes from, as the set-ID rules need to know. */
struct fs_caller {
	uint32_t uid;
	bool fsetid;		/* holds CAP_FSETID (root) */
	bool in_group;		/* the file's group is one of the caller's */
};

enum fs_sxid_cause {
	FS_SXID_DATA,		/* write, truncate, fallocate */
	FS_SXID_CHOWN,
};

struct fs_opts {
	unsigned commit_interval;	/* seconds between periodic writebacks */
	bool ro;
	bool passthrough;		/* try FUSE passthrough */
	enum clp_policy huge;		/* mount default folio policy */
	uint64_t cache_size;		/* bytes of clean, closed data kept */
	uint64_t mem_cap;		/* bytes of file data memory may hold */
	unsigned scan_sleep_ms;		/* background collapser period, 0 off */
	unsigned max_ptes_none;		/* empty pages a region may have */
};

#define FS_CLP_FILES_PER_PASS	4
#define FS_MAP_PAGE		700	/* regions per map xattr page */

/* Data path of the mount, decided at FUSE INIT. */
enum fs_pt_mode {
	FS_PT_UNDECIDED = 0,
	FS_PT_ON,
	FS_PT_OFF,
};

struct fs {
	pthread_mutex_t lock;		/* all metadata below */
	pthread_mutex_t commit_lock;	/* one commit at a time; allocator */
	pthread_cond_t load_cond;	/* an inode finished loading */
	struct img *img;
	const char *image_path;
	struct fs_opts opts;
	struct fs_inode **itab;
	size_t ibuckets, ninodes;
	struct fs_dirent **dtab;
	size_t dbuckets, ndirents;
	struct fs_inode *loaded;	/* inodes with a memfd, most recent first */
	struct fs_inode *loaded_tail;
	uint64_t cache_blocks;		/* sum of mblocks over loaded inodes */
	/* passthrough */
	enum fs_pt_mode pt_mode;
	char pt_why[160];		/* why passthrough is off */
	bool pt_said;			/* the data path was reported */
	int devfd;			/* /dev/fuse of the session */
	struct fuse_session *se;
	bool killpriv;			/* we clear suid/sgid (KILLPRIV_V2) */
	int shm_mnt;			/* private tmpfs (shm.c), or -1 */
	uint64_t shm_limit;		/* its size in blocks */
	uint64_t next_ino;
	uint64_t meta_seq, meta_cseq;	/* metadata changes / committed */
	struct fofs_extent *dead;	/* extents of destroyed inodes */
	size_t ndead, capdead;
	uint64_t cold_blocks;		/* extents of linked files not in memory */
	uint64_t committed_used;
	uint64_t committed_meta;
	int last_error;			/* last failed writeback, for fsync */
	/* collapser (collapser.c) */
	struct clp_stats clp_stats;
	int tracefd;
	uint64_t clp_cursor;		/* inode number the scan resumes after */
	pthread_t clp_thread;
	pthread_cond_t clp_cond;
	bool clp_stop, clp_started;
	struct {
		uint64_t load_collapsed;	/* regions loaded as huge pages */
		uint64_t load_collapse_failed;
		uint64_t commits;
	} stats;
	/* writeback thread */
	pthread_t wb_thread;
	pthread_cond_t wb_cond;
	bool wb_stop, wb_started;
};

/* inode.c */
int fs_init(struct fs *fs, struct img *img, const struct fs_opts *opts);
void fs_destroy(struct fs *fs);
struct fs_inode *fs_iget(struct fs *fs, uint64_t ino);
struct fs_inode *fs_inode_alloc(uint64_t ino);
int fs_inode_insert(struct fs *fs, struct fs_inode *inode);
void fs_inode_free(struct fs *fs, struct fs_inode *inode);
void fs_inode_release(struct fs_inode *inode);
int fs_inode_new(struct fs *fs, uint32_t mode, uint32_t uid, uint32_t gid,
		 struct fs_inode **out);
void fs_inode_put_check(struct fs *fs, struct fs_inode *inode);
void fs_touch(struct timespec *ts);
void fs_wait_ms(struct fs *fs, pthread_cond_t *cond, unsigned ms);
void fs_thread_stop(struct fs *fs, pthread_t thread, bool *stop,
		    pthread_cond_t *cond);
bool fs_inode_sxid(const struct fs_inode *inode);
uint32_t fs_sxid_kill(const struct fs_inode *inode, enum fs_sxid_cause cause,
		      const struct fs_caller *c);
bool fs_kill_sxid(struct fs_inode *inode, enum fs_sxid_cause cause,
		  const struct fs_caller *c);
void fs_stat(const struct fs_inode *inode, struct stat *st);
void fs_entry(struct fs_inode *inode, struct fuse_entry_param *e);
struct fs_dirent *fs_dlookup(struct fs *fs, struct fs_inode *dir,
			     const char *name);
int fs_link_add(struct fs *fs, struct fs_inode *dir, const char *name,
		struct fs_inode *inode);
void fs_link_del(struct fs *fs, struct fs_dirent *de);
int fs_check_name(const char *name);
void fs_meta_dirty(struct fs *fs);
int fs_load_image(struct fs *fs);
int fs_serialize(struct fs *fs, struct img_mw *mw);

/* damage.c */
void fs_bad_install(struct fs_inode *inode, struct fofs_extent *bad, uint32_t n);
void fs_bad_release(struct fs_inode *inode);
bool fs_bad_overlaps(const struct fofs_extent *bad, uint32_t n, uint64_t off,
		     uint64_t end, bool regions);
bool fs_bad_next_region(const struct fofs_extent *bad, uint32_t n, uint64_t from,
			uint64_t *r);
int fs_bad_punch(struct fs_inode *inode, uint64_t off, uint64_t end);

/* log.c */
void fs_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* privs.c */
int fs_drop_privileges(void);

/* data.c */
int fs_data_load(struct fs *fs, struct fs_inode *inode);
void fs_data_unload(struct fs *fs, struct fs_inode *inode);
void fs_data_dirty(struct fs *fs, struct fs_inode *inode, uint64_t off,
		   uint64_t end);
void fs_dmap_init(struct spa *dmap);
void fs_data_sync_attr(struct fs *fs, struct fs_inode *inode);
void fs_data_use(struct fs *fs, struct fs_inode *inode);
void fs_data_trim(struct fs *fs);
void fs_data_trim_to(struct fs *fs, uint64_t budget);
void fs_data_account(struct fs *fs, struct fs_inode *inode);
void fs_data_account_unseen(struct fs *fs);
int fs_space_check(struct fs *fs, uint64_t blocks);
uint64_t fs_space_reserve(const struct fs *fs);
uint64_t fs_ext_blocks(const struct fs_inode *inode);
uint64_t fs_mem_blocks(const struct fs_inode *inode);
int fs_commit(struct fs *fs, bool clean);
int fs_wb_start(struct fs *fs);
void fs_wb_stop(struct fs *fs);
void fs_dead_extents(struct fs *fs, struct fs_inode *inode);

/* collapser.c */
enum clp_policy fs_inode_policy(struct fs *fs, const struct fs_inode *inode);
void fsclp_punch(struct fs *fs, struct fs_inode *inode, uint64_t off, uint64_t len);
void fsclp_truncate(struct fs *fs, struct fs_inode *inode, uint64_t old_size);
int fsclp_collapse(struct fs *fs, struct fs_inode *inode, uint64_t off,
		   uint64_t len, bool explicit_req);
int fsclp_start(struct fs *fs);
void fsclp_stop(struct fs *fs);
int fsclp_map_text(struct fs *fs, struct fs_inode *inode, uint64_t first, char **out);

/* shm.c */
int shm_init(struct fs *fs);
void shm_exit(struct fs *fs);
int shm_create(struct fs *fs, uint64_t ino, int *fd);
void shm_update_limit(struct fs *fs);
uint64_t shm_memory_limit(void);
uint64_t shm_data_cap(uint64_t cglimit);

/* passthrough.c */
int pt_install(struct fs *fs, struct fuse_session *se);
void pt_init(struct fs *fs, struct fuse_conn_info *conn);
void pt_report(struct fs *fs);
int pt_open(struct fs *fs, struct fs_inode *inode, struct fuse_file_info *fi);
void pt_release(struct fs *fs, struct fs_inode *inode, struct fuse_file_info *fi);
bool pt_kill_suidgid(void);

/* FUSE operation families */
void fsop_dir_ops(struct fuse_lowlevel_ops *ops);
void fsop_file_ops(struct fuse_lowlevel_ops *ops);
void fsop_attr_ops(struct fuse_lowlevel_ops *ops);
void fsop_xattr_ops(struct fuse_lowlevel_ops *ops);
void fsop_caller(fuse_req_t req, const struct fs_inode *inode, bool fsetid,
		 struct fs_caller *c);
int fsop_xattr_inherit(struct fs *fs, struct fs_inode *dir, struct fs_inode *inode);
int fsop_make_node(fuse_req_t req, fuse_ino_t parent, const char *name,
		   uint32_t mode, dev_t rdev, const char *target,
		   struct fuse_entry_param *e, struct fs_inode **out);

static inline struct fs *fsop_fs(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

#endif /* FOLIOFS_FS_H */
