// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Opening an image: locking it against a second writer, reading both
 * superblock slots, choosing the newest one whose checksum and fields are
 * sound, and checking its features against what this build supports.  Also
 * the superblock encoder/decoder and the checksum primitive every other part
 * of the library uses.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "img_int.h"

#define SB_CSUM_OFF	248u

uint64_t img_xxh3(const void *buf, size_t len)
{
	return XXH3_64bits(buf, len);
}

uint64_t img_xxh3_seeded(const void *buf, size_t len, uint64_t seed)
{
	return XXH3_64bits_withSeed(buf, len, seed);
}

/*
 * The id every log block of @sb's filesystem carries (INCOMPAT_LOG_FSID):
 * a hash of the UUID mkfs chose, never 0; 0 for images made before it.
 */
uint64_t img_log_fsid(const struct fofs_super *sb)
{
	uint64_t id;

	if (!(sb->s_feature_incompat & FOFS_FEATURE_INCOMPAT_LOG_FSID))
		return 0;
	id = XXH3_64bits(sb->s_uuid, sizeof(sb->s_uuid));
	return id ? id : 1;
}

int img_pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EUCLEAN;	/* image shorter than it claims */
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

int img_pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

/**
 * img_super_encode() - serialize a superblock into a zeroed 4 KiB block
 * @sb: native-order superblock; its checksum field is ignored
 * @block: FOFS_BLOCK_SIZE bytes
 */
void img_super_encode(const struct fofs_super *sb, void *block)
{
	uint8_t *b = block;

	memset(b, 0, FOFS_BLOCK_SIZE);
	put_le64(b + 0, sb->s_magic);
	put_le32(b + 8, sb->s_version);
	put_le32(b + 12, sb->s_block_size);
	put_le64(b + 16, sb->s_feature_compat);
	put_le64(b + 24, sb->s_feature_incompat);
	put_le64(b + 32, sb->s_feature_ro_compat);
	memcpy(b + 40, sb->s_uuid, 16);
	memcpy(b + 56, sb->s_label, FOFS_LABEL_LEN);
	put_le64(b + 120, sb->s_blocks);
	put_le64(b + 128, sb->s_generation);
	put_le64(b + 136, sb->s_meta_head);
	put_le64(b + 144, sb->s_meta_blocks);
	put_le64(b + 152, sb->s_meta_bytes);
	put_le64(b + 160, sb->s_used_blocks);
	put_le64(b + 168, sb->s_inodes);
	put_le64(b + 176, sb->s_next_ino);
	put_le64(b + 184, sb->s_mkfs_time);
	put_le64(b + 192, sb->s_commit_time);
	put_le32(b + 200, sb->s_flags);
	put_le64(b + 208, sb->s_log_head);
	put_le64(b + SB_CSUM_OFF, img_xxh3(b, SB_CSUM_OFF));
}

static int super_check_fields(const struct fofs_super *sb, char *msg,
			      size_t msglen)
{
	int ret = -EUCLEAN;

	if (sb->s_block_size != FOFS_BLOCK_SIZE) {
		img_msg(msg, msglen, "superblock: block size %u, expected %u",
			sb->s_block_size, FOFS_BLOCK_SIZE);
		goto out;
	}
	if (sb->s_blocks < FOFS_SUPER_SLOTS + 1 || sb->s_generation == 0 ||
	    sb->s_next_ino <= FOFS_ROOT_INO || sb->s_next_ino > FOFS_INO_MAX + 1) {
		img_msg(msg, msglen, "superblock: impossible geometry "
			"(blocks %llu, generation %llu, next inode %llu)",
			(unsigned long long)sb->s_blocks,
			(unsigned long long)sb->s_generation,
			(unsigned long long)sb->s_next_ino);
		goto out;
	}
	if (sb->s_meta_head < FOFS_SUPER_SLOTS || sb->s_meta_head >= sb->s_blocks ||
	    sb->s_meta_blocks == 0 || sb->s_meta_blocks > sb->s_blocks ||
	    sb->s_used_blocks > sb->s_blocks) {
		img_msg(msg, msglen, "superblock: metadata head %llu or counts out "
			"of range for %llu blocks",
			(unsigned long long)sb->s_meta_head,
			(unsigned long long)sb->s_blocks);
		goto out;
	}
	if ((sb->s_feature_incompat & FOFS_FEATURE_INCOMPAT_LOG) &&
	    (sb->s_log_head < FOFS_SUPER_SLOTS || sb->s_log_head >= sb->s_blocks)) {
		img_msg(msg, msglen, "superblock: log head %llu out of range for %llu blocks",
			(unsigned long long)sb->s_log_head, (unsigned long long)sb->s_blocks);
		goto out;
	}
	ret = 0;
out:
	return ret;
}

