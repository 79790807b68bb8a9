// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * POSIX operation trace: runs a fixed sequence of namespace, attribute,
 * data, xattr, fallocate and lseek operations inside a directory and prints
 * one line per operation with its result (errno names, sizes, modes, link
 * counts, contents digests).  The integration test runs it on tmpfs and on
 * foliofs and requires identical traces, so tmpfs is the reference.  Values
 * that legitimately differ between filesystems (inode numbers, st_blocks,
 * st_dev, directory sizes, timestamps) are not printed; timestamp ordering
 * is.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

static const char *en(int e)
{
	static char buf[32];

	switch (e) {
	case 0: return "OK";
	case ENOENT: return "ENOENT";
	case EEXIST: return "EEXIST";
	case ENOTDIR: return "ENOTDIR";
	case EISDIR: return "EISDIR";
	case ENOTEMPTY: return "ENOTEMPTY";
	case EINVAL: return "EINVAL";
	case ENAMETOOLONG: return "ENAMETOOLONG";
	case ENODATA: return "ENODATA";
	case ERANGE: return "ERANGE";
	case EPERM: return "EPERM";
	case EACCES: return "EACCES";
	case ENXIO: return "ENXIO";
	case EBADF: return "EBADF";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case EXDEV: return "EXDEV";
	case ELOOP: return "ELOOP";
	}
	snprintf(buf, sizeof(buf), "errno%d", e);
	return buf;
}

