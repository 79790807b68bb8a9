// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The checker behind fsck.foliofs.  It loads the newest generation into a
 * small model (inodes with their extents, xattrs and targets; directory
 * entries), then checks every checksum and cross-reference: extents inside
 * the image and owned once, data checksums, entries that point at existing
 * inodes from directories, one entry per directory, link counts, reachability
 * from the root, and the superblock's counters.  Each finding is one line.
 * Repairs are made to the model and committed as a new generation, so a
 * repair interrupted by a crash leaves the old generation in place.  This
 * file holds the model and the passes; checkrun.c runs them.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "check.h"
__attribute__((format(printf, 3, 4))) void ck_find(struct ck *ck, bool fixable, const char *fmt,
						   ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	ck->r->found++;
	ck->r->unfixable += !fixable;
	if (fixable && ck->o->repair) {
		ck->r->fixed++;
		ck->dirty = true;
		snprintf(line + strlen(line), sizeof(line) - strlen(line), ": fixed");
	} else if (fixable) {
		snprintf(line + strlen(line), sizeof(line) - strlen(line),
			 ": run with -y to fix");
	} else {
		snprintf(line + strlen(line), sizeof(line) - strlen(line),
			 ": cannot be repaired");
	}
	if (ck->o->report)
		ck->o->report(ck->o->arg, line);
}

void *ck_grow(void *arr, size_t *cap, size_t n, size_t size)
{
	void *p;

	if (n < *cap)
		return arr;
	p = realloc(arr, (*cap ? *cap * 2 : 256) * size);
	if (p)
		*cap = *cap ? *cap * 2 : 256;
	return p;
}

int ck_on_inode(void *arg, const struct img_inode_rec *rec)
{
	struct ck *ck = arg;
	size_t blob = rec->ino.i_target_len, off = 0;
	struct ck_inode *ci;
	void *p;

	p = ck_grow(ck->in, &ck->capin, ck->nin, sizeof(*ck->in));
	if (!p)
		return -ENOMEM;
	ck->in = p;
	ci = &ck->in[ck->nin];
	memset(ci, 0, sizeof(*ci));
	ci->ino = rec->ino;
	for (uint32_t i = 0; i < rec->ino.i_xattrs; i++)
		blob += rec->xattr[i].name_len + rec->xattr[i].value_len;
	ci->ext = malloc((rec->ino.i_extents + 1) * sizeof(*ci->ext));
	ci->xattr = malloc((rec->ino.i_xattrs + 1) * sizeof(*ci->xattr));
	ci->blob = malloc(blob + 1);
	if (!ci->ext || !ci->xattr || !ci->blob) {
		free(ci->ext);
		free(ci->xattr);
		free(ci->blob);
		return -ENOMEM;
	}
	if (rec->ino.i_extents)
		memcpy(ci->ext, rec->ext, rec->ino.i_extents * sizeof(*ci->ext));
	for (uint32_t i = 0; i < rec->ino.i_xattrs; i++) {
		const struct img_xattr *x = &rec->xattr[i];

		ci->xattr[i] = *x;
		memcpy(ci->blob + off, x->name, x->name_len);
		ci->xattr[i].name = (char *)ci->blob + off;
		off += x->name_len;
		if (x->value_len)
			memcpy(ci->blob + off, x->value, x->value_len);
		ci->xattr[i].value = ci->blob + off;
		off += x->value_len;
	}
	if (rec->ino.i_target_len)
		memcpy(ci->blob + off, rec->target, rec->ino.i_target_len);
	ci->target = (char *)ci->blob + off;
	ck->nin++;
	return 0;
}

int ck_on_dirent(void *arg, uint64_t parent, uint64_t ino, const char *name, size_t len)
{
	struct ck *ck = arg;
	struct ck_dirent *de;
	void *p;

	p = ck_grow(ck->d, &ck->capd, ck->nd, sizeof(*ck->d));
	if (!p)
		return -ENOMEM;
	ck->d = p;
	de = &ck->d[ck->nd];
	de->name = strndup(name, len);
	if (!de->name)
		return -ENOMEM;
	de->parent = parent;
	de->ino = ino;
	de->len = (uint16_t)len;
	de->dead = false;
	ck->nd++;
	return 0;
}

