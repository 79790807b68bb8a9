// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Stress helper: THREADS workers hammer one directory tree for SECONDS with
 * creates, writes, renames, unlinks, mmap writes, punches, truncates and
 * collapse requests, each on its own files so the expected content is
 * known; and with the requests the daemon serves with its lock shared,
 * checked as they go: a stat and a read of an own file, a listing of the
 * shared directory (each own file exactly once, while the others create,
 * rename and unlink theirs), an own attribute set and read back; and with
 * the changes served under one inode's lock, beside all of those: a chmod
 * and a utimens of an own file, read back by stat; and with the namespace
 * changes served under a directory's lock: each worker makes, links,
 * renames across directories and removes names in its own directory,
 * beside the others doing the same in theirs, and finds it empty after.
 * At the end every surviving file must hold exactly what its owner last
 * wrote.
 * Usage: stress DIR THREADS SECONDS.  Prints operation counts; exits 1 on
 * the first broken invariant.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define FILES	8
#define FSIZE	(3u << 20)

struct worker {
	pthread_t t;
	int id;
	const char *dir;
	time_t until;
	unsigned seed;
	unsigned char fill[FILES];	/* byte the whole file holds, 0 = absent */
	unsigned char xval[FILES];	/* its user.stress attribute, 0 = none */
	mode_t mode[FILES];		/* permissions it was given, 0 = not yet */
	unsigned long ops;
	int failed;
};

static void path_of(const struct worker *w, int f, char *buf, size_t len)
{
	snprintf(buf, len, "%s/w%d-f%d", w->dir, w->id, f);
}

static int fill_file(const char *p, unsigned char c)
{
	static __thread char buf[1 << 16];
	int fd = open(p, O_CREAT | O_WRONLY | O_TRUNC, 0644);

	if (fd < 0)
		return -1;
	memset(buf, c, sizeof(buf));
	for (unsigned off = 0; off < FSIZE; off += sizeof(buf))
		if (pwrite(fd, buf, sizeof(buf), off) != (ssize_t)sizeof(buf)) {
			close(fd);
			return -1;
		}
	return close(fd);
}

static int broken(const struct worker *w, const char *what, const char *p)
{
	fprintf(stderr, "stress: worker %d: %s: %s\n", w->id, p, what);
	errno = EIO;
	return -1;
}

/* A listing of the shared directory shows each own file exactly once. */
static int check_listing(struct worker *w)
{
	char name[64];
	unsigned seen[FILES] = { 0 };
	struct dirent *e;
	DIR *d = opendir(w->dir);

	if (!d)
		return -1;
	while ((e = readdir(d)))
		for (int f = 0; f < FILES; f++) {
			snprintf(name, sizeof(name), "w%d-f%d", w->id, f);
			seen[f] += !strcmp(e->d_name, name);
		}
	closedir(d);
	for (int f = 0; f < FILES; f++)
		if (seen[f] != (w->fill[f] ? 1u : 0u))
			return broken(w, "listed a wrong number of times", w->dir);
	return 0;
}

/* A chmod and a utimens of an own file: stat sees exactly those. */
static int check_attrs(struct worker *w, int f, const char *p, unsigned char c)
{
	struct timespec ts[2] = { { .tv_sec = 1000000000 + c, .tv_nsec = c },
				  { .tv_sec = 1000000000 + c, .tv_nsec = c } };
	mode_t mode = 0600 | (c & 077);
	struct stat st;

	if (chmod(p, mode) || utimensat(AT_FDCWD, p, ts, 0))
		return -1;
	w->mode[f] = mode;
	if (stat(p, &st))
		return -1;
	if ((st.st_mode & 07777) != mode)
		return broken(w, "chmod: stat shows another mode", p);
	if (st.st_mtim.tv_sec != ts[1].tv_sec || st.st_mtim.tv_nsec != ts[1].tv_nsec)
		return broken(w, "utimens: stat shows another mtime", p);
	return 0;
}

