// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Test helper: a separate client process that mmaps a file, reads every
 * page (or writes one byte per page with "write"; or collapses the mapping
 * itself with MADV_COLLAPSE after reading, with "collapse"), and prints how much of
 * that mapping is resident and how much is mapped by PMDs, from its own
 * /proc/self/smaps:  "rss_kb pmd_kb fault_ms checksum".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void smaps_of(void *addr, long *rss, long *pmd)
{
	char line[512], want[32];
	FILE *f = fopen("/proc/self/smaps", "r");
	int on = 0;

	snprintf(want, sizeof(want), "%lx-", (unsigned long)addr);
	*rss = *pmd = 0;
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long start, end;
		long v;

		if (sscanf(line, "%lx-%lx ", &start, &end) == 2)
			on = !strncmp(line, want, strlen(want));
		if (!on)
			continue;
		if (sscanf(line, "Rss: %ld", &v) == 1)
			*rss += v;
		if (sscanf(line, "ShmemPmdMapped: %ld", &v) == 1 ||
		    sscanf(line, "FilePmdMapped: %ld", &v) == 1)
			*pmd += v;
	}
	if (f)
		fclose(f);
}

int main(int argc, char **argv)
{
	int fd, wr = argc > 2 && !strcmp(argv[2], "write");
	int clp = argc > 2 && !strcmp(argv[2], "collapse");
	struct timespec a, b;
	unsigned long sum = 0;
	long rss, pmd;
	struct stat st;
	char *p;

	if (argc < 2)
		return 2;
	fd = open(argv[1], wr ? O_RDWR : O_RDONLY);
	if (fd < 0 || fstat(fd, &st) < 0) {
		perror(argv[1]);
		return 1;
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ | (wr ? PROT_WRITE : 0),
		 MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (off_t o = 0; o < st.st_size; o += 4096) {
		if (wr)
			p[o] = (char)(o >> 12);
		else
			sum += (unsigned char)p[o];
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	for (int tries = 0; clp; tries++) {	/* EAGAIN: a transient race */
		if (madvise(p, (size_t)st.st_size, 25 /* MADV_COLLAPSE */) == 0)
			break;
		if (errno != EAGAIN || tries == 5) {
			perror("MADV_COLLAPSE");
			return 1;
		}
		usleep(50000);
	}
	smaps_of(p, &rss, &pmd);
	printf("%ld %ld %.1f %lu\n", rss, pmd,
	       (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6, sum);
	if (wr && msync(p, (size_t)st.st_size, MS_SYNC) < 0)
		perror("msync");
	return 0;
}
