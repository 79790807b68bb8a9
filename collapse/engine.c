// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The collapse engine: MADV_COLLAPSE on one 2 MiB region of a shared-memory
 * file, or on a range region by region with seed 000's semantics (best
 * effort, continue past failures, success only if every eligible region
 * ends huge).  Each region is mapped on its own at a 2 MiB-aligned address,
 * its residency read with mincore() (nothing is faulted in), and it is
 * collapsed only when the policy allows huge folios and enough of it is
 * populated (max_ptes_none, as khugepaged).  When a tracefs instance is
 * open, the kernel's own verdict for the region is read back from the
 * huge_memory:mm_khugepaged_collapse_file event.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "foliofs/clp.h"


static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/**
 * clp_map_aligned() - map part of a file at a 2 MiB-aligned address
 * @fd: the file
 * @off: file offset, 2 MiB aligned for the mapping to be collapsible
 * @len: bytes
 * @prot: PROT_* of the shared mapping
 *
 * MADV_COLLAPSE needs the mapping's address congruent with its file offset
 * modulo 2 MiB; this reserves a larger range and trims it.
 *
 * Return: the address, or NULL with errno set.
 */
void *clp_map_aligned(int fd, uint64_t off, size_t len, int prot)
{
	size_t span = len + CLP_REGION_SIZE;
	uint8_t *res, *al;

	res = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		   -1, 0);
	if (res == MAP_FAILED)
		return NULL;
	al = (uint8_t *)(((uintptr_t)res + CLP_REGION_SIZE - 1) &
			 ~(uintptr_t)(CLP_REGION_SIZE - 1));
	if (mmap(al, len, prot, MAP_SHARED | MAP_FIXED, fd, (off_t)off) == MAP_FAILED) {
		munmap(res, span);
		return NULL;
	}
	if (al > res)
		munmap(res, (size_t)(al - res));
	munmap(al + len, (size_t)(res + span - (al + len)));
	return al;
}

static uint8_t *map_region(int fd, uint64_t off)
{
	return clp_map_aligned(fd, off, CLP_REGION_SIZE, PROT_READ);
}

static unsigned resident_pages(uint8_t *map)
{
	unsigned char vec[CLP_REGION_PAGES];
	unsigned n = 0;

	if (mincore(map, CLP_REGION_SIZE, vec) < 0)
		return 0;
	for (unsigned i = 0; i < CLP_REGION_PAGES; i++)
		n += vec[i] & 1;
	return n;
}

/**
 * clp_region_resident() - how many pages of a region the memory holds now
 * @fd: the memory file
 * @off: the region's offset, 2 MiB-aligned
 * @pages: set to 0..CLP_REGION_PAGES
 *
 * What a region table shows: the count the collapser kept is from its last
 * visit, and it never visits a region below 2 MiB or under policy never.
 *
 * Return: 0; -ENOMEM when the region cannot be mapped.
 */
int clp_region_resident(int fd, uint64_t off, unsigned *pages)
{
	uint8_t *map = map_region(fd, off);

	if (!map)
		return -ENOMEM;
	*pages = resident_pages(map);
	munmap(map, CLP_REGION_SIZE);
	return 0;
}

/* ---- kernel verdicts from tracefs ---- */

/* A private tracefs instance; one per opener, so no process-wide state. */
struct clp_trace {
	int fd;			/* its trace_pipe, non-blocking */
	pthread_mutex_t lock;	/* one reader of the pipe at a time */
	char dir[128];
};

static int write_str(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/*
 * The events: collapse_file reports each region a collapse got to build;
 * scan_file reports the regions that failed before that (too few pages,
 * pages locked or not on the LRU), which collapse_file never sees.
 */
static int set_events(const char *dir, const char *on)
{
	static const char *const events[] = { "mm_khugepaged_collapse_file",
					       "mm_khugepaged_scan_file" };
	char path[256];
	int ret = 0;

	for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++) {
		snprintf(path, sizeof(path), "%s/events/huge_memory/%s/enable", dir,
			 events[i]);
		if (write_str(path, on) && !i)
			ret = -ENOENT;	/* the second is a bonus */
	}
	return ret;
}

/* Remove instances left by daemons that died without cleaning up. */
static void reap_stale(const char *base)
{
	char path[512];
	DIR *d;
	struct dirent *de;

	snprintf(path, sizeof(path), "%s/instances", base);
	d = opendir(path);
	if (!d)
		return;
	while ((de = readdir(d))) {
		int pid;

		if (sscanf(de->d_name, "foliofs-%d", &pid) != 1 || pid == getpid() ||
		    kill(pid, 0) == 0 || errno != ESRCH)
			continue;
		snprintf(path, sizeof(path), "%s/instances/%s", base, de->d_name);
		rmdir(path);
	}
	closedir(d);
}