/**
 * img_super_decode() - parse and verify one superblock slot
 * @block: FOFS_BLOCK_SIZE bytes read from the image
 * @sb: native-order result
 * @msg: where to put a one-line reason on failure (may be NULL)
 * @msglen: size of @msg
 *
 * Return: 0; -EINVAL if the magic is absent (not a foliofs superblock);
 * -EBADMSG on a checksum mismatch; -EUCLEAN if a field is impossible.
 */
int img_super_decode(const void *block, struct fofs_super *sb, char *msg,
		     size_t msglen)
{
	const uint8_t *b = block;
	int ret;

	memset(sb, 0, sizeof(*sb));
	sb->s_magic = get_le64(b + 0);
	ret = -EINVAL;
	if (sb->s_magic != FOFS_MAGIC) {
		img_msg(msg, msglen, "no foliofs magic");
		goto out;
	}
	sb->s_checksum = get_le64(b + SB_CSUM_OFF);
	ret = -EBADMSG;
	if (sb->s_checksum != img_xxh3(b, SB_CSUM_OFF)) {
		img_msg(msg, msglen, "superblock checksum mismatch");
		goto out;
	}
	sb->s_version = get_le32(b + 8);
	sb->s_block_size = get_le32(b + 12);
	sb->s_feature_compat = get_le64(b + 16);
	sb->s_feature_incompat = get_le64(b + 24);
	sb->s_feature_ro_compat = get_le64(b + 32);
	memcpy(sb->s_uuid, b + 40, 16);
	memcpy(sb->s_label, b + 56, FOFS_LABEL_LEN);
	sb->s_label[FOFS_LABEL_LEN - 1] = '\0';
	sb->s_blocks = get_le64(b + 120);
	sb->s_generation = get_le64(b + 128);
	sb->s_meta_head = get_le64(b + 136);
	sb->s_meta_blocks = get_le64(b + 144);
	sb->s_meta_bytes = get_le64(b + 152);
	sb->s_used_blocks = get_le64(b + 160);
	sb->s_inodes = get_le64(b + 168);
	sb->s_next_ino = get_le64(b + 176);
	sb->s_mkfs_time = get_le64(b + 184);
	sb->s_commit_time = get_le64(b + 192);
	sb->s_flags = get_le32(b + 200);
	sb->s_log_head = get_le64(b + 208);
	ret = super_check_fields(sb, msg, msglen);
out:
	return ret;
}

/*
 * The target's size; @sparse says a file that does not hold all its blocks
 * on its host (mkfs --sparse): what it allocated for nothing goes back.
 */
static int dev_size(int fd, uint64_t *size, bool *sparse)
{
	struct stat st;

	*sparse = false;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISBLK(st.st_mode))
		return ioctl(fd, BLKGETSIZE64, size) < 0 ? -errno : 0;
	if (!S_ISREG(st.st_mode))
		return -ENOTBLK;
	*size = (uint64_t)st.st_size;
	*sparse = (uint64_t)st.st_blocks * 512 < *size;
	return 0;
}

/* What the two slot blocks hold: a primary and a backup each. */
struct slot_read {
	struct fofs_super prim, backup;
	int prim_ret, backup_ret;
	char why[128];
};

static int read_slot(struct img *img, unsigned i, struct slot_read *r)
{
	uint8_t block[FOFS_BLOCK_SIZE];
	int ret;

	ret = img_pread_full(img->fd, block, sizeof(block), (uint64_t)i * FOFS_BLOCK_SIZE);
	if (ret == -EUCLEAN) {
		r->prim_ret = r->backup_ret = -EINVAL;
		snprintf(r->why, sizeof(r->why), "image too short");
		return 0;
	}
	if (ret) {
		img_set_error(img, "cannot read superblock %u: %s", i, strerror(-ret));
		return ret;
	}
	r->prim_ret = img_super_decode(block, &r->prim, r->why, sizeof(r->why));
	/* the backup area is a superblock of its own, zero-padded */
	memset(block + FOFS_SUPER_BACKUP_OFF + 256, 0,
	       FOFS_BLOCK_SIZE - FOFS_SUPER_BACKUP_OFF - 256);
	r->backup_ret = img_super_decode(block + FOFS_SUPER_BACKUP_OFF, &r->backup, NULL, 0);
	return 0;
}

