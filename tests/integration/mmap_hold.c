// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Test helper: map a file, read every page, create READY, then wait to be
 * killed, so that another process can look at (and remap) the mapping.
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	unsigned long sum = 0;
	struct stat st;
	char *p;
	int fd;

	if (argc != 3)
		return 2;
	fd = open(argv[1], O_RDONLY);
	if (fd < 0 || fstat(fd, &st) < 0)
		return 1;
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return 1;
	for (off_t o = 0; o < st.st_size; o += 4096)
		sum += (unsigned char)p[o];
	if (sum == 1)	/* keeps the reads; never true for a real page walk */
		fprintf(stderr, "sum %lu\n", sum);
	close(open(argv[2], O_CREAT | O_WRONLY, 0644));
	for (;;)
		pause();
}
