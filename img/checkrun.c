// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Running a check: the superblock pair, what the intent log holds, the
 * passes in order over the replayed state, and the repair commit that
 * writes the model (logged bytes folded into extents) as a new generation.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "check.h"

static int ck_commit(struct ck *ck)
{
	struct img_commit_args args = { .next_ino = ck->next_ino };
	struct img_mw mw;
	int ret = 0;

	img_mw_init(&mw);
	for (size_t i = 0; i < ck->nin && !ret; i++) {
		struct ck_inode *ci = &ck->in[i];
		struct img_inode_rec rec = { ci->ino, ci->ext, ci->xattr, ci->target };

		if (!ci->dropped)
			ret = img_mw_inode(&mw, &rec);
	}
	for (size_t i = 0; i < ck->nrg && !ret; i++)
		if (ck->rg[i].n)
			ret = img_mw_regions(&mw, ck->rg[i].ino, ck->rg[i].r, ck->rg[i].n);
	for (size_t i = 0; i < ck->nd && !ret; i++)
		if (!ck->d[i].dead)
			ret = img_mw_dirent(&mw, ck->d[i].parent, ck->d[i].ino, ck->d[i].name,
					    ck->d[i].len);
	if (!ret)
		ret = img_mw_finish(&mw);
	if (!ret)
		ret = img_commit(ck->img, &mw, &args);
	img_mw_release(&mw);
	return ret;
}

static void ck_release(struct ck *ck)
{
	for (size_t i = 0; i < ck->nin; i++) {
		free(ck->in[i].ext);
		free(ck->in[i].xattr);
		free(ck->in[i].blob);
		free(ck->in[i].bad);
		free(ck->in[i].drop);
	}
	for (size_t i = 0; i < ck->nd; i++)
		free(ck->d[i].name);
	for (size_t i = 0; i < ck->nrg; i++)
		free(ck->rg[i].r);
	for (size_t i = 0; i < ck->nw; i++)
		free(ck->w[i].data);
	free(ck->w);
	free(ck->rg);
	free(ck->in);
	free(ck->d);
}

static int ck_passes(struct ck *ck)
{
	struct ck_inode *root;
	void *buf;
	int ret;

	ck_pass_inodes(ck);
	root = ck_get(ck, FOFS_ROOT_INO);
	if (!root || !S_ISDIR(root->ino.i_mode)) {
		ck_find(ck, false, "root directory (inode 1) is missing or not a directory");
		return 0;
	}
	buf = aligned_alloc(FOFS_BLOCK_SIZE, img_order_bytes(FOFS_ORDER_PMD));
	if (!buf)
		return -ENOMEM;
	ret = ck_pass_blocks(ck, buf);
	free(buf);
	if (ret)
		return ret;
	ck_pass_dirents(ck);
	ret = ck_pass_connect(ck);
	if (ret)
		return ret;
	ck_pass_nlink(ck);
	ck_pass_regions(ck);
	ck_pass_writes(ck);
	if (ck->img->used != img_state_used(ck->img))
		ck_find(ck, true,
			"superblock counts %llu used blocks, extents and "
			"metadata use %llu",
			(unsigned long long)img_state_used(ck->img),
			(unsigned long long)ck->img->used);
	if (ck->dirty && ck->o->repair)
		ret = ck_fold_writes(ck);
	if (ck->dirty && ck->o->repair && !ret)
		return ck_commit(ck);
	return ret;
}

static void ck_report_raw(const struct img_check_opts *o, const char *line)
{
	if (o->report)
		o->report(o->arg, line);
}

/*
 * The superblock pair: a newest slot damaged after its commit is a finding
 * (the backup copy holds the generation; -y writes it back); an unreadable
 * slot otherwise is what a crash during a commit leaves, and only noted.
 */