/*
 * Choose the superblock.  The newest sound primary is the normal answer.
 * A backup newer than every sound primary means the slot holding that
 * generation was damaged after its commit (backups are written only once
 * their slot is durable): use the backup.  An unreadable slot otherwise is
 * a torn write of a commit never acknowledged, or an older generation.
 */
static int img_pick_super(struct img *img)
{
	struct slot_read r[FOFS_SUPER_SLOTS] = { 0 };
	const struct fofs_super *prim = NULL, *backup = NULL;
	unsigned i, bad = FOFS_SUPER_SLOTS;
	int ret;

	for (i = 0; i < FOFS_SUPER_SLOTS; i++) {
		ret = read_slot(img, i, &r[i]);
		if (ret)
			return ret;
		if (!r[i].prim_ret && (!prim || r[i].prim.s_generation > prim->s_generation))
			prim = &r[i].prim;
		if (r[i].prim_ret && r[i].prim_ret != -EINVAL)
			bad = i;
		if (!r[i].backup_ret &&
		    (!backup || r[i].backup.s_generation > backup->s_generation))
			backup = &r[i].backup;
	}
	img->sb_state = IMG_SB_OK;
	img->sb_note[0] = '\0';
	if (backup && (!prim || backup->s_generation > prim->s_generation)) {
		img->sb = *backup;
		img->sb_state = IMG_SB_RECOVERED;
		img->sb_bad_slot = (unsigned)(backup->s_generation % FOFS_SUPER_SLOTS);
		snprintf(img->sb_note, sizeof(img->sb_note), "the superblock of generation "
			 "%llu (slot %u) is damaged (%s); its backup copy is in use",
			 (unsigned long long)backup->s_generation, img->sb_bad_slot,
			 r[img->sb_bad_slot].prim_ret ? r[img->sb_bad_slot].why : "older");
		return 0;
	}
	if (prim) {
		img->sb = *prim;
		if (bad < FOFS_SUPER_SLOTS) {
			img->sb_state = IMG_SB_TORN;
			img->sb_bad_slot = bad;
			snprintf(img->sb_note, sizeof(img->sb_note), "superblock slot %u is "
				 "unreadable (%s): a torn write of a commit never acknowledged, "
				 "or an older generation; nothing committed is lost", bad,
				 r[bad].why);
		}
		return 0;
	}
	if (r[0].prim_ret == -EINVAL && r[1].prim_ret == -EINVAL) {
		img_set_error(img, "not a foliofs image (no superblock magic)");
		return -EINVAL;
	}
	img_set_error(img, "no valid superblock: slot 0: %s; slot 1: %s", r[0].why, r[1].why);
	return r[0].prim_ret == -EBADMSG || r[1].prim_ret == -EBADMSG ? -EBADMSG : -EUCLEAN;
}

/**
 * img_super_state() - how the superblock in use was found
 * @img: an open image
 * @note: one line on it, or "" when all is well
 *
 * Return: IMG_SB_OK, IMG_SB_TORN or IMG_SB_RECOVERED.
 */
enum img_sb_state img_super_state(const struct img *img, const char **note)
{
	*note = img->sb_note;
	return img->sb_state;
}

static int img_check_features(struct img *img, uint64_t devsize)
{
	const struct fofs_super *sb = &img->sb;

	if (sb->s_version != FOFS_VERSION) {
		img_set_error(img, "image format version %u is not supported (this "
			   "build reads version %u)", sb->s_version, FOFS_VERSION);
		return -EOPNOTSUPP;
	}
	if (sb->s_feature_incompat & ~FOFS_FEATURE_INCOMPAT_SUPP) {
		img_set_error(img, "image uses unsupported incompatible features 0x%llx",
			   (unsigned long long)(sb->s_feature_incompat &
						~FOFS_FEATURE_INCOMPAT_SUPP));
		return -EOPNOTSUPP;
	}
	if ((img->flags & IMG_O_RDWR) &&
	    (sb->s_feature_ro_compat & ~FOFS_FEATURE_RO_COMPAT_SUPP)) {
		img_set_error(img, "image uses read-only-compatible features 0x%llx "
			   "unknown to this build; open it read-only",
			   (unsigned long long)sb->s_feature_ro_compat);
		return -EROFS;
	}
	if (sb->s_blocks > devsize / FOFS_BLOCK_SIZE) {
		/* no repair can bring the cut-off end back: say what can */
		img_set_error(img,
			      "image is truncated: it holds %llu bytes, its filesystem "
			      "%llu; if only its end was cut off, grow it back (truncate -s %llu "
			      "IMAGE for a file) and check it again",
			      (unsigned long long)devsize,
			      (unsigned long long)(sb->s_blocks * FOFS_BLOCK_SIZE),
			      (unsigned long long)(sb->s_blocks * FOFS_BLOCK_SIZE));
		return -EFBIG;
	}
	return 0;
}

