// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Stage two of a collapse (seed 001): once the huge folio exists in the page
 * cache, a process that mapped the file earlier still maps it with PTEs.
 * clp_remap_pid() finds that process's mappings of files under a path
 * prefix in /proc/PID/smaps and asks the kernel to map them by PMD with
 * process_madvise(MADV_COLLAPSE), reporting per mapping what it had before
 * and after.  It needs CAP_SYS_ADMIN and ptrace access to the process.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "foliofs/clp.h"

#define MAX_MAPS	256

/* Read the process's mappings under @prefix, with their PMD-mapped kB. */
static int read_maps(int pid, const char *prefix, struct clp_remap_report *out,
		     size_t max, size_t *n)
{
	char path[64], line[512];
	struct clp_remap_report *cur = NULL;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps", pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	*n = 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long s, e, kb;
		int pos = 0;

		if (sscanf(line, "%llx-%llx %*s %*s %*s %*s %n", &s, &e, &pos) == 2 && pos) {
			char *p = line + pos;

			p[strcspn(p, "\n")] = '\0';
			cur = NULL;
			if (*n < max && !strncmp(p, prefix, strlen(prefix))) {
				cur = &out[(*n)++];
				memset(cur, 0, sizeof(*cur));
				cur->start = s;
				cur->end = e;
				snprintf(cur->path, sizeof(cur->path), "%s", p);
			}
			continue;
		}
		if (cur && (sscanf(line, "ShmemPmdMapped: %llu", &kb) == 1 ||
			    sscanf(line, "FilePmdMapped: %llu", &kb) == 1))
			cur->pmd_kb_before += kb;
	}
	fclose(f);
	return 0;
}

/*
 * One mapping, by PMD.  EAGAIN is a short race (a page locked or off the
 * LRU for a moment, as when the daemon's own collapser works the same
 * region): a user waits for this answer, so it is ridden out as an
 * explicit collapse does, before it is reported.  Returns 0 or an errno.
 */
static int remap_one(int pidfd, const struct iovec *iov)
{
	int err = 0;

	for (int again = 0; again <= CLP_EXPLICIT_RETRIES; again++) {
		if (again)
			usleep(CLP_EXPLICIT_RETRY_US);
		err = syscall(SYS_process_madvise, pidfd, iov, 1, MADV_COLLAPSE, 0) < 0 ? errno : 0;
		if (err != EAGAIN)
			break;
	}
	return err;
}

/**
 * clp_remap_pid() - map a running process's foliofs mappings by PMD
 * @pid: the process
 * @prefix: mount point (or file) whose mappings to remap
 * @report: called once per mapping
 * @arg: passed to @report
 *
 * Return: 0 if every mapping was remapped; -ESRCH if the process is gone;
 * -ENOENT if it maps nothing under @prefix; otherwise the first
 * process_madvise() error (-EPERM without CAP_SYS_ADMIN, -EINVAL for an
 * ineligible mapping, -EAGAIN/-ENOMEM/-EBUSY as for MADV_COLLAPSE).
 */
int clp_remap_pid(int pid, const char *prefix,
		  void (*report)(void *arg, const struct clp_remap_report *r),
		  void *arg)
{
	struct clp_remap_report *maps, *after;
	size_t n = 0, n2 = 0;
	int pidfd, ret, first = 0;

	maps = calloc(MAX_MAPS, sizeof(*maps));
	after = calloc(MAX_MAPS, sizeof(*after));
	ret = -ENOMEM;
	if (!maps || !after)
		goto out_free;
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	ret = -errno;
	if (pidfd < 0)
		goto out_free;
	ret = read_maps(pid, prefix, maps, MAX_MAPS, &n);
	if (!ret && !n)
		ret = -ENOENT;
	for (size_t i = 0; !ret && i < n; i++) {
		struct iovec iov = { (void *)(uintptr_t)maps[i].start,
				     maps[i].end - maps[i].start };

		maps[i].err = remap_one(pidfd, &iov);
		if (maps[i].err && !first)
			first = -maps[i].err;
	}
	if (!ret && !read_maps(pid, prefix, after, MAX_MAPS, &n2))
		for (size_t i = 0; i < n; i++)
			for (size_t j = 0; j < n2; j++)
				if (after[j].start == maps[i].start)
					maps[i].pmd_kb_after = after[j].pmd_kb_before;
	for (size_t i = 0; !ret && i < n; i++)
		if (report)
			report(arg, &maps[i]);
	close(pidfd);
	if (!ret)
		ret = first;
out_free:
	free(maps);
	free(after);
	return ret;
}