static void ck_super(struct ck *ck)
{
	const char *note;
	char line[300];
	int ret;

	switch (img_super_state(ck->img, &note)) {
	case IMG_SB_RECOVERED:
		snprintf(line, sizeof(line), "%s", note);
		ret = ck->o->repair ? img_super_rewrite(ck->img) : 0;
		if (ret)
			ck_find(ck, false, "%s; rewriting it failed: %s", line, strerror(-ret));
		else
			ck_find(ck, true, "%s", line);
		break;
	case IMG_SB_TORN:
		snprintf(line, sizeof(line), "note: %s", note);
		ck_report_raw(ck->o, line);
		break;
	default:
		break;
	}
}

/*
 * What the intent log held: replayed batches are not damage, but -y folds
 * them into a new generation, as a mount would; a torn last batch is what
 * a crash during an fsync leaves, and only noted.  A damaged batch with a
 * sound one after it was acknowledged once: that is corruption.
 */
static void ck_log(struct ck *ck)
{
	struct img_log_stat st;
	char line[400];

	img_log_stat(ck->img, &st);
	if (st.batches) {
		snprintf(line, sizeof(line),
			 "note: the intent log holds %llu record "
			 "batch%s (%llu blocks, %llu bytes of file data)%s",
			 (unsigned long long)st.batches, st.batches == 1 ? "" : "es",
			 (unsigned long long)st.blocks, (unsigned long long)st.written,
			 ck->o->repair ? "; replayed into a new generation" :
					 "; checked as replayed");
		ck_report_raw(ck->o, line);
		ck->dirty |= ck->o->repair;
	}
	if (st.corrupt) {
		/* -y keeps the batches before the damage: what can be proven */
		ck_find(ck, true, "intent log: %s", st.stop);
	} else if (st.stop[0]) {
		snprintf(line, sizeof(line), "note: log: %s", st.stop);
		ck_report_raw(ck->o, line);
	}
}

/**
 * img_check() - check an image and optionally repair it
 * @path: the image
 * @opts: repair, data verification and the line reporter
 * @res: counts of findings and what was checked
 *
 * A damaged superblock pair or metadata chain is reported as one finding that
 * cannot be repaired.
 *
 * Return: 0 when the check ran (see @res); -EBUSY if the image is in use;
 * -EINVAL if it is not a foliofs image; -ENOMEM; -errno opening or writing.
 */
int img_check(const char *path, const struct img_check_opts *opts, struct img_check_result *res)
{
	struct img_meta_ops ops = { ck_on_inode, ck_on_dirent, ck_on_regions, ck_on_write };
	struct ck ck = { .o = opts, .r = res };
	char why[256];
	size_t len;
	void *buf;
	int ret;

	memset(res, 0, sizeof(*res));
	ret = img_open(path, opts->repair ? IMG_O_RDWR : IMG_O_RDONLY, &ck.img);
	if (ret == -EBADMSG || ret == -EUCLEAN || ret == -EFBIG) {
		res->found++;
		res->unfixable++;
		/* a truncated image's message says what can be done instead */
		snprintf(why, sizeof(why), "%s%s", img_errmsg(ck.img),
			 ret == -EFBIG ? "" : ": cannot be repaired");
		ck_report_raw(opts, why);
		ret = 0;
	}
	if (ret || res->found) {
		if (ret && ck.img)
			ck_report_raw(opts, img_errmsg(ck.img));
		goto out_close;
	}
	ck_super(&ck);
	res->generation = ck.img->sb.s_generation;
	why[0] = '\0';
	ret = img_read_state(ck.img, &buf, &len);
	ck.next_ino = ck.img->sb.s_next_ino; /* as the log left it */
	if (!ret) {
		ck_log(&ck);
		ret = img_parse_meta(buf, len, &ops, &ck, why, sizeof(why));
		free(buf);
	} else {
		snprintf(why, sizeof(why), "%s", img_errmsg(ck.img));
	}
	if (ret == -EBADMSG || ret == -EUCLEAN) {
		ck_find(&ck, false, "metadata: %s", why);
		ret = 0;
	} else if (!ret) {
		ret = ck_passes(&ck);
	}
	res->inodes = ck.nin;
	res->dirents = ck.nd;
	ck_release(&ck);
out_close:
	img_close(ck.img);
	return ret;
}
