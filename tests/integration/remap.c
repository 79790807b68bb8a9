// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Test helper: stage-two remap of a running process's mappings under a
 * path prefix with clp_remap_pid().  Prints one line per mapping:
 * "start-end errno pmd_kb_before pmd_kb_after"; exits 1 on any error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "foliofs/clp.h"

static void show(void *arg, const struct clp_remap_report *r)
{
	(void)arg;
	printf("%llx-%llx %d %llu %llu\n", (unsigned long long)r->start,
	       (unsigned long long)r->end, r->err,
	       (unsigned long long)r->pmd_kb_before, (unsigned long long)r->pmd_kb_after);
}

int main(int argc, char **argv)
{
	int ret;

	if (argc != 3)
		return 2;
	ret = clp_remap_pid(atoi(argv[1]), argv[2], show, NULL);
	if (ret)
		fprintf(stderr, "remap: %s\n", strerror(-ret));
	return ret ? 1 : 0;
}