#define R(expr) do { errno = 0; long _r = (long)(expr); \
	printf("%-50s -> %s\n", #expr, _r < 0 ? en(errno) : "OK"); } while (0)
#define V(expr) do { errno = 0; long _r = (long)(expr); \
	printf("%-50s -> %ld %s\n", #expr, _r, _r < 0 ? en(errno) : ""); } while (0)

static void st(const char *p)
{
	struct stat s;

	if (lstat(p, &s) < 0) {
		printf("stat %-45s -> %s\n", p, en(errno));
		return;
	}
	printf("stat %-45s -> mode %06o nlink %lu uid %u gid %u size %lld rdev %u:%u\n",
	       p, s.st_mode, (unsigned long)s.st_nlink, s.st_uid, s.st_gid,
	       S_ISDIR(s.st_mode) ? 0LL : (long long)s.st_size,
	       major(s.st_rdev), minor(s.st_rdev));
}

static int cmpstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void ls(const char *p)
{
	char *names[256];
	int n = 0;
	DIR *d = opendir(p);
	struct dirent *de;

	if (!d) {
		printf("ls %s -> %s\n", p, en(errno));
		return;
	}
	while ((de = readdir(d)) && n < 256)
		names[n++] = strdup(de->d_name);
	closedir(d);
	qsort(names, (size_t)n, sizeof(*names), cmpstr);
	printf("ls %s ->", p);
	for (int i = 0; i < n; i++) {
		printf(" %s", names[i]);
		free(names[i]);
	}
	printf("\n");
}

static unsigned long digest(const char *p)
{
	unsigned long h = 5381;
	char buf[65536];
	ssize_t n;
	int fd = open(p, O_RDONLY);

	if (fd < 0)
		return 0;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n; i++)
			h = h * 33 + (unsigned char)buf[i];
	close(fd);
	return h;
}

static int cmp_ts(struct timespec a, struct timespec b)
{
	return a.tv_sec != b.tv_sec ? (a.tv_sec > b.tv_sec) - (a.tv_sec < b.tv_sec) :
	       (a.tv_nsec > b.tv_nsec) - (a.tv_nsec < b.tv_nsec);
}

static void namespace_ops(void)
{
	char longname[300];
	struct stat a, b;

	memset(longname, 'x', 256);
	longname[256] = 0;
	R(mkdir("d", 0755));
	R(mkdir("d", 0755));
	R(mkdir("d/e", 0700));
	R(mkdir("nodir/e", 0700));
	R(close(open("d/f", O_CREAT | O_WRONLY, 0644)));
	R(open("d/f", O_CREAT | O_EXCL | O_WRONLY, 0644));
	R(open(longname, O_CREAT | O_WRONLY, 0644));
	R(mkdir(longname, 0755));
	longname[255] = 0;
	R(close(open(longname, O_CREAT | O_WRONLY, 0644)));
	R(unlink(longname));
	R(rmdir("d"));
	R(rmdir("d/f"));
	R(unlink("d/e"));
	R(link("d/f", "d/g"));
	R(link("d/e", "d/h"));
	st("d/f");
	st("d");
	R(symlink("f", "d/s"));
	R(symlink("f", "d/s"));
	{
		char t[64] = { 0 };

		V(readlink("d/s", t, sizeof(t)));
		printf("target %s\n", t);
		V(readlink("d/f", t, sizeof(t)));
	}
	st("d/s");
	R(mknod("fifo", S_IFIFO | 0600, 0));
	R(mknod("sock", S_IFSOCK | 0600, 0));
	R(mknod("chr", S_IFCHR | 0600, makedev(1, 3)));
	R(mknod("blk", S_IFBLK | 0600, makedev(7, 0)));
	st("fifo");
	st("chr");
	st("blk");
	ls("d");
	lstat("d", &a);
	usleep(20000);
	R(rename("d/g", "d/g2"));
	lstat("d", &b);
	printf("rename bumps dir mtime: %d\n", cmp_ts(b.st_mtim, a.st_mtim) > 0);
	R(rename("d/f", "d/g2"));	/* same inode: no-op */
	st("d/f");
	R(rename("d/e", "d/f"));
	R(rename("d/f", "d/e"));
	R(rename("d", "d/e/x"));
	R(renameat2(AT_FDCWD, "d/f", AT_FDCWD, "d/s", RENAME_NOREPLACE));
	R(renameat2(AT_FDCWD, "d/f", AT_FDCWD, "d/new", RENAME_NOREPLACE));
	R(renameat2(AT_FDCWD, "d/new", AT_FDCWD, "d/e", RENAME_EXCHANGE));
	st("d/new");
	st("d/e");
	R(renameat2(AT_FDCWD, "d/e", AT_FDCWD, "d/zz", RENAME_EXCHANGE));
	R(renameat2(AT_FDCWD, "d/e", AT_FDCWD, "d/new", RENAME_EXCHANGE));
	R(mkdir("d2", 0755));
	R(mkdir("d2/sub", 0755));
	R(rename("d/e", "d2/sub"));
	R(rmdir("d2/sub"));
	R(rename("d/e", "d2/sub"));
	st("d");
	st("d2");
	R(mkdir("d3", 0755));
	R(close(open("d3/x", O_CREAT | O_WRONLY, 0644)));
	R(rename("d2", "d3"));
	R(rename("d2/sub", "d3/sub"));
	st("d2");
	st("d3");
	ls("d3");
	R(rmdir("d3/sub"));
	ls(".");
}

static void attr_ops(void)
{
	struct timespec ts[2] = { { 1000000000, 123456789 }, { 1100000000, 987654321 } };
	struct stat s;
	int fd;

	R(close(open("a", O_CREAT | O_WRONLY, 0600)));
	R(chmod("a", 04751));
	st("a");
	R(chown("a", 1000, 1000));
	st("a");
	R(utimensat(AT_FDCWD, "a", ts, 0));
	lstat("a", &s);
	printf("times %ld.%09ld %ld.%09ld\n", (long)s.st_atim.tv_sec, s.st_atim.tv_nsec,
	       (long)s.st_mtim.tv_sec, s.st_mtim.tv_nsec);
	R(truncate("a", 100000));
	st("a");
	R(truncate("a", 10));
	st("a");
	R(truncate("d3", 0));
	fd = open("a", O_WRONLY | O_TRUNC);
	R(fd);
	st("a");
	R(write(fd, "0123456789", 10));
	close(fd);
	R(lchown("d3", 5, 6));
	st("d3");
	R(mkdir("sg", 02775));
	R(chown("sg", 0, 123));
	R(chmod("sg", 02775));
	R(mkdir("sg/sub", 0755));
	R(close(open("sg/file", O_CREAT | O_WRONLY, 0644)));
	st("sg");
	st("sg/sub");
	st("sg/file");
}

static void data_ops(void)
{
	char buf[8192];
	struct stat s;
	int fd = open("data", O_CREAT | O_RDWR, 0644);
	char *map;

	R(fd);
	memset(buf, 'a', sizeof(buf));
	V(pwrite(fd, buf, 5000, 0));
	V(pwrite(fd, buf, 100, 1 << 20));
	st("data");
	V(lseek(fd, 0, SEEK_DATA));
	V(lseek(fd, 8192, SEEK_DATA));
	V(lseek(fd, 0, SEEK_HOLE));
	V(lseek(fd, (1 << 20) + 200, SEEK_DATA));
	V(pread(fd, buf, sizeof(buf), 4096));
	V(pread(fd, buf, sizeof(buf), (1 << 20) + 50));
	V(pread(fd, buf, sizeof(buf), 2 << 20));
	R(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096));
	V(lseek(fd, 0, SEEK_DATA));
	R(fallocate(fd, FALLOC_FL_PUNCH_HOLE, 0, 4096));
	R(fallocate(fd, 0, (2 << 20), 65536));
	st("data");
	R(fallocate(fd, FALLOC_FL_KEEP_SIZE, (3 << 20), 65536));
	st("data");
	lseek(fd, 0, SEEK_SET);
	R(ftruncate(fd, 3 << 20));
	map = mmap(NULL, 3 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	printf("mmap %s\n", map == MAP_FAILED ? en(errno) : "OK");
	if (map != MAP_FAILED) {
		memcpy(map + (2 << 20) + 7, "mapped!", 7);
		R(msync(map, 3 << 20, MS_SYNC));
		munmap(map, 3 << 20);
	}
	V(pread(fd, buf, 7, (2 << 20) + 7));
	printf("read back %.7s\n", buf);
	R(fsync(fd));
	R(fdatasync(fd));
	R(close(fd));
	printf("digest %lx\n", digest("data"));
	fd = open("data", O_WRONLY | O_APPEND);
	V(write(fd, "tail", 4));
	close(fd);
	lstat("data", &s);
	printf("size after append %lld\n", (long long)s.st_size);
	fd = open("big", O_CREAT | O_RDWR, 0644);
	V(pwrite(fd, "beyond4g", 8, 5ll << 30));
	V(pread(fd, buf, 8, 5ll << 30));
	printf("big read %.8s\n", buf);
	close(fd);
	st("big");
	R(unlink("big"));
	fd = open("open-unlinked", O_CREAT | O_RDWR, 0644);
	V(write(fd, "still here", 10));
	R(unlink("open-unlinked"));
	V(pread(fd, buf, 10, 0));
	printf("after unlink %.10s\n", buf);
	close(fd);
	R(open("d3", O_WRONLY));
}

static void xattr_ops(void)
{
	char buf[256];

	R(close(open("x", O_CREAT | O_WRONLY, 0644)));
	R(setxattr("x", "user.a", "1", 1, 0));
	R(setxattr("x", "user.a", "22", 2, XATTR_CREATE));
	R(setxattr("x", "user.b", "333", 3, XATTR_REPLACE));
	R(setxattr("x", "user.b", "333", 3, XATTR_CREATE));
	R(setxattr("x", "trusted.t", "t", 1, 0));
	R(setxattr("x", "bogus.t", "t", 1, 0));
	V(getxattr("x", "user.a", buf, sizeof(buf)));
	V(getxattr("x", "user.a", NULL, 0));
	V(getxattr("x", "user.b", buf, 1));
	V(getxattr("x", "user.none", buf, sizeof(buf)));
	V(listxattr("x", NULL, 0));
	R(removexattr("x", "user.a"));
	R(removexattr("x", "user.a"));
	V(listxattr("x", buf, sizeof(buf)));
	R(setxattr("x", "user.empty", "", 0, 0));
	V(getxattr("x", "user.empty", buf, sizeof(buf)));
	R(setxattr("d3", "user.dir", "v", 1, 0));
	V(getxattr("d3", "user.dir", buf, sizeof(buf)));
}

/*
 * Not compared with tmpfs, which returns a file renamed during the pass a
 * second time under its new name: foliofs must not.  Rename every entry of
 * a 15,000-entry directory (to a new name in the
 * same directory) while one readdir pass runs: no name may come twice, no
 * renamed entry may come back under its new name, and the pass must end.
 */
static int readdir_renames(void)
{
	enum { N = 15000 };
	static unsigned char seen[N];
	char name[48], to[48];
	int dups = 0, total = 0, next = 0;
	ino_t first_ino = 0;
	struct dirent *de;
	struct stat st;
	DIR *d;

	R(mkdir("ren", 0755));
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "ren/a%05d", i);
		close(open(name, O_CREAT | O_WRONLY, 0644));
		if (!i && !stat(name, &st))
			first_ino = st.st_ino;
	}
	d = opendir("ren");
	while ((de = readdir(d)) && total < 4 * N) {
		int idx;

		if (de->d_name[0] != 'a' && de->d_name[0] != 'b')
			continue;
		/* the file, not the name: names were made in inode order */
		idx = (int)(de->d_ino - first_ino);
		if (idx < 0 || idx >= N)
			idx = atoi(de->d_name + 1);
		dups += seen[idx]++ > 0;
		total++;
		/* rename two entries each step, read or not, to new names */
		for (int k = 0; k < 2 && next < N; k++, next++) {
			snprintf(name, sizeof(name), "ren/a%05d", next);
			snprintf(to, sizeof(to), "ren/b%05d", next);
			rename(name, to);
		}
	}
	closedir(d);
	printf("readdir under renames: %s, %s\n",
	       dups ? "a file came twice" : "no file twice",
	       total < 4 * N ? "ended" : "did not end");
	return dups || total >= 4 * N;
}