static int img_lock(struct img *img)
{
	int op = (img->flags & IMG_O_RDWR) ? LOCK_EX : LOCK_SH;

	if (img->flags & IMG_O_NOLOCK)
		return 0;
	if (flock(img->fd, op | LOCK_NB) == 0)
		return 0;
	if (errno == EWOULDBLOCK) {
		img_set_error(img, "image is in use (mounted by foliofs, or being "
			   "checked or formatted)");
		return -EBUSY;
	}
	img_set_error(img, "cannot lock image: %s", strerror(errno));
	return -errno;
}

/*
 * Bulk I/O of 2 MiB extents goes through a second descriptor opened
 * O_DIRECT, so the image costs no host page cache: a byte resident in the
 * daemon's memory is held once.  Smaller extents, metadata blocks and
 * superblocks use the buffered descriptor and are dropped from the page
 * cache as they go.  A host filesystem that refuses O_DIRECT gets buffered
 * I/O throughout, and img_direct_io() says why.
 */
static void open_direct(struct img *img, const char *path)
{
	int mode = (img->flags & IMG_O_RDWR) ? O_RDWR : O_RDONLY;

	if (img->flags & IMG_O_BUFFERED) {
		snprintf(img->direct_why, sizeof(img->direct_why), "buffered I/O asked for");
		return;
	}
	img->dfd = open(path, mode | O_DIRECT | O_CLOEXEC);
	if (img->dfd < 0)
		snprintf(img->direct_why, sizeof(img->direct_why),
			 "the host filesystem refuses O_DIRECT: %s", strerror(errno));
}

/**
 * img_direct_io() - does bulk image I/O bypass the host page cache?
 * @img: the image
 * @why: if not, why (for the mount's message)
 *
 * Return: true for O_DIRECT.
 */
bool img_direct_io(const struct img *img, const char **why)
{
	*why = img->direct_why;
	return img->dfd >= 0;
}

/*
 * Direct I/O needs block-aligned buffers, and pays off for 2 MiB extents:
 * smaller transfers one at a time, without readahead, loaded a file of
 * 4 KiB extents 12 times slower.  They go through the page cache and are
 * dropped from it as they go.
 */
static bool direct_ok(const struct img *img, const void *buf, size_t len, uint64_t off)
{
	return img->dfd >= 0 && len >= IMG_DIRECT_MIN && !((uintptr_t)buf % FOFS_BLOCK_SIZE) &&
	       !(len % FOFS_BLOCK_SIZE) && !(off % FOFS_BLOCK_SIZE);
}

/*
 * A filesystem that opens O_DIRECT but fails its I/O with EINVAL (an
 * alignment it wants and we cannot give) is used buffered from then on.
 */
static bool direct_refused(struct img *img, int ret)
{
	if (ret != -EINVAL)
		return false;
	close(img->dfd);
	img->dfd = -1;
	snprintf(img->direct_why, sizeof(img->direct_why),
		 "the host filesystem refused an O_DIRECT transfer");
	return true;
}

/**
 * img_bulk_read() - read extent or metadata bytes, bypassing the page cache
 * @img: the image
 * @buf: destination; block-aligned for direct I/O
 * @len: bytes
 * @off: image offset
 *
 * Return: 0; -EIO at end of image; -errno from pread(2).
 */
int img_bulk_read(struct img *img, void *buf, size_t len, uint64_t off)
{
	int ret;

	if (direct_ok(img, buf, len, off)) {
		ret = img_pread_full(img->dfd, buf, len, off);
		if (!direct_refused(img, ret))
			return ret;
	}
	ret = img_pread_full(img->fd, buf, len, off);
	/* the bytes live in the caller's memory now: no second copy (pages
	 * readahead still holds are dropped with the rest, every few MiB) */
	posix_fadvise(img->fd, (off_t)off, (off_t)len, POSIX_FADV_DONTNEED);
	img->unflushed += len;
	if (img->unflushed >= IMG_WRITEOUT_BYTES)
		img_drop_cache(img);
	return ret;
}

/**
 * img_drop_cache() - drop what buffered image I/O left in the page cache
 * @img: the image
 *
 * Dirty pages are started to disk and waited for first, so they can go
 * too.  Durability still comes from the commit's fdatasync.
 */
void img_drop_cache(struct img *img)
{
	if (!img->unflushed)
		return;
	sync_file_range(img->fd, 0, 0,
			SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
				SYNC_FILE_RANGE_WAIT_AFTER);
	posix_fadvise(img->fd, 0, 0, POSIX_FADV_DONTNEED);
	img->unflushed = 0;
}