int ck_on_regions(void *arg, uint64_t ino, const struct img_region *r, size_t n)
{
	struct ck *ck = arg;
	struct ck_regions *g;
	void *p;

	p = ck_grow(ck->rg, &ck->caprg, ck->nrg, sizeof(*ck->rg));
	if (!p)
		return -ENOMEM;
	ck->rg = p;
	g = &ck->rg[ck->nrg];
	g->r = malloc((n + 1) * sizeof(*r));
	if (!g->r)
		return -ENOMEM;
	memcpy(g->r, r, n * sizeof(*r));
	g->ino = ino;
	g->n = n;
	ck->nrg++;
	return 0;
}

int ck_on_write(void *arg, uint64_t ino, uint64_t off, const void *data, size_t len)
{
	struct ck *ck = arg;
	void *p = ck_grow(ck->w, &ck->capw, ck->nw, sizeof(*ck->w));

	if (!p)
		return -ENOMEM;
	ck->w = p;
	ck->w[ck->nw] = (struct ck_write){ ino, off, malloc(len ? len : 1), len, false };
	if (!ck->w[ck->nw].data)
		return -ENOMEM;
	memcpy(ck->w[ck->nw++].data, data, len);
	return 0;
}

static int cmp_inode(const void *a, const void *b)
{
	const struct ck_inode *x = a, *y = b;

	return x->ino.i_ino < y->ino.i_ino ? -1 : x->ino.i_ino > y->ino.i_ino;
}

struct ck_inode *ck_get(struct ck *ck, uint64_t ino)
{
	struct ck_inode key = { .ino.i_ino = ino }, *ci;

	ci = bsearch(&key, ck->in, ck->nin, sizeof(*ck->in), cmp_inode);
	if (!ci)
		return NULL;
	/*
	 * Duplicate records of one number sit together, in any order (qsort
	 * is not stable and lost+found re-sorts): find the one kept.
	 */
	while (ci > ck->in && ci[-1].ino.i_ino == ino)
		ci--;
	while (ci->dropped && ci + 1 < ck->in + ck->nin && ci[1].ino.i_ino == ino)
		ci++;
	return !ci->dropped ? ci : NULL;
}

static bool mode_ok(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: case S_IFDIR: case S_IFLNK: case S_IFCHR:
	case S_IFBLK: case S_IFIFO: case S_IFSOCK:
		return true;
	}
	return false;
}

/* Pass 1: inode records on their own. */
void ck_pass_inodes(struct ck *ck)
{
	qsort(ck->in, ck->nin, sizeof(*ck->in), cmp_inode);
	for (size_t i = 0; i < ck->nin; i++) {
		struct ck_inode *ci = &ck->in[i];
		struct fofs_inode *ino = &ci->ino;
		uint64_t end = (ino->i_size + FOFS_BLOCK_SIZE - 1) &
			       ~(uint64_t)(FOFS_BLOCK_SIZE - 1);
		uint32_t keep = 0;

		if (i && ck->in[i - 1].ino.i_ino == ino->i_ino) {
			ck_find(ck, true, "inode %llu: recorded twice, second copy dropped",
				(unsigned long long)ino->i_ino);
			ci->dropped = true;
			continue;
		}
		if (!ino->i_ino || ino->i_ino > FOFS_INO_MAX) {
			ck_find(ck, true, "inode %llu: number out of range, inode dropped",
				(unsigned long long)ino->i_ino);
			ci->dropped = true;
			continue;
		}
		if (!mode_ok(ino->i_mode) && ino->i_ino != FOFS_ROOT_INO) {
			ck_find(ck, true, "inode %llu: unknown file type 0%o, inode dropped",
				(unsigned long long)ino->i_ino, ino->i_mode & S_IFMT);
			ci->dropped = true;
			continue;
		}
		if (ino->i_ino >= ck->next_ino) {
			ck_find(ck, true, "inode %llu: number not below the next-inode "
				"counter %llu", (unsigned long long)ino->i_ino,
				(unsigned long long)ck->next_ino);
			ck->next_ino = ino->i_ino + 1;
		}
		if (S_ISLNK(ino->i_mode) && ino->i_size != ino->i_target_len &&
		    ino->i_target_len) {
			ck_find(ck, true, "inode %llu: symlink size %llu, target has %u bytes",
				(unsigned long long)ino->i_ino,
				(unsigned long long)ino->i_size, ino->i_target_len);
			ino->i_size = ino->i_target_len;
		}
		if (!S_ISREG(ino->i_mode) && ino->i_extents) {
			ck_find(ck, true, "inode %llu: %u data extents on a file that is "
				"not regular", (unsigned long long)ino->i_ino, ino->i_extents);
			ino->i_extents = 0;
		}
		for (uint32_t e = 0; e < ino->i_extents; e++) {
			if (ci->ext[e].e_file_off >= end) {
				ck_find(ck, true, "inode %llu: extent at offset %llu lies "
					"beyond the file size %llu",
					(unsigned long long)ino->i_ino,
					(unsigned long long)ci->ext[e].e_file_off,
					(unsigned long long)ino->i_size);
				continue;
			}
			ci->ext[keep++] = ci->ext[e];
		}
		ino->i_extents = keep;
	}
}

