// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * folioctl map: a file's 2 MiB regions as the daemon sees them (state,
 * resident pages, last collapse result, the kernel's verdict), one table
 * row each with, as root, the folio orders really behind this process's
 * mapping (pagemap and kpageflags).  The picture of the same table is
 * fctl_svg.c's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "foliofs/clp.h"
#include "folioctl.h"

/* Folio makeup of [off, off + len) as this process maps it (root only). */
struct orders {
	unsigned thp, compound, small, absent;
	bool known;
};

/* Open files for folio_orders(); any left -1 means "not known". */
struct order_src {
	int fd, pm, kf;
};

/*
 * Folio makeup of the region at @off as this process maps it (root only):
 * one region is mapped at a time, so the cost follows the regions listed.
 */
static void folio_orders(const struct order_src *src, uint64_t off, uint64_t size, struct orders *o)
{
	size_t len = size - off < CLP_REGION_SIZE ? (size_t)(size - off) : CLP_REGION_SIZE;
	unsigned char vec[CLP_REGION_SIZE / 4096];
	uint8_t *map;

	*o = (struct orders){ 0 };
	if (src->fd < 0 || src->pm < 0 || src->kf < 0 || off >= size)
		return;
	map = mmap(NULL, len, PROT_READ, MAP_SHARED, src->fd, (off_t)off);
	if (map == MAP_FAILED)
		return;
	if (mincore(map, len, vec) < 0)
		goto out_unmap;
	o->known = true;
	for (size_t pg = 0; pg < (len + 4095) / 4096; pg++) {
		off_t slot = (off_t)((uintptr_t)(map + pg * 4096) / 4096 * 8);
		uint64_t ent, flags;
		volatile uint8_t c;

		if (!(vec[pg] & 1)) { /* touching a hole would fill it */
			o->absent++;
			continue;
		}
		c = map[pg * 4096];
		(void)c;
		if (pread(src->pm, &ent, 8, slot) != 8 || !(ent & (1ull << 63)) ||
		    pread(src->kf, &flags, 8, (off_t)((ent & ((1ull << 55) - 1)) * 8)) != 8) {
			o->absent++;
			continue;
		}
		if (flags & (1ull << 22)) /* KPF_THP */
			o->thp++;
		else if (flags & ((1ull << 15) | (1ull << 16))) /* COMPOUND_HEAD/TAIL */
			o->compound++;
		else
			o->small++;
	}
out_unmap:
	munmap(map, len);
}

static void map_row(bool first, const struct fctl_region *r, const struct orders *o)
{
	if (!fctl_json) {
		printf("%12llu  %-9s %8u  %-22s %-22s %4u", r->off, r->state, r->resident, r->last,
		       r->kernel, r->attempts);
		if (o->known)
			printf("  thp=%u compound=%u small=%u", o->thp, o->compound, o->small);
		printf("\n");
		return;
	}
	printf("%s{\"offset\":%llu,\"state\":", first ? "" : ",", r->off);
	fctl_json_str(r->state);
	printf(",\"resident_pages\":%u,\"last_result\":", r->resident);
	fctl_json_str(r->last);
	printf(",\"kernel_verdict\":");
	fctl_json_str(r->kernel);
	printf(",\"failed_attempts\":%u", r->attempts);
	if (o->known)
		printf(",\"folios\":{\"thp_pages\":%u,\"compound_pages\":%u,\"small_pages\":%u}",
		       o->thp, o->compound, o->small);
	printf("}");
}

/**
 * fctl_map() - print the region table of a file
 * @path: a file on a foliofs mount
 *
 * One row per region the daemon keeps state for; as root also the folio
 * orders behind this process's mapping of each.
 *
 * Return: the exit status: 0, or 1 when @path is not on foliofs.
 */
int fctl_map(const char *path)
{
	struct order_src src = { -1, -1, -1 };
	char *text, *line, *save = NULL, fdpath[FCTL_FDPATH_LEN];
	struct stat st;
	size_t i = 0;

	if (fctl_require_foliofs(path, fdpath, sizeof(fdpath)))
		return 1;
	text = fctl_get_map(fdpath);
	if (!text || stat(fdpath, &st) < 0)
		return fctl_not_foliofs(path, errno);
	if (geteuid() == 0)
		src = (struct order_src){ open(fdpath, O_RDONLY | O_CLOEXEC),
					  open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC),
					  open("/proc/kpageflags", O_RDONLY | O_CLOEXEC) };
	if (fctl_json) {
		printf("{\"file\":");
		fctl_json_str(path);
		printf(",\"size\":%lld,\"regions\":[", (long long)st.st_size);
	} else {
		printf("%12s  %-9s %8s  %-22s %-22s %4s%s\n", "offset", "state", "resident",
		       "last result", "kernel verdict", "try",
		       geteuid() == 0 ? "  folios behind this client's mapping" : "");
	}
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct fctl_region r;
		struct orders o;

		if (!fctl_region_parse(line, &r))
			continue;
		folio_orders(&src, r.off, (uint64_t)st.st_size, &o);
		map_row(i++ == 0, &r, &o);
	}
	if (fctl_json)
		printf("]}\n");
	for (int *fd = &src.fd; fd <= &src.kf; fd++)
		if (*fd >= 0)
			close(*fd);
	free(text);
	return 0;
}
