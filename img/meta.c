// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The metadata record stream: a writer that serializes inodes (with their
 * extents, xattrs and symlink targets) and directory entries into one
 * growing buffer, and a parser that walks such a buffer, checks every length,
 * order and alignment, and hands native-order records to a visitor.  The
 * stream ends with an END record carrying the record count and a checksum of
 * everything before it, so a stream cut short is detected even when each
 * metadata block's own checksum is sound.
 */
#include <errno.h>
#include <stdlib.h>

#include "img_int.h"

#define REC_HDR		sizeof(struct fofs_rec_hdr)
#define INODE_LEN	sizeof(struct fofs_inode)
#define EXTENT_LEN	sizeof(struct fofs_extent)
#define XATTR_LEN	sizeof(struct fofs_xattr)
#define DIRENT_LEN	sizeof(struct fofs_dirent)

void img_mw_init(struct img_mw *mw)
{
	memset(mw, 0, sizeof(*mw));
}

void img_mw_release(struct img_mw *mw)
{
	free(mw->buf);
	img_mw_init(mw);
}

/* Reserve @len bytes at the end of the stream and return them zeroed. */
static uint8_t *mw_grow(struct img_mw *mw, size_t len)
{
	uint8_t *p;

	if (mw->len + len > mw->cap) {
		size_t cap = mw->cap ? mw->cap : 65536;

		while (cap < mw->len + len)
			cap *= 2;
		p = realloc(mw->buf, cap);
		if (!p)
			return NULL;
		mw->buf = p;
		mw->cap = cap;
	}
	p = mw->buf + mw->len;
	memset(p, 0, len);
	mw->len += len;
	return p;
}

static uint8_t *mw_record(struct img_mw *mw, uint16_t type, size_t body)
{
	uint8_t *p;

	if (body > UINT32_MAX)
		return NULL;
	p = mw_grow(mw, REC_HDR + body);
	if (!p)
		return NULL;
	put_le16(p, type);
	put_le32(p + 4, (uint32_t)body);
	mw->records++;
	return p + REC_HDR;
}

static void encode_inode(uint8_t *p, const struct fofs_inode *i)
{
	put_le64(p + 0, i->i_ino);
	put_le32(p + 8, i->i_mode);
	put_le32(p + 12, i->i_uid);
	put_le32(p + 16, i->i_gid);
	put_le32(p + 20, i->i_nlink);
	put_le64(p + 24, i->i_size);
	put_le64(p + 32, i->i_rdev);
	put_le64(p + 40, (uint64_t)i->i_atime);
	put_le64(p + 48, (uint64_t)i->i_mtime);
	put_le64(p + 56, (uint64_t)i->i_ctime);
	put_le32(p + 64, i->i_atime_ns);
	put_le32(p + 68, i->i_mtime_ns);
	put_le32(p + 72, i->i_ctime_ns);
	put_le32(p + 76, i->i_flags);
	put_le32(p + 80, i->i_extents);
	put_le32(p + 84, i->i_xattrs);
	put_le32(p + 88, i->i_target_len);
}

static void decode_inode(const uint8_t *p, struct fofs_inode *i)
{
	memset(i, 0, sizeof(*i));
	i->i_ino = get_le64(p + 0);
	i->i_mode = get_le32(p + 8);
	i->i_uid = get_le32(p + 12);
	i->i_gid = get_le32(p + 16);
	i->i_nlink = get_le32(p + 20);
	i->i_size = get_le64(p + 24);
	i->i_rdev = get_le64(p + 32);
	i->i_atime = (int64_t)get_le64(p + 40);
	i->i_mtime = (int64_t)get_le64(p + 48);
	i->i_ctime = (int64_t)get_le64(p + 56);
	i->i_atime_ns = get_le32(p + 64);
	i->i_mtime_ns = get_le32(p + 68);
	i->i_ctime_ns = get_le32(p + 72);
	i->i_flags = get_le32(p + 76);
	i->i_extents = get_le32(p + 80);
	i->i_xattrs = get_le32(p + 84);
	i->i_target_len = get_le32(p + 88);
}