/* The path of an inode through the entries (the first name found). */
static void ck_path(const struct ck *ck, uint64_t ino, char *buf, size_t len)
{
	char tmp[4096] = "";

	for (int depth = 0; ino != FOFS_ROOT_INO && depth < 64; depth++) {
		const struct ck_dirent *de = NULL;

		for (size_t i = 0; i < ck->nd && !de; i++)
			if (ck->d[i].ino == ino && !ck->d[i].dead)
				de = &ck->d[i];
		if (!de) {
			snprintf(buf, len, "(no name)");
			return;
		}
		snprintf(buf, len, "/%.*s%s", (int)de->len, de->name, tmp);
		snprintf(tmp, sizeof(tmp), "%s", buf);
		ino = de->parent;
	}
	snprintf(buf, len, "%s", tmp[0] ? tmp : "/");
}

/*
 * A damaged data extent costs its own bytes: -y punches its range (the
 * file keeps the rest, the range reads as a hole), so the file is whole
 * again; the daemon meanwhile serves the rest and fails reads of it.
 */
static void report_bad_data(struct ck *ck, const struct ck_inode *ci,
			    const struct fofs_extent *x)
{
	char path[512];

	ck_path(ck, ci->ino.i_ino, path, sizeof(path));
	ck_find(ck, true, "inode %llu (%s): data at offset %llu (%llu bytes) fails "
		"its checksum; punching that range keeps the rest of the file",
		(unsigned long long)ci->ino.i_ino, path,
		(unsigned long long)x->e_file_off,
		(unsigned long long)img_order_bytes(x->e_order));
}

/*
 * Reserve one inode's extents whose checksum state is @good; an extent that
 * collides with blocks already reserved is dropped.  Verified extents are
 * reserved first, so when two extents claim one block the damaged claim is
 * the one that goes.
 */
static void reserve_extents(struct ck *ck, struct ck_inode *ci, bool good)
{
	for (uint32_t e = 0; e < ci->ino.i_extents; e++) {
		struct fofs_extent *x = &ci->ext[e];

		if (ci->bad[e] == good || ci->drop[e])
			continue;
		if (ci->bad[e] && ck->o->repair) {
			report_bad_data(ck, ci, x);
			ci->drop[e] = true;	/* its blocks are not reserved: freed */
			continue;
		}
		if (img_reserve(ck->img, x->e_block, 1ull << x->e_order)) {
			ck_find(ck, true, "inode %llu: extent at offset %llu uses "
				"blocks %llu+%u that are out of range or owned by "
				"another extent; extent dropped",
				(unsigned long long)ci->ino.i_ino,
				(unsigned long long)x->e_file_off,
				(unsigned long long)x->e_block, 1u << x->e_order);
			ci->drop[e] = true;
		} else if (ci->bad[e]) {
			report_bad_data(ck, ci, x);
		}
	}
}

static int verify_extents(struct ck *ck, struct ck_inode *ci, void *buf)
{
	ci->bad = calloc(ci->ino.i_extents + 1, sizeof(*ci->bad));
	ci->drop = calloc(ci->ino.i_extents + 1, sizeof(*ci->drop));
	if (!ci->bad || !ci->drop)
		return -ENOMEM;
	for (uint32_t e = 0; ck->o->verify_data && e < ci->ino.i_extents; e++)
		ci->bad[e] = img_read_extent(ck->img, &ci->ext[e], buf) != 0;
	return 0;
}

