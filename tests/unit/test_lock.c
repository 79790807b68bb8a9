// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests for the core's locks (fs/core/lock.c).  The order check: a
 * lock may be taken only while every lock the thread holds has a lower
 * rank; taking commit_lock under lock (in either mode), or nesting two
 * locks of one rank (a shared fs->lock twice included), aborts (with
 * assertions on, as in every CI build) in a child process that this test
 * watches, while the right order works and is forgotten lock by lock as
 * they are dropped.  And fs->lock's two modes: readers hold it together, a
 * writer waits for them and new readers wait behind it, and a condition
 * wait hands the exclusive hold over without losing a wakeup.  Inode
 * locks: under fs->lock shared, two inodes' locks are held by two threads
 * at once while a third waits for one of them; one thread never holds
 * two, nor retakes fs->lock under one; a change to an inode's own state
 * needs its lock or fs->lock exclusive, which stands for all of them.
 * The namespace locks: a directory's lock, then its entry's inode's as a
 * child (a rename's two by inode number), never the other way round, and
 * ns_lock before either; a freeze
 * of ns_lock (a commit's walk) waits for the namespace changes in
 * progress, and new ones wait for the thaw.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "fs.h"

/* Run @fn in a child; its exit: 0, or the signal that ended it. */
static int in_child(void (*fn)(void))
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		fn();
		_exit(0);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status);
}

static void right_order(void)
{
	struct fs_mutex commit, lock, leaf;

	fs_mutex_init(&commit, "commit_lock", FS_RANK_COMMIT);
	fs_mutex_init(&lock, "lock", FS_RANK_FS);
	fs_mutex_init(&leaf, "leaf", FS_RANK_LEAF);
	fs_mutex_lock(&commit);
	fs_mutex_lock(&lock);
	fs_mutex_lock(&leaf);
	fs_mutex_unlock(&leaf);
	fs_mutex_unlock(&lock);
	/* dropped: lock may be taken again, and commit_lock after it is gone */
	fs_mutex_lock(&lock);
	fs_mutex_unlock(&lock);
	fs_mutex_unlock(&commit);
	fs_mutex_lock(&leaf);
	fs_mutex_unlock(&leaf);
	fs_mutex_lock(&commit);
	fs_mutex_unlock(&commit);
}

static void commit_under_lock(void)
{
	struct fs_mutex commit, lock;

	fs_mutex_init(&commit, "commit_lock", FS_RANK_COMMIT);
	fs_mutex_init(&lock, "lock", FS_RANK_FS);
	fs_mutex_lock(&lock);
	fs_mutex_lock(&commit); /* the wrong order */
}

static void two_of_a_rank(void)
{
	struct fs_mutex a, b;

	fs_mutex_init(&a, "queue a", FS_RANK_LEAF);
	fs_mutex_init(&b, "queue b", FS_RANK_LEAF);
	fs_mutex_lock(&a);
	fs_mutex_lock(&b);
}

static void shared_then_commit(void)
{
	struct fs fs;

	memset(&fs, 0, sizeof(fs));
	fs_rwlock_init(&fs.lock, "lock", FS_RANK_FS);
	fs_mutex_init(&fs.commit_lock, "commit_lock", FS_RANK_COMMIT);
	fs_lock_shared(&fs);
	fs_mutex_lock(&fs.commit_lock); /* the wrong order, in shared mode too */
}

static void shared_twice(void)
{
	struct fs fs;

	memset(&fs, 0, sizeof(fs));
	fs_rwlock_init(&fs.lock, "lock", FS_RANK_FS);
	fs_lock_shared(&fs);
	fs_lock_shared(&fs); /* would deadlock behind a waiting writer */
}

/* fs->lock shared, @a's lock, and then what each case does wrong. */
static struct fs *inode_setup(struct fs_inode **a, struct fs_inode **b)
{
	static struct fs fs;

	memset(&fs, 0, sizeof(fs));
	fs_rwlock_init(&fs.lock, "lock", FS_RANK_FS);
	*a = fs_inode_alloc(2);
	*b = fs_inode_alloc(3);
	fs_lock_shared(&fs);
	fs_inode_lock(&fs, *a);
	return &fs;
}