/**
 * img_mw_inode() - append an inode record
 * @mw: the writer
 * @rec: inode, its extents, xattrs and symlink target; the counts in
 *	rec->ino say how many of each are read
 *
 * Return: 0; -ENOMEM; -E2BIG if the record would exceed 4 GiB.
 */
int img_mw_inode(struct img_mw *mw, const struct img_inode_rec *rec)
{
	const struct fofs_inode *ino = &rec->ino;
	size_t body = INODE_LEN + (size_t)ino->i_extents * EXTENT_LEN +
		      ino->i_target_len;
	uint8_t *p;

	for (uint32_t i = 0; i < ino->i_xattrs; i++)
		body += XATTR_LEN + rec->xattr[i].name_len + rec->xattr[i].value_len;
	if (body > UINT32_MAX)
		return -E2BIG;
	p = mw_record(mw, FOFS_REC_INODE, body);
	if (!p)
		return -ENOMEM;
	encode_inode(p, ino);
	p += INODE_LEN;
	for (uint32_t i = 0; i < ino->i_extents; i++, p += EXTENT_LEN) {
		put_le64(p + 0, rec->ext[i].e_file_off);
		put_le64(p + 8, rec->ext[i].e_block);
		p[16] = rec->ext[i].e_order;
		put_le64(p + 24, rec->ext[i].e_checksum);
	}
	for (uint32_t i = 0; i < ino->i_xattrs; i++) {
		const struct img_xattr *x = &rec->xattr[i];

		put_le16(p, x->name_len);
		put_le32(p + 4, x->value_len);
		p += XATTR_LEN;
		memcpy(p, x->name, x->name_len);
		p += x->name_len;
		if (x->value_len)
			memcpy(p, x->value, x->value_len);
		p += x->value_len;
	}
	if (ino->i_target_len)
		memcpy(p, rec->target, ino->i_target_len);
	mw->inodes++;
	return 0;
}

/**
 * img_mw_dirent() - append a directory entry record
 * @mw: the writer
 * @parent: directory inode
 * @ino: inode the name refers to
 * @name: the name (no NUL needed)
 * @name_len: 1..FOFS_NAME_MAX
 *
 * Return: 0; -ENAMETOOLONG; -EINVAL for an empty name; -ENOMEM.
 */
int img_mw_dirent(struct img_mw *mw, uint64_t parent, uint64_t ino,
		  const char *name, size_t name_len)
{
	uint8_t *p;

	if (name_len > FOFS_NAME_MAX)
		return -ENAMETOOLONG;
	if (name_len == 0)
		return -EINVAL;
	p = mw_record(mw, FOFS_REC_DIRENT, DIRENT_LEN + name_len);
	if (!p)
		return -ENOMEM;
	put_le64(p + 0, parent);
	put_le64(p + 8, ino);
	put_le16(p + 16, (uint16_t)name_len);
	memcpy(p + DIRENT_LEN, name, name_len);
	return 0;
}

/**
 * img_mw_regions() - append the saved region states of one inode
 * @mw: the writer
 * @ino: the inode (its record must come earlier in the stream)
 * @r: entries
 * @n: how many
 *
 * Return: 0; -ENOMEM; -E2BIG.
 */
int img_mw_regions(struct img_mw *mw, uint64_t ino, const struct img_region *r,
		   size_t n)
{
	uint8_t *p;

	if (n > (UINT32_MAX - 16) / 16)
		return -E2BIG;
	p = mw_record(mw, FOFS_REC_REGIONS, 16 + n * 16);
	if (!p)
		return -ENOMEM;
	put_le64(p, ino);
	put_le32(p + 8, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		uint8_t *e = p + 16 + i * 16;

		put_le64(e, r[i].index);
		e[8] = r[i].state;
		e[9] = r[i].last;
	}
	return 0;
}

/**
 * img_mw_unlink() - append a log record removing one directory entry
 * @mw: the writer of a log batch
 * @parent: directory inode
 * @name: the name
 * @name_len: 1..FOFS_NAME_MAX
 *
 * Return: 0; -ENAMETOOLONG; -EINVAL for an empty name; -ENOMEM.
 */
