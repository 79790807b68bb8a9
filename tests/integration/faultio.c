// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Fault injection for the image, at the system-call boundary (LD_PRELOAD),
 * in the spirit of e2fsprogs' test_io manager: the daemon runs unchanged,
 * and writes or syncs of one file, the image named by FOLIOFS_FAULT_IMAGE,
 * fail while the control file FOLIOFS_FAULT_CTL says so.  The control file
 * holds one word: "write-eio" (pwrite fails with EIO), "write-eio-data"
 * (only writes longer than one 4 KiB block fail: data extents, not the
 * metadata blocks and superblocks), "sync-eio"
 * (fdatasync and fsync fail with EIO), "write-enospc" (pwrite fails with
 * ENOSPC); anything else, or no file, injects nothing.  A failed sync
 * also loses what it should have made durable, as a real one can: the
 * bytes written to the image since the last good sync are overwritten with
 * a 0xEE pattern, so a commit that trusts them afterwards is caught.
 * Every injected
 * failure is counted in FOLIOFS_FAULT_CTL.count, so a test can tell that
 * the path it meant to break was really taken.
 */
/* Both pwrite and pwrite64 are defined below: no asm-label redirection. */
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum fault { FAULT_NONE, FAULT_WRITE_EIO, FAULT_WRITE_EIO_DATA, FAULT_SYNC_EIO,
	     FAULT_WRITE_ENOSPC };

static ssize_t (*real_pwrite64)(int, const void *, size_t, off_t);
static int (*real_fdatasync)(int);
static int (*real_fsync)(int);

/* Image writes since the last good sync: what a failing sync loses. */
#define MAX_UNSYNCED 65536
struct range { off_t off; size_t len; };
static struct range unsynced[MAX_UNSYNCED];
static size_t nunsynced;
static pthread_mutex_t unsynced_lock = PTHREAD_MUTEX_INITIALIZER;

static void faultio_init(void)
{
	if (!real_pwrite64) {
		real_pwrite64 = dlsym(RTLD_NEXT, "pwrite64");
		real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
		real_fsync = dlsym(RTLD_NEXT, "fsync");
	}
}

/* Is @fd the image?  Compared by inode, so renames and dup()s still count. */
static int is_image(int fd)
{
	const char *path = getenv("FOLIOFS_FAULT_IMAGE");
	struct stat a, b;

	if (!path || fstat(fd, &a) < 0 || stat(path, &b) < 0)
		return 0;
	return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

static enum fault fault_now(void)
{
	const char *ctl = getenv("FOLIOFS_FAULT_CTL");
	char word[32] = "";
	FILE *f;

	if (!ctl || !(f = fopen(ctl, "re")))
		return FAULT_NONE;
	if (fscanf(f, "%31s", word) != 1)
		word[0] = 0;
	fclose(f);
	if (!strcmp(word, "write-eio"))
		return FAULT_WRITE_EIO;
	if (!strcmp(word, "write-eio-data"))
		return FAULT_WRITE_EIO_DATA;
	if (!strcmp(word, "sync-eio"))
		return FAULT_SYNC_EIO;
	if (!strcmp(word, "write-enospc"))
		return FAULT_WRITE_ENOSPC;
	return FAULT_NONE;
}

/* Append one line per injected failure (O_APPEND: threads do not mix). */
static void count_fault(const char *what)
{
	const char *ctl = getenv("FOLIOFS_FAULT_CTL");
	char path[4096], line[64];
	int fd, n;

	if (!ctl || snprintf(path, sizeof(path), "%s.count", ctl) >= (int)sizeof(path))
		return;
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	n = snprintf(line, sizeof(line), "%s\n", what);
	if (write(fd, line, (size_t)n) < 0)
		n = 0;
	close(fd);
}

static void note_write(off_t off, size_t len)
{
	pthread_mutex_lock(&unsynced_lock);
	if (nunsynced < MAX_UNSYNCED)
		unsynced[nunsynced++] = (struct range){ off, len };
	pthread_mutex_unlock(&unsynced_lock);
}

static void synced(void)
{
	pthread_mutex_lock(&unsynced_lock);
	nunsynced = 0;
	pthread_mutex_unlock(&unsynced_lock);
}

static void lose_unsynced(int fd)
{
	static const char junk[4096] = { [0 ... 4095] = (char)0xEE };

	pthread_mutex_lock(&unsynced_lock);
	for (size_t i = 0; i < nunsynced; i++)
		for (size_t done = 0; done < unsynced[i].len; ) {
			size_t n = unsynced[i].len - done;
			ssize_t w;

			w = real_pwrite64(fd, junk, n < sizeof(junk) ? n : sizeof(junk),
					  unsynced[i].off + (off_t)done);
			if (w <= 0)
				break;
			done += (size_t)w;
		}
	nunsynced = 0;
	pthread_mutex_unlock(&unsynced_lock);
	real_fdatasync(fd);
}

static int fail_with(int err, const char *what)
{
	count_fault(what);
	errno = err;
	return -1;
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off_t off)
{
	faultio_init();
	if (is_image(fd)) {
		enum fault f = fault_now();

		if (f == FAULT_WRITE_EIO || (f == FAULT_WRITE_EIO_DATA && len > 4096))
			return fail_with(EIO, "write-eio");
		if (f == FAULT_WRITE_ENOSPC)
			return fail_with(ENOSPC, "write-enospc");
		note_write(off, len);
	}
	return real_pwrite64(fd, buf, len, off);
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
	return pwrite64(fd, buf, len, off);
}

static int sync_image(int fd, int (*real)(int))
{
	int ret;

	if (!is_image(fd))
		return real(fd);
	if (fault_now() == FAULT_SYNC_EIO) {
		lose_unsynced(fd);
		return fail_with(EIO, "sync-eio");
	}
	ret = real(fd);
	if (ret == 0)
		synced();
	return ret;
}

int fdatasync(int fd)
{
	faultio_init();
	return sync_image(fd, real_fdatasync);
}

int fsync(int fd)
{
	faultio_init();
	return sync_image(fd, real_fsync);
}
