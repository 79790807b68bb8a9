// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * FUSE extended attribute operations for the user.* and trusted.*
 * namespaces.  The kernel's VFS already enforces who may touch which
 * namespace (trusted.* needs CAP_SYS_ADMIN, user.* only on files and
 * directories, write permission to set); this file stores the attributes and
 * answers every other namespace as absent.  Unsupported sets answer
 * EOPNOTSUPP, never ENOSYS, which would make the kernel stop asking.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fs.h"

static bool name_supported(const char *name)
{
	return !strncmp(name, "user.", 5) || !strncmp(name, "trusted.", 8);
}

static struct fs_xattr **xattr_find(struct fs_inode *inode, const char *name)
{
	struct fs_xattr **pp;

	for (pp = &inode->xattrs; *pp; pp = &(*pp)->next)
		if (!strcmp((*pp)->name, name))
			return pp;
	return NULL;
}

static int do_setxattr(struct fs *fs, struct fs_inode *inode, const char *name,
		       const char *value, size_t size, int flags)
{
	struct fs_xattr **pp = xattr_find(inode, name), *x;
	size_t nlen = strlen(name);
	char *copy;
	int ret;

	ret = -EOPNOTSUPP;
	if (!name_supported(name))
		return ret;
	ret = -ERANGE;
	if (nlen > FOFS_XATTR_NAME_MAX)
		return ret;
	ret = -E2BIG;
	if (size > FOFS_XATTR_VALUE_MAX)
		return ret;
	if ((flags & XATTR_CREATE) && pp)
		return -EEXIST;
	if ((flags & XATTR_REPLACE) && !pp)
		return -ENODATA;
	ret = fs_space_check(fs, size / FOFS_BLOCK_SIZE + 1);
	if (ret)
		return ret;
	copy = malloc(size ? size : 1);
	if (!copy)
		return -ENOMEM;
	if (size)
		memcpy(copy, value, size);
	if (pp) {
		x = *pp;
		free(x->value);
	} else {
		x = calloc(1, sizeof(*x) + nlen + 1);
		if (!x) {
			free(copy);
			return -ENOMEM;
		}
		memcpy(x->name, name, nlen + 1);
		x->name_len = (uint16_t)nlen;
		x->next = inode->xattrs;
		inode->xattrs = x;
	}
	x->value = copy;
	x->value_len = (uint32_t)size;
	fs_touch(&inode->ctime);
	fs_meta_dirty(fs);
	return 0;
}

/* "" for the whole file, or "OFFSET LENGTH" in bytes. */
static int parse_range(const char *value, size_t size, uint64_t *off, uint64_t *len)
{
	char buf[64], *end;

	*off = 0;
	*len = UINT64_MAX;
	if (!size)
		return 0;
	if (size >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, value, size);
	buf[size] = '\0';
	errno = 0;
	*off = strtoull(buf, &end, 0);
	*len = strtoull(end, &end, 0);
	return errno || *end || !*len ? -EINVAL : 0;
}

/* The control names: a collapse request, or a policy to validate. */
static int do_control(struct fs *fs, struct fs_inode *inode, const char *name,
		      const char *value, size_t size, bool *handled)
{
	enum clp_policy p;
	uint64_t off, len;
	char buf[16];
	int ret;

	*handled = true;
	if (!strcmp(name, FOFS_XATTR_COLLAPSE)) {
		ret = parse_range(value, size, &off, &len);
		return ret ? ret : fsclp_collapse(fs, inode, off, len, true);
	}
	if (!strcmp(name, FOFS_XATTR_MAP) || !strcmp(name, FOFS_XATTR_STATUS))
		return -EPERM;		/* read-only views */
	*handled = false;
	if (strcmp(name, FOFS_XATTR_POLICY))
		return 0;
	if (size >= sizeof(buf) || !size)
		return -EINVAL;
	memcpy(buf, value, size);
	buf[size] = '\0';
	return clp_policy_parse(buf, &p);
}

