/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Collapser library interface.  The collapser decides, per 2 MiB region,
 * which folio order file data should have, and (in later stages) turns
 * shmem memory into huge pages with MADV_COLLAPSE.  It has no dependency on
 * the filesystem: callers describe a region by its population and fit, and
 * get back an order.  The policy follows the large-folio table of the seeds:
 * preferences fall back THP > LAF > S, and an explicit "never" always wins.
 */
#ifndef FOLIOFS_CLP_H
#define FOLIOFS_CLP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/mman.h>

#include "foliofs/spa.h"

#define CLP_REGION_SHIFT	21
#define CLP_REGION_SIZE		(1ull << CLP_REGION_SHIFT)
#define CLP_REGION_PAGES	(CLP_REGION_SIZE / CLP_PAGE_SIZE)
#define CLP_LAF_SIZE		(64ull << 10)
#define CLP_PAGE_SIZE		4096ull

/*
 * How the daemon names an inode's memory file; the kernel's collapse
 * tracepoints show it as "filename=ino-N" ("memfd:ino-N" for a memfd).
 */
#define CLP_TRACE_NAME		"ino-%llu"
/* A collapse a user waits for rides out EAGAIN (a short race) this often. */
#define CLP_EXPLICIT_RETRIES  5
#define CLP_EXPLICIT_RETRY_US 20000

/* Linux 6.1's madvise(2) advice; older C libraries lack the name. */
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE		25
#endif

/* Per-file hint (xattr) or mount default; values are stable. */
enum clp_policy {
	CLP_POLICY_UNSET = 0,	/* inherit the mount default */
	CLP_POLICY_NEVER = 1,	/* S only */
	CLP_POLICY_SMALL = 2,	/* LAF > S */
	CLP_POLICY_MADVISE = 3,	/* THP only where asked, else LAF > S */
	CLP_POLICY_ALWAYS = 4,	/* THP > LAF > S */
	CLP_POLICY_AUTO = 5,	/* THP > LAF > S where the fit is good */
};

/* The folio orders the policy hands out. */
enum clp_order {
	CLP_ORDER_S = 0,
	CLP_ORDER_LAF = 4,
	CLP_ORDER_THP = 9,
};

/* What the caller knows about one chunk of a file. */
struct clp_fit {
	uint64_t file_size;	/* bytes */
	uint64_t off;		/* chunk start, aligned to the order tried */
	uint64_t populated;	/* bytes with data in [off, off + size) */
	bool asked;		/* an explicit huge request (madvise-like) */
};

/*
 * Per-region results.  Names are the kernel's huge_memory tracepoint result
 * names where they mean the same; the rest are foliofs's own.  Values are
 * stable: they are stored in images.
 */
#define CLP_RESULTS(X)							\
	X(FAILED,		0, "failed")				\
	X(SUCCEEDED,		1, "succeeded")				\
	X(PAGE_PMD_MAPPED,	2, "page_pmd_mapped")			\
	X(EXCEED_NONE_PTE,	3, "exceed_none_pte")			\
	X(SCAN_ABORTED,		4, "scan_aborted")			\
	X(VMA_CHECK_FAILED,	5, "vma_check_failed")			\
	X(ALLOC_FAILED,		6, "alloc_huge_page_failed")		\
	X(CGROUP_FAILED,	7, "ccgroup_charge_failed")		\
	X(TRUNCATED,		8, "truncated")				\
	X(EMPTY,		9, "empty")				\
	X(KEEP_OFF,		10, "keep_off")				\
	X(POLICY,		11, "policy")				\
	X(BEYOND_EOF,		12, "beyond_eof")			\
	X(NONE,			13, "none")				\
	X(PAGE_COUNT,		14, "not_suitable_page_count")		\
	X(PAGE_LOCKED,		15, "page_locked")			\
	X(PAGE_LRU,		16, "page_not_in_lru")			\
	X(DEL_PAGE_LRU,		17, "could_not_delete_page_from_lru")	\
	X(PAGE_FILLED,		18, "page_filled")

enum clp_result {
#define CLP_X_ENUM(name, val, str) CLP_##name = val,
	CLP_RESULTS(CLP_X_ENUM)
#undef CLP_X_ENUM
	CLP_NR_RESULTS
};

/* State of one 2 MiB region; values are stable (stored in images). */
enum clp_state {
	CLP_R_SMALL = 0,	/* small pages, or nothing */
	CLP_R_HUGE = 1,		/* one PMD-sized folio */
	CLP_R_KEEP_OFF = 2,	/* partly punched: never refill by collapse */
	CLP_R_FAILED = 3,	/* last collapse failed; retry after backoff */
};

