// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Coherence across processes on one mount: write(2) seen through another
 * process's shared mapping and the other way round, private mappings kept
 * private, truncate/punch/zero-range seen by mappings, size and mtime right
 * after writes that never reach the daemon (passthrough).  Exits non-zero
 * with a message on the first mismatch.  Usage: coherence DIR
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SZ	(4 << 20)
#define CHECK(c, ...) do { if (!(c)) { fprintf(stderr, "coherence: " __VA_ARGS__); \
	fprintf(stderr, "\n"); exit(1); } } while (0)

static sigjmp_buf jb;

static void on_bus(int sig)
{
	(void)sig;
	siglongjmp(jb, 1);
}

/* Run @fn in a child process and require it to succeed. */
static void in_child(void (*fn)(const char *), const char *path)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		fn(path);
		_exit(0);
	}
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child check failed");
}

static void child_maps_and_writes(const char *path)
{
	int fd = open(path, O_RDWR);
	char *p = mmap(NULL, SZ, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	CHECK(p != MAP_FAILED, "child mmap: %s", strerror(errno));
	CHECK(!memcmp(p + 12345, "written", 7), "write(2) not seen in a mapping");
	memcpy(p + (3 << 20), "by-mmap", 7);
	CHECK(msync(p, SZ, MS_SYNC) == 0, "msync");
	munmap(p, SZ);
	close(fd);
}

static void child_private(const char *path)
{
	int fd = open(path, O_RDONLY);
	char *p = mmap(NULL, SZ, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);

	CHECK(p != MAP_FAILED, "private mmap");
	memcpy(p + 100, "private", 7);
	munmap(p, SZ);
	close(fd);
}

int main(int argc, char **argv)
{
	char path[4096], buf[16];
	struct stat a, b;
	char *map;
	int fd;

	CHECK(argc == 2, "usage: coherence DIR");
	snprintf(path, sizeof(path), "%s/coh", argv[1]);
	fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0644);
	CHECK(fd >= 0, "create: %s", strerror(errno));
	CHECK(ftruncate(fd, SZ) == 0, "ftruncate");
	CHECK(pwrite(fd, "written", 7, 12345) == 7, "pwrite");
	in_child(child_maps_and_writes, path);
	CHECK(pread(fd, buf, 7, 3 << 20) == 7 && !memcmp(buf, "by-mmap", 7),
	      "mmap write not seen by read(2)");
	in_child(child_private, path);
	CHECK(pread(fd, buf, 7, 100) == 7 && buf[0] == 0, "MAP_PRIVATE write leaked");

	/* size and mtime after writes */
	fstat(fd, &a);
	usleep(20000);
	CHECK(pwrite(fd, "grow", 4, SZ + 10) == 4, "extend");
	CHECK(stat(path, &b) == 0 && b.st_size == SZ + 14, "size after extend %lld",
	      (long long)b.st_size);
	CHECK(b.st_mtim.tv_sec > a.st_mtim.tv_sec ||
	      (b.st_mtim.tv_sec == a.st_mtim.tv_sec && b.st_mtim.tv_nsec > a.st_mtim.tv_nsec),
	      "mtime did not advance");

	/* punch, zero-range and truncate as seen by a live mapping */
	map = mmap(NULL, SZ, PROT_READ, MAP_SHARED, fd, 0);
	CHECK(map != MAP_FAILED, "mmap");
	CHECK(map[12345] == 'w', "mapping content");
	CHECK(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 8192, 8192) == 0,
	      "punch: %s", strerror(errno));
	CHECK(map[12345] == 0, "punched range still visible in mapping");
	CHECK(pwrite(fd, "zzzz", 4, 1 << 20) == 4, "pwrite");
	CHECK(map[1 << 20] == 'z', "write not seen by mapping");
	CHECK(fallocate(fd, FALLOC_FL_ZERO_RANGE, 1 << 20, 4) == 0, "zero range: %s",
	      strerror(errno));
	CHECK(map[1 << 20] == 0, "zeroed range still visible in mapping");
	CHECK(ftruncate(fd, 8192) == 0, "truncate");
	signal(SIGBUS, on_bus);
	if (sigsetjmp(jb, 1) == 0) {
		volatile char c = map[3 << 20];

		(void)c;
		CHECK(0, "mapping beyond a truncated end did not fault");
	}
	munmap(map, SZ);
	CHECK(fstat(fd, &a) == 0 && a.st_size == 8192, "size after truncate");
	close(fd);
	printf("coherence: ok\n");
	return 0;
}
