/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The control interface between a mounted foliofs and its tools: the
 * extended attributes the daemon answers (and folioctl and the remount path
 * ask), the fields of its status, and the memory-file naming the kernel's
 * collapse tracepoints show.  One definition for the daemon and the tools,
 * so they cannot drift.
 */
#ifndef FOLIOFS_CTL_H
#define FOLIOFS_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* The control namespace: every name below, and any other under it. */
#define FOFS_XATTR_PREFIX   "user.foliofs."
#define FOFS_XATTR_POLICY   FOFS_XATTR_PREFIX "policy"	 /* a file's folio policy */
#define FOFS_XATTR_COLLAPSE FOFS_XATTR_PREFIX "collapse" /* "OFF LEN": collapse now */
#define FOFS_XATTR_MAP	    FOFS_XATTR_PREFIX "map"	 /* region table; ".N" pages */
#define FOFS_XATTR_STATUS   FOFS_XATTR_PREFIX "status"	 /* key=value lines */
/* a file's data path: auto (the default), tracked or passthrough */
#define FOFS_XATTR_DATAPATH FOFS_XATTR_PREFIX "datapath"

/*
 * Status fields, one "key=value" line each, in this order; then the fsync
 * latency buckets and "result_NAME=COUNT" for every collapse result seen.
 * Keys are never renamed (scripts, folioctl --json and --prometheus read
 * them).
 */
/* clang-format off */
#define FOFS_STATUS_FIELDS(X) \
	X(DAEMON_PID, "daemon_pid") \
	X(IMAGE, "image") \
	X(IMAGE_MODE, "image_mode") \
	X(GENERATION, "generation") \
	X(DATA_PATH, "data_path") \
	X(PT_OFF_REASON, "passthrough_off_reason") \
	X(FILES_LOADED, "files_loaded") \
	X(BYTES_RESIDENT, "bytes_resident") \
	X(BYTES_HUGE, "bytes_in_huge_pages") \
	X(HUGE_SHARE, "huge_share_pct") \
	X(HUGE_REGIONS, "huge_regions") \
	X(KEEP_OFF_REGIONS, "keep_off_regions") \
	X(COLLAPSED, "collapsed") \
	X(FULL_SCANS, "full_scans") \
	X(SPLITS, "splits") \
	X(LOAD_COLLAPSED, "load_collapsed") \
	X(LOAD_COLLAPSE_FAILED, "load_collapse_failed") \
	X(COMMITS, "commits") \
	X(CACHE_SIZE, "cache_size") \
	X(HUGE, "huge") \
	X(KERNEL_VERDICTS, "kernel_verdicts") \
	X(IMAGE_BLOCKS, "image_blocks") \
	X(IMAGE_USED_BLOCKS, "image_used_blocks") \
	X(WRITEBACK_ERROR, "writeback_error") \
	X(IMAGE_IO, "image_io") \
	X(FSYNCS, "fsyncs") \
	X(FSYNCS_SHARED, "fsyncs_shared") \
	X(LOG_BATCHES, "log_batches") \
	X(LOG_BLOCKS, "log_blocks") \
	X(WRITEBACK_ERRORS, "writeback_errors") \
	X(FSYNC_US_SUM, "fsync_us_sum") \
	X(TRANSPORT, "transport") \
	X(TRANSPORT_REASON, "transport_reason") \
	X(RING_REQUESTS, "ring_requests") \
	X(FILES_TRACKED, "files_tracked") \
	X(FILES_PASSTHROUGH, "files_passthrough") \
	X(SCANS, "unseen_write_scans") \
	X(BYTES_SCANNED, "unseen_write_bytes_scanned")
/* clang-format on */

/*
 * fsync latency: after the fields, "fsync_us_le_B=COUNT" for each bound B
 * below, cumulative (fsyncs that took at most B microseconds); fsyncs
 * counts them all and fsync_us_sum adds their times.
 */
#define FOFS_FSYNC_BUCKETS_US                                                                     \
	{                                                                                         \
		50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000 \
	}
#define FOFS_FSYNC_NR_BUCKETS 13

enum fofs_status_field {
#define FOFS_X_STATUS(id, key) FOFS_ST_##id,
	FOFS_STATUS_FIELDS(FOFS_X_STATUS)
#undef FOFS_X_STATUS
	FOFS_ST_NR
};

static inline const char *fofs_status_key(enum fofs_status_field f)
{
	static const char *const keys[] = {
#define FOFS_X_STATUS(id, key) key,
		FOFS_STATUS_FIELDS(FOFS_X_STATUS)
#undef FOFS_X_STATUS
	};

	return (unsigned)f < FOFS_ST_NR ? keys[f] : "";
}

/*
 * The value of field @f in a status text, copied to @buf (NUL-terminated,
 * cut to @len - 1 bytes).  Returns false if the text has no such line.
 */
static inline bool fofs_status_value(const char *text, enum fofs_status_field f,
				     char *buf, size_t len)
{
	const char *key = fofs_status_key(f);
	size_t klen = strlen(key), n;

	for (const char *line = text; line && *line; line = strchr(line, '\n')) {
		line += *line == '\n';
		if (strncmp(line, key, klen) || line[klen] != '=')
			continue;
		line += klen + 1;
		n = strcspn(line, "\n");
		n = n < len ? n : len - 1;
		memcpy(buf, line, n);
		buf[n] = '\0';
		return true;
	}
	return false;
}

#endif /* FOLIOFS_CTL_H */
