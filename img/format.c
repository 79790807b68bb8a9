// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Creating an empty filesystem: size the target, clear both superblock
 * slots, and commit generation 1 holding only the root directory.  mkfs is a
 * thin wrapper around img_format(); the golden tests call it with a pinned
 * UUID and time so that the bytes it writes are reproducible.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "img_int.h"

#define MIN_BYTES	(1ull << 20)

/*
 * Reserve the whole file on the host now, so that a host filesystem filling
 * up later cannot fail a commit: what the filesystem reports free is free.
 */
static int preallocate(int fd, uint64_t size, char *msg, size_t msglen)
{
	int err;

	if (fallocate(fd, 0, 0, (off_t)size) == 0)
		return 0;
	err = errno;
	if (err == EOPNOTSUPP)	/* the host cannot: a sparse image then */
		return 0;
	img_msg(msg, msglen, "cannot reserve %llu bytes for the image on its "
		"host filesystem: %s%s", (unsigned long long)size, strerror(err),
		err == ENOSPC ? " (--sparse allocates on demand instead)" : "");
	return -err;
}

/*
 * Discard what an earlier filesystem left on the target, as mke2fs does:
 * its files' bytes and its intent log (which names that filesystem, but an
 * image made before the log named its filesystem does not).  Best effort:
 * a host that cannot punch or discard keeps the old bytes, unreachable.
 */
static void discard_old(int fd, const struct stat *st, uint64_t size)
{
	uint64_t range[2] = { 0, size };

	if (S_ISBLK(st->st_mode))
		ioctl(fd, BLKDISCARD, range); /* not every device discards */
	else if (st->st_size > 0)
		fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, st->st_size);
}

static int too_small(uint64_t size, const struct img_mkfs_opts *o, char *msg, size_t msglen)
{
	img_msg(msg, msglen, "size %llu bytes is below the 1 MiB minimum%s",
		(unsigned long long)size, o->size ? "" : " (use --size)");
	return -EINVAL;
}

static int target_size(int fd, const struct img_mkfs_opts *o, uint64_t *size,
		       char *msg, size_t msglen)
{
	struct stat st;
	uint64_t dev;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, &dev) < 0)
			return -errno;
		if (o->size > dev) {
			img_msg(msg, msglen, "requested size %llu exceeds the "
				"device's %llu bytes", (unsigned long long)o->size,
				(unsigned long long)dev);
			return -EINVAL;
		}
		*size = o->size ? o->size : dev;
		if (*size < MIN_BYTES)
			return too_small(*size, o, msg, msglen);
		discard_old(fd, &st, *size);
		return 0;
	}
	if (!S_ISREG(st.st_mode)) {
		img_msg(msg, msglen, "target is neither a regular file nor a block device");
		return -ENOTBLK;
	}
	*size = o->size ? o->size : (uint64_t)st.st_size;
	if (*size < MIN_BYTES)
		return too_small(*size, o, msg, msglen);
	discard_old(fd, &st, *size);
	if (*size > (uint64_t)st.st_size && ftruncate(fd, (off_t)*size) < 0) {
		int err = errno;

		img_msg(msg, msglen, "cannot grow the image to %llu bytes: %s",
			(unsigned long long)*size, strerror(err));
		return -err;
	}
	return o->sparse ? 0 : preallocate(fd, *size, msg, msglen);
}

static void root_inode(struct img_inode_rec *rec, const struct img_mkfs_opts *o,
		       uint64_t now)
{
	memset(rec, 0, sizeof(*rec));
	rec->ino.i_ino = FOFS_ROOT_INO;
	rec->ino.i_mode = S_IFDIR | 0755;
	rec->ino.i_uid = o->root_owner ? o->root_uid : getuid();
	rec->ino.i_gid = o->root_owner ? o->root_gid : getgid();
	rec->ino.i_nlink = 2;
	rec->ino.i_atime = rec->ino.i_mtime = rec->ino.i_ctime = (int64_t)now;
}

static int format_commit(struct img *img, const struct img_mkfs_opts *o, uint64_t now,
			 char *msg, size_t msglen)
{
	struct img_commit_args args = { .next_ino = FOFS_ROOT_INO + 1, .time = now };
	uint8_t zero[FOFS_BLOCK_SIZE] = { 0 };
	struct img_inode_rec root;
	struct img_mw mw;
	int ret;

	for (unsigned i = 0; i < FOFS_SUPER_SLOTS; i++) {
		ret = img_pwrite_full(img->fd, zero, sizeof(zero),
				      (uint64_t)i * FOFS_BLOCK_SIZE);
		if (ret) {
			img_msg(msg, msglen, "cannot write superblock area: %s",
				strerror(-ret));
			return ret;
		}
	}
	img_mw_init(&mw);
	root_inode(&root, o, now);
	ret = img_mw_inode(&mw, &root);
	if (!ret)
		ret = img_mw_finish(&mw);
	if (!ret)
		ret = img_commit(img, &mw, &args);
	if (ret)
		img_msg(msg, msglen, "cannot write the new filesystem: %s",
			strerror(-ret));
	img_mw_release(&mw);
	return ret;
}