static void two_inodes(void)
{
	struct fs_inode *a, *b;
	struct fs *fs = inode_setup(&a, &b);

	fs_inode_lock(fs, b); /* could deadlock against a thread doing b, a */
}

static void fs_lock_under_inode(void)
{
	struct fs_inode *a, *b;
	struct fs *fs = inode_setup(&a, &b);

	fs_unlock_shared(fs); /* a _relock that forgot the inode's lock */
	fs_lock_shared(fs);
}

static void change_unlocked_inode(void)
{
	struct fs_inode *a, *b;
	struct fs *fs = inode_setup(&a, &b);

	fs_assert_inode(fs, a); /* this one is held */
	fs_assert_inode(fs, b); /* this one is not */
}

/* A directory's lock after an entry's: a rename locking two ways would deadlock. */
static void dir_after_child(void)
{
	struct fs_inode *a, *b;
	struct fs *fs = inode_setup(&a, &b);

	fs_inode_unlock(fs, a);
	fs_inode_lock_child(fs, a);
	fs_inode_lock(fs, b);
}

/* ns_lock under an inode's: a commit's freeze would wait on this thread. */
static void ns_under_inode(void)
{
	struct fs_inode *a, *b;
	struct fs *fs = inode_setup(&a, &b);

	fs_rwlock_init(&fs->ns_lock, "ns_lock", FS_RANK_NS);
	fs_ns_lock(fs);
}

static void test_order(void **state)
{
	(void)state;
	assert_int_equal(in_child(right_order), 0);
#ifndef NDEBUG
	assert_int_equal(in_child(commit_under_lock), SIGABRT);
	assert_int_equal(in_child(two_of_a_rank), SIGABRT);
	assert_int_equal(in_child(shared_then_commit), SIGABRT);
	assert_int_equal(in_child(shared_twice), SIGABRT);
	assert_int_equal(in_child(two_inodes), SIGABRT);
	assert_int_equal(in_child(fs_lock_under_inode), SIGABRT);
	assert_int_equal(in_child(change_unlocked_inode), SIGABRT);
	assert_int_equal(in_child(dir_after_child), SIGABRT);
	assert_int_equal(in_child(ns_under_inode), SIGABRT);
#endif
}

/* fs->lock's two modes, between threads; every step is in order. */
struct rw {
	struct fs fs;
	pthread_mutex_t m;
	pthread_cond_t cv;
	int step;	/* m: how far the threads got */
	int writer_at;	/* m: the step the writer got the lock at */
	int reader2_at; /* m: the step the second reader got it at */
	bool flag;	/* fs.lock: the condition of the hand-over */
	pthread_cond_t flag_cv;
};

static void rw_mark(struct rw *t, int *at)
{
	pthread_mutex_lock(&t->m);
	*at = ++t->step;
	pthread_cond_broadcast(&t->cv);
	pthread_mutex_unlock(&t->m);
}

static void *rw_writer(void *arg)
{
	struct rw *t = arg;

	fs_lock(&t->fs);
	rw_mark(t, &t->writer_at);
	fs_unlock(&t->fs);
	return NULL;
}

static void *rw_reader(void *arg)
{
	struct rw *t = arg;

	fs_lock_shared(&t->fs);
	rw_mark(t, &t->reader2_at);
	fs_unlock_shared(&t->fs);
	return NULL;
}

static void rw_init(struct rw *t)
{
	memset(t, 0, sizeof(*t));
	fs_rwlock_init(&t->fs.lock, "lock", FS_RANK_FS);
	pthread_mutex_init(&t->m, NULL);
	pthread_cond_init(&t->cv, NULL);
}

/* Give the threads time (100 ms) to get in, if they can. */
static void rw_settle(void)
{
	usleep(100000);
}

