// SPDX-License-Identifier: LGPL-2.1-or-later
/* Test helper: fsync a file by name; exit 1 with a message on failure. */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int fd;

	if (argc != 2)
		return 2;
	fd = open(argv[1], O_RDONLY);
	if (fd < 0 || fsync(fd) < 0) {
		perror(argv[1]);
		return 1;
	}
	return close(fd) ? 1 : 0;
}
