// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * folioctl status: the daemon's status attribute (user.foliofs.status, one
 * "key=value" line per field, as include/foliofs/ctl.h lists them) shown
 * as an aligned table, as one JSON object, or in the Prometheus text
 * exposition format for node_exporter's textfile collector: gauges and
 * counters with HELP and TYPE lines, collapses by result as one labelled
 * counter, fsync latency as a histogram, every sample labelled with the
 * mount it came from.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "foliofs/ctl.h"
#include "folioctl.h"

/* The status text split into lines: key[i]=val[i]. */
struct st_kv {
	char *key[256], *val[256];
	size_t n;
};

static void st_split(char *text, struct st_kv *kv)
{
	char *line, *save = NULL;

	kv->n = 0;
	for (line = strtok_r(text, "\n", &save); line && kv->n < 256;
	     line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');

		if (!eq)
			continue;
		*eq = '\0';
		kv->key[kv->n] = line;
		kv->val[kv->n++] = eq + 1;
	}
}

static const char *st_get(const struct st_kv *kv, const char *key)
{
	for (size_t i = 0; i < kv->n; i++)
		if (!strcmp(kv->key[i], key))
			return kv->val[i];
	return NULL;
}

static void status_plain(const struct st_kv *kv)
{
	for (size_t i = 0; i < kv->n; i++) {
		if (!fctl_json) {
			printf("%-24s %s\n", kv->key[i], kv->val[i]);
			continue;
		}
		printf("%s", i ? "," : "{");
		fctl_json_str(kv->key[i]);
		printf(":");
		if (fctl_is_number(kv->val[i]))
			printf("%s", kv->val[i]);
		else
			fctl_json_str(kv->val[i]);
	}
	if (fctl_json)
		printf("%s}\n", kv->n ? "" : "{");
}

/* A label value as the exposition format wants it: \ " and newline escaped. */
static void prom_label(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			printf("\\%c", *s);
		else if (*s == '\n')
			printf("\\n");
		else
			putchar(*s);
	}
	putchar('"');
}

/* One status field as one metric: value = field * scale. */
struct prom_metric {
	const char *key, *name, *type, *help;
	double scale;
};

static const struct prom_metric prom_metrics[] = {
	{ "bytes_resident", "foliofs_resident_bytes", "gauge",
	  "File data held in memory by the daemon.", 1 },
	{ "bytes_in_huge_pages", "foliofs_huge_bytes", "gauge",
	  "Resident file data in 2 MiB pages.", 1 },
	{ "huge_share_pct", "foliofs_huge_share_ratio", "gauge",
	  "Share of resident file data in 2 MiB pages (0 to 1).", 0.01 },
	{ "files_loaded", "foliofs_files_loaded", "gauge", "Files whose data is in memory.", 1 },
	{ "huge_regions", "foliofs_huge_regions", "gauge", "2 MiB regions backed by a huge page.",
	  1 },
	{ "keep_off_regions", "foliofs_keep_off_regions", "gauge",
	  "2 MiB regions the collapser keeps off (a hole was punched in them).", 1 },
	{ "splits", "foliofs_splits_total", "counter", "Huge regions split by a punch or truncate.",
	  1 },
	{ "full_scans", "foliofs_collapser_scans_total", "counter",
	  "Background collapser passes over every file.", 1 },
	{ "commits", "foliofs_commits_total", "counter", "Generations committed to the image.", 1 },
	{ "writeback_errors", "foliofs_writeback_errors_total", "counter", "Commits that failed.",
	  1 },
	{ "writeback_error", "foliofs_writeback_last_errno", "gauge",
	  "errno of the last commit (0: it succeeded).", 1 },
	{ "fsyncs_shared", "foliofs_fsyncs_shared_total", "counter",
	  "fsyncs served by another fsync's log batch (group commit).", 1 },
	{ "log_batches", "foliofs_log_batches_total", "counter",
	  "Record batches appended to the intent log.", 1 },
	{ "log_blocks", "foliofs_log_bytes", "gauge",
	  "Size of the intent log after the last writeback.", 4096 },
	{ "cache_size", "foliofs_memory_budget_bytes", "gauge",
	  "Memory kept for clean, closed files (-o cache_size).", 1 },
	{ "image_blocks", "foliofs_image_size_bytes", "gauge", "Size of the filesystem image.",
	  4096 },
	{ "image_used_blocks", "foliofs_image_used_bytes", "gauge",
	  "Image space in use, as of the last commit.", 4096 },
	{ "generation", "foliofs_generation", "gauge",
	  "Generation number of the image's last commit.", 1 },
	{ "files_tracked", "foliofs_files_tracked", "gauge",
	  "Open files whose reads and writes the daemon serves (writers).", 1 },
	{ "files_passthrough", "foliofs_files_passthrough", "gauge",
	  "Open files the kernel reads and maps directly (FUSE passthrough).", 1 },
	{ "unseen_write_scans", "foliofs_unseen_write_scans_total", "counter",
	  "Write-backs that compared a whole file a passthrough writer could change unseen.", 1 },
	{ "unseen_write_bytes_scanned", "foliofs_unseen_write_scanned_bytes_total", "counter",
	  "Bytes those write-backs compared.", 1 },
};

