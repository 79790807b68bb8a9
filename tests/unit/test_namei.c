// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests for the namespace rules (fs/core/namei.c): rename with
 * RENAME_NOREPLACE and RENAME_EXCHANGE, what may replace what, no
 * directory below itself, link counts of parents, hard links, unlink and
 * rmdir, set-group-ID directories, and long names.  And the lock scheme:
 * creates, links, renames and removals in two directories from two
 * threads with fs->lock shared, each directory ending with exactly its own
 * names; a removal that would free the inode, or a rename across
 * directories, asks for the lock exclusive and changes nothing; a commit's
 * walk without the namespace frozen aborts.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "core_fixture.h"

#define MIB	(1ull << 20)
#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE	(1 << 0)
#define RENAME_EXCHANGE		(1 << 1)
#endif

static struct fixture f;

static int setup(void **state)
{
	const struct fs_opts o = { .huge = CLP_POLICY_ALWAYS };

	(void)state;
	if (fixture_up(&f, 32 * MIB, &o))
		return -1;
	fs_lock(&f.fs);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	fs_unlock(&f.fs);
	fixture_down(&f);
	return 0;
}

static struct fs_inode *mk(uint64_t dir, const char *name, uint32_t mode)
{
	struct fs_inode *i = NULL;

	assert_int_equal(fs_make_node(&f.fs, dir, name, mode, 0, NULL, &f.root, &i), 0);
	return i;
}

static struct fs_inode *at(struct fs_inode *dir, const char *name)
{
	struct fs_dirent *d = fs_dlookup(&f.fs, dir, name);

	return d ? d->inode : NULL;
}

static void test_rename_kinds(void **state)
{
	struct fs_inode *root = fs_iget(&f.fs, FOFS_ROOT_INO);
	struct fs_inode *a = mk(FOFS_ROOT_INO, "a", S_IFREG | 0644);
	struct fs_inode *d = mk(FOFS_ROOT_INO, "d", S_IFDIR | 0755);
	struct fs_inode *e = mk(FOFS_ROOT_INO, "e", S_IFDIR | 0755);

	(void)state;
	mk(e->ino, "x", S_IFREG | 0644);
	assert_int_equal(fs_rename(&f.fs, 1, "a", 1, "d", 0), -EISDIR);
	assert_int_equal(fs_rename(&f.fs, 1, "d", 1, "a", 0), -ENOTDIR);
	assert_int_equal(fs_rename(&f.fs, 1, "d", 1, "e", 0), -ENOTEMPTY);
	assert_int_equal(fs_rename(&f.fs, 1, "a", 1, "d", RENAME_NOREPLACE), -EEXIST);
	assert_int_equal(fs_rename(&f.fs, 1, "a", 1, "d",
				   RENAME_NOREPLACE | RENAME_EXCHANGE), -EINVAL);
	assert_int_equal(fs_rename(&f.fs, 1, "nope", 1, "z", 0), -ENOENT);
	assert_int_equal(fs_rename(&f.fs, 1, "a", 1, "nope", RENAME_EXCHANGE), -ENOENT);
	/* nothing changed */
	assert_ptr_equal(at(root, "a"), a);
	assert_ptr_equal(at(root, "d"), d);
}

static void test_no_dir_below_itself(void **state)
{
	struct fs_inode *p = mk(FOFS_ROOT_INO, "p", S_IFDIR | 0755);
	struct fs_inode *q = mk(p->ino, "q", S_IFDIR | 0755);

	(void)state;
	assert_int_equal(fs_rename(&f.fs, 1, "p", q->ino, "p2", 0), -EINVAL);
	assert_int_equal(fs_rename(&f.fs, 1, "p", p->ino, "p2", 0), -EINVAL);
	mk(FOFS_ROOT_INO, "r", S_IFDIR | 0755);
	assert_int_equal(fs_rename(&f.fs, p->ino, "q", 1, "r", RENAME_EXCHANGE), 0);
	/* /r now names q: swapping it with an entry inside q would hang q below itself */
	assert_ptr_equal(at(fs_iget(&f.fs, FOFS_ROOT_INO), "r"), q);
	mk(q->ino, "y", S_IFDIR | 0755);
	assert_int_equal(fs_rename(&f.fs, 1, "r", q->ino, "y", RENAME_EXCHANGE), -EINVAL);
}

