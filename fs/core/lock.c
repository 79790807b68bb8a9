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
#include <stdlib.h>
#include <syslog.h>

#include "fs.h"

#ifdef NDEBUG
#define LOCK_KIND	PTHREAD_MUTEX_DEFAULT
#define lock_ok(call)	((void)(call))
#define order_take(l)	((void)(l))
#define order_drop(l)	((void)(l))
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

/* The locks this thread holds, by rank: thread-local, not shared. */
static __thread const struct fs_mutex *held_by_rank[FS_RANK_NR];

static void order_take(const struct fs_mutex *l)
{
	for (unsigned r = l->rank; r < FS_RANK_NR; r++) {
		if (!held_by_rank[r])
			continue;
		fs_log(LOG_CRIT, "lock order broken: %s taken while holding %s", l->name,
		       held_by_rank[r]->name);
		abort();
	}
	held_by_rank[l->rank] = l;
}

static void order_drop(const struct fs_mutex *l)
{
	held_by_rank[l->rank] = NULL;
}
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

void fs_mutex_lock(struct fs_mutex *l)
{
	order_take(l);
	lock_ok(pthread_mutex_lock(&l->m));
	set_owner(l, true);
}

void fs_mutex_unlock(struct fs_mutex *l)
{
	fs_assert_held(l);
	set_owner(l, false);
	order_drop(l);
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

void fs_lock(struct fs *fs)
{
	fs_mutex_lock(&fs->lock);
}

void fs_unlock(struct fs *fs)
{
	fs_mutex_unlock(&fs->lock);
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

/* Wait on @cond; fs->lock held, and dropped while waiting. */
void fs_cond_wait(struct fs *fs, pthread_cond_t *cond)
{
	fs_assert_held(&fs->lock);
	set_owner(&fs->lock, false);
	lock_ok(pthread_cond_wait(cond, &fs->lock.m));
	set_owner(&fs->lock, true);
}

/* As fs_cond_wait(), for at most @ms milliseconds. */
void fs_cond_wait_ms(struct fs *fs, pthread_cond_t *cond, unsigned ms)
{
	struct timespec ts;

	fs_assert_held(&fs->lock);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	set_owner(&fs->lock, false);
	pthread_cond_timedwait(cond, &fs->lock.m, &ts);	/* ETIMEDOUT is fine */
	set_owner(&fs->lock, true);
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