static void prom_head(const char *name, const char *type, const char *help)
{
	printf("# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void prom_sample(const char *name, const char *mount, const char *lk, const char *lv,
			double v)
{
	printf("%s{mount=", name);
	prom_label(mount);
	if (lk) {
		printf(",%s=", lk);
		prom_label(lv);
	}
	printf("} %.17g\n", v);
}

/* Collapses by result: one counter, labelled with the kernel's names. */
static void prom_results(const struct st_kv *kv, const char *mount)
{
	prom_head("foliofs_collapses_total", "counter",
		  "Collapse attempts by result (the kernel's mm_khugepaged result names).");
	for (size_t i = 0; i < kv->n; i++)
		if (!strncmp(kv->key[i], "result_", 7))
			prom_sample("foliofs_collapses_total", mount, "result", kv->key[i] + 7,
				    strtod(kv->val[i], NULL));
}

static void prom_fsync_histogram(const struct st_kv *kv, const char *mount)
{
	const char *n = st_get(kv, "fsyncs"), *sum = st_get(kv, "fsync_us_sum");
	char le[32];

	if (!n || !sum)
		return;
	prom_head("foliofs_fsync_duration_seconds", "histogram",
		  "Time fsync and fdatasync took, queueing for the log included.");
	for (size_t i = 0; i < kv->n; i++) {
		if (strncmp(kv->key[i], "fsync_us_le_", 12))
			continue;
		snprintf(le, sizeof(le), "%g", strtod(kv->key[i] + 12, NULL) / 1e6);
		prom_sample("foliofs_fsync_duration_seconds_bucket", mount, "le", le,
			    strtod(kv->val[i], NULL));
	}
	prom_sample("foliofs_fsync_duration_seconds_bucket", mount, "le", "+Inf", strtod(n, NULL));
	prom_sample("foliofs_fsync_duration_seconds_sum", mount, NULL, NULL,
		    strtod(sum, NULL) / 1e6);
	prom_sample("foliofs_fsync_duration_seconds_count", mount, NULL, NULL, strtod(n, NULL));
}

static void status_prometheus(const struct st_kv *kv, const char *mount)
{
	static const char *const info[] = { "image", "data_path",  "image_io",
					    "huge",  "image_mode", "mount_mode" };

	prom_head("foliofs_info", "gauge", "The mount: its image, data path and settings.");
	printf("foliofs_info{mount=");
	prom_label(mount);
	for (size_t i = 0; i < sizeof(info) / sizeof(info[0]); i++) {
		const char *v = st_get(kv, info[i]);

		printf(",%s=", info[i]);
		prom_label(v ? v : "");
	}
	printf("} 1\n");
	for (size_t i = 0; i < sizeof(prom_metrics) / sizeof(prom_metrics[0]); i++) {
		const struct prom_metric *m = &prom_metrics[i];
		const char *v = st_get(kv, m->key);

		if (!v)
			continue; /* an older daemon */
		prom_head(m->name, m->type, m->help);
		prom_sample(m->name, mount, NULL, NULL, strtod(v, NULL) * m->scale);
	}
	prom_results(kv, mount);
	prom_fsync_histogram(kv, mount);
}

/*
 * The mount point, as findmnt -T finds it: the top of the file's mount,
 * absolute, so that a label names the mount whatever path was typed.
 * @fdpath is the target pinned; @typed is returned when nothing better is
 * found.
 */
static const char *mount_root(const char *fdpath, const char *typed, char *buf, size_t len)
{
	struct stat st, ust;
	char up[PATH_MAX], *slash;

	if (len < PATH_MAX || !realpath(fdpath, buf) || stat(buf, &st) < 0)
		return typed;
	while (strcmp(buf, "/")) {
		strcpy(up, buf);
		slash = strrchr(up, '/');
		slash[slash == up] = '\0';
		if (stat(up, &ust) < 0 || ust.st_dev != st.st_dev)
			break;
		strcpy(buf, up);
	}
	return buf;
}

/**
 * fctl_status() - print a mount's status
 * @mount: any path on the mount
 * @prometheus: the Prometheus text format instead of a table or JSON
 *
 * Return: the exit status: 0, or 1 when @mount is not on foliofs.
 */
int fctl_status(const char *mount, bool prometheus)
{
	char fdpath[FCTL_FDPATH_LEN], key[] = "mount_mode", root[PATH_MAX];
	struct statvfs sv;
	struct st_kv kv;
	char *text;

	if (fctl_require_foliofs(mount, fdpath, sizeof(fdpath)))
		return 1;
	text = fctl_get_text(fdpath, FOFS_XATTR_STATUS);
	if (!text)
		return fctl_not_foliofs(mount, errno);
	st_split(text, &kv);
	/*
	 * The kernel's flag, which a remount changes without asking the
	 * daemon: image_mode is how the daemon opened the image.
	 */
	if (kv.n < 256 && statvfs(fdpath, &sv) == 0) {
		kv.key[kv.n] = key;
		kv.val[kv.n++] = sv.f_flag & ST_RDONLY ? "ro" : "rw";
	}
	if (prometheus)
		status_prometheus(&kv, mount_root(fdpath, mount, root, sizeof(root)));
	else
		status_plain(&kv);
	free(text);
	return 0;
}