static void test_parent_link_counts(void **state)
{
	struct fs_inode *root = fs_iget(&f.fs, FOFS_ROOT_INO);
	struct fs_inode *s = mk(FOFS_ROOT_INO, "s", S_IFDIR | 0755);
	struct fs_inode *t = mk(FOFS_ROOT_INO, "t", S_IFDIR | 0755);
	struct fs_inode *c = mk(s->ino, "c", S_IFDIR | 0755);
	uint32_t rootn = root->nlink;

	(void)state;
	assert_int_equal(s->nlink, 3);
	assert_int_equal(fs_rename(&f.fs, s->ino, "c", t->ino, "c", 0), 0);
	assert_int_equal(s->nlink, 2);
	assert_int_equal(t->nlink, 3);
	assert_ptr_equal(c->parent, t);
	/* a directory replacing an empty one: the victim's link goes */
	mk(s->ino, "v", S_IFDIR | 0755);
	assert_int_equal(fs_rename(&f.fs, t->ino, "c", s->ino, "v", 0), 0);
	assert_int_equal(s->nlink, 3);
	assert_int_equal(t->nlink, 2);
	assert_int_equal(root->nlink, rootn);
	assert_int_equal(fs_remove(&f.fs, 1, "s", true), -ENOTEMPTY);
	assert_int_equal(fs_remove(&f.fs, s->ino, "v", true), 0);
	assert_int_equal(s->nlink, 2);
	assert_int_equal(fs_remove(&f.fs, 1, "s", false), -EISDIR);
	assert_int_equal(fs_remove(&f.fs, 1, "s", true), 0);
	assert_int_equal(root->nlink, rootn - 1);
}

static void test_hard_links(void **state)
{
	struct fs_inode *root = fs_iget(&f.fs, FOFS_ROOT_INO);
	struct fs_inode *h = mk(FOFS_ROOT_INO, "h", S_IFREG | 0644), *out;
	struct fs_inode *g = mk(FOFS_ROOT_INO, "g", S_IFREG | 0644);

	(void)state;
	assert_int_equal(fs_link(&f.fs, h->ino, 1, "h2", &out), 0);
	assert_int_equal(h->nlink, 2);
	/* one link onto another of the same inode: nothing happens */
	assert_int_equal(fs_rename(&f.fs, 1, "h", 1, "h2", 0), 0);
	assert_ptr_equal(at(root, "h"), h);
	assert_ptr_equal(at(root, "h2"), h);
	/* replacing a file drops the victim's link */
	assert_int_equal(fs_rename(&f.fs, 1, "h2", 1, "g", 0), 0);
	assert_int_equal(g->nlink, 0);
	assert_int_equal(h->nlink, 2);
	assert_null(at(root, "h2"));
	assert_int_equal(fs_link(&f.fs, FOFS_ROOT_INO, 1, "rootlink", &out), -EPERM);
	assert_int_equal(fs_link(&f.fs, h->ino, 1, "h", &out), -EEXIST);
	assert_int_equal(fs_remove(&f.fs, 1, "h", true), -ENOTDIR);
	assert_int_equal(fs_remove(&f.fs, 1, "h", false), 0);
	assert_int_equal(h->nlink, 1);
}