int img_mw_unlink(struct img_mw *mw, uint64_t parent, const char *name, size_t name_len)
{
	uint8_t *p;

	if (name_len > FOFS_NAME_MAX)
		return -ENAMETOOLONG;
	if (name_len == 0)
		return -EINVAL;
	p = mw_record(mw, FOFS_REC_UNLINK, DIRENT_LEN + name_len);
	if (!p)
		return -ENOMEM;
	put_le64(p + 0, parent);
	put_le16(p + 16, (uint16_t)name_len);
	memcpy(p + DIRENT_LEN, name, name_len);
	return 0;
}

/* A log record carrying one number: DROP or NEXT_INO. */
static int mw_u64(struct img_mw *mw, uint16_t type, uint64_t v)
{
	uint8_t *p = mw_record(mw, type, 8);

	if (!p)
		return -ENOMEM;
	put_le64(p, v);
	return 0;
}

/**
 * img_mw_drop() - append a log record: @ino lost its last link
 * @mw: the writer of a log batch
 * @ino: the inode; replay forgets it and its extents
 *
 * Return: 0; -ENOMEM.
 */
int img_mw_drop(struct img_mw *mw, uint64_t ino)
{
	return mw_u64(mw, FOFS_REC_DROP, ino);
}

/**
 * img_mw_next_ino() - append a log record: inode numbers below @next are used
 * @mw: the writer of a log batch
 * @next: the next inode number to hand out
 *
 * Return: 0; -ENOMEM.
 */
int img_mw_next_ino(struct img_mw *mw, uint64_t next)
{
	return mw_u64(mw, FOFS_REC_NEXT_INO, next);
}

/**
 * img_mw_write() - append a log record holding file bytes
 * @mw: the writer of a log batch
 * @ino: the file
 * @off: where the bytes go
 * @data: the bytes
 * @len: 1..FOFS_WRITE_MAX
 *
 * Return: 0; -EINVAL for a bad length; -ENOMEM.
 */
int img_mw_write(struct img_mw *mw, uint64_t ino, uint64_t off, const void *data, size_t len)
{
	uint8_t *p;

	if (!len || len > FOFS_WRITE_MAX)
		return -EINVAL;
	p = mw_record(mw, FOFS_REC_WRITE, sizeof(struct fofs_write) + len);
	if (!p)
		return -ENOMEM;
	put_le64(p, ino);
	put_le64(p + 8, off);
	put_le32(p + 16, (uint32_t)len);
	memcpy(p + sizeof(struct fofs_write), data, len);
	return 0;
}

/**
 * img_mw_splice() - append the records of another, unsealed writer
 * @mw: the writer
 * @from: records to copy (no END record)
 *
 * Return: 0; -ENOMEM.
 */
int img_mw_splice(struct img_mw *mw, const struct img_mw *from)
{
	uint8_t *p = from->len ? mw_grow(mw, from->len) : NULL;

	if (from->len && !p)
		return -ENOMEM;
	if (from->len)
		memcpy(p, from->buf, from->len);
	mw->records += from->records;
	mw->inodes += from->inodes;
	return 0;
}

/* Append a record whose body is already encoded (the log's merge). */
int img_mw_raw(struct img_mw *mw, uint16_t type, const void *body, uint32_t len)
{
	uint8_t *p = mw_record(mw, type, len);

	if (!p)
		return -ENOMEM;
	memcpy(p, body, len);
	if (type == FOFS_REC_INODE)
		mw->inodes++;
	return 0;
}

/**
 * img_mw_finish() - seal the stream with its END record
 * @mw: the writer
 *
 * Return: 0; -ENOMEM.
 */
int img_mw_finish(struct img_mw *mw)
{
	uint64_t records = mw->records, csum = img_xxh3(mw->buf, mw->len);
	uint8_t *p = mw_record(mw, FOFS_REC_END, sizeof(struct fofs_end));

	if (!p)
		return -ENOMEM;
	put_le64(p, records);
	put_le64(p + 8, csum);
	return 0;
}

