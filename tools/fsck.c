// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * fsck.foliofs: check a foliofs image and, with -y or -p, repair what is safe
 * to repair.  Every finding is one line; exit codes follow fsck(8).  The
 * checking itself is img_check() in the image library.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "foliofs/img.h"
#include "tool.h"

enum {
	FSCK_OK = 0,
	FSCK_NONDESTRUCT = 1,	/* errors corrected */
	FSCK_UNCORRECTED = 4,
	FSCK_ERROR = 8,		/* operational error */
	FSCK_USAGE = 16,
};

static void usage(FILE *f)
{
	fprintf(f, "usage: fsck.foliofs [-n|-y|-p] [-f] [-v] [--no-data] TARGET\n"
		   "\n"
		   "Check the foliofs filesystem on TARGET: superblocks, metadata checksums,\n"
		   "data checksums, extents, directory structure, link counts, orphans and the\n"
		   "free-space count.  Each finding is explained in one line.\n"
		   "\n"
		   "  -n            check only, open the image read-only (the default)\n"
		   "  -y            repair everything that can be repaired safely\n"
		   "  -p, -a        preen, for fsck -A at boot: repair what -y repairs, without\n"
		   "                questions, and ask for a manual run if anything is left\n"
		   "  -f            check even if the image is marked clean (always done)\n"
		   "  -v            say what was checked\n"
		   "      --no-data do not read file data to verify its checksums\n"
		   "  -h, --help    this text\n"
		   "  -V            version\n"
		   "\n"
		   "Exit status (as fsck(8)): 0 no errors, 1 errors corrected, 4 errors left\n"
		   "uncorrected, 8 operational error, 16 usage error.\n");
}

struct report {
	const char *target;
	unsigned lines;
};

static void report_line(void *arg, const char *line)
{
	struct report *r = arg;

	printf("%s: %s\n", r->target, line);
	r->lines++;
}

static void progress(void *arg, uint64_t done, uint64_t total)
{
	(void)arg;
	tool_progress("checking", done, total);
}

int main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "no-data", no_argument, NULL, 'D' },
		{ NULL, 0, NULL, 0 }
	};
	struct img_check_opts o = { .verify_data = true, .report = report_line,
				    .progress = progress };
	struct img_check_result res;
	struct report rep = { 0 };
	bool verbose = false, no = false, preen = false;
	int c, ret;

	while ((c = getopt_long(argc, argv, "nypafvhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'n': no = true; break;
		case 'y':
			o.repair = true;
			break;
		case 'p':
		case 'a':
			o.repair = preen = true;
			break;
		case 'f': break;
		case 'v': verbose = true; break;
		case 'D': o.verify_data = false; break;
		case 'h': usage(stdout); return FSCK_OK;
		case 'V': printf("fsck.foliofs %s\n", FOLIOFS_VERSION); return FSCK_OK;
		default: usage(stderr); return FSCK_USAGE;
		}
	}
	if (optind != argc - 1 || (no && o.repair)) {
		if (no && o.repair)
			fprintf(stderr, "fsck.foliofs: -n and -y/-p exclude each other\n");
		usage(stderr);
		return FSCK_USAGE;
	}
	rep.target = argv[optind];
	o.arg = &rep;
	ret = img_check(rep.target, &o, &res);
	if (ret) {
		if (!rep.lines)
			fprintf(stderr, "fsck.foliofs: %s: %s\n", rep.target, strerror(-ret));
		return FSCK_ERROR;
	}
	if (verbose)
		printf("%s: checked %llu inodes, %llu entries, %llu data blocks%s, "
		       "generation %llu\n", rep.target, (unsigned long long)res.inodes,
		       (unsigned long long)res.dirents,
		       (unsigned long long)res.data_blocks,
		       o.verify_data ? " (data checksums read)" : " (data not read)",
		       (unsigned long long)res.generation);
	if (!res.found) {
		printf("%s: clean, %llu inodes, %llu directory entries, %llu data "
		       "blocks, generation %llu\n", rep.target,
		       (unsigned long long)res.inodes, (unsigned long long)res.dirents,
		       (unsigned long long)res.data_blocks,
		       (unsigned long long)res.generation);
		return FSCK_OK;
	}
	/* suggest -y only for what -y can do */
	printf("%s: %u problem%s found, %u fixed%s\n", rep.target, res.found,
	       res.found == 1 ? "" : "s", res.fixed,
	       res.found - res.fixed > res.unfixable && !o.repair ?
	       " (run fsck.foliofs -y)" : "");
	if (res.fixed == res.found)
		return FSCK_NONDESTRUCT;
	/* as e2fsck -p: what is left needs a person, and boot stops here */
	if (preen)
		printf("%s: UNEXPECTED INCONSISTENCY; RUN fsck.foliofs MANUALLY "
		       "(without -a or -p)\n",
		       rep.target);
	return FSCK_UNCORRECTED;
}
