// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Crash-torture workload and checker.  "crashload run DIR MANIFEST SEED"
 * applies random operations to a handful of files in DIR until the mount
 * goes away: pwrite, writes through a shared mapping, hole punches,
 * truncates up and down, renames over other files, unlinks, fsync and
 * fsyncdir.  It keeps a model of every file and appends to MANIFEST (on
 * the host) what is known: "dirty PATH" before any change to a file,
 * "clean PATH SIZE XXH3" once an fsync of it returned (the model must then
 * also equal what the mount reads back), "gone PATH" once an unlink or a
 * rename away was followed by an fsync of the directory.
 * "crashload check DIR MANIFEST" then asserts, after a crash and remount,
 * the last word on each path: clean files hold exactly those bytes, gone
 * ones do not exist; dirty ones may hold anything.  The bytes of each
 * clean file are also kept beside the manifest (MANIFEST.fN), so that a
 * file found wrong is reported by where it differs and with what (zeros,
 * or other bytes): what a failure needs to be understood.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#define NAMES	16		/* f0..f15 */
#define MAXSIZE	(5u << 20)

struct model {
	uint8_t *buf;		/* NULL: the file does not exist */
	size_t size;
};

static struct model files[NAMES];
static const char *dir;
static int mfd, dfd;
static unsigned long nops, nsync;
static const char *mpath; /* the manifest; its .fN files: clean bytes */

static __attribute__((format(printf, 1, 2))) void note(const char *fmt, ...)
{
	char line[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (write(mfd, line, (size_t)n) != n) {
		perror("manifest");
		exit(2);
	}
}

/*
 * The mount went away (the daemon was killed): the run is over.  A request
 * the kernel had put on an io_uring entry when the daemon died ends with
 * ECANCELED (fs/fuse/dev_uring.c, a dead ring task).
 */
static void gone_away(const char *what)
{
	if (errno == ENOTCONN || errno == ECONNABORTED || errno == EIO ||
	    errno == ENOENT || errno == EBADF || errno == ECANCELED) {
		printf("%lu operations, %lu fsyncs before %s failed: %s\n",
		       nops, nsync, what, strerror(errno));
		exit(0);
	}
	fprintf(stderr, "crashload: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* A short transfer: fine only if the mount died in the middle of it. */
static void short_io(const char *what)
{
	/* fsyncdir always reaches the daemon; attributes may come from cache */
	if (fsync(dfd) < 0)
		gone_away(what);
	fprintf(stderr, "crashload: short %s on a live mount\n", what);
	exit(1);
}

static void fill(uint8_t *p, size_t len, uint64_t *seed)
{
	for (size_t i = 0; i < len; i++) {
		*seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
		p[i] = (uint8_t)(*seed >> 56);
	}
}

static void resize(struct model *m, size_t size)
{
	if (!m->buf)
		m->buf = calloc(1, MAXSIZE);
	if (!m->buf)
		exit(2);
	if (size > m->size)
		memset(m->buf + m->size, 0, size - m->size);
	m->size = size;
}

static int open_f(int i, int flags)
{
	char name[16];
	int fd;

	snprintf(name, sizeof(name), "f%d", i);
	fd = openat(dfd, name, flags | O_CLOEXEC, 0644);
	if (fd < 0)
		gone_away("open");
	return fd;
}

static void op_write(int i, uint64_t *seed)
{
	struct model *m = &files[i];
	size_t off = (size_t)(*seed % MAXSIZE), len = (size_t)(*seed >> 20) % (1u << 20) + 1;
	ssize_t n;
	int fd;

	if (off + len > MAXSIZE)
		len = MAXSIZE - off;
	note("dirty f%d\n", i);
	fd = open_f(i, O_WRONLY | O_CREAT);
	resize(m, off + len > m->size ? off + len : m->size);
	fill(m->buf + off, len, seed);
	n = pwrite(fd, m->buf + off, len, (off_t)off);
	if (n < 0)
		gone_away("pwrite");
	if (n != (ssize_t)len)
		short_io("pwrite");
	close(fd);
}

static void op_mmap(int i, uint64_t *seed)
{
	struct model *m = &files[i];
	size_t off, len;
	uint8_t *p;
	int fd;

	if (!m->buf || m->size < 2)
		return;
	off = (size_t)(*seed % (m->size - 1));
	len = (size_t)(*seed >> 24) % (m->size - off) + 1;
	note("dirty f%d\n", i);
	fd = open_f(i, O_RDWR);
	p = mmap(NULL, m->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		gone_away("mmap");
	fill(m->buf + off, len, seed);
	memcpy(p + off, m->buf + off, len);	/* SIGBUS if the daemon died */
	munmap(p, m->size);
	close(fd);
}

static void op_punch(int i, uint64_t *seed)
{
	struct model *m = &files[i];
	size_t off, len;
	int fd;

	if (!m->buf || !m->size)
		return;
	off = (size_t)(*seed % m->size);
	len = (size_t)(*seed >> 22) % (3u << 20) + 1;
	if (off + len > m->size)
		len = m->size - off;
	note("dirty f%d\n", i);
	fd = open_f(i, O_WRONLY);
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)off, (off_t)len) < 0)
		gone_away("punch");
	memset(m->buf + off, 0, len);
	close(fd);
}

static void op_truncate(int i, uint64_t *seed)
{
	size_t size = (size_t)(*seed % MAXSIZE);
	int fd;

	if (!files[i].buf)
		return;
	note("dirty f%d\n", i);
	fd = open_f(i, O_WRONLY);
	if (ftruncate(fd, (off_t)size) < 0)
		gone_away("truncate");
	resize(&files[i], size);
	close(fd);
}

static void op_rename(int i, int j)
{
	char a[16], b[16];

	if (!files[i].buf || i == j)
		return;
	note("dirty f%d\ndirty f%d\n", i, j);
	snprintf(a, sizeof(a), "f%d", i);
	snprintf(b, sizeof(b), "f%d", j);
	if (renameat(dfd, a, dfd, b) < 0)
		gone_away("rename");
	free(files[j].buf);
	files[j] = files[i];
	files[i] = (struct model){ 0 };
}

static void op_unlink(int i)
{
	char a[16];

	if (!files[i].buf)
		return;
	note("dirty f%d\n", i);
	snprintf(a, sizeof(a), "f%d", i);
	if (unlinkat(dfd, a, 0) < 0)
		gone_away("unlink");
	free(files[i].buf);
	files[i] = (struct model){ 0 };
}

/* Keep the bytes of clean file @i on the host, for show_diff(). */
static void keep_clean(int i, const struct model *m)
{
	char path[4200];
	int fd;

	snprintf(path, sizeof(path), "%s.f%d", mpath, i);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, m->buf, m->size) != (ssize_t)m->size) {
		perror("crashload: keeping clean bytes");
		exit(2);
	}
	close(fd);
}