static void test_setgid_dir_and_names(void **state)
{
	struct fs_caller user = { .uid = 1000, .gid = 1000 };
	struct fs_inode *sg = mk(FOFS_ROOT_INO, "sg", S_IFDIR | S_ISGID | 0775), *n;
	char longname[FOFS_NAME_MAX + 2];

	(void)state;
	sg->gid = 2000;
	assert_int_equal(fs_make_node(&f.fs, sg->ino, "sub", S_IFDIR | 0755, 0, NULL,
				      &user, &n), 0);
	assert_int_equal(n->gid, 2000);
	assert_true(n->mode & S_ISGID);
	assert_int_equal(n->uid, 1000);
	assert_int_equal(fs_make_node(&f.fs, sg->ino, "file", S_IFREG | 0644, 0, NULL,
				      &user, &n), 0);
	assert_int_equal(n->gid, 2000);
	assert_false(n->mode & S_ISGID);
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(fs_make_node(&f.fs, 1, longname, S_IFREG | 0644, 0, NULL,
				      &user, &n), -ENAMETOOLONG);
	assert_int_equal(fs_make_node(&f.fs, 1, "sg", S_IFREG | 0644, 0, NULL,
				      &user, &n), -EEXIST);
}

#define SIDE_NAMES 300

/* One client's names in its own directory, made with fs->lock shared. */
struct side {
	uint64_t dir;
	int failed; /* the first error, or 0 */
};

static int side_step(uint64_t dir, int k)
{
	char n[32], l[32], s[32];
	struct fs_inode *i, *out;
	int ret;

	snprintf(n, sizeof(n), "n%d", k);
	snprintf(l, sizeof(l), "l%d", k);
	snprintf(s, sizeof(s), "s%d", k);
	ret = fs_make_node(&f.fs, dir, n, S_IFREG | 0644, 0, NULL, &f.root, &i);
	if (!ret)
		ret = fs_link(&f.fs, i->ino, dir, l, &out);
	if (!ret)
		ret = fs_remove(&f.fs, dir, n, false);
	if (!ret)
		ret = fs_rename(&f.fs, dir, l, dir, n, 0);
	if (!ret)
		ret = fs_rename(&f.fs, dir, n, dir, l, RENAME_NOREPLACE);
	if (!ret) /* a file replacing another: the victim, looked up, stays */
		ret = fs_make_node(&f.fs, dir, n, S_IFREG | 0644, 0, NULL, &f.root, &i);
	if (!ret)
		ret = fs_make_node(&f.fs, dir, s, S_IFREG | 0644, 0, NULL, &f.root, &i);
	if (!ret)
		ret = fs_rename(&f.fs, dir, s, dir, n, 0);
	if (!ret)
		ret = fs_remove(&f.fs, dir, n, false);
	if (!ret)
		ret = fs_make_node(&f.fs, dir, s, S_IFDIR | 0755, 0, NULL, &f.root, &i);
	if (!ret)
		ret = fs_remove(&f.fs, dir, s, true);
	return ret;
}

static void *side_run(void *arg)
{
	struct side *sd = arg;

	for (int k = 0; k < SIDE_NAMES && !sd->failed; k++) {
		fs_lock_shared(&f.fs);
		sd->failed = side_step(sd->dir, k);
		fs_unlock_shared(&f.fs);
	}
	return NULL;
}

static void test_shared_names(void **state)
{
	struct fs_inode *a = mk(FOFS_ROOT_INO, "da", S_IFDIR | 0755);
	struct fs_inode *b = mk(FOFS_ROOT_INO, "db", S_IFDIR | 0755);
	struct side sa = { .dir = a->ino }, sb = { .dir = b->ino };
	pthread_t ta, tb;
	char l[32];

	(void)state;
	fs_unlock(&f.fs);
	assert_int_equal(pthread_create(&ta, NULL, side_run, &sa), 0);
	assert_int_equal(pthread_create(&tb, NULL, side_run, &sb), 0);
	assert_int_equal(pthread_join(ta, NULL), 0);
	assert_int_equal(pthread_join(tb, NULL), 0);
	fs_lock(&f.fs);
	assert_int_equal(sa.failed, 0);
	assert_int_equal(sb.failed, 0);
	for (int k = 0; k < SIDE_NAMES; k++) {
		snprintf(l, sizeof(l), "l%d", k);
		assert_non_null(at(a, l));
		assert_int_equal(at(a, l)->nlink, 1);
		assert_non_null(at(b, l));
		assert_ptr_not_equal(at(a, l), at(b, l));
	}
	assert_int_equal(a->nentries, SIDE_NAMES);
	assert_int_equal(b->nentries, SIDE_NAMES);
	assert_int_equal(a->nlink, 2); /* every subdirectory went again */
	assert_null(at(a, "n0"));
}

