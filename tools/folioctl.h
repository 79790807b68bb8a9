/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * folioctl's parts: the helpers every command uses to reach a mount (its
 * control attributes, one clear line when the target is not foliofs, JSON
 * strings), and the commands that live in their own files (status with its
 * Prometheus form, map with its picture).
 */
#ifndef FOLIOFS_FOLIOCTL_H
#define FOLIOFS_FOLIOCTL_H

#include <stdbool.h>
#include <stddef.h>

#define FUSE_SUPER_MAGIC 0x65735546

extern bool fctl_json; /* --json */

void fctl_json_str(const char *s);
bool fctl_is_number(const char *s);
char *fctl_get_text(const char *path, const char *name);
int fctl_not_foliofs(const char *path, int err);
#define FCTL_FDPATH_LEN 32
int fctl_require_foliofs(const char *path, char *fdpath, size_t len);
char *fctl_get_map(const char *path);

/* One row of the daemon's region table (user.foliofs.map). */
struct fctl_region {
	unsigned long long off;
	char state[16], last[32], kernel[40];
	unsigned resident, attempts;
};

bool fctl_region_parse(const char *line, struct fctl_region *r);

/* status: text, --json, or the Prometheus text format */
int fctl_status(const char *mount, bool prometheus);

/* map: the region table, or a picture of it */
int fctl_map(const char *path);
int fctl_map_svg(const char *path, const char *out, bool png);

#endif /* FOLIOFS_FOLIOCTL_H */