/* Pass 2: block ownership, used-block count, data checksums. */
int ck_pass_blocks(struct ck *ck, void *buf)
{
	struct img *img = ck->img;
	int ret;

	ret = img_bitmap_init(img);
	if (ret)
		return ret;
	for (size_t i = 0; i < img->nmeta; i++)
		if (img_reserve(img, img->meta[i], 1))
			ck_find(ck, false, "metadata block %llu is out of range or "
				"listed twice", (unsigned long long)img->meta[i]);
	for (size_t i = 0; i < img->nlog; i++)
		if (img_reserve(img, img->logblk[i], 1))
			ck_find(ck, false, "log block %llu is out of range or in use",
				(unsigned long long)img->logblk[i]);
	for (size_t i = 0; i < ck->nin && !ret; i++) {
		if (!ck->in[i].dropped)
			ret = verify_extents(ck, &ck->in[i], buf);
		if (ck->o->progress && (i % 64 == 63 || i + 1 == ck->nin))
			ck->o->progress(ck->o->arg, i + 1, ck->nin);
	}
	for (int good = 1; good >= 0 && !ret; good--)
		for (size_t i = 0; i < ck->nin; i++)
			if (!ck->in[i].dropped)
				reserve_extents(ck, &ck->in[i], good);
	for (size_t i = 0; i < ck->nin && !ret; i++) {
		struct ck_inode *ci = &ck->in[i];
		uint32_t keep = 0;

		for (uint32_t e = 0; !ci->dropped && e < ci->ino.i_extents; e++) {
			if (ci->drop[e])
				continue;
			ck->r->data_blocks += 1ull << ci->ext[e].e_order;
			ci->ext[keep++] = ci->ext[e];
		}
		ci->ino.i_extents = keep;
	}
	return ret;
}

static int cmp_dirent_name(const void *a, const void *b)
{
	const struct ck_dirent *x = a, *y = b;

	if (x->parent != y->parent)
		return x->parent < y->parent ? -1 : 1;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return memcmp(x->name, y->name, x->len);
}

/* Pass 3: every entry names an inode from a directory, once. */
void ck_pass_dirents(struct ck *ck)
{
	if (ck->nd > 1)
		qsort(ck->d, ck->nd, sizeof(*ck->d), cmp_dirent_name);
	for (size_t i = 0; i < ck->nd; i++) {
		struct ck_dirent *de = &ck->d[i];
		struct ck_inode *dir = ck_get(ck, de->parent);
		struct ck_inode *ci = ck_get(ck, de->ino);

		if (!dir || !S_ISDIR(dir->ino.i_mode)) {
			ck_find(ck, true, "entry '%s' in inode %llu: parent is not a "
				"directory; entry removed", de->name,
				(unsigned long long)de->parent);
		} else if (!ci || de->ino == FOFS_ROOT_INO) {
			ck_find(ck, true, "entry '%s' in directory %llu names missing "
				"inode %llu; entry removed", de->name,
				(unsigned long long)de->parent, (unsigned long long)de->ino);
		} else if (i && !cmp_dirent_name(&ck->d[i - 1], de)) {
			ck_find(ck, true, "entry '%s' appears twice in directory %llu; "
				"second removed", de->name, (unsigned long long)de->parent);
		} else if (S_ISDIR(ci->ino.i_mode) && ci->refs) {
			ck_find(ck, true, "directory %llu has a second entry '%s' in "
				"directory %llu; removed", (unsigned long long)de->ino,
				de->name, (unsigned long long)de->parent);
		} else {
			ci->refs++;
			if (S_ISDIR(ci->ino.i_mode))
				dir->subdirs++;
			continue;
		}
		de->dead = true;
	}
}

static int cmp_dirent_parent(const void *a, const void *b)
{
	const struct ck_dirent *x = a, *y = b;

	return x->parent < y->parent ? -1 : x->parent > y->parent;
}

