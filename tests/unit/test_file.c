// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests for the served data requests (fs/core/file.c) and the lock
 * they hold.  A served write copies its bytes into the memory file with
 * the filesystem lock dropped: the test makes the copy stall (the source
 * buffer is a userfaultfd region whose page arrives only when the test
 * says so) and checks that meanwhile the lock is free, that a truncate can
 * run, and that the write then lands with the size the memory file has.
 * Without userfaultfd (no privilege) the stalling tests are skipped.
 * Changes to one file's own state run under fs->lock shared with that
 * file's lock, while another thread holds another file's lock.  And
 * relatime: a read stamps the atime once after a write, not again.
 */
#include <errno.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <cmocka.h>

#include "core_fixture.h"

#define MIB  (1024ull * 1024)
#define PAGE 4096

/* A page of memory whose first touch waits for stall_release(). */
struct stall {
	int uffd;
	char *page;
};

static int stall_init(struct stall *s)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };

	s->uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
	if (s->uffd < 0)
		return -errno;
	s->page = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(s->page != MAP_FAILED);
	reg.range.start = (uintptr_t)s->page;
	reg.range.len = PAGE;
	if (ioctl(s->uffd, UFFDIO_API, &api) < 0 || ioctl(s->uffd, UFFDIO_REGISTER, &reg) < 0) {
		close(s->uffd);
		munmap(s->page, PAGE);
		return -errno;
	}
	return 0;
}

/* Wait until a thread is stuck on the page (a fault was reported). */
static void stall_wait_fault(struct stall *s)
{
	struct pollfd p = { .fd = s->uffd, .events = POLLIN };
	struct uffd_msg msg;

	assert_int_equal(poll(&p, 1, 10000), 1);
	assert_int_equal(read(s->uffd, &msg, sizeof(msg)), (ssize_t)sizeof(msg));
	assert_int_equal(msg.event, UFFD_EVENT_PAGEFAULT);
}

/* Let the stuck thread go on: the page arrives filled with @fill. */
static void stall_release(struct stall *s, int fill)
{
	char *src = aligned_alloc(PAGE, PAGE);
	struct uffdio_copy cp = { .dst = (uintptr_t)s->page, .len = PAGE };

	assert_non_null(src);
	memset(src, fill, PAGE);
	cp.src = (uintptr_t)src;
	assert_int_equal(ioctl(s->uffd, UFFDIO_COPY, &cp), 0);
	free(src);
}

static void stall_destroy(struct stall *s)
{
	close(s->uffd);
	munmap(s->page, PAGE);
}

struct writer {
	struct fixture *f;
	struct fs_inode *inode;
	const char *buf;
	uint64_t off;
	size_t done;
	int ret;
};

/* A client's write, as the front end makes it: under the lock. */
static void *writer_main(void *arg)
{
	struct writer *w = arg;

	fs_lock(&w->f->fs);
	w->ret = fs_file_write_relock(&w->f->fs, w->inode, w->buf, PAGE, w->off, &w->f->root,
				      &w->done);
	fs_unlock(&w->f->fs);
	return NULL;
}

/* Is fs->lock free?  Another thread holds it if not: never wait for it. */
static bool lock_free(struct fixture *f)
{
	if (!fs_trylock(&f->fs))
		return false;
	fs_unlock(&f->fs);
	return true;
}

static int setup_file(struct fixture *f, struct fs_inode **in, uint64_t size)
{
	int ret = fixture_up(f, 64 * MIB, &(struct fs_opts){ .huge = CLP_POLICY_NEVER });

	if (ret)
		return ret;
	fs_lock(&f->fs);
	ret = fixture_file(f, "f", in);
	if (!ret && size)
		ret = fixture_write(f, *in, 0, size, 'a');
	fs_unlock(&f->fs);
	return ret;
}

static uint64_t memfd_size(const struct fs_inode *inode)
{
	struct stat st;

	assert_int_equal(fstat(inode->memfd, &st), 0);
	return (uint64_t)st.st_size;
}

/*
 * While a served write copies its bytes, the lock is free: a stat, a
 * lookup, a write to another file go on.  Then the write lands.
 */