/* Make the instance directory under the first tracefs mount that allows it. */
static int trace_mkdir(char *dir, size_t len)
{
	static const char *const bases[] = { "/sys/kernel/tracing",
					     "/sys/kernel/debug/tracing" };

	for (size_t i = 0; i < 2; i++) {
		reap_stale(bases[i]);
		snprintf(dir, len, "%s/instances/foliofs-%d", bases[i], (int)getpid());
		if (mkdir(dir, 0700) == 0 || errno == EEXIST)
			return 0;
	}
	return -ENOENT;
}

/**
 * clp_trace_open() - a private tracefs instance with the collapse events on
 * @out: the instance, for clp_trace_close()
 *
 * Return: 0; -ENOENT when tracefs is absent or not writable (the kernel
 * verdict is then simply not reported); -ENOMEM; -errno from open(2).
 */
int clp_trace_open(struct clp_trace **out)
{
	struct clp_trace *t = calloc(1, sizeof(*t));
	char path[256];
	int ret;

	if (!t)
		return -ENOMEM;
	ret = trace_mkdir(t->dir, sizeof(t->dir));
	if (ret)
		goto out_free;
	ret = set_events(t->dir, "1");
	if (ret)
		goto out_rmdir;
	snprintf(path, sizeof(path), "%s/trace_pipe", t->dir);
	t->fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	ret = t->fd < 0 ? -errno : 0;
	if (ret)
		goto out_events;
	pthread_mutex_init(&t->lock, NULL);
	*out = t;
	return 0;
out_events:
	set_events(t->dir, "0");
out_rmdir:
	rmdir(t->dir);
out_free:
	free(t);
	return ret;
}

/* The trace_pipe of @t, for a reader of its own (folioctl trace). */
int clp_trace_fd(const struct clp_trace *t)
{
	return t->fd;
}

/* Turn the events off and remove the instance; NULL is fine. */
void clp_trace_close(struct clp_trace *t)
{
	if (!t)
		return;
	close(t->fd);
	set_events(t->dir, "0");
	rmdir(t->dir);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

/*
 * Scan what the trace holds for the event of (@name, @index).  collapse_file
 * reports the page index where its scan stopped, the region's end when it
 * got that far, so both ends of the region are accepted.
 */
static int trace_verdict(struct clp_trace *t, const char *name, uint64_t index)
{
	char buf[16384], want_idx[40], want_end[40], want_name[48];
	int verdict = -1;
	ssize_t n;

	if (!t)
		return -1;
	snprintf(want_idx, sizeof(want_idx), " index=%llu,", (unsigned long long)index);
	snprintf(want_end, sizeof(want_end), " index=%llu,",
		 (unsigned long long)(index + CLP_REGION_PAGES));
	/* "ino-5," cannot match "ino-15,": the prefix anchors it */
	snprintf(want_name, sizeof(want_name), "%s", name);
	pthread_mutex_lock(&t->lock);
	while ((n = read(t->fd, buf, sizeof(buf) - 1)) > 0) {
		buf[n] = '\0';
		for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
			char *res = strstr(line, "result=");

			if (!res || !strstr(line, want_name) ||
			    (!strstr(line, want_idx) && !strstr(line, want_end)))
				continue;
			verdict = clp_kernel_result_parse(res + 7);
		}
	}
	pthread_mutex_unlock(&t->lock);
	return verdict;
}

/*
 * Refine an errno-based result with the kernel's own verdict: where the
 * kernel names a reason foliofs has a result for, that is the result
 * (EAGAIN alone cannot tell scan_aborted from not_suitable_page_count).
 * A verdict of success never hides a failure madvise() reported.
 */
static enum clp_result refine(enum clp_result res, int kverdict)
{
	enum clp_result named = clp_kernel_result(kverdict);

	if (named == CLP_NR_RESULTS)
		return res;
	if (res != CLP_SUCCEEDED && (named == CLP_SUCCEEDED || named == CLP_PAGE_PMD_MAPPED))
		return res;
	return named;
}

/**
 * clp_collapse_region() - try to make one region of a file a huge folio
 * @fd: the shared-memory file
 * @off: region start, 2 MiB aligned
 * @file_size: the file's size now
 * @p: policy, population threshold, explicit request or not
 * @reg: the region's entry; resident and kverdict are updated
 * @trace: from clp_trace_open(), or NULL
 * @ino: the number in @fd's name (CLP_TRACE_NAME), which the trace shows
 *
 * Return: the result; never blocks on a filesystem lock, so callers must
 * not hold theirs.
 */