/* Scratch arrays reused across records while parsing. */
struct parse_scratch {
	struct fofs_extent *ext;
	size_t next;
	struct img_xattr *xattr;
	size_t nxattr;
};

static int scratch_fit(void **arr, size_t *cap, size_t want, size_t size)
{
	void *p;

	if (want <= *cap)
		return 0;
	p = realloc(*arr, want * size);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = want;
	return 0;
}

static bool name_ok(const char *name, size_t len)
{
	if (len == 0 || len > FOFS_NAME_MAX)
		return false;
	if ((len == 1 && name[0] == '.') || (len == 2 && !memcmp(name, "..", 2)))
		return false;
	return !memchr(name, '/', len) && !memchr(name, '\0', len);
}

static int parse_extents(const uint8_t **pp, const uint8_t *end,
			 struct fofs_inode *ino, struct parse_scratch *s,
			 char *msg, size_t msglen)
{
	const uint8_t *p = *pp;

	if ((size_t)(end - p) / EXTENT_LEN < ino->i_extents ||
	    scratch_fit((void **)&s->ext, &s->next, ino->i_extents, EXTENT_LEN))
		goto bad;
	for (uint32_t i = 0; i < ino->i_extents; i++, p += EXTENT_LEN) {
		struct fofs_extent *e = &s->ext[i];
		uint64_t bytes;

		memset(e, 0, sizeof(*e));
		e->e_file_off = get_le64(p);
		e->e_block = get_le64(p + 8);
		e->e_order = p[16];
		e->e_checksum = get_le64(p + 24);
		bytes = img_order_valid(e->e_order) ? img_order_bytes(e->e_order) : 0;
		if (!bytes || e->e_file_off % bytes ||
		    e->e_block % (bytes / FOFS_BLOCK_SIZE) ||
		    (i && e->e_file_off < s->ext[i - 1].e_file_off +
			  img_order_bytes(s->ext[i - 1].e_order))) {
			img_msg(msg, msglen, "inode %llu: extent %u (offset %llu, "
				"order %u) is misaligned, overlapping or of an "
				"unknown order", (unsigned long long)ino->i_ino, i,
				(unsigned long long)e->e_file_off, e->e_order);
			return -EUCLEAN;
		}
	}
	*pp = p;
	return 0;
bad:
	img_msg(msg, msglen, "inode %llu: extent table overruns its record",
		(unsigned long long)ino->i_ino);
	return -EUCLEAN;
}

static int parse_xattrs(const uint8_t **pp, const uint8_t *end,
			struct fofs_inode *ino, struct parse_scratch *s,
			char *msg, size_t msglen)
{
	const uint8_t *p = *pp;

	/* each entry takes at least its header and one byte of name */
	if (ino->i_xattrs > (size_t)(end - p) / (XATTR_LEN + 1))
		goto bad;
	if (scratch_fit((void **)&s->xattr, &s->nxattr, ino->i_xattrs,
			sizeof(*s->xattr)))
		return -ENOMEM;
	for (uint32_t i = 0; i < ino->i_xattrs; i++) {
		struct img_xattr *x = &s->xattr[i];

		if (end - p < (ptrdiff_t)XATTR_LEN)
			goto bad;
		x->name_len = get_le16(p);
		x->value_len = get_le32(p + 4);
		p += XATTR_LEN;
		if (!x->name_len || x->name_len > FOFS_XATTR_NAME_MAX ||
		    x->value_len > FOFS_XATTR_VALUE_MAX ||
		    (size_t)(end - p) < (size_t)x->name_len + x->value_len)
			goto bad;
		x->name = (const char *)p;
		x->value = p + x->name_len;
		p += x->name_len + x->value_len;
	}
	*pp = p;
	return 0;
bad:
	img_msg(msg, msglen, "inode %llu: extended attribute table is damaged",
		(unsigned long long)ino->i_ino);
	return -EUCLEAN;
}