/* Where file @i's @n bytes @b differ from its kept clean bytes: a few ranges. */
static void show_diff(int i, const uint8_t *b, ssize_t n)
{
	uint8_t *want = malloc(MAXSIZE);
	char path[4200];
	ssize_t k = 0, w;
	int fd, shown = 0;

	snprintf(path, sizeof(path), "%s.f%d", mpath, i);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	w = fd < 0 || !want ? -1 : pread(fd, want, MAXSIZE, 0);
	while (k < n && k < w && shown < 4) {
		ssize_t from = k;
		bool zeros = true;

		if (b[k] == want[k]) {
			k++;
			continue;
		}
		for (; k < n && k < w && b[k] != want[k]; k++)
			zeros &= b[k] == 0;
		fprintf(stderr, "  f%d differs at [%zd, %zd) (%zd bytes): %s\n", i, from, k,
			k - from, zeros ? "zeros" : "other bytes");
		shown++;
	}
	if (fd >= 0)
		close(fd);
	free(want);
}

/* fsync one file, check the mount agrees with the model, say it is clean. */
static void op_fsync(int i)
{
	struct model *m = &files[i];
	uint8_t *back;
	ssize_t n;
	int fd;

	if (!m->buf)
		return;
	fd = open_f(i, O_RDONLY);
	if (fsync(fd) < 0 || fsync(dfd) < 0)
		gone_away("fsync");
	back = malloc(m->size + 1);
	if (!back)
		exit(2);
	n = pread(fd, back, m->size + 1, 0);
	if (n < 0)
		gone_away("read back");
	if (n != (ssize_t)m->size)
		short_io("read back");
	if (memcmp(back, m->buf, m->size)) {
		fprintf(stderr, "crashload: f%d differs from what was written\n", i);
		exit(1);
	}
	free(back);
	close(fd);
	keep_clean(i, m);
	note("clean f%d %zu %016llx\n", i, m->size,
	     (unsigned long long)XXH3_64bits(m->buf, m->size));
	nsync++;
}