/**
 * img_bulk_write() - write extent or metadata bytes, bypassing the page cache
 * @img: the image
 * @buf: source; block-aligned for direct I/O
 * @len: bytes
 * @off: image offset
 *
 * Not durable until the image is synced.  Buffered writes are started and
 * dropped every IMG_WRITEOUT_BYTES, so they never pile up dirty pages.
 *
 * Return: 0; -errno from pwrite(2) (-EIO, -ENOSPC for a full host fs).
 */
int img_bulk_write(struct img *img, const void *buf, size_t len, uint64_t off)
{
	int ret;

	if (direct_ok(img, buf, len, off)) {
		ret = img_pwrite_full(img->dfd, buf, len, off);
		if (!direct_refused(img, ret))
			return ret;
	}
	ret = img_pwrite_full(img->fd, buf, len, off);
	img->unflushed += len;
	if (!ret && img->unflushed >= IMG_WRITEOUT_BYTES)
		img_drop_cache(img);
	return ret;
}

/**
 * img_open() - open, lock and validate an image
 * @path: image file or block device
 * @flags: IMG_O_RDONLY or IMG_O_RDWR, optionally IMG_O_NOLOCK
 * @out: the handle; on failure a handle is still returned when it was
 *	created, so that img_errmsg() can explain, and must be closed
 *
 * Return: 0; -errno from open(2); -EBUSY if another process holds the image;
 * -EINVAL if it is not a foliofs image; -EBADMSG / -EUCLEAN if both
 * superblocks are damaged; -EFBIG if the image is smaller than the
 * filesystem it holds (truncated); -EOPNOTSUPP / -EROFS for
 * unsupported versions or features; -ENOMEM.
 */
int img_open(const char *path, unsigned flags, struct img **out)
{
	struct img *img;
	uint64_t size;
	int ret;

	ret = -ENOMEM;
	img = calloc(1, sizeof(*img));
	if (!img)
		return ret;
	*out = img;
	img->flags = flags;
	img->dfd = -1;
	img->fd = open(path, ((flags & IMG_O_RDWR) ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (img->fd < 0) {
		ret = -errno;
		img_set_error(img, "cannot open %s: %s", path, strerror(errno));
		return ret;
	}
	open_direct(img, path);
	ret = img_lock(img);
	if (ret)
		return ret;
	ret = dev_size(img->fd, &size, &img->sparse);
	if (ret) {
		img_set_error(img, "%s is neither a regular file nor a block device", path);
		return ret;
	}
	ret = img_pick_super(img);
	if (ret)
		return ret;
	ret = img_check_features(img, size);
	if (ret)
		return ret;
	return img_bitmap_init(img);
}

/**
 * img_close() - release a handle from img_open(); NULL is accepted
 * @img: the handle
 */
void img_close(struct img *img)
{
	if (!img)
		return;
	if (img->fd >= 0)
		close(img->fd);
	if (img->dfd >= 0)
		close(img->dfd);
	free(img->bitmap);
	free(img->pending);
	free(img->meta);
	free(img->logblk);
	free(img);
}

/**
 * img_set_error() - record why an operation on @img failed
 * @img: the image
 * @fmt: printf format of one line, without a newline
 *
 * The image library's one channel for reasons, open to the callbacks of
 * img_load() too: a visitor that rejects a record says why here and
 * returns -EUCLEAN; img_errmsg() then tells the caller.
 */
void img_set_error(struct img *img, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(img->err, sizeof(img->err), fmt, ap);
	va_end(ap);
}

const char *img_errmsg(const struct img *img)
{
	return img->err[0] ? img->err : "no error recorded";
}

const struct fofs_super *img_sb(const struct img *img)
{
	return &img->sb;
}

int img_fd(const struct img *img)
{
	return img->fd;
}

/**
 * img_probe() - read the newest valid superblock without locking
 * @path: file or device
 * @sb: result
 *
 * Used by mkfs to say what a target already holds.
 *
 * Return: 0 if a foliofs superblock was found; -EINVAL if none; -errno.
 */
int img_probe(const char *path, struct fofs_super *sb)
{
	struct img *img = NULL;
	int ret;

	ret = img_open(path, IMG_O_RDONLY | IMG_O_NOLOCK, &img);
	if (ret == 0 || ret == -EOPNOTSUPP || ret == -EUCLEAN)
		*sb = img->sb;
	if (ret == -EOPNOTSUPP || ret == -EUCLEAN)
		ret = 0;
	img_close(img);
	return ret;
}