/* Mark everything reachable from @from; entries are sorted by parent. */
static int ck_walk(struct ck *ck, struct ck_inode *from)
{
	struct ck_inode **queue;
	size_t head = 0, tail = 0;

	queue = malloc((ck->nin + 1) * sizeof(*queue));
	if (!queue)
		return -ENOMEM;
	from->reached = true;
	queue[tail++] = from;
	while (head < tail) {
		struct ck_inode *dir = queue[head++];
		struct ck_dirent key = { .parent = dir->ino.i_ino }, *de;

		de = ck->nd ? bsearch(&key, ck->d, ck->nd, sizeof(*ck->d),
				      cmp_dirent_parent) : NULL;
		while (de && de > ck->d && de[-1].parent == key.parent)
			de--;
		for (; de && de < ck->d + ck->nd && de->parent == key.parent; de++) {
			struct ck_inode *ci = de->dead ? NULL : ck_get(ck, de->ino);

			if (!ci || ci->reached)
				continue;
			ci->reached = true;
			if (S_ISDIR(ci->ino.i_mode))
				queue[tail++] = ci;
		}
	}
	free(queue);
	return 0;
}

static int ck_add_dirent(struct ck *ck, uint64_t parent, uint64_t ino,
			 const char *name)
{
	int ret = ck_on_dirent(ck, parent, ino, name, strlen(name));

	if (ret == 0)
		qsort(ck->d, ck->nd, sizeof(*ck->d), cmp_dirent_parent);
	return ret;
}

/* Find or create /lost+found; returns it in @out. */
static int ck_lost_found(struct ck *ck, struct ck_inode **out)
{
	struct img_inode_rec rec = { 0 };
	struct ck_inode *root = ck_get(ck, FOFS_ROOT_INO);
	int ret;

	for (size_t i = 0; i < ck->nd; i++) {
		struct ck_dirent *de = &ck->d[i];
		struct ck_inode *ci;

		if (de->dead || de->parent != FOFS_ROOT_INO ||
		    strcmp(de->name, "lost+found"))
			continue;
		ci = ck_get(ck, de->ino);
		if (ci && S_ISDIR(ci->ino.i_mode)) {
			*out = ci;
			return 0;
		}
	}
	ret = -EUCLEAN;
	if (ck->next_ino > FOFS_INO_MAX)	/* the superblock check forbids it */
		return ret;
	rec.ino.i_ino = ck->next_ino++;
	rec.ino.i_mode = S_IFDIR | 0700;
	rec.ino.i_nlink = 2;
	rec.ino.i_mtime = rec.ino.i_ctime = rec.ino.i_atime = root->ino.i_mtime;
	ret = ck_on_inode(ck, &rec);
	if (ret)
		return ret;
	qsort(ck->in, ck->nin, sizeof(*ck->in), cmp_inode);
	ret = ck_add_dirent(ck, FOFS_ROOT_INO, rec.ino.i_ino, "lost+found");
	if (ret)
		return ret;
	*out = ck_get(ck, rec.ino.i_ino);
	(*out)->reached = true;
	(*out)->refs = 1;
	root = ck_get(ck, FOFS_ROOT_INO);
	root->subdirs++;
	root->ino.i_nlink++;	/* our own change, not a finding */
	return 0;
}

/* Reconnect one unreachable inode under lost+found as "#ino". */
static int ck_reconnect(struct ck *ck, struct ck_inode *ci)
{
	struct ck_inode *lf;
	uint64_t ino = ci->ino.i_ino;
	char name[32];
	int ret;

	ck_find(ck, true, "%s %llu is not reachable from the root; moved to "
		"/lost+found", S_ISDIR(ci->ino.i_mode) ? "directory" : "inode",
		(unsigned long long)ino);
	if (!ck->o->repair) {
		ci->refs = ci->refs ? ci->refs : 1;	/* as if reconnected */
		return ck_walk(ck, ci);
	}
	for (size_t i = 0; S_ISDIR(ci->ino.i_mode) && i < ck->nd; i++) {
		if (ck->d[i].ino == ino && !ck->d[i].dead) {
			ck->d[i].dead = true;
			ci->refs--;
		}
	}
	ret = ck_lost_found(ck, &lf);
	if (ret)
		return ret;
	ci = ck_get(ck, ino);	/* the array may have moved */
	snprintf(name, sizeof(name), "#%llu", (unsigned long long)ino);
	ret = ck_add_dirent(ck, lf->ino.i_ino, ino, name);
	if (ret)
		return ret;
	ci->refs++;
	if (S_ISDIR(ci->ino.i_mode))
		ck_get(ck, lf->ino.i_ino)->subdirs++;
	return ck_walk(ck, ci);
}