static void test_write_unlocked(void **state)
{
	struct stall s;
	struct fixture f;
	struct writer w = { .f = &f, .off = PAGE };
	pthread_t t;
	bool was_free;
	char back[PAGE];

	(void)state;
	if (stall_init(&s))
		skip();
	assert_int_equal(setup_file(&f, &w.inode, 0), 0);
	w.buf = s.page;
	assert_int_equal(pthread_create(&t, NULL, writer_main, &w), 0);
	stall_wait_fault(&s);
	was_free = lock_free(&f);
	stall_release(&s, 'w');
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_true(was_free);
	assert_int_equal(w.ret, 0);
	assert_int_equal(w.done, PAGE);
	assert_int_equal(w.inode->size, 2 * PAGE);
	assert_true(w.inode->dirty);
	assert_int_equal(pread(w.inode->memfd, back, PAGE, PAGE), PAGE);
	assert_int_equal(back[0], 'w');
	assert_int_equal(back[PAGE - 1], 'w');
	stall_destroy(&s);
	fixture_down(&f);
}

/* Wait until the stalled write's bytes are in the memory file. */
static void wait_copied(const struct fs_inode *inode, uint64_t off)
{
	char c = 0;

	for (int i = 0; i < 10000 && c != 'w'; i++) {
		assert_int_equal(pread(inode->memfd, &c, 1, (off_t)off), 1);
		if (c != 'w')
			usleep(1000);
	}
	assert_int_equal(c, 'w');
}

/*
 * A truncate that runs after a write's copy but before its bookkeeping
 * (the writer waits for the lock, which the truncate holds): the size
 * afterwards is the memory file's, not the write's end.
 */
static void test_write_truncate_meanwhile(void **state)
{
	struct stall s;
	struct fixture f;
	struct writer w = { .f = &f, .off = 3 * PAGE };
	pthread_t t;

	(void)state;
	if (stall_init(&s))
		skip();
	assert_int_equal(setup_file(&f, &w.inode, 1 * MIB), 0);
	w.buf = s.page;
	assert_int_equal(pthread_create(&t, NULL, writer_main, &w), 0);
	stall_wait_fault(&s);
	fs_lock(&f.fs);
	stall_release(&s, 'w');
	wait_copied(w.inode, w.off);
	assert_int_equal(fs_file_truncate_relock(&f.fs, w.inode, PAGE), 0);
	fs_unlock(&f.fs);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(w.ret, 0);
	assert_int_equal(memfd_size(w.inode), PAGE);
	assert_int_equal(w.inode->size, PAGE);
	stall_destroy(&s);
	fixture_down(&f);
}

/* A write that fails (past the largest size) changes nothing. */
static void test_write_efbig(void **state)
{
	struct fixture f;
	struct fs_inode *in;
	size_t done = 0;
	char b = 'x';

	(void)state;
	assert_int_equal(setup_file(&f, &in, PAGE), 0);
	fs_lock(&f.fs);
	assert_int_equal(
		fs_file_write_relock(&f.fs, in, &b, 1, (uint64_t)INT64_MAX, &f.root, &done),
		-EFBIG);
	assert_int_equal(done, 0);
	assert_int_equal(in->size, PAGE);
	fs_unlock(&f.fs);
	fixture_down(&f);
}

/*
 * A daemon started read-only refuses every change, as the kernel's mount
 * flags may say rw after a remount it was not asked about: a write open,
 * a truncating one, a write, a create, a link, a removal, a rename,
 * attributes, xattrs and fallocate; a read-only open still works.
 */
static void test_readonly_refuses_changes(void **state)
{
	struct fs_setattr a = { .valid = FS_ATTR_MODE, .mode = S_IFREG | 0600 };
	struct fixture f;
	struct fs_inode *in, *out;
	size_t done = 0;
	char b = 'x';

	(void)state;
	assert_int_equal(setup_file(&f, &in, PAGE), 0);
	f.fs.opts.ro = true;
	fs_lock(&f.fs);
	assert_int_equal(fs_file_open_relock(&f.fs, in, O_RDONLY, &f.root), 0);
	assert_int_equal(fs_file_open_relock(&f.fs, in, O_WRONLY, &f.root), -EROFS);
	assert_int_equal(fs_file_open_relock(&f.fs, in, O_RDWR, &f.root), -EROFS);
	assert_int_equal(fs_file_open_relock(&f.fs, in, O_RDONLY | O_TRUNC, &f.root), -EROFS);
	assert_int_equal(fs_file_write_relock(&f.fs, in, &b, 1, 0, &f.root, &done), -EROFS);
	assert_int_equal(fs_file_fallocate(&f.fs, in, 0, 0, PAGE * 2, &f.root), -EROFS);
	assert_int_equal(
		fs_make_node(&f.fs, FOFS_ROOT_INO, "g", S_IFREG | 0644, 0, NULL, &f.root, &out),
		-EROFS);
	assert_int_equal(fs_link(&f.fs, in->ino, FOFS_ROOT_INO, "h", &out), -EROFS);
	assert_int_equal(fs_rename(&f.fs, FOFS_ROOT_INO, "f", FOFS_ROOT_INO, "i", 0), -EROFS);
	assert_int_equal(fs_remove(&f.fs, FOFS_ROOT_INO, "f", false), -EROFS);
	fs_inode_lock(&f.fs, in);
	assert_int_equal(fs_setattr_relock(&f.fs, in, &a, &f.root), -EROFS);
	assert_int_equal(fs_xattr_set(&f.fs, in, "user.a", "v", 1, 0), -EROFS);
	assert_int_equal(fs_xattr_remove(&f.fs, in, "user.a"), -EROFS);
	fs_inode_unlock(&f.fs, in);
	assert_int_equal(in->size, PAGE);
	assert_int_equal(in->mode, S_IFREG | 0644);
	f.fs.opts.ro = false;
	fs_unlock(&f.fs);
	fixture_down(&f);
}