static void fsop_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			  const char *value, size_t size, int flags)
{
	struct fs *fs = fsop_fs(req);
	struct fs_inode *inode;
	bool handled = false;
	int ret;

	pthread_mutex_lock(&fs->lock);
	inode = fs_iget(fs, ino);
	ret = inode ? do_control(fs, inode, name, value, size, &handled) : -ENOENT;
	if (!ret && !handled)
		ret = do_setxattr(fs, inode, name, value, size, flags);
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_err(req, -ret);
}

/**
 * fsop_xattr_inherit() - a new inode takes its directory's folio policy
 * @fs: the filesystem, lock held
 * @dir: the parent directory
 * @inode: the new inode
 *
 * Return: 0; -ENOMEM; -ENOSPC.
 */
int fsop_xattr_inherit(struct fs *fs, struct fs_inode *dir, struct fs_inode *inode)
{
	struct fs_xattr **pp = xattr_find(dir, FOFS_XATTR_POLICY);

	if (!pp)
		return 0;
	return do_setxattr(fs, inode, FOFS_XATTR_POLICY, (*pp)->value,
			   (*pp)->value_len, 0);
}

/* Huge and keep-off regions of the loaded files: their map entries only. */
static void count_regions(struct fs *fs, uint64_t *files, uint64_t *huge, uint64_t *keep)
{
	*files = *huge = *keep = 0;
	for (struct fs_inode *i = fs->loaded; i; i = i->lnext, (*files)++)
		for (uint64_t r = 0; clp_map_next(&i->cmap, r, &r); r++) {
			*huge += clp_map_peek(&i->cmap, r)->state == CLP_R_HUGE;
			*keep += clp_map_peek(&i->cmap, r)->state == CLP_R_KEEP_OFF;
		}
}

static int status_text(struct fs *fs, char **out)
{
	uint64_t huge, keep, files;
	struct strbuf sb;

	count_regions(fs, &files, &huge, &keep);
	strbuf_init(&sb);
	strbuf_printf(&sb,
		"daemon_pid=%d\nimage=%s\nimage_mode=%s\ngeneration=%llu\n"
		"data_path=%s\npassthrough_off_reason=%s\nfiles_loaded=%llu\n"
		"bytes_resident=%llu\nbytes_in_huge_pages=%llu\nhuge_share_pct=%llu\n"
		"huge_regions=%llu\nkeep_off_regions=%llu\n"
		"collapsed=%llu\nfull_scans=%llu\nsplits=%llu\n"
		"load_collapsed=%llu\nload_collapse_failed=%llu\ncommits=%llu\n"
		"cache_size=%llu\nhuge=%s\nkernel_verdicts=%s\n"
		"image_blocks=%llu\nimage_used_blocks=%llu\nwriteback_error=%d\n",
		(int)getpid(), fs->image_path, fs->opts.ro ? "ro" : "rw",
		(unsigned long long)img_sb(fs->img)->s_generation,
		fs->pt_mode == FS_PT_ON ? "passthrough" : "daemon",
		fs->pt_mode == FS_PT_ON ? "-" : fs->pt_why,
		(unsigned long long)files,
		(unsigned long long)fs->cache_blocks * FOFS_BLOCK_SIZE,
		(unsigned long long)huge * CLP_REGION_SIZE,
		(unsigned long long)(fs->cache_blocks ?
			huge * CLP_REGION_SIZE * 100 / (fs->cache_blocks * FOFS_BLOCK_SIZE) : 0),
		(unsigned long long)huge, (unsigned long long)keep,
		(unsigned long long)fs->clp_stats.collapsed,
		(unsigned long long)fs->clp_stats.full_scans,
		(unsigned long long)fs->clp_stats.splits,
		(unsigned long long)fs->stats.load_collapsed,
		(unsigned long long)fs->stats.load_collapse_failed,
		(unsigned long long)fs->stats.commits,
		(unsigned long long)fs->opts.cache_size,
		clp_policy_name(fs->opts.huge),
		fs->tracefd >= 0 ? "on" : "off",
		(unsigned long long)img_sb(fs->img)->s_blocks,
		(unsigned long long)fs->committed_used, -fs->last_error);
	for (int r = 0; r < CLP_NR_RESULTS; r++)
		if (fs->clp_stats.by_result[r])
			strbuf_printf(&sb, "result_%s=%llu\n",
				      clp_result_name((enum clp_result)r),
				      (unsigned long long)fs->clp_stats.by_result[r]);
	return strbuf_finish(&sb, out);
}