/* Pass 4: reachability from the root, directories first. */
int ck_pass_connect(struct ck *ck)
{
	int ret;

	if (ck->nd > 1)
		qsort(ck->d, ck->nd, sizeof(*ck->d), cmp_dirent_parent);
	ret = ck_walk(ck, ck_get(ck, FOFS_ROOT_INO));
	for (int dirs = 1; dirs >= 0 && !ret; dirs--) {
		for (size_t i = 0; i < ck->nin && !ret; i++) {
			struct ck_inode *ci = &ck->in[i];

			if (ci->dropped || ci->reached ||
			    (bool)S_ISDIR(ci->ino.i_mode) != (bool)dirs)
				continue;
			ret = ck_reconnect(ck, ci);
		}
	}
	return ret;
}

/* Region states name a regular file and regions inside it. */
void ck_pass_regions(struct ck *ck)
{
	for (size_t i = 0; i < ck->nrg; i++) {
		struct ck_regions *g = &ck->rg[i];
		struct ck_inode *ci = ck_get(ck, g->ino);
		size_t keep = 0;

		if (!ci || !S_ISREG(ci->ino.i_mode)) {
			ck_find(ck, true, "region states for inode %llu, which is not "
				"a regular file; dropped", (unsigned long long)g->ino);
			g->n = 0;
			continue;
		}
		for (size_t k = 0; k < g->n; k++) {
			if (g->r[k].index << 21 >= ci->ino.i_size) {
				ck_find(ck, true, "inode %llu: region state beyond the "
					"end of file; dropped", (unsigned long long)g->ino);
				continue;
			}
			g->r[keep++] = g->r[k];
		}
		g->n = keep;
	}
}

/* Logged bytes belong to a regular file. */
void ck_pass_writes(struct ck *ck)
{
	for (size_t i = 0; i < ck->nw; i++) {
		struct ck_inode *ci = ck_get(ck, ck->w[i].ino);

		if (ci && !ci->dropped && S_ISREG(ci->ino.i_mode))
			continue;
		ck_find(ck, true,
			"logged write to inode %llu, which is not a regular file; "
			"dropped",
			(unsigned long long)ck->w[i].ino);
		ck->w[i].dead = true;
	}
}

/* Before a new generation: the logged bytes go into the files' extents. */
int ck_fold_writes(struct ck *ck)
{
	struct img_write *w = calloc(ck->nw + 1, sizeof(*w));
	int ret = w ? 0 : -ENOMEM;

	for (size_t i = 0; i < ck->nin && !ret; i++) {
		struct ck_inode *ci = &ck->in[i];
		size_t n = 0;

		for (size_t k = 0; k < ck->nw; k++)
			if (!ck->w[k].dead && ck->w[k].ino == ci->ino.i_ino && !ci->dropped)
				w[n++] = (struct img_write){ ck->w[k].off, ck->w[k].data,
							     ck->w[k].len };
		if (n)
			ret = img_fold_writes(ck->img, &ci->ext, &ci->ino.i_extents, ci->ino.i_size,
					      w, n);
	}
	free(w);
	return ret;
}

/* Pass 5: link counts. */
void ck_pass_nlink(struct ck *ck)
{
	for (size_t i = 0; i < ck->nin; i++) {
		struct ck_inode *ci = &ck->in[i];
		uint32_t want;

		if (ci->dropped)
			continue;
		want = S_ISDIR(ci->ino.i_mode) ? 2 + ci->subdirs : ci->refs;
		if (ci->ino.i_nlink == want)
			continue;
		ck_find(ck, true, "inode %llu: link count %u, expected %u",
			(unsigned long long)ci->ino.i_ino, ci->ino.i_nlink, want);
		ci->ino.i_nlink = want;
	}
}