enum clp_result clp_collapse_region(int fd, uint64_t off, uint64_t file_size,
				    const struct clp_params *p, struct clp_region *reg,
				    struct clp_trace *trace, uint64_t ino)
{
	enum clp_result res;
	char name[40];
	uint8_t *map;
	unsigned res_pages;

	if (off + CLP_REGION_SIZE > file_size)
		return CLP_BEYOND_EOF;
	if (clp_max_order(p->policy, p->explicit_req) < CLP_ORDER_THP)
		return CLP_POLICY;
	map = map_region(fd, off);
	if (!map)
		return CLP_FAILED;
	res_pages = resident_pages(map);
	reg->resident = (uint16_t)res_pages;
	if (!res_pages) {
		res = CLP_EMPTY;
	} else if (reg->state == CLP_R_KEEP_OFF && !p->explicit_req &&
		   res_pages < CLP_REGION_PAGES) {
		res = CLP_KEEP_OFF;	/* the hole is still there */
	} else if (!p->explicit_req && CLP_REGION_PAGES - res_pages > p->max_ptes_none) {
		res = CLP_EXCEED_NONE_PTE;
	} else {
		int err = madvise(map, CLP_REGION_SIZE, MADV_COLLAPSE) ? errno : 0;

		snprintf(name, sizeof(name), CLP_TRACE_NAME ",", (unsigned long long)ino);
		reg->kverdict = (int8_t)trace_verdict(trace, name, off / CLP_PAGE_SIZE);
		res = refine(clp_errno_result(err), reg->kverdict);
		if (res == CLP_SUCCEEDED || res == CLP_PAGE_PMD_MAPPED)
			reg->resident = CLP_REGION_PAGES;
	}
	munmap(map, CLP_REGION_SIZE);
	return res;
}

#define LAST_PAGE	((uint64_t)INT64_MAX & ~(CLP_PAGE_SIZE - 1))

/*
 * The page at 2^63 - 4 KiB is the last a file can have, and the kernel
 * cannot seek to it (SEEK_DATA says ENXIO, SEEK_HOLE wraps past 2^63) nor
 * map it.  Read it instead: a page of zeros is taken as a hole.
 */
static int last_page_run(int fd, uint64_t pos, uint64_t end, uint64_t *start,
			 uint64_t *stop)
{
	static const uint8_t zero[CLP_PAGE_SIZE];
	uint8_t buf[CLP_PAGE_SIZE];
	ssize_t n;

	if (end <= LAST_PAGE)
		return -ENXIO;
	/* the kernel refuses a read whose end would pass 2^63 - 1 */
	n = pread(fd, buf, (uint64_t)INT64_MAX - LAST_PAGE, (off_t)LAST_PAGE);
	if (n < 0)
		return -errno;
	if (!memcmp(buf, zero, (size_t)n))
		return -ENXIO;
	*start = pos > LAST_PAGE ? pos : LAST_PAGE;
	*stop = end;
	return 0;
}

/*
 * The data run at or after @pos, unbounded: SEEK_HOLE walks the page
 * cache from the data found to the first hole, which for a dense file is
 * its end.  Callers walking a file region by region keep the run in a
 * struct clp_run, so that walk costs the file once, not once per region.
 */
static int seek_run(int fd, uint64_t pos, uint64_t end, struct clp_run *run)
{
	off_t d, h;

	d = lseek(fd, (off_t)pos, SEEK_DATA);
	if (d < 0 && errno != ENXIO)
		return -errno;
	run->from = pos;
	if (d < 0)
		return last_page_run(fd, pos, end, &run->start, &run->stop);
	h = lseek(fd, d, SEEK_HOLE);
	run->from = pos;
	run->start = (uint64_t)d;
	/* a run that reaches 2^63 wraps negative: it runs to the end */
	run->stop = h <= d ? (uint64_t)INT64_MAX : (uint64_t)h;
	return 0;
}

/**
 * clp_data_run() - the first run of data in [@pos, @end) of a file
 * @fd: the file
 * @pos: where to start
 * @end: where to stop (at most the file's size)
 * @start: first byte of the run
 * @stop: first byte past it, at most @end
 * @run: the last run found, kept by a caller that walks forward (zeroed
 *	before the walk), or NULL
 *
 * SEEK_DATA and SEEK_HOLE walk what the file holds, so a scan of a sparse
 * file costs its data, not its apparent size; with @run, a forward walk
 * asks the kernel once per run of data, not once per call.  The file must
 * not change during a walk that keeps @run.
 *
 * Return: 0; -ENXIO when no data lies in the range; -errno from lseek or
 * pread.
 */
int clp_data_run(int fd, uint64_t pos, uint64_t end, uint64_t *start, uint64_t *stop,
		 struct clp_run *run)
{
	struct clp_run local = { 0 }, *r = run ? run : &local;
	int ret;