/*
 * The data path of each open: passthrough for readers, tracked for
 * writers, never the two mixed on one inode (a writer beside passthrough
 * opens passes through with its I/O served), set-ID writers served, the
 * override stored, checked and inherited.
 */
static void test_data_path(void **state)
{
	const char *pt = "passthrough", *tr = "tracked";
	struct fixture f;
	struct fs_inode *in, *dir_child;
	bool handled;

	(void)state;
	assert_int_equal(setup_file(&f, &in, PAGE), 0);
	fs_lock(&f.fs);
	in->nopen = 0; /* setup_file's open aside: the rules for a first open */
	assert_int_equal(fs_data_path(&f.fs, in, false, false), FS_PATH_TRACKED);
	assert_int_equal(fs_data_path(&f.fs, in, false, true), FS_PATH_PASSTHROUGH);
	assert_int_equal(fs_data_path(&f.fs, in, true, true), FS_PATH_TRACKED);
	in->nopen = in->pt_opens = 1; /* a passthrough reader holds it */
	assert_int_equal(fs_data_path(&f.fs, in, true, true), FS_PATH_PT_SERVED);
	assert_int_equal(fs_data_path(&f.fs, in, false, true), FS_PATH_PASSTHROUGH);
	in->pt_opens = 0; /* a tracked open holds it */
	assert_int_equal(fs_data_path(&f.fs, in, false, true), FS_PATH_TRACKED);
	in->nopen = 0;
	/* the override, checked where control names are set */
	assert_int_equal(fs_ctl_set_relock(&f.fs, in, FOFS_XATTR_DATAPATH, "bogus", 5, &handled),
			 -EINVAL);
	assert_int_equal(
		fs_ctl_set_relock(&f.fs, in, FOFS_XATTR_DATAPATH, pt, strlen(pt), &handled), 0);
	assert_false(handled);
	assert_int_equal(fs_xattr_set(&f.fs, in, FOFS_XATTR_DATAPATH, pt, strlen(pt), 0), 0);
	assert_int_equal(fs_data_path(&f.fs, in, true, true), FS_PATH_PASSTHROUGH);
	in->mode |= S_ISUID; /* its writes must reach the daemon */
	assert_int_equal(fs_data_path(&f.fs, in, true, true), FS_PATH_TRACKED);
	in->mode &= ~(uint32_t)S_ISUID;
	assert_int_equal(fs_xattr_set(&f.fs, in, FOFS_XATTR_DATAPATH, tr, strlen(tr), 0), 0);
	assert_int_equal(fs_data_path(&f.fs, in, false, true), FS_PATH_TRACKED);
	/* inherited from the directory, as the folio policy is */
	assert_int_equal(fs_xattr_set(&f.fs, fs_iget(&f.fs, FOFS_ROOT_INO), FOFS_XATTR_DATAPATH, tr,
				      strlen(tr), 0),
			 0);
	assert_int_equal(fs_make_node(&f.fs, FOFS_ROOT_INO, "g", S_IFREG | 0644, 0, NULL, &f.root,
				      &dir_child),
			 0);
	assert_int_equal(fs_dp_override(&f.fs, dir_child), FS_DPO_TRACKED);
	assert_int_equal(fs_dp_override(&f.fs, in), FS_DPO_TRACKED);
	in->nopen = 1;
	fs_unlock(&f.fs);
	fixture_down(&f);
}