static void test_shared_modes(void **state)
{
	struct rw t;
	pthread_t w, r;

	(void)state;
	rw_init(&t);
	fs_lock_shared(&t.fs);
	/* a second reader gets in beside the first */
	assert_int_equal(pthread_create(&r, NULL, rw_reader, &t), 0);
	assert_int_equal(pthread_join(r, NULL), 0);
	assert_int_equal(t.reader2_at, 1);
	assert_false(fs_trylock(&t.fs)); /* no writer while a reader holds */
	/* a writer waits for the reader; a new reader waits behind the writer */
	assert_int_equal(pthread_create(&w, NULL, rw_writer, &t), 0);
	rw_settle();
	assert_int_equal(pthread_create(&r, NULL, rw_reader, &t), 0);
	rw_settle();
	assert_int_equal(t.step, 1); /* neither got in */
	fs_unlock_shared(&t.fs);
	assert_int_equal(pthread_join(w, NULL), 0);
	assert_int_equal(pthread_join(r, NULL), 0);
	assert_int_equal(t.writer_at, 2);
	assert_int_equal(t.reader2_at, 3); /* the writer went first */
	assert_true(fs_trylock(&t.fs));
	fs_unlock(&t.fs);
	fs_rwlock_destroy(&t.fs.lock);
}

static void *rw_signaller(void *arg)
{
	struct rw *t = arg;

	fs_lock(&t->fs); /* possible only once the waiter waits */
	t->flag = true;
	pthread_cond_signal(&t->flag_cv);
	fs_unlock(&t->fs);
	return NULL;
}

static void test_cond_handover(void **state)
{
	struct rw t;
	pthread_t s;

	(void)state;
	memset(&t, 0, sizeof(t));
	fs_rwlock_init(&t.fs.lock, "lock", FS_RANK_FS);
	pthread_cond_init(&t.flag_cv, NULL);
	fs_lock(&t.fs);
	assert_int_equal(pthread_create(&s, NULL, rw_signaller, &t), 0);
	while (!t.flag)
		fs_cond_wait(&t.fs, &t.flag_cv);
	assert_true(fs_rwlock_held(&t.fs.lock, true)); /* exclusive again */
	fs_unlock(&t.fs);
	assert_int_equal(pthread_join(s, NULL), 0);
	fs_rwlock_destroy(&t.fs.lock);
}

/* Inode locks between threads, all under fs->lock shared. */
struct il {
	struct rw *rw;
	struct fs_inode *inode;
	int at; /* rw->m: the step this thread got its inode's lock at */
	bool freeze; /* ns_holder(): freeze ns_lock rather than take it shared */
};

static void *il_holder(void *arg)
{
	struct il *t = arg;

	fs_lock_shared(&t->rw->fs);
	fs_inode_lock(&t->rw->fs, t->inode);
	rw_mark(t->rw, &t->at);
	fs_inode_unlock(&t->rw->fs, t->inode);
	fs_unlock_shared(&t->rw->fs);
	return NULL;
}

static void test_inode_locks(void **state)
{
	struct fs_inode *a = fs_inode_alloc(2), *b = fs_inode_alloc(3);
	struct rw t;
	struct il ta = { .rw = &t, .inode = a }, tb = { .rw = &t, .inode = b };
	pthread_t pa, pb;

	(void)state;
	rw_init(&t);
	fs_lock_shared(&t.fs);
	fs_inode_lock(&t.fs, a);
	assert_true(fs_inode_held(&t.fs, a));
	assert_false(fs_inode_held(&t.fs, b));
	/* b's lock is free beside a's: its thread gets it at once */
	assert_int_equal(pthread_create(&pb, NULL, il_holder, &tb), 0);
	assert_int_equal(pthread_join(pb, NULL), 0);
	assert_int_equal(tb.at, 1);
	/* a's lock is not: its thread waits until it is dropped */
	assert_int_equal(pthread_create(&pa, NULL, il_holder, &ta), 0);
	rw_settle();
	assert_int_equal(t.step, 1);
	fs_inode_unlock(&t.fs, a);
	assert_int_equal(pthread_join(pa, NULL), 0);
	assert_int_equal(ta.at, 2);
	fs_unlock_shared(&t.fs);
	/* exclusive stands for every inode's lock, and takes none */
	fs_lock(&t.fs);
	assert_true(fs_inode_held(&t.fs, a) && fs_inode_held(&t.fs, b));
	fs_inode_lock(&t.fs, a);
	assert_false(fs_mutex_held(&a->lock));
	fs_inode_unlock(&t.fs, a);
	fs_unlock(&t.fs);
	fs_inode_release(a);
	fs_inode_release(b);
	fs_rwlock_destroy(&t.fs.lock);
}