static void test_remove_frees_exclusive(void **state)
{
	struct fs_inode *root = fs_iget(&f.fs, FOFS_ROOT_INO);
	struct fs_inode *z = mk(FOFS_ROOT_INO, "z", S_IFREG | 0644);
	uint64_t ino = z->ino;

	(void)state;
	z->nlookup = 0; /* the kernel forgot it: the last link frees it */
	fs_unlock(&f.fs);
	fs_lock_shared(&f.fs);
	assert_int_equal(fs_remove(&f.fs, FOFS_ROOT_INO, "z", false), -EAGAIN);
	fs_unlock_shared(&f.fs);
	fs_lock(&f.fs);
	assert_ptr_equal(at(root, "z"), z);
	assert_int_equal(z->nlink, 1);
	assert_int_equal(fs_remove(&f.fs, FOFS_ROOT_INO, "z", false), 0);
	assert_null(fs_iget(&f.fs, ino));
}

static void test_rename_across_exclusive(void **state)
{
	struct fs_inode *root = fs_iget(&f.fs, FOFS_ROOT_INO);
	struct fs_inode *d = mk(FOFS_ROOT_INO, "rd", S_IFDIR | 0755);
	struct fs_inode *v = mk(FOFS_ROOT_INO, "v", S_IFREG | 0644);
	struct fs_inode *w = mk(FOFS_ROOT_INO, "w", S_IFREG | 0644);

	(void)state;
	w->nlookup = 0; /* replacing it frees it */
	fs_unlock(&f.fs);
	fs_lock_shared(&f.fs);
	assert_int_equal(fs_rename(&f.fs, FOFS_ROOT_INO, "v", d->ino, "v", 0), -EAGAIN);
	assert_int_equal(fs_rename(&f.fs, FOFS_ROOT_INO, "v", FOFS_ROOT_INO, "w", 0), -EAGAIN);
	fs_unlock_shared(&f.fs);
	fs_lock(&f.fs);
	assert_ptr_equal(at(root, "v"), v);
	assert_ptr_equal(at(root, "w"), w);
	assert_null(at(d, "v"));
	assert_int_equal(fs_rename(&f.fs, FOFS_ROOT_INO, "v", d->ino, "v", 0), 0);
	assert_ptr_equal(at(d, "v"), v);
	assert_int_equal(fs_rename(&f.fs, d->ino, "v", FOFS_ROOT_INO, "w", 0), 0);
	assert_ptr_equal(at(root, "w"), v);
}

/* A commit's walk with names still changing could record half a create. */
static void serialize_unfrozen(void)
{
	struct img_mw mw;

	img_mw_init(&mw);
	fs_unlock(&f.fs);
	fs_lock_shared(&f.fs);
	fs_serialize(&f.fs, &mw);
}

static void test_walk_needs_freeze(void **state)
{
	int status;
	pid_t pid;

	(void)state;
#ifdef NDEBUG
	skip();
#endif
	pid = fork();
	if (!pid) {
		serialize_unfrozen();
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rename_kinds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_dir_below_itself, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parent_link_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hard_links, setup, teardown),
		cmocka_unit_test_setup_teardown(test_setgid_dir_and_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shared_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove_frees_exclusive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rename_across_exclusive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_walk_needs_freeze, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