/* Requests served with the lock shared, their answers checked. */
static int check_step(struct worker *w, int f, int op, unsigned char c)
{
	unsigned char got = 0;
	char p[512];
	struct stat st;
	int fd;
	ssize_t n;

	path_of(w, f, p, sizeof(p));
	switch (op) {
	case 7: /* stat and read one page */
		if (stat(p, &st) || st.st_size != FSIZE)
			return broken(w, "stat: missing or wrong size", p);
		if (w->mode[f] && (st.st_mode & 07777) != w->mode[f])
			return broken(w, "stat: not the mode set", p);
		fd = open(p, O_RDONLY);
		if (fd < 0)
			return -1;
		n = pread(fd, &got, 1, (off_t)(rand_r(&w->seed) % FSIZE));
		close(fd);
		return n != 1 || got != w->fill[f] ? broken(w, "read: wrong byte", p) : 0;
	case 8:
		return check_listing(w);
	case 10: /* chmod and utimens, read back */
		return check_attrs(w, f, p, c);
	default: /* an attribute, set and read back */
		n = getxattr(p, "user.stress", &got, 1);
		if (w->xval[f] ? n != 1 || got != w->xval[f] : n >= 0 || errno != ENODATA)
			return broken(w, "getxattr: not what was set", p);
		if (setxattr(p, "user.stress", &c, 1, 0))
			return -1;
		w->xval[f] = c;
		return 0;
	}
}

/* @p holds @nlink links (stat), or is gone (@nlink 0). */
static int check_links(struct worker *w, const char *p, nlink_t nlink)
{
	struct stat st;

	if (lstat(p, &st))
		return errno == ENOENT && !nlink ? 0 : broken(w, "lstat: missing", p);
	return st.st_nlink == nlink ? 0 : broken(w, "lstat: not the link count made", p);
}

/* The worker's own directory holds no names. */
static int check_empty(struct worker *w, const char *dir)
{
	struct dirent *e;
	DIR *d = opendir(dir);
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return n ? broken(w, "names left after their removal", dir) : 0;
}

/*
 * Names made and removed in the worker's own directory, and one moved to
 * the shared directory and back: each step's link counts checked.
 */
static int ns_round(struct worker *w)
{
	char d[512], s[600], x[700], y[600], l[600], far[600], t[16];
	int fd;

	snprintf(d, sizeof(d), "%s/d%d", w->dir, w->id);
	snprintf(s, sizeof(s), "%s/s", d);
	snprintf(x, sizeof(x), "%s/x", s);
	snprintf(y, sizeof(y), "%s/y", d);
	snprintf(l, sizeof(l), "%s/l", d);
	snprintf(far, sizeof(far), "%s/w%d-moved", w->dir, w->id);
	if ((mkdir(d, 0755) && errno != EEXIST) || mkdir(s, 0755))
		return -1;
	fd = open(x, O_CREAT | O_EXCL | O_WRONLY, 0644);
	if (fd < 0 || write(fd, "x", 1) != 1 || close(fd))
		return -1;
	if (link(x, y) || check_links(w, y, 2) || check_links(w, s, 2))
		return -1;
	if (rename(y, far) || check_links(w, y, 0) || rename(far, y))
		return -1;
	if (symlink("x", l) || readlink(l, t, sizeof(t)) != 1 || t[0] != 'x')
		return broken(w, "symlink: not the target made", l);
	if (unlink(x) || check_links(w, y, 1) || rmdir(s) || check_links(w, s, 0))
		return -1;
	if (unlink(y) || unlink(l))
		return -1;
	return check_empty(w, d);
}