/* fsync the directory: names that no longer exist are now known gone. */
static void op_fsyncdir(void)
{
	if (fsync(dfd) < 0)
		gone_away("fsyncdir");
	for (int i = 0; i < NAMES; i++)
		if (!files[i].buf)
			note("gone f%d\n", i);
	nsync++;
}

static __attribute__((noreturn)) void run(uint64_t seed)
{
	for (;;) {
		uint64_t r = seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		int i = (int)((r >> 33) % NAMES), j = (int)((r >> 40) % NAMES);

		switch ((r >> 48) % 10) {
		case 0: case 1: op_write(i, &seed); break;
		case 2: op_mmap(i, &seed); break;
		case 3: op_punch(i, &seed); break;
		case 4: op_truncate(i, &seed); break;
		case 5: op_rename(i, j); break;
		case 6: op_unlink(i); break;
		case 7: case 8: op_fsync(i); break;
		default: op_fsyncdir(); break;
		}
		nops++;
	}
}

static int check(FILE *f)
{
	char word[16], name[16];
	unsigned long clean = 0, gone = 0, dirty = 0, bad = 0;
	struct { int state; size_t size; unsigned long long h; } last[NAMES] = { 0 };

	while (fscanf(f, "%15s %15s", word, name) == 2) {
		int i = atoi(name + 1);

		if (i < 0 || i >= NAMES)
			return 2;
		last[i].state = word[0];
		if (word[0] == 'c' && fscanf(f, "%zu %llx", &last[i].size, &last[i].h) != 2)
			return 2;
	}
	for (int i = 0; i < NAMES; i++) {
		char path[4096];
		struct stat st;

		snprintf(path, sizeof(path), "%s/f%d", dir, i);
		if (last[i].state == 'g') {
			gone++;
			if (stat(path, &st) == 0 && ++bad)
				fprintf(stderr, "f%d: deleted and synced, but exists\n", i);
		} else if (last[i].state == 'c') {
			int fd = open(path, O_RDONLY);
			uint8_t *b = malloc(MAXSIZE + 1);
			ssize_t n = fd < 0 || !b ? -1 : pread(fd, b, MAXSIZE + 1, 0);

			clean++;
			if (n != (ssize_t)last[i].size || XXH3_64bits(b, (size_t)n) != last[i].h) {
				fprintf(stderr,
					"f%d: fsync'd content lost (%zd bytes, %zu expected)\n",
					i, n, last[i].size);
				if (n > 0)
					show_diff(i, b, n);
				bad++;
			}
			free(b);
			if (fd >= 0)
				close(fd);
		} else if (last[i].state == 'd') {
			dirty++;
		}
	}
	printf("%lu fsync'd files checked, %lu synced deletions, %lu unsynced, %lu bad\n",
	       clean, gone, dirty, bad);
	return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	FILE *f;

	if (argc < 4)
		goto usage;
	dir = argv[2];
	mpath = argv[3];
	if (!strcmp(argv[1], "check")) {
		f = fopen(argv[3], "re");
		return f ? check(f) : 2;
	}
	if (strcmp(argv[1], "run") || argc != 5)
		goto usage;
	mfd = open(argv[3], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (mfd < 0) {
		perror("crashload");
		return 2;
	}
	/* the kill may come before this process has even started working */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		gone_away("open of its directory");
	setvbuf(stdout, NULL, _IONBF, 0);
	run(strtoull(argv[4], NULL, 0));
usage:
	fprintf(stderr, "usage: crashload run DIR MANIFEST SEED | check DIR MANIFEST\n");
	return 2;
}
