// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Locks that know their owner, and the waits and clocks built on them.  A
 * function documented "lock held" asserts it with fs_assert_held(); one
 * that drops and retakes fs->lock says so in its name (_relock).  With
 * assertions on (debug and sanitizer builds: meson's default b_ndebug) the
 * mutexes are error-checking, so a relock or a stray unlock aborts at the
 * spot instead of deadlocking somewhere else, and every lock is checked
 * against the order (enum fs_lock_rank, written beside struct fs:
 * commit_lock, then lock, then the front end's): taking one out of order
 * aborts, naming both locks, the first time it happens rather than the
 * day two threads deadlock on it.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <syslog.h>

#include "fs.h"

#ifdef NDEBUG
#define LOCK_KIND	PTHREAD_MUTEX_DEFAULT
#define lock_ok(call)	((void)(call))
#define order_take(rank, name) ((void)(rank), (void)(name))
#define order_drop(rank)       ((void)(rank))
#else
#define LOCK_KIND	PTHREAD_MUTEX_ERRORCHECK
#define lock_ok(call)	check_call((call), #call)

static void check_call(int err, const char *what)
{
	if (!err)
		return;
	fs_log(LOG_CRIT, "lock error %d in %s", err, what);
	abort();
}

/* The locks this thread holds, by rank (their names): thread-local. */
static __thread const char *held_by_rank[FS_RANK_NR];

static void order_take_(unsigned rank, const char *name)
{
	for (unsigned r = rank; r < FS_RANK_NR; r++) {
		if (!held_by_rank[r])
			continue;
		fs_log(LOG_CRIT, "lock order broken: %s taken while holding %s", name,
		       held_by_rank[r]);
		abort();
	}
	held_by_rank[rank] = name;
}

static void order_drop_(unsigned rank)
{
	held_by_rank[rank] = NULL;
}
#define order_take(rank, name) order_take_((rank), (name))
#define order_drop(rank)       order_drop_(rank)
#endif

void assert_held_(bool ok, const char *lock, const char *func)
{
#ifdef NDEBUG
	(void)ok;
	(void)lock;
	(void)func;
#else
	if (ok)
		return;
	fs_log(LOG_CRIT, "%s: lock rule broken for %s", func, lock);
	abort();
#endif
}

void fs_mutex_init(struct fs_mutex *l, const char *name, enum fs_lock_rank rank)
{
	pthread_mutexattr_t a;

	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, LOCK_KIND);
	pthread_mutex_init(&l->m, &a);
	pthread_mutexattr_destroy(&a);
	l->held = false;
	l->name = name;
	l->rank = rank;
}

void fs_mutex_destroy(struct fs_mutex *l)
{
	pthread_mutex_destroy(&l->m);
}

/* The owner is written by the holder and read by anyone: atomically. */
static void set_owner(struct fs_mutex *l, bool held)
{
	__atomic_store_n(&l->owner, held ? pthread_self() : (pthread_t)0, __ATOMIC_RELAXED);
	__atomic_store_n(&l->held, held, __ATOMIC_RELEASE);
}

/* Take @l as a lock of @rank in the order (an inode's: as a child too). */
static void mutex_lock_at(struct fs_mutex *l, unsigned rank)
{
	order_take(rank, l->name);
	lock_ok(pthread_mutex_lock(&l->m));
	l->held_rank = rank;
	set_owner(l, true);
}

void fs_mutex_lock(struct fs_mutex *l)
{
	mutex_lock_at(l, l->rank);
}

void fs_mutex_unlock(struct fs_mutex *l)
{
	fs_assert_held(l);
	set_owner(l, false);
	order_drop(l->held_rank);
	lock_ok(pthread_mutex_unlock(&l->m));
}

/**
 * fs_mutex_held() - does the calling thread hold @l?
 * @l: the lock
 *
 * Only the holder writes the owner, so the answer is exact for the caller
 * (another thread's owner can only ever differ from pthread_self()).
 *
 * Return: true if held by this thread.
 */
bool fs_mutex_held(const struct fs_mutex *l)
{
	return __atomic_load_n(&l->held, __ATOMIC_ACQUIRE) &&
	       pthread_equal(__atomic_load_n(&l->owner, __ATOMIC_RELAXED), pthread_self());
}

/* Shared holds by this thread, by rank (one rwlock per rank): for assertions. */
static __thread unsigned shared_held[FS_RANK_NR];

void fs_rwlock_init(struct fs_rwlock *l, const char *name, enum fs_lock_rank rank)
{
	pthread_mutex_init(&l->m, NULL);
	pthread_cond_init(&l->free_cv, NULL);
	l->readers = l->writers_waiting = 0;
	l->writer = false;
	l->name = name;
	l->rank = rank;
}

void fs_rwlock_destroy(struct fs_rwlock *l)
{
	pthread_cond_destroy(&l->free_cv);
	pthread_mutex_destroy(&l->m);
}

/**
 * fs_rwlock_held() - does the calling thread hold @l?
 * @l: the lock
 * @excl: exclusively; else in either mode
 *
 * Return: true if so.
 */
bool fs_rwlock_held(const struct fs_rwlock *l, bool excl)
{
	bool mine = __atomic_load_n(&l->writer, __ATOMIC_ACQUIRE) &&
		    pthread_equal(__atomic_load_n(&l->owner, __ATOMIC_RELAXED), pthread_self());

	return mine || (!excl && shared_held[l->rank]);
}

/* Wait until @l is free, and take it exclusively; l->m held. */
static void excl_take_locked(struct fs_rwlock *l)
{
	l->writers_waiting++;
	while (l->writer || l->readers)
		lock_ok(pthread_cond_wait(&l->free_cv, &l->m));
	l->writers_waiting--;
	__atomic_store_n(&l->owner, pthread_self(), __ATOMIC_RELAXED);
	__atomic_store_n(&l->writer, true, __ATOMIC_RELEASE);
}

/* Give up the exclusive hold; l->m held. */
static void excl_drop_locked(struct fs_rwlock *l)
{
	__atomic_store_n(&l->writer, false, __ATOMIC_RELEASE);
	__atomic_store_n(&l->owner, (pthread_t)0, __ATOMIC_RELAXED);
	pthread_cond_broadcast(&l->free_cv);
}

/* Take @l exclusively (@excl) or shared: beside other readers, behind any writer. */
static void rw_lock(struct fs_rwlock *l, bool excl)
{
	order_take(l->rank, l->name);
	lock_ok(pthread_mutex_lock(&l->m));
	if (excl) {
		excl_take_locked(l);
	} else {
		while (l->writer || l->writers_waiting)
			lock_ok(pthread_cond_wait(&l->free_cv, &l->m));
		l->readers++;
	}
	pthread_mutex_unlock(&l->m);
	shared_held[l->rank] += !excl;
}

static void rw_unlock(struct fs_rwlock *l, bool excl)
{
	assert_held_(excl ? fs_rwlock_held(l, true) : shared_held[l->rank] > 0, l->name, __func__);
	shared_held[l->rank] -= !excl;
	order_drop(l->rank);
	lock_ok(pthread_mutex_lock(&l->m));
	if (excl)
		excl_drop_locked(l);
	else if (!--l->readers)
		pthread_cond_broadcast(&l->free_cv);
	pthread_mutex_unlock(&l->m);
}

void fs_lock(struct fs *fs)
{
	rw_lock(&fs->lock, true);
}

void fs_unlock(struct fs *fs)
{
	rw_unlock(&fs->lock, true);
}

/**
 * fs_trylock() - take fs->lock exclusively if it is free now
 * @fs: the filesystem
 *
 * Return: true if taken (release with fs_unlock()).
 */
bool fs_trylock(struct fs *fs)
{
	struct fs_rwlock *l = &fs->lock;
	bool free_now;

	lock_ok(pthread_mutex_lock(&l->m));
	free_now = !l->writer && !l->readers;
	if (free_now) {
		order_take(l->rank, l->name);
		excl_take_locked(l);
	}
	pthread_mutex_unlock(&l->m);
	return free_now;
}

void fs_lock_shared(struct fs *fs)
{
	rw_lock(&fs->lock, false);
}

void fs_unlock_shared(struct fs *fs)
{
	rw_unlock(&fs->lock, false);
}

/* fs->lock exclusively (@excl) or shared, as a request decided. */
void fs_lock_as(struct fs *fs, bool excl)
{
	if (excl)
		fs_lock(fs);
	else
		fs_lock_shared(fs);
}

void fs_unlock_as(struct fs *fs, bool excl)
{
	if (excl)
		fs_unlock(fs);
	else
		fs_unlock_shared(fs);
}

/**
 * fs_unlock_retry() - drop fs->lock as taken; must the request run again?
 * @fs: the filesystem, lock held as *@excl says
 * @excl: the mode it was taken in; set when the request runs again
 * @ret: what the request returned
 *
 * A request tried with the lock shared answers -EAGAIN when it must reach
 * beyond what shared holders may change (unload files, free an inode,
 * rename across directories): it runs again with the lock exclusive,
 * where -EAGAIN never comes.
 *
 * Return: true if the caller runs the request again with fs_lock_as(*@excl).
 */
bool fs_unlock_retry(struct fs *fs, bool *excl, int ret)
{
	fs_assert_locked(fs);
	fs_unlock_as(fs, *excl);
	if (ret != -EAGAIN || *excl)
		return false;
	*excl = true;
	return true;
}

/* commit_lock comes first in the order: never taken under lock. */
void fs_commit_lock(struct fs *fs)
{
	fs_assert_unheld(&fs->lock);
	fs_mutex_lock(&fs->commit_lock);
}

void fs_commit_unlock(struct fs *fs)
{
	fs_mutex_unlock(&fs->commit_lock);
}

/*
 * Wait on @cond with fs->lock held exclusively, and dropped while waiting.
 * Whoever makes the condition true holds fs->lock exclusively, which it
 * can take only once this thread waits on @cond (the hand-over is under
 * l->m): no wakeup is lost.  @ms: at most that long, or 0 for no limit.
 */
static void cond_wait_ms(struct fs *fs, pthread_cond_t *cond, unsigned ms)
{
	struct fs_rwlock *l = &fs->lock;
	struct timespec ts;

	fs_assert_held(l);
	if (ms) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += ms / 1000;
		ts.tv_nsec += (long)(ms % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
	}
	lock_ok(pthread_mutex_lock(&l->m));
	excl_drop_locked(l);
	if (ms)
		pthread_cond_timedwait(cond, &l->m, &ts); /* ETIMEDOUT is fine */
	else
		lock_ok(pthread_cond_wait(cond, &l->m));
	excl_take_locked(l);
	pthread_mutex_unlock(&l->m);
}

void fs_cond_wait(struct fs *fs, pthread_cond_t *cond)
{
	cond_wait_ms(fs, cond, 0);
}

/* As fs_cond_wait(), for at most @ms milliseconds. */
void fs_cond_wait_ms(struct fs *fs, pthread_cond_t *cond, unsigned ms)
{
	cond_wait_ms(fs, cond, ms ? ms : 1);
}

/* Tell a background thread to stop (*@stop, under fs->lock) and join it. */
void fs_thread_stop(struct fs *fs, pthread_t thread, bool *stop,
		    pthread_cond_t *cond)
{
	fs_lock(fs);
	*stop = true;
	pthread_cond_signal(cond);
	fs_unlock(fs);
	pthread_join(thread, NULL);
}

void fs_touch(struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
}

/**
 * fs_inode_lock() - take one inode's lock, to change or read its own state
 * @fs: the filesystem, lock held in either mode
 * @inode: the inode; one inode lock at a time (the order allows no two)
 *
 * With fs->lock exclusive this does nothing: that hold stands for every
 * inode lock (no one holds fs->lock shared meanwhile), and a function that
 * drops and retakes it (_relock) then holds no inode lock across the gap.
 * An inode is freed only under fs->lock exclusive, so it stays while the
 * caller holds fs->lock shared and waits here.
 */
void fs_inode_lock(struct fs *fs, struct fs_inode *inode)
{
	fs_assert_locked(fs);
	if (!fs_rwlock_held(&fs->lock, true))
		fs_mutex_lock(&inode->lock);
}

/**
 * fs_inode_lock_child() - take the lock of an entry's inode, under its directory's
 * @fs: the filesystem, lock held in either mode
 * @inode: the inode a directory entry names (a link count, a ctime, or a
 *	directory's own entries change with it); its directory's lock held
 *
 * The order puts a child after its directory (the kernel's I_MUTEX_PARENT
 * and I_MUTEX_CHILD): a thread creating in directory D holds D's lock as
 * a directory, one removing D holds D's parent and then D as a child.
 * Release with fs_inode_unlock().
 */
void fs_inode_lock_child(struct fs *fs, struct fs_inode *inode)
{
	fs_assert_locked(fs);
	if (!fs_rwlock_held(&fs->lock, true))
		mutex_lock_at(&inode->lock, FS_RANK_CHILD);
}

/**
 * fs_inode_lock_two() - take the locks of the inodes two entries name
 * @fs: the filesystem, lock held in either mode
 * @a: the inode one entry names; the entries' directory's lock held
 * @b: the inode the other names, or @a, or NULL
 *
 * The lower inode number first, as the kernel's lock_two_nondirectories():
 * the second lock has a rank of its own, after the first.  A rename in
 * one directory takes the source's and the target's.  Release with
 * fs_inode_unlock_two().
 */
void fs_inode_lock_two(struct fs *fs, struct fs_inode *a, struct fs_inode *b)
{
	fs_assert_locked(fs);
	if (b == a)
		b = NULL;
	if (b && b->ino < a->ino) {
		struct fs_inode *t = a;

		a = b;
		b = t;
	}
	fs_inode_lock_child(fs, a);
	if (b && !fs_rwlock_held(&fs->lock, true))
		mutex_lock_at(&b->lock, FS_RANK_CHILD2);
}

/* Undo fs_inode_lock_two(@a, @b). */
void fs_inode_unlock_two(struct fs *fs, struct fs_inode *a, struct fs_inode *b)
{
	if (b && b != a)
		fs_inode_unlock(fs, b);
	fs_inode_unlock(fs, a);
}

/* Undo fs_inode_lock() or fs_inode_lock_child(), in the same fs->lock mode. */
void fs_inode_unlock(struct fs *fs, struct fs_inode *inode)
{
	fs_assert_locked(fs);
	if (!fs_rwlock_held(&fs->lock, true))
		fs_mutex_unlock(&inode->lock);
}

/**
 * fs_inode_held() - may this thread change or read @inode's own state?
 * @fs: the filesystem
 * @inode: the inode
 *
 * Return: true with fs->lock exclusive, or shared with @inode->lock.
 */
bool fs_inode_held(const struct fs *fs, const struct fs_inode *inode)
{
	return fs_rwlock_held(&fs->lock, true) ||
	       (fs_rwlock_held(&fs->lock, false) && fs_mutex_held(&inode->lock));
}

/**
 * fs_ns_lock() - begin a namespace change with fs->lock shared
 * @fs: the filesystem, lock held in either mode
 *
 * Names, links and the inode table change under fs->lock shared with
 * fs->ns_lock shared, the directory's lock and the named inode's lock
 * (fs_inode_lock_child()); a commit's walk of all metadata takes ns_lock
 * exclusively (fs_ns_freeze()), so it records no create half done, while
 * reads, writes and attribute changes go on.  With fs->lock exclusive this
 * does nothing: that hold stands for ns_lock too.
 */
void fs_ns_lock(struct fs *fs)
{
	fs_assert_locked(fs);
	if (!fs_rwlock_held(&fs->lock, true))
		rw_lock(&fs->ns_lock, false);
}

/* Undo fs_ns_lock(), in the same fs->lock mode. */
void fs_ns_unlock(struct fs *fs)
{
	fs_assert_locked(fs);
	if (!fs_rwlock_held(&fs->lock, true))
		rw_unlock(&fs->ns_lock, false);
}

/**
 * fs_ns_freeze() - stop namespace changes, as sb_start_write() waits for a freeze
 * @fs: the filesystem, lock held shared
 *
 * Changes in progress finish first; new ones wait until fs_ns_thaw().
 */
void fs_ns_freeze(struct fs *fs)
{
	fs_assert_locked(fs);
	rw_lock(&fs->ns_lock, true);
}

void fs_ns_thaw(struct fs *fs)
{
	rw_unlock(&fs->ns_lock, true);
}

/**
 * fs_ns_held() - may this thread change names and links?
 * @fs: the filesystem
 *
 * Return: true with fs->lock exclusive, or shared with fs->ns_lock shared.
 */
bool fs_ns_held(const struct fs *fs)
{
	return fs_rwlock_held(&fs->lock, true) ||
	       (fs_rwlock_held(&fs->lock, false) && shared_held[FS_RANK_NS] > 0);
}

/*
 * The inode and entry hash tables and the next inode number, for a thread
 * with fs->lock shared: lookups and namespace changes in different
 * directories meet there.  Exclusive holders need nothing more.
 */
void fs_tab_lock(struct fs *fs)
{
	fs_assert_locked(fs);
	if (!fs_rwlock_held(&fs->lock, true))
		fs_mutex_lock(&fs->tab_lock);
}

void fs_tab_unlock(struct fs *fs)
{
	if (!fs_rwlock_held(&fs->lock, true))
		fs_mutex_unlock(&fs->tab_lock);
}