/* A namespace change, or a commit's freeze (freeze): fs->lock shared, then ns_lock. */
static void *ns_holder(void *arg)
{
	struct il *t = arg;

	fs_lock_shared(&t->rw->fs);
	if (t->freeze)
		fs_ns_freeze(&t->rw->fs);
	else
		fs_ns_lock(&t->rw->fs);
	rw_mark(t->rw, &t->at);
	if (t->freeze)
		fs_ns_thaw(&t->rw->fs);
	else
		fs_ns_unlock(&t->rw->fs);
	fs_unlock_shared(&t->rw->fs);
	return NULL;
}

static void test_ns_locks(void **state)
{
	struct fs_inode *dir = fs_inode_alloc(2), *child = fs_inode_alloc(3);
	struct fs_inode *other = fs_inode_alloc(4);
	struct rw t;
	struct il tc = { .rw = &t }, tf = { .rw = &t, .freeze = true },
		  ti = { .rw = &t, .inode = dir };
	pthread_t pc, pf;

	(void)state;
	rw_init(&t);
	fs_rwlock_init(&t.fs.ns_lock, "ns_lock", FS_RANK_NS);
	fs_mutex_init(&t.fs.tab_lock, "tab_lock", FS_RANK_TABLE);
	/* the order of a create: ns_lock, directory, child, table */
	fs_lock_shared(&t.fs);
	assert_false(fs_ns_held(&t.fs));
	fs_ns_lock(&t.fs);
	assert_true(fs_ns_held(&t.fs));
	fs_inode_lock(&t.fs, dir);
	fs_inode_lock_child(&t.fs, child);
	assert_true(fs_inode_held(&t.fs, child));
	fs_tab_lock(&t.fs);
	fs_tab_unlock(&t.fs);
	fs_inode_unlock(&t.fs, child);
	/* a rename's two: the lower number first, whichever is named first */
	fs_inode_lock_two(&t.fs, other, child);
	assert_true(fs_inode_held(&t.fs, child) && fs_inode_held(&t.fs, other));
	fs_inode_unlock_two(&t.fs, other, child);
	fs_inode_unlock(&t.fs, dir);
	/* another change gets in beside this one; a freeze waits for both */
	assert_int_equal(pthread_create(&pc, NULL, ns_holder, &tc), 0);
	assert_int_equal(pthread_join(pc, NULL), 0);
	assert_int_equal(tc.at, 1);
	assert_int_equal(pthread_create(&pf, NULL, ns_holder, &tf), 0);
	rw_settle();
	assert_int_equal(t.step, 1);
	fs_ns_unlock(&t.fs);
	assert_int_equal(pthread_join(pf, NULL), 0);
	assert_int_equal(tf.at, 2);
	/* frozen: a change waits for the thaw; readers of fs->lock do not */
	fs_ns_freeze(&t.fs);
	assert_int_equal(pthread_create(&pc, NULL, ns_holder, &tc), 0);
	rw_settle();
	assert_int_equal(t.step, 2);
	assert_int_equal(pthread_create(&pf, NULL, il_holder, &ti), 0);
	assert_int_equal(pthread_join(pf, NULL), 0);
	assert_int_equal(t.step, 3);
	fs_ns_thaw(&t.fs);
	assert_int_equal(pthread_join(pc, NULL), 0);
	assert_int_equal(tc.at, 4);
	fs_unlock_shared(&t.fs);
	fs_inode_release(dir);
	fs_inode_release(child);
	fs_inode_release(other);
	fs_mutex_destroy(&t.fs.tab_lock);
	fs_rwlock_destroy(&t.fs.ns_lock);
	fs_rwlock_destroy(&t.fs.lock);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order),	      cmocka_unit_test(test_shared_modes),
		cmocka_unit_test(test_cond_handover), cmocka_unit_test(test_inode_locks),
		cmocka_unit_test(test_ns_locks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
