// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests for the core's locks (fs/core/lock.c): the order check.  A
 * lock may be taken only while every lock the thread holds has a lower
 * rank; taking commit_lock under lock, or nesting two locks of one rank,
 * aborts (with assertions on, as in every CI build) in a child process
 * that this test watches, while the right order works and is forgotten
 * lock by lock as they are dropped.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
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

static void test_order(void **state)
{
	(void)state;
	assert_int_equal(in_child(right_order), 0);
#ifndef NDEBUG
	assert_int_equal(in_child(commit_under_lock), SIGABRT);
	assert_int_equal(in_child(two_of_a_rank), SIGABRT);
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