struct clp_region {
	uint8_t state;		/* enum clp_state */
	uint8_t last;		/* enum clp_result of the last attempt */
	int8_t kverdict;	/* kernel's own result index, -1 if none */
	uint8_t attempts;	/* failed attempts in a row */
	uint16_t resident;	/* 4 KiB pages resident at the last look */
	uint64_t retry_ns;	/* CLOCK_MONOTONIC time of the next try */
};

/*
 * Region map of one file: state per 2 MiB region, never per file, kept
 * sparse so that it costs the regions that have a state, not the file's
 * apparent size.  clp_map_init() before use.
 */
struct clp_map {
	struct spa s;
};

/* Counters of a collapser (daemon-wide). */
struct clp_stats {
	uint64_t collapsed;
	uint64_t full_scans;
	uint64_t splits;
	uint64_t by_result[CLP_NR_RESULTS];
};

/* A private tracefs instance for the kernel's verdicts (opaque). */
struct clp_trace;

/* What a collapse is allowed to do. */
struct clp_params {
	enum clp_policy policy;		/* effective policy of the file */
	unsigned max_ptes_none;		/* 0..511, as khugepaged's knob */
	bool explicit_req;		/* a user asked: ignore keep-off/backoff */
};

const char *clp_result_name(enum clp_result r);
int clp_result_errno(enum clp_result r);
enum clp_result clp_errno_result(int err);
const char *clp_state_name(enum clp_state s);
const char *clp_kernel_result_name(int idx);
int clp_kernel_result_parse(const char *name);
enum clp_result clp_kernel_result(int idx);

void clp_map_init(struct clp_map *m);
void clp_map_release(struct clp_map *m);
const struct clp_region *clp_map_peek(const struct clp_map *m, uint64_t idx);
int clp_map_set(struct clp_map *m, uint64_t idx, const struct clp_region *r);
bool clp_map_next(const struct clp_map *m, uint64_t from, uint64_t *idx);
void clp_map_punch(struct clp_map *m, uint64_t off, uint64_t len, uint64_t size);
void clp_map_truncate(struct clp_map *m, uint64_t old_size, uint64_t new_size);
bool clp_result_transient(enum clp_result r);
void clp_region_record(struct clp_region *r, enum clp_result res, uint64_t now_ns);
bool clp_region_due(const struct clp_region *r, uint64_t now_ns, bool explicit_req);

void *clp_map_aligned(int fd, uint64_t off, size_t len, int prot);
int clp_region_resident(int fd, uint64_t off, unsigned *pages);
enum clp_result clp_collapse_region(int fd, uint64_t off, uint64_t file_size,
				    const struct clp_params *p, struct clp_region *reg,
				    struct clp_trace *trace, uint64_t ino);
/*
 * A run of data [start, stop) found by clp_data_run() seeking from @from
 * (so [from, start) holds none); zero it to start a walk.
 */
struct clp_run {
	uint64_t from, start, stop;
};
int clp_data_run(int fd, uint64_t pos, uint64_t end, uint64_t *start, uint64_t *stop,
		 struct clp_run *run);
int clp_next_data(int fd, uint64_t from, uint64_t end, uint64_t *idx);
enum clp_result clp_collapse_step(struct clp_region *reg, int fd, uint64_t idx,
				  uint64_t file_size, const struct clp_params *p,
				  struct clp_stats *st, struct clp_trace *trace, uint64_t ino);

int clp_trace_open(struct clp_trace **out);
int clp_trace_fd(const struct clp_trace *t);
void clp_trace_close(struct clp_trace *t);

/* Stage two: remap a running process's mappings of files under @prefix. */
struct clp_remap_report {
	uint64_t start, end;	/* the mapping */
	char path[256];
	int err;		/* 0 or errno of process_madvise */
	uint64_t pmd_kb_before, pmd_kb_after;
};
int clp_remap_pid(int pid, const char *prefix,
		  void (*report)(void *arg, const struct clp_remap_report *r),
		  void *arg);

enum clp_policy clp_policy_resolve(enum clp_policy file, enum clp_policy mount);
int clp_policy_parse(const char *s, enum clp_policy *out);
const char *clp_policy_name(enum clp_policy p);
unsigned clp_max_order(enum clp_policy p, bool asked);
bool clp_order_fits(unsigned order, const struct clp_fit *fit,
		    unsigned max_ptes_none);

#endif /* FOLIOFS_CLP_H */
