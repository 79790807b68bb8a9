/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A daemon core over a fresh image, for the core's unit tests: no libfuse,
 * no mount.  Requests are made the way the front end makes them: the
 * filesystem lock taken around calls into the core.
 */
#ifndef FOLIOFS_CORE_FIXTURE_H
#define FOLIOFS_CORE_FIXTURE_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs.h"

struct fixture {
	char path[64];
	struct img *img;
	struct fs fs;
	struct fs_caller root;
};

/* Format a @size byte image and load it into @f->fs with @opts. */
static inline int fixture_up(struct fixture *f, uint64_t size, const struct fs_opts *opts)
{
	struct img_mkfs_opts mo = { .size = size };
	int fd, ret;

	memset(f, 0, sizeof(*f));
	strcpy(f->path, "/tmp/foliofs-core.XXXXXX");
	fd = mkstemp(f->path);
	if (fd < 0)
		return -1;
	close(fd);
	ret = img_format(f->path, &mo, NULL, 0);
	if (!ret)
		ret = img_open(f->path, IMG_O_RDWR, &f->img);
	if (!ret)
		ret = fs_init(&f->fs, f->img, opts);
	if (!ret)
		ret = fs_load_image(&f->fs);
	f->root = (struct fs_caller){ .uid = 0, .gid = 0, .fsetid = true };
	return ret;
}

static inline void fixture_down(struct fixture *f)
{
	if (f->img) {
		fs_destroy(&f->fs);
		img_close(f->img);
	}
	unlink(f->path);
}

/* Create and open a regular file @name in the root; lock held. */
static inline int fixture_file(struct fixture *f, const char *name, struct fs_inode **out)
{
	int ret = fs_make_node(&f->fs, FOFS_ROOT_INO, name, S_IFREG | 0644, 0, NULL,
			       &f->root, out);

	if (!ret)
		ret = fs_file_open_relock(&f->fs, *out, O_RDWR, &f->root);
	if (!ret)
		(*out)->nopen++;
	return ret;
}

/* Write @len bytes of @fill at @off; lock held. */
static inline int fixture_write(struct fixture *f, struct fs_inode *inode, uint64_t off,
				size_t len, int fill)
{
	char *buf = malloc(len);
	size_t done = 0;
	int ret;

	if (!buf)
		return -1;
	memset(buf, fill, len);
	ret = fs_file_write_relock(&f->fs, inode, buf, len, off, &f->root, &done);
	free(buf);
	return ret ? ret : done == len ? 0 : -1;
}

/* Commit as the front end's fsync does: without the lock; lock held around. */
static inline int fixture_commit(struct fixture *f)
{
	int ret;

	fs_unlock(&f->fs);
	ret = fs_commit(&f->fs, false);
	fs_lock(&f->fs);
	return ret;
}

#endif /* FOLIOFS_CORE_FIXTURE_H */