/* One random operation on one of the worker's files. */
static int step(struct worker *w)
{
	char p[512], q[600], pg[4096];
	int f = (int)(rand_r(&w->seed) % FILES), op = (int)(rand_r(&w->seed) % 12), fd;
	unsigned char c = (unsigned char)(1 + rand_r(&w->seed) % 250);
	char *m;

	path_of(w, f, p, sizeof(p));
	if (!w->fill[f] || op == 0) {		/* (re)create with a new byte */
		if (!w->fill[f]) {
			w->xval[f] = 0; /* a new file: no attributes */
			w->mode[f] = 0;
		}
		if (fill_file(p, c))
			return -1;
		w->fill[f] = c;
		return 0;
	}
	if (op == 11)
		return ns_round(w);
	if (op >= 7)
		return check_step(w, f, op, c);
	switch (op) {
	case 1:					/* rename away and back */
		snprintf(q, sizeof(q), "%s.tmp", p);
		return rename(p, q) || rename(q, p) ? -1 : 0;
	case 2:					/* unlink */
		w->fill[f] = 0;
		w->mode[f] = 0;
		return unlink(p);
	case 3:					/* rewrite through a shared mapping */
		fd = open(p, O_RDWR);
		if (fd < 0)
			return -1;
		m = mmap(NULL, FSIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		close(fd);
		if (m == MAP_FAILED)
			return -1;
		memset(m, c, FSIZE);
		munmap(m, FSIZE);
		w->fill[f] = c;
		return 0;
	case 4:					/* punch then refill the hole */
		fd = open(p, O_RDWR);
		if (fd < 0)
			return -1;
		if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 8192, 4096) ||
		    pwrite(fd, memset(pg, w->fill[f], sizeof(pg)), sizeof(pg), 8192) != 4096) {
			close(fd);
			return -1;
		}
		return close(fd);
	case 5:					/* truncate and grow back */
		fd = open(p, O_RDWR);
		if (fd < 0)
			return -1;
		if (ftruncate(fd, FSIZE)) {
			close(fd);
			return -1;
		}
		return close(fd);
	default:				/* ask for a collapse; may fail */
		setxattr(p, "user.foliofs.collapse", "", 0, 0);
		return 0;
	}
}

static void *run(void *arg)
{
	struct worker *w = arg;

	while (time(NULL) < w->until && !w->failed) {
		if (step(w)) {
			fprintf(stderr, "stress: worker %d: %s\n", w->id, strerror(errno));
			w->failed = 1;
		}
		w->ops++;
	}
	return NULL;
}

static int verify(struct worker *w)
{
	static char buf[1 << 16];
	char p[512];

	for (int f = 0; f < FILES; f++) {
		struct stat st;
		int fd;

		path_of(w, f, p, sizeof(p));
		fd = open(p, O_RDONLY);
		if (!w->fill[f]) {
			if (fd >= 0) {
				fprintf(stderr, "stress: %s exists after unlink\n", p);
				return 1;
			}
			continue;
		}
		if (fd < 0 || fstat(fd, &st) || st.st_size != FSIZE) {
			fprintf(stderr, "stress: %s missing or wrong size\n", p);
			return 1;
		}
		for (unsigned off = 0; off < FSIZE; off += sizeof(buf)) {
			if (pread(fd, buf, sizeof(buf), off) != (ssize_t)sizeof(buf))
				return 1;
			for (size_t i = 0; i < sizeof(buf); i++)
				if ((unsigned char)buf[i] != w->fill[f]) {
					fprintf(stderr, "stress: %s byte %zu is %u, expected %u\n",
						p, off + i, (unsigned char)buf[i], w->fill[f]);
					return 1;
				}
		}
		close(fd);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct worker *w;
	unsigned long ops = 0;
	int n, bad = 0;

	if (argc != 4)
		return 2;
	n = atoi(argv[2]);
	w = calloc((size_t)n, sizeof(*w));
	for (int i = 0; i < n; i++) {
		w[i] = (struct worker){ .id = i, .dir = argv[1],
					.until = time(NULL) + atoi(argv[3]),
					.seed = (unsigned)(i * 7919 + 1) };
		pthread_create(&w[i].t, NULL, run, &w[i]);
	}
	for (int i = 0; i < n; i++) {
		pthread_join(w[i].t, NULL);
		bad |= w[i].failed || verify(&w[i]);
		ops += w[i].ops;
	}
	printf("stress: %d workers, %lu operations, %s\n", n, ops, bad ? "FAILED" : "ok");
	return bad;
}