static void fill_super(struct fofs_super *sb, const struct img_mkfs_opts *o,
		       uint64_t blocks, uint64_t now)
{
	memset(sb, 0, sizeof(*sb));
	sb->s_magic = FOFS_MAGIC;
	sb->s_version = FOFS_VERSION;
	sb->s_block_size = FOFS_BLOCK_SIZE;
	sb->s_blocks = blocks;
	sb->s_next_ino = FOFS_ROOT_INO + 1;
	sb->s_mkfs_time = now;
	if (!o->no_log)
		sb->s_feature_incompat |=
			FOFS_FEATURE_INCOMPAT_LOG | FOFS_FEATURE_INCOMPAT_LOG_FSID;
	if (o->uuid) {
		memcpy(sb->s_uuid, o->uuid, 16);
	} else {
		if (getrandom(sb->s_uuid, 16, 0) != 16)
			for (unsigned i = 0; i < 16; i++)
				sb->s_uuid[i] = (uint8_t)rand();
		sb->s_uuid[6] = (uint8_t)((sb->s_uuid[6] & 0x0f) | 0x40); /* v4 */
		sb->s_uuid[8] = (uint8_t)((sb->s_uuid[8] & 0x3f) | 0x80);
	}
	if (o->label)
		strncpy(sb->s_label, o->label, FOFS_LABEL_LEN - 1);
}

/**
 * img_format() - write an empty foliofs filesystem
 * @path: regular file (created if absent, mode 0600: it holds every file's
 *	bytes; grown to opts->size) or block device
 * @opts: size, label, UUID and time
 * @msg: one-line reason on failure
 * @msglen: size of @msg
 *
 * The caller decides whether overwriting an existing filesystem is allowed.
 *
 * Return: 0; -EINVAL for a size below 1 MiB or a label over 63 bytes; -EBUSY
 * if the image is in use; -ENOTBLK for other file types; -errno from open,
 * truncate or write.
 */
int img_format(const char *path, const struct img_mkfs_opts *opts, char *msg,
	       size_t msglen)
{
	uint64_t size = 0, now = opts->time ? opts->time : (uint64_t)time(NULL);
	struct img img = { .fd = -1, .dfd = -1, .flags = IMG_O_RDWR };
	off_t old_size = -1;
	bool created;
	struct stat st;
	int ret;

	ret = -EINVAL;
	if (opts->label && strlen(opts->label) >= FOFS_LABEL_LEN) {
		img_msg(msg, msglen, "label is longer than %u bytes", FOFS_LABEL_LEN - 1);
		return ret;
	}
	/* know whether the file is ours: a failure removes only what it made */
	img.fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	created = img.fd >= 0;
	if (img.fd < 0 && errno == EEXIST)
		img.fd = open(path, O_RDWR | O_CLOEXEC);
	if (img.fd < 0) {
		ret = -errno;
		img_msg(msg, msglen, "cannot open %s: %s", path, strerror(errno));
		return ret;
	}
	ret = -EBUSY;
	if (flock(img.fd, LOCK_EX | LOCK_NB) < 0) {
		img_msg(msg, msglen, "%s is in use (mounted by foliofs?)", path);
		goto out_close;
	}
	if (fstat(img.fd, &st) == 0 && S_ISREG(st.st_mode))
		old_size = st.st_size;
	ret = target_size(img.fd, opts, &size, msg, msglen);
	if (ret)
		goto out_undo;
	fill_super(&img.sb, opts, size / FOFS_BLOCK_SIZE, now);
	ret = img_bitmap_init(&img);
	if (ret)
		goto out_close;
	ret = format_commit(&img, opts, now, msg, msglen);
	free(img.bitmap);
	free(img.meta);
	free(img.pending);
	free(img.logblk);
out_undo:
	if (ret && created)
		unlink(path);
	else if (ret && old_size >= 0 && ftruncate(img.fd, old_size) < 0) {
		/* best effort: the reason already in @msg matters more */
	}
out_close:
	close(img.fd);
	return ret;
}