/* Read-only views: the region table of a file, the mount's status. */
static int do_view(struct fs *fs, struct fs_inode *inode, const char *name,
		   char **text)
{
	size_t mlen = strlen(FOFS_XATTR_MAP);
	char *end;

	*text = NULL;
	if (!strncmp(name, FOFS_XATTR_MAP, mlen) && (!name[mlen] || name[mlen] == '.')) {
		/* "user.foliofs.map" is the first page, "...map.N" from region N */
		uint64_t first = name[mlen] ? strtoull(name + mlen + 1, &end, 10) : 0;

		if (name[mlen] && (*end || end == name + mlen + 1))
			return -ENODATA;
		return S_ISREG(inode->mode) ? fsclp_map_text(fs, inode, first, text) : -ENODATA;
	}
	if (!strcmp(name, FOFS_XATTR_STATUS))
		return status_text(fs, text);
	return 0;
}

/* Reply with a value or a size, as getxattr/listxattr want; lock held. */
static int reply_sized(fuse_req_t req, const void *buf, size_t len, size_t size)
{
	if (!size) {
		fuse_reply_xattr(req, len);
		return 0;
	}
	if (size < len)
		return -ERANGE;
	fuse_reply_buf(req, buf, len);
	return 0;
}

static void fsop_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			  size_t size)
{
	struct fs *fs = fsop_fs(req);
	struct fs_inode *inode;
	struct fs_xattr **pp;
	int ret;

	char *text = NULL;

	pthread_mutex_lock(&fs->lock);
	inode = fs_iget(fs, ino);
	ret = inode ? do_view(fs, inode, name, &text) : -ENOENT;
	pp = inode && !text ? xattr_find(inode, name) : NULL;
	if (!ret && text)
		ret = reply_sized(req, text, strlen(text), size);
	else if (!ret)
		ret = !pp ? -ENODATA : reply_sized(req, (*pp)->value, (*pp)->value_len, size);
	pthread_mutex_unlock(&fs->lock);
	free(text);
	if (ret)
		fuse_reply_err(req, -ret);
}

static void fsop_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct fs *fs = fsop_fs(req);
	struct fs_inode *inode;
	size_t len = 0;
	char *buf = NULL;
	int ret;

	pthread_mutex_lock(&fs->lock);
	inode = fs_iget(fs, ino);
	ret = inode ? 0 : -ENOENT;
	for (struct fs_xattr *x = inode ? inode->xattrs : NULL; x; x = x->next)
		len += x->name_len + 1u;
	if (!ret && size && len) {
		buf = malloc(len);
		ret = buf ? 0 : -ENOMEM;
		len = 0;
		for (struct fs_xattr *x = inode->xattrs; buf && x; x = x->next) {
			memcpy(buf + len, x->name, x->name_len + 1u);
			len += x->name_len + 1u;
		}
	}
	if (!ret)
		ret = reply_sized(req, buf, len, size);
	pthread_mutex_unlock(&fs->lock);
	free(buf);
	if (ret)
		fuse_reply_err(req, -ret);
}

static void fsop_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct fs *fs = fsop_fs(req);
	struct fs_inode *inode;
	struct fs_xattr **pp, *x;
	int ret;

	pthread_mutex_lock(&fs->lock);
	inode = fs_iget(fs, ino);
	pp = inode ? xattr_find(inode, name) : NULL;
	ret = !inode ? -ENOENT : !pp ? -ENODATA : 0;
	if (!ret) {
		x = *pp;
		*pp = x->next;
		free(x->value);
		free(x);
		fs_touch(&inode->ctime);
		fs_meta_dirty(fs);
	}
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_err(req, -ret);
}

void fsop_xattr_ops(struct fuse_lowlevel_ops *ops)
{
	ops->setxattr = fsop_setxattr;
	ops->getxattr = fsop_getxattr;
	ops->listxattr = fsop_listxattr;
	ops->removexattr = fsop_removexattr;
}