static int parse_inode(const uint8_t *p, size_t len, const struct img_meta_ops *ops,
		       void *arg, struct parse_scratch *s, char *msg, size_t msglen)
{
	const uint8_t *end = p + len;
	struct img_inode_rec rec;
	int ret = -EUCLEAN;

	if (len < INODE_LEN) {
		img_msg(msg, msglen, "inode record too short (%zu bytes)", len);
		return ret;
	}
	decode_inode(p, &rec.ino);
	p += INODE_LEN;
	ret = parse_extents(&p, end, &rec.ino, s, msg, msglen);
	if (ret)
		return ret;
	ret = parse_xattrs(&p, end, &rec.ino, s, msg, msglen);
	if (ret)
		return ret;
	ret = -EUCLEAN;
	if ((size_t)(end - p) != rec.ino.i_target_len ||
	    rec.ino.i_target_len > FOFS_SYMLINK_MAX) {
		img_msg(msg, msglen, "inode %llu: record length disagrees with "
			"its contents", (unsigned long long)rec.ino.i_ino);
		return ret;
	}
	rec.ext = s->ext;
	rec.xattr = s->xattr;
	rec.target = (const char *)p;
	return ops && ops->inode ? ops->inode(arg, &rec) : 0;
}

static int parse_dirent(const uint8_t *p, size_t len, const struct img_meta_ops *ops,
			void *arg, char *msg, size_t msglen)
{
	uint64_t parent, ino;
	uint16_t nlen;

	if (len < DIRENT_LEN)
		goto bad;
	parent = get_le64(p);
	ino = get_le64(p + 8);
	nlen = get_le16(p + 16);
	if (len != DIRENT_LEN + nlen || !name_ok((const char *)p + DIRENT_LEN, nlen))
		goto bad;
	return ops && ops->dirent ?
	       ops->dirent(arg, parent, ino, (const char *)p + DIRENT_LEN, nlen) : 0;
bad:
	img_msg(msg, msglen, "directory entry record is damaged");
	return -EUCLEAN;
}

static int parse_regions(const uint8_t *p, size_t len, const struct img_meta_ops *ops,
			 void *arg, char *msg, size_t msglen)
{
	struct img_region *r;
	uint32_t n;
	int ret;

	if (len < 16 || (len - 16) % 16 || (n = get_le32(p + 8)) != (len - 16) / 16)
		goto bad;
	r = calloc(n + 1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *e = p + 16 + (size_t)i * 16;

		r[i].index = get_le64(e);
		r[i].state = e[8];
		r[i].last = e[9];
		if (r[i].state > 3 || (i && r[i].index <= r[i - 1].index)) {
			free(r);
			goto bad;
		}
	}
	ret = ops && ops->regions ? ops->regions(arg, get_le64(p), r, n) : 0;
	free(r);
	return ret;
bad:
	img_msg(msg, msglen, "region state record is damaged");
	return -EUCLEAN;
}

static int parse_write(const uint8_t *p, size_t len, const struct img_meta_ops *ops, void *arg,
		       char *msg, size_t msglen)
{
	const size_t hdr = sizeof(struct fofs_write);

	if (len < hdr || len != hdr + get_le32(p + 16) || !get_le64(p) ||
	    get_le32(p + 16) > FOFS_WRITE_MAX || get_le64(p + 8) > INT64_MAX - FOFS_WRITE_MAX) {
		img_msg(msg, msglen, "logged write record is damaged");
		return -EUCLEAN;
	}
	return ops && ops->write ?
		       ops->write(arg, get_le64(p), get_le64(p + 8), p + hdr, len - hdr) :
		       0;
}

/* UNLINK is a dirent without a target; DROP and NEXT_INO one number. */
static int parse_log_only(uint16_t type, const uint8_t *p, size_t len, char *msg, size_t msglen)
{
	bool ok;

	if (type == FOFS_REC_UNLINK)
		ok = len >= DIRENT_LEN && len == DIRENT_LEN + get_le16(p + 16) &&
		     !get_le64(p + 8) && name_ok((const char *)p + DIRENT_LEN, len - DIRENT_LEN);
	else
		ok = len == 8 && get_le64(p) && get_le64(p) <= FOFS_INO_MAX + 1;
	if (!ok)
		img_msg(msg, msglen, "log record of type %u is damaged", type);
	return ok ? 0 : -EUCLEAN;
}

