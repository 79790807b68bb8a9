// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests for the served data requests (fs/core/file.c) and the lock
 * they hold.  A served write copies its bytes into the memory file with
 * the filesystem lock dropped: the test makes the copy stall (the source
 * buffer is a userfaultfd region whose page arrives only when the test
 * says so) and checks that meanwhile the lock is free, that a truncate can
 * run, and that the write then lands with the size the memory file has.
 * Without userfaultfd (no privilege) the stalling tests are skipped.
 * And relatime: a read stamps the atime once after a write, not again.
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
 * relatime, as the kernel's: a read after a write stamps the atime once;
 * the next read, in the same second, finds it newer than the write and
 * stamps nothing (so it keeps fs->lock shared and dirties no metadata).
 */
static void test_relatime_once(void **state)
{
	struct fixture f;
	struct fs_inode *in;

	(void)state;
	assert_int_equal(setup_file(&f, &in, PAGE), 0);
	fs_lock(&f.fs);
	assert_true(fs_file_atime_due(&f.fs, in));
	assert_int_equal(fs_file_read_check(&f.fs, in, 0, PAGE), 0);
	assert_false(fs_file_atime_due(&f.fs, in));
	fs_unlock(&f.fs);
	fixture_down(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_unlocked),
		cmocka_unit_test(test_write_truncate_meanwhile),
		cmocka_unit_test(test_write_efbig),
		cmocka_unit_test(test_relatime_once),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
