// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * What every folioctl command needs to reach a mount: the daemon's control
 * attributes read whole (they are generated and may grow between two
 * calls), the region table across its pages, a check that the target really
 * is on foliofs before anything touches it, and JSON string quoting.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/xattr.h>

#include "foliofs/ctl.h"
#include "folioctl.h"

bool fctl_json;

void fctl_json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

bool fctl_is_number(const char *s)
{
	char *end;

	if (!*s)
		return false;
	strtoll(s, &end, 10);
	return !*end;
}

/*
 * Read a whole extended attribute as a NUL-terminated string.  Generated
 * values (status, map) can grow between asking the size and reading: then
 * ask again.
 */
char *fctl_get_text(const char *path, const char *name)
{
	for (int tries = 0; tries < 8; tries++) {
		ssize_t n = getxattr(path, name, NULL, 0);
		char *buf;

		if (n < 0)
			return NULL;
		buf = malloc((size_t)n + 4097);
		if (!buf)
			return NULL;
		n = getxattr(path, name, buf, (size_t)n + 4096);
		if (n >= 0) {
			buf[n] = '\0';
			return buf;
		}
		free(buf);
		if (errno != ERANGE)
			return NULL;
	}
	return NULL;
}

/* One line for a target that is not there or not on foliofs; exit 1. */
int fctl_not_foliofs(const char *path, int err)
{
	fprintf(stderr, "folioctl: %s: %s\n", path,
		err == ENODATA || err == EOPNOTSUPP || !err ? "not on a foliofs mount" :
							      strerror(err));
	return 1;
}

/**
 * fctl_require_foliofs() - pin a command's target and check it is on foliofs
 * @path: the target as the user named it
 * @fdpath: set to "/proc/self/fd/N" for a descriptor of the file @path named
 *	when it was checked, which the command uses from then on
 * @len: size of @fdpath (FCTL_FDPATH_LEN)
 *
 * A FUSE file whose mount answers foliofs's status attribute.  Nothing is
 * written elsewhere (a user.foliofs.* xattr on /etc/passwd would be a
 * surprise), and a name swapped for a symlink after the check cannot
 * redirect the command: the descriptor stays open until the process exits.
 *
 * Return: the exit status: 0, or 1 after one line saying why not.
 */
int fctl_require_foliofs(const char *path, char *fdpath, size_t len)
{
	int fd = open(path, O_PATH | O_CLOEXEC);
	struct statfs sf;

	if (fd < 0 || fstatfs(fd, &sf) < 0)
		return fctl_not_foliofs(path, errno);
	snprintf(fdpath, len, "/proc/self/fd/%d", fd);
	if (sf.f_type != FUSE_SUPER_MAGIC)
		return fctl_not_foliofs(path, 0);
	/* EACCES and the like are the answer; ENODATA: another FUSE mount */
	if (getxattr(fdpath, FOFS_XATTR_STATUS, NULL, 0) < 0)
		return fctl_not_foliofs(path, errno);
	return 0;
}

/* All pages of the region table ("more N" ends a page that goes on). */
char *fctl_get_map(const char *path)
{
	char *all = NULL, name[64], *more;
	size_t len = 0;

	snprintf(name, sizeof(name), "%s", FOFS_XATTR_MAP);
	for (;;) {
		char *page = fctl_get_text(path, name), *p;

		if (!page) {
			free(all);
			return NULL;
		}
		more = strstr(page, "more ");
		if (more)
			*more = '\0';
		p = realloc(all, len + strlen(page) + 1);
		if (!p) {
			free(page);
			free(all);
			return NULL;
		}
		all = p;
		memcpy(all + len, page, strlen(page) + 1);
		len += strlen(page);
		if (!more) {
			free(page);
			return all;
		}
		snprintf(name, sizeof(name), "%s.%lu", FOFS_XATTR_MAP, strtoul(more + 5, NULL, 10));
		free(page);
	}
}

/**
 * fctl_region_parse() - one line of the region table
 * @line: "OFFSET STATE RESIDENT LAST KERNEL ATTEMPTS"
 * @r: filled in
 *
 * Return: false for a line that is not a region (the paging note).
 */
bool fctl_region_parse(const char *line, struct fctl_region *r)
{
	return sscanf(line, "%llu %15s %u %31s %39s %u", &r->off, r->state, &r->resident, r->last,
		      r->kernel, &r->attempts) == 6;
}