static int parse_end(const uint8_t *base, const uint8_t *p, size_t len,
		     size_t total, uint64_t records, char *msg, size_t msglen)
{
	if (len != sizeof(struct fofs_end) || p + len != base + total) {
		img_msg(msg, msglen, "metadata END record is misplaced");
		return -EUCLEAN;
	}
	if (get_le64(p) != records) {
		img_msg(msg, msglen, "metadata stream holds %llu records, END says %llu",
			(unsigned long long)records, (unsigned long long)get_le64(p));
		return -EUCLEAN;
	}
	if (get_le64(p + 8) != img_xxh3(base, (size_t)(p - REC_HDR - base))) {
		img_msg(msg, msglen, "metadata stream checksum mismatch");
		return -EBADMSG;
	}
	return 0;
}

/**
 * img_parse_meta() - walk a record stream and visit every record
 * @buf: the stream
 * @len: its length
 * @ops: visitor callbacks (either may be NULL)
 * @arg: passed to the callbacks
 * @msg: one-line reason on failure (may be NULL)
 * @msglen: size of @msg
 *
 * Return: 0; -EUCLEAN for a structurally damaged stream; -EBADMSG if the END
 * checksum does not match; -ENOMEM; or the first non-zero callback return.
 */
static int parse_stream(const void *buf, size_t len, const struct img_meta_ops *ops, void *arg,
			bool log, char *msg, size_t msglen)
{
	const uint8_t *base = buf, *p = buf, *end = base + len;
	struct parse_scratch s = { 0 };
	uint64_t records = 0;
	int ret = 0;

	while (ret == 0) {
		uint16_t type;
		uint32_t rlen;

		ret = -EUCLEAN;
		if (end - p < (ptrdiff_t)REC_HDR) {
			img_msg(msg, msglen, "metadata stream ends without END record");
			break;
		}
		type = get_le16(p);
		rlen = get_le32(p + 4);
		p += REC_HDR;
		if ((size_t)(end - p) < rlen) {
			img_msg(msg, msglen, "metadata record %llu overruns the stream",
				(unsigned long long)records);
			break;
		}
		if (type == FOFS_REC_END) {
			ret = parse_end(base, p, rlen, len, records, msg, msglen);
			break;
		} else if (type == FOFS_REC_INODE) {
			ret = parse_inode(p, rlen, ops, arg, &s, msg, msglen);
		} else if (type == FOFS_REC_DIRENT) {
			ret = parse_dirent(p, rlen, ops, arg, msg, msglen);
		} else if (type == FOFS_REC_REGIONS) {
			ret = parse_regions(p, rlen, ops, arg, msg, msglen);
		} else if (log && type >= FOFS_REC_UNLINK && type <= FOFS_REC_NEXT_INO) {
			ret = parse_log_only(type, p, rlen, msg, msglen);
		} else if (type == FOFS_REC_WRITE && (log || (ops && ops->write))) {
			ret = parse_write(p, rlen, ops, arg, msg, msglen);
		} else {
			img_msg(msg, msglen, "unknown metadata record type %u", type);
		}
		p += rlen;
		records++;
	}
	free(s.ext);
	free(s.xattr);
	return ret;
}

int img_parse_meta(const void *buf, size_t len, const struct img_meta_ops *ops, void *arg,
		   char *msg, size_t msglen)
{
	return parse_stream(buf, len, ops, arg, false, msg, msglen);
}

/* A log batch: a record stream that may also hold the log-only records. */
int img_parse_batch(const void *buf, size_t len, char *msg, size_t msglen)
{
	return parse_stream(buf, len, NULL, NULL, true, msg, msglen);
}

/*
 * Step over one record of a stream img_parse_meta() or img_parse_batch()
 * accepted; returns where the next one starts.
 */
const uint8_t *img_rec_next(const uint8_t *p, uint16_t *type, const uint8_t **body, uint32_t *len)
{
	*type = get_le16(p);
	*len = get_le32(p + 4);
	*body = p + REC_HDR;
	return *body + *len;
}