static void readdir_stability(void)
{
	char name[32];
	DIR *d;
	struct dirent *de;
	int seen = 0, i;

	R(mkdir("many", 0755));
	for (i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "many/f%03d", i);
		close(open(name, O_CREAT | O_WRONLY, 0644));
	}
	d = opendir("many");
	/* Delete entries while reading: each survivor must be seen once. */
	for (i = 0; (de = readdir(d)); i++) {
		if (de->d_name[0] == 'f')
			seen++;
		if (i == 50)
			for (int k = 0; k < 300; k += 2) {
				snprintf(name, sizeof(name), "many/f%03d", k);
				unlink(name);
			}
	}
	closedir(d);
	printf("readdir under deletion: seen %s\n",
	       seen >= 150 && seen <= 300 ? "in range" : "out of range");
	ls("many");
}

/*
 * tmpfs has no ZERO_RANGE, so this section is not compared with it: it
 * checks its own results and fails the run on a mismatch.
 */
static int zero_range(void)
{
	char buf[64], want[64];
	struct stat s;
	int fd = open("zr", O_CREAT | O_RDWR | O_TRUNC, 0644), bad = 0;

	memset(buf, 'a', sizeof(buf));
	if (fd < 0 || pwrite(fd, buf, sizeof(buf), 0) != (ssize_t)sizeof(buf))
		return 1;
	R(fallocate(fd, FALLOC_FL_ZERO_RANGE, 10, 20));
	memset(want, 'a', sizeof(want));
	memset(want + 10, 0, 20);
	bad |= pread(fd, buf, sizeof(buf), 0) != (ssize_t)sizeof(buf) ||
	       memcmp(buf, want, sizeof(want));
	R(fallocate(fd, FALLOC_FL_ZERO_RANGE, 60, 100));
	fstat(fd, &s);
	bad |= s.st_size != 160;
	R(fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 150, 100));
	fstat(fd, &s);
	bad |= s.st_size != 160;
	bad |= pread(fd, buf, 10, 55) != 10 || memcmp(buf, "aaaaa\0\0\0\0\0", 10);
	close(fd);
	printf("zero_range: %s\n", bad ? "FAIL" : "ok");
	return bad;
}

int main(int argc, char **argv)
{
	if (argc < 2 || chdir(argv[1])) {
		fprintf(stderr, "usage: posix_ops DIR [zero_range|readdir_renames]\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	umask(022);
	if (argc > 2 && !strcmp(argv[2], "zero_range"))
		return zero_range();
	if (argc > 2 && !strcmp(argv[2], "readdir_renames"))
		return readdir_renames();
	namespace_ops();
	attr_ops();
	data_ops();
	xattr_ops();
	readdir_stability();
	return 0;
}