	if (pos >= end || pos > (uint64_t)INT64_MAX)
		return -ENXIO;
	/* known: no data in [from, start), data in [start, stop) */
	if (!(pos >= r->from && pos < r->stop) || r->stop <= r->start) {
		ret = seek_run(fd, pos, end, r);
		if (ret)
			return ret;
	}
	if (r->start >= end)
		return -ENXIO;
	*start = r->start > pos ? r->start : pos;
	*stop = r->stop < end ? r->stop : end;
	return 0;
}

/**
 * clp_next_data() - the first region at or after @from holding data
 * @fd: the shared-memory file
 * @from: byte offset to start at
 * @end: byte offset to stop at
 * @idx: the region found
 *
 * Only where the data starts is asked (SEEK_DATA), never where it ends.
 *
 * Return: 0; -ENXIO when nothing lies in [@from, @end); -errno.
 */
int clp_next_data(int fd, uint64_t from, uint64_t end, uint64_t *idx)
{
	uint64_t start, stop;
	off_t d;

	if (from >= end || from > (uint64_t)INT64_MAX)
		return -ENXIO;
	d = lseek(fd, (off_t)from, SEEK_DATA);
	if (d < 0 && errno != ENXIO)
		return -errno;
	if (d < 0) {
		int ret = last_page_run(fd, from, end, &start, &stop);

		if (ret)
			return ret;
		d = (off_t)start;
	}
	if ((uint64_t)d >= end)
		return -ENXIO;
	*idx = (uint64_t)d >> CLP_REGION_SHIFT;
	return 0;
}

/**
 * clp_collapse_step() - one region of a collapse request or scan
 * @reg: the region's state; the result is recorded in it
 * @fd: the shared-memory file
 * @idx: the region
 * @file_size: the file's size
 * @p: parameters; an explicit request also ends keep-off
 * @st: counters to update (may be NULL)
 * @trace: from clp_trace_open(), or NULL
 * @ino: the number in @fd's name (CLP_TRACE_NAME)
 *
 * A region that is not due (huge, backing off) is left alone.  Regions with
 * nothing resident, a tail shorter than 2 MiB and keep-off regions are not
 * eligible and do not fail; a policy of "never" fails an explicit request
 * as VM_NOHUGEPAGE does.
 *
 * Return: CLP_SUCCEEDED if the region is huge or not eligible; otherwise the
 * failing result, for the caller to keep until its edge (where
 * clp_result_errno() turns it into an errno, once).
 */
enum clp_result clp_collapse_step(struct clp_region *reg, int fd, uint64_t idx,
				  uint64_t file_size, const struct clp_params *p,
				  struct clp_stats *st, struct clp_trace *trace, uint64_t ino)
{
	uint64_t off = idx << CLP_REGION_SHIFT;
	enum clp_result res;

	if (!clp_region_due(reg, now_ns(), p->explicit_req) && reg->state != CLP_R_KEEP_OFF)
		return CLP_SUCCEEDED;
	if (p->explicit_req && reg->state == CLP_R_KEEP_OFF)
		reg->state = CLP_R_SMALL;	/* a user asked: keep-off ends */
	res = clp_collapse_region(fd, off, file_size, p, reg, trace,
						   ino);
	/* a user waits for this one: ride out short races (pages just
	 * written may not be on the LRU yet) before reporting EAGAIN */
	for (int again = 0;
	     p->explicit_req && res == CLP_SCAN_ABORTED && again < CLP_EXPLICIT_RETRIES; again++) {
		usleep(CLP_EXPLICIT_RETRY_US);
		res = clp_collapse_region(fd, off, file_size, p, reg,
					    trace, ino);
	}
	/*
	 * Keep-off ends only where the region was looked at and found whole
	 * again (the user refilled the hole); a region skipped for its
	 * position, policy or emptiness stays keep-off.
	 */
	if (reg->state == CLP_R_KEEP_OFF && res != CLP_KEEP_OFF &&
	    res != CLP_BEYOND_EOF && res != CLP_POLICY && res != CLP_EMPTY)
		reg->state = CLP_R_SMALL;
	clp_region_record(reg, res, now_ns());
	if (st) {
		st->by_result[res]++;
		st->collapsed += res == CLP_SUCCEEDED;
	}
	/* holes, a short tail and keep-off are not eligible; a policy of
	 * "never" refuses a request as VM_NOHUGEPAGE does (EINVAL) */
	if (res == CLP_EMPTY || res == CLP_BEYOND_EOF || res == CLP_KEEP_OFF ||
	    (res == CLP_POLICY && !p->explicit_req))
		return CLP_SUCCEEDED;
	return res;
}