/*
 * relatime, as the kernel's: a read after a write stamps the atime once;
 * the next read, in the same second, finds it newer than the write and
 * stamps nothing (it dirties no metadata).
 */
static void test_relatime_once(void **state)
{
	struct timespec stamped;
	struct fixture f;
	struct fs_inode *in;
	uint64_t seq;

	(void)state;
	assert_int_equal(setup_file(&f, &in, PAGE), 0);
	fs_lock(&f.fs);
	seq = f.fs.meta_seq;
	assert_int_equal(fs_file_read_check(&f.fs, in, 0, PAGE), 0);
	assert_true(f.fs.meta_seq > seq);
	stamped = in->atime;
	seq = f.fs.meta_seq;
	assert_int_equal(fs_file_read_check(&f.fs, in, 0, PAGE), 0);
	assert_int_equal(f.fs.meta_seq, seq);
	assert_memory_equal(&in->atime, &stamped, sizeof(stamped));
	fs_unlock(&f.fs);
	fixture_down(&f);
}

/* A thread that holds one inode's lock (fs->lock shared) until told. */
struct holder {
	struct fixture *f;
	struct fs_inode *inode;
	pthread_mutex_t m;
	pthread_cond_t cv;
	bool holding, done; /* m */
};

static void *holder_main(void *arg)
{
	struct holder *h = arg;

	fs_lock_shared(&h->f->fs);
	fs_inode_lock(&h->f->fs, h->inode);
	pthread_mutex_lock(&h->m);
	h->holding = true;
	pthread_cond_broadcast(&h->cv);
	while (!h->done)
		pthread_cond_wait(&h->cv, &h->m);
	pthread_mutex_unlock(&h->m);
	fs_inode_unlock(&h->f->fs, h->inode);
	fs_unlock_shared(&h->f->fs);
	return NULL;
}

/*
 * While another thread holds file a's lock (and fs->lock shared), file b
 * is written, chmod'ed, given an attribute and read under fs->lock shared
 * with b's lock: none of them needs the filesystem, and each is recorded
 * for the next log batch.
 */
static void test_changes_side_by_side(void **state)
{
	struct fs_setattr chmod = { .valid = FS_ATTR_MODE, .mode = 0600 };
	struct holder h = { .m = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };
	struct fixture f;
	struct fs_inode *b;
	struct stat st;
	pthread_t t;
	char *val;
	size_t len;

	(void)state;
	h.f = &f;
	assert_int_equal(setup_file(&f, &h.inode, PAGE), 0);
	fs_lock(&f.fs);
	assert_int_equal(fixture_file(&f, "b", &b), 0);
	assert_int_equal(fixture_commit(&f), 0);
	assert_false(b->tracked);
	fs_unlock(&f.fs);
	assert_int_equal(pthread_create(&t, NULL, holder_main, &h), 0);
	pthread_mutex_lock(&h.m);
	while (!h.holding)
		pthread_cond_wait(&h.cv, &h.m);
	pthread_mutex_unlock(&h.m);

	fs_lock_shared(&f.fs);
	fs_inode_lock(&f.fs, b);
	assert_int_equal(fixture_write(&f, b, 0, 2 * PAGE, 'b'), 0);
	assert_int_equal(fs_setattr_relock(&f.fs, b, &chmod, &f.root), 0);
	assert_int_equal(fs_xattr_set(&f.fs, b, "user.k", "v", 1, 0), 0);
	assert_int_equal(fs_file_read_check(&f.fs, b, 0, PAGE), 0);
	fs_stat(&f.fs, b, &st);
	assert_int_equal(fs_xattr_get(&f.fs, b, "user.k", &val, &len), 0);
	fs_inode_unlock(&f.fs, b);
	fs_unlock_shared(&f.fs);

	pthread_mutex_lock(&h.m);
	h.done = true;
	pthread_cond_broadcast(&h.cv);
	pthread_mutex_unlock(&h.m);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(st.st_size, 2 * PAGE);
	assert_int_equal(st.st_mode, S_IFREG | 0600);
	assert_int_equal(len, 1);
	assert_memory_equal(val, "v", 1);
	free(val);
	assert_true(b->tracked && b->dirty);
	fixture_down(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_unlocked),
		cmocka_unit_test(test_write_truncate_meanwhile),
		cmocka_unit_test(test_write_efbig),
		cmocka_unit_test(test_readonly_refuses_changes),
		cmocka_unit_test(test_data_path),
		cmocka_unit_test(test_relatime_once),
		cmocka_unit_test(test_changes_side_by_side),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
