// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * folioctl: look at and steer a mounted foliofs.  The daemon answers through
 * extended attributes on the mount (user.foliofs.status, .map, .policy,
 * .collapse); folioctl formats what they say, adds what only the client side
 * can see (the folio orders behind a mapping, from pagemap and kpageflags),
 * remaps running processes by PMD through the collapser library, explains
 * the machine (doctor) and checks binaries for PMD-mappable text (elfcheck).
 * Every read command takes --json.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "config.h"
#include "foliofs/clp.h"
#include "foliofs/ctl.h"
#include "foliofs/img.h"
#include "tool.h"

#define FUSE_SUPER_MAGIC	0x65735546

static bool json;

static const char usage_text[] =
"usage: folioctl [--json] COMMAND [ARGS]\n"
"\n"
"Inspect and steer foliofs mounts: which data is in 2 MiB pages, and why not.\n"
"\n"
"Commands:\n"
"  status MOUNT            data path (passthrough or served by the daemon, and\n"
"                          why), files and bytes resident, huge regions,\n"
"                          collapses by result, splits, keep-off regions,\n"
"                          writeback and memory-budget figures\n"
"  map FILE                one line per 2 MiB region: offset, state (small,\n"
"                          huge, keep-off, failed), resident pages, last\n"
"                          result, the kernel's own verdict; as root also the\n"
"                          folio orders really backing it (pagemap/kpageflags)\n"
"  collapse FILE [OFFSET LENGTH]\n"
"                          collapse now, region by region; exit status 0 only\n"
"                          if every eligible region ends huge; errors as\n"
"                          MADV_COLLAPSE: EAGAIN transient, ENOMEM allocation,\n"
"                          EBUSY limits, EINVAL ineligible (policy never)\n"
"  policy FILE [VALUE]     show or set the folio policy: never, small,\n"
"                          madvise, always or auto; new files and directories\n"
"                          inherit their directory's\n"
"  remap PID [FILE]        map a running process's mappings of FILE (default:\n"
"                          of any foliofs mount) by PMD (process_madvise\n"
"                          MADV_COLLAPSE; needs root)\n"
"  trace [--count N]       print collapse results live as the kernel reports\n"
"                          them (tracefs; needs root); Ctrl-C stops\n"
"  doctor                  what this machine offers foliofs, and what it means\n"
"  elfcheck BINARY         can the program's text be PMD-mapped from foliofs?\n"
"\n"
"Options:\n"
"  --json                  machine-readable output for status, map, policy,\n"
"                          doctor, elfcheck, remap and trace\n"
"  -h, --help              this text\n"
"  -V, --version           version\n"
"\n"
"Exit status: 0 success, 1 the operation failed, 2 usage error.\n";

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

static bool is_number(const char *s)
{
	char *end;

	if (!*s)
		return false;
	strtoll(s, &end, 10);
	return !*end;
}

/*
 * Read a whole extended attribute as a NUL-terminated string.  Generated
 * values (status, map) can grow between asking the size and reading: then
 * ask again.
 */
static char *get_text(const char *path, const char *name)
{
	for (int tries = 0; tries < 8; tries++) {
		ssize_t n = getxattr(path, name, NULL, 0);
		char *buf;

		if (n < 0)
			return NULL;
		buf = malloc((size_t)n + 4097);
		if (!buf)
			return NULL;
		n = getxattr(path, name, buf, (size_t)n + 4096);
		if (n >= 0) {
			buf[n] = '\0';
			return buf;
		}
		free(buf);
		if (errno != ERANGE)
			return NULL;
	}
	return NULL;
}

/* One line for a target that is not there or not on foliofs; exit 1. */
static int not_foliofs(const char *path, int err)
{
	fprintf(stderr, "folioctl: %s: %s\n", path,
		err == ENODATA || err == EOPNOTSUPP || !err ?
		"not on a foliofs mount" : strerror(err));
	return 1;
}

/*
 * Every command checks its target before touching it: a FUSE file whose
 * mount answers foliofs's status attribute.  Nothing is written elsewhere
 * (a user.foliofs.* xattr on /etc/passwd would be a surprise).
 */
static int require_foliofs(const char *path)
{
	struct statfs sf;

	if (statfs(path, &sf) < 0)
		return not_foliofs(path, errno);
	if (sf.f_type != FUSE_SUPER_MAGIC || getxattr(path, FOFS_XATTR_STATUS, NULL, 0) < 0)
		return not_foliofs(path, 0);
	return 0;
}

static int cmd_status(const char *mount)
{
	char *text, *line, *save = NULL;
	bool first = true;

	if (require_foliofs(mount))
		return 1;
	text = get_text(mount, FOFS_XATTR_STATUS);
	if (!text)
		return not_foliofs(mount, errno);
	if (json)
		printf("{");
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');

		if (!eq)
			continue;
		*eq = '\0';
		if (!json) {
			printf("%-24s %s\n", line, eq + 1);
			continue;
		}
		printf("%s", first ? "" : ",");
		json_str(line);
		printf(":");
		if (is_number(eq + 1))
			printf("%s", eq + 1);
		else
			json_str(eq + 1);
		first = false;
	}
	if (json)
		printf("}\n");
	free(text);
	return 0;
}

/* Folio makeup of [off, off + len) as this process maps it (root only). */
struct orders {
	unsigned thp, compound, small, absent;
	bool known;
};

/* Open files for folio_orders(); any left -1 means "not known". */
struct order_src {
	int fd, pm, kf;
};

/*
 * Folio makeup of the region at @off as this process maps it (root only):
 * one region is mapped at a time, so the cost follows the regions listed.
 */
static void folio_orders(const struct order_src *src, uint64_t off, uint64_t size,
			 struct orders *o)
{
	size_t len = size - off < CLP_REGION_SIZE ? (size_t)(size - off) : CLP_REGION_SIZE;
	unsigned char vec[CLP_REGION_SIZE / 4096];
	uint8_t *map;

	*o = (struct orders){ 0 };
	if (src->fd < 0 || src->pm < 0 || src->kf < 0 || off >= size)
		return;
	map = mmap(NULL, len, PROT_READ, MAP_SHARED, src->fd, (off_t)off);
	if (map == MAP_FAILED)
		return;
	if (mincore(map, len, vec) < 0)
		goto out_unmap;
	o->known = true;
	for (size_t pg = 0; pg < (len + 4095) / 4096; pg++) {
		off_t slot = (off_t)((uintptr_t)(map + pg * 4096) / 4096 * 8);
		uint64_t ent, flags;
		volatile uint8_t c;

		if (!(vec[pg] & 1)) {	/* touching a hole would fill it */
			o->absent++;
			continue;
		}
		c = map[pg * 4096];
		(void)c;
		if (pread(src->pm, &ent, 8, slot) != 8 ||
		    !(ent & (1ull << 63)) ||
		    pread(src->kf, &flags, 8, (off_t)((ent & ((1ull << 55) - 1)) * 8)) != 8) {
			o->absent++;
			continue;
		}
		if (flags & (1ull << 22))		/* KPF_THP */
			o->thp++;
		else if (flags & ((1ull << 15) | (1ull << 16)))	/* COMPOUND_HEAD/TAIL */
			o->compound++;
		else
			o->small++;
	}
out_unmap:
	munmap(map, len);
}

static void map_row(bool first, unsigned long long off, const char *state,
		    unsigned resident, const char *last, const char *kernel,
		    unsigned attempts, const struct orders *o)
{
	if (!json) {
		printf("%12llu  %-9s %8u  %-22s %-22s %4u", off, state, resident, last,
		       kernel, attempts);
		if (o->known)
			printf("  thp=%u compound=%u small=%u", o->thp, o->compound, o->small);
		printf("\n");
		return;
	}
	printf("%s{\"offset\":%llu,\"state\":", first ? "" : ",", off);
	json_str(state);
	printf(",\"resident_pages\":%u,\"last_result\":", resident);
	json_str(last);
	printf(",\"kernel_verdict\":");
	json_str(kernel);
	printf(",\"failed_attempts\":%u", attempts);
	if (o->known)
		printf(",\"folios\":{\"thp_pages\":%u,\"compound_pages\":%u,\"small_pages\":%u}",
		       o->thp, o->compound, o->small);
	printf("}");
}

/* All pages of the region table ("more N" ends a page that goes on). */
static char *get_map(const char *path)
{
	char *all = NULL, name[64], *more;
	size_t len = 0;

	snprintf(name, sizeof(name), "%s", FOFS_XATTR_MAP);
	for (;;) {
		char *page = get_text(path, name), *p;

		if (!page) {
			free(all);
			return NULL;
		}
		more = strstr(page, "more ");
		if (more)
			*more = '\0';
		p = realloc(all, len + strlen(page) + 1);
		if (!p) {
			free(page);
			free(all);
			return NULL;
		}
		all = p;
		memcpy(all + len, page, strlen(page) + 1);
		len += strlen(page);
		if (!more) {
			free(page);
			return all;
		}
		snprintf(name, sizeof(name), "%s.%lu", FOFS_XATTR_MAP, strtoul(more + 5, NULL, 10));
		free(page);
	}
}

static int cmd_map(const char *path)
{
	struct order_src src = { -1, -1, -1 };
	char *text, *line, *save = NULL;
	struct stat st;
	size_t i = 0;

	if (require_foliofs(path))
		return 1;
	text = get_map(path);
	if (!text || stat(path, &st) < 0)
		return not_foliofs(path, errno);
	if (geteuid() == 0)
		src = (struct order_src){ open(path, O_RDONLY | O_CLOEXEC),
			open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC),
			open("/proc/kpageflags", O_RDONLY | O_CLOEXEC) };
	if (json) {
		printf("{\"file\":");
		json_str(path);
		printf(",\"size\":%lld,\"regions\":[", (long long)st.st_size);
	} else {
		printf("%12s  %-9s %8s  %-22s %-22s %4s%s\n", "offset", "state", "resident",
		       "last result", "kernel verdict", "try",
		       geteuid() == 0 ? "  folios behind this client's mapping" : "");
	}
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char state[16], last[32], kernel[40];
		unsigned long long off;
		unsigned resident, attempts;
		struct orders o;

		if (sscanf(line, "%llu %15s %u %31s %39s %u", &off, state, &resident, last,
			   kernel, &attempts) != 6)
			continue;
		folio_orders(&src, off, (uint64_t)st.st_size, &o);
		map_row(i++ == 0, off, state, resident, last, kernel, attempts, &o);
	}
	if (json)
		printf("]}\n");
	for (int *fd = &src.fd; fd <= &src.kf; fd++)
		if (*fd >= 0)
			close(*fd);
	free(text);
	return 0;
}

static int cmd_collapse(const char *path, const char *off, const char *len)
{
	uint64_t o = 0, l = 0, total, step, done = 0;
	struct stat st;
	char val[64];
	int first = 0;

	if (require_foliofs(path))
		return 1;
	if (stat(path, &st) < 0)
		return not_foliofs(path, errno);
	if (off && (img_parse_size(off, &o) || !len || img_parse_size(len, &l))) {
		fprintf(stderr, "folioctl: collapse wants OFFSET and LENGTH in bytes "
			"(K/M/G suffixes allowed)\n");
		return 2;
	}
	total = off ? l : (uint64_t)st.st_size;
	/* chunks of 64 MiB: a progress bar on a terminal, one request each */
	step = 64ull << 20;
	for (done = 0; done < total || (!total && !done); done += step) {
		uint64_t n = total - done < step ? total - done : step;

		snprintf(val, sizeof(val), "%llu %llu", (unsigned long long)(o + done),
			 (unsigned long long)(n ? n : 1));
		if (setxattr(path, FOFS_XATTR_COLLAPSE, val, strlen(val), 0) < 0 && !first)
			first = errno;
		tool_progress("collapse", done + n, total);
		if (!total)
			break;
	}
	if (first) {
		fprintf(stderr, "folioctl: collapse %s: %s%s\n", path, strerror(first),
			first == EINVAL ? " (its policy keeps it in small pages?)" :
			first == EBUSY ? " (memory cgroup limit?)" :
			first == ENOMEM ? " (no free huge page; memory fragmented?)" : "");
		return 1;
	}
	return 0;
}

/* The mount's -o huge=, from its status (a path anywhere on the mount). */
static enum clp_policy mount_policy(const char *path)
{
	enum clp_policy p = CLP_POLICY_ALWAYS;
	char *text = get_text(path, FOFS_XATTR_STATUS), val[16];

	if (text && fofs_status_value(text, FOFS_ST_HUGE, val, sizeof(val)) &&
	    clp_policy_parse(val, &p))
		p = CLP_POLICY_ALWAYS;
	free(text);
	return p;
}

static int cmd_policy(const char *path, const char *value)
{
	enum clp_policy mount, file;
	const char *eff;
	char *cur;

	if (require_foliofs(path))
		return 1;
	if (value) {
		if (setxattr(path, FOFS_XATTR_POLICY, value, strlen(value), 0) < 0) {
			fprintf(stderr, "folioctl: policy %s: %s%s\n", path, strerror(errno),
				errno == EINVAL ? " (never, small, madvise, always, auto)" : "");
			return 1;
		}
		return 0;
	}
	cur = get_text(path, FOFS_XATTR_POLICY);
	if (!cur && errno != ENODATA)
		return not_foliofs(path, errno);
	mount = mount_policy(path);
	if (!cur || clp_policy_parse(cur, &file))
		file = CLP_POLICY_UNSET;
	eff = clp_policy_name(clp_policy_resolve(file, mount));
	if (json) {
		printf("{\"file\":");
		json_str(path);
		printf(",\"policy\":");
		json_str(cur ? cur : "inherit");
		printf(",\"mount_huge\":");
		json_str(clp_policy_name(mount));
		printf(",\"effective\":");
		json_str(eff);
		printf("}\n");
	} else {
		printf("%s (effective: %s, with the mount's huge=%s)\n",
		       cur ? cur : "(none: the mount default applies)", eff,
		       clp_policy_name(mount));
	}
	free(cur);
	return 0;
}

static bool remap_first = true;

static void remap_show(void *arg, const struct clp_remap_report *r)
{
	(void)arg;
	if (!json) {
		printf("%llx-%llx %-40s %s  PMD-mapped %llu kB -> %llu kB\n",
		       (unsigned long long)r->start, (unsigned long long)r->end, r->path,
		       r->err ? strerror(r->err) : "ok",
		       (unsigned long long)r->pmd_kb_before,
		       (unsigned long long)r->pmd_kb_after);
		return;
	}
	printf("%s{\"start\":%llu,\"end\":%llu,\"path\":", remap_first ? "" : ",",
	       (unsigned long long)r->start, (unsigned long long)r->end);
	json_str(r->path);
	printf(",\"error\":%d,\"pmd_kb_before\":%llu,\"pmd_kb_after\":%llu}", r->err,
	       (unsigned long long)r->pmd_kb_before, (unsigned long long)r->pmd_kb_after);
	remap_first = false;
}

/* Mount points of foliofs, from /proc/self/mounts. */
static int foliofs_mounts(char mounts[][256], int max)
{
	char dev[256], dir[256], type[64];
	FILE *f = fopen("/proc/self/mounts", "re");
	int n = 0;

	while (f && n < max && fscanf(f, "%255s %255s %63s %*[^\n]", dev, dir, type) == 3)
		if (!strcmp(type, "fuse.foliofs"))
			snprintf(mounts[n++], 256, "%s", dir);
	if (f)
		fclose(f);
	return n;
}

static int cmd_remap(const char *pidstr, const char *file)
{
	char mounts[16][256], real[PATH_MAX];
	int n, ret = 0, pid = atoi(pidstr);

	if (pid <= 0) {
		fprintf(stderr, "folioctl: remap wants a process id\n");
		return 2;
	}
	if (file && require_foliofs(file))
		return 1;
	if (file && realpath(file, real))
		file = real;
	if (file && strlen(file) >= sizeof(mounts[0])) {
		fprintf(stderr, "folioctl: path too long\n");
		return 2;
	}
	n = file ? 1 : foliofs_mounts(mounts, 16);
	if (file)
		memcpy(mounts[0], file, strlen(file) + 1);
	if (json)
		printf("[");
	for (int i = 0; i < n; i++) {
		int r = clp_remap_pid(pid, mounts[i], remap_show, NULL);

		if (r && r != -ENOENT && !ret)
			ret = r;
	}
	if (json)
		printf("]\n");
	if (ret)
		fprintf(stderr, "folioctl: remap %d: %s\n", pid, strerror(-ret));
	return ret ? 1 : 0;
}

static volatile sig_atomic_t trace_stop;

static void trace_signal(int sig)
{
	(void)sig;
	trace_stop = 1;
}

/*
 * One trace line: collapse_file names the region (index is where its scan
 * ended, the region's end when it got that far); scan_file reports regions
 * that failed before a collapse began and has no index.  Successful scans
 * are followed by their collapse_file line and not shown.
 */
static bool trace_line(const char *buf)
{
	const char *p = strstr(buf, "index="), *q = strstr(buf, "filename="),
		   *r = strstr(buf, "result=");
	unsigned long long index, ino = 0;
	char name[64], result[48];
	bool scan = strstr(buf, "mm_khugepaged_scan_file") != NULL;
	long long off = -1;

	if (!q || !r || sscanf(q, "filename=%63[^,]", name) != 1 ||
	    sscanf(r, "result=%47s", result) != 1 || (scan && !strcmp(result, "succeeded")))
		return false;
	if (!scan && p && sscanf(p, "index=%llu", &index) == 1)
		off = (long long)(index - (index % 512 ? index % 512 : 512)) * 4096;
	if (strstr(name, "ino-"))
		ino = strtoull(strstr(name, "ino-") + 4, NULL, 10);
	if (json) {
		printf("{\"inode\":%llu,\"file\":", ino);
		json_str(name);
		printf(",\"region_offset\":");
		if (off >= 0)
			printf("%lld", off);
		else
			printf("null");
		printf(",\"kernel_result\":");
		json_str(result);
		printf("}\n");
	} else if (off >= 0) {
		printf("inode %-10llu region at %lld: %s\n", ino, off, result);
	} else {
		printf("inode %-10llu scan failed: %s\n", ino, result);
	}
	return true;
}

static int cmd_trace(long count)
{
	struct sigaction sa = { .sa_handler = trace_signal };	/* no SA_RESTART */
	struct clp_trace *t;
	char buf[8192];
	long seen = 0;
	FILE *f;

	if (clp_trace_open(&t)) {
		fprintf(stderr, "folioctl: trace needs root and tracefs "
			"(mount -t tracefs nodev /sys/kernel/tracing)\n");
		return 1;
	}
	/* Ctrl-C, kill or a closed pipe end the loop, and the instance goes */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);
	f = fdopen(dup(clp_trace_fd(t)), "r");
	fcntl(fileno(f), F_SETFL, 0);
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (!trace_stop && (count <= 0 || seen < count) && fgets(buf, sizeof(buf), f))
		seen += trace_line(buf);
	fclose(f);
	clp_trace_close(t);
	return 0;
}

/* ---- doctor ---- */

struct finding {
	const char *key;
	char value[160];
	const char *meaning;
	bool ok;
};

static void read_line(const char *path, char *out, size_t len)
{
	FILE *f = fopen(path, "re");

	out[0] = '\0';
	if (f && fgets(out, (int)len, f))
		out[strcspn(out, "\n")] = '\0';
	if (f)
		fclose(f);
	if (!out[0])
		snprintf(out, len, "unavailable");
}

/* The bracketed choice of a sysfs "a [b] c" line. */
static void selected(char *v)
{
	char *a = strchr(v, '['), *b = a ? strchr(a, ']') : NULL;

	if (a && b) {
		*b = '\0';
		memmove(v, a + 1, strlen(a + 1) + 1);
	}
}

static void memcg_headroom(char *out, size_t len)
{
	char cg[512] = "", path[700], max[64], cur[64];

	read_line("/proc/self/cgroup", cg, sizeof(cg));
	snprintf(path, sizeof(path), "/sys/fs/cgroup%s/memory.max",
		 strncmp(cg, "0::", 3) ? "" : cg + 3);
	read_line(path, max, sizeof(max));
	snprintf(path, sizeof(path), "/sys/fs/cgroup%s/memory.current",
		 strncmp(cg, "0::", 3) ? "" : cg + 3);
	read_line(path, cur, sizeof(cur));
	if (!strcmp(max, "max") || !strcmp(max, "unavailable"))
		snprintf(out, len, "no memory limit");
	else
		snprintf(out, len, "%llu MiB free of %llu MiB",
			 (strtoull(max, NULL, 10) - strtoull(cur, NULL, 10)) >> 20,
			 strtoull(max, NULL, 10) >> 20);
}

static int cmd_doctor(void)
{
	struct finding f[10];
	struct utsname u;
	int major = 0, minor = 0, n = 0;
	char v[160];

	uname(&u);
	sscanf(u.release, "%d.%d", &major, &minor);
	f[n] = (struct finding){ "kernel", "", "FUSE passthrough needs Linux >= 6.9",
				 major > 6 || (major == 6 && minor >= 9) };
	snprintf(f[n++].value, sizeof(f[0].value), "%s", u.release);
	f[n] = (struct finding){ "dev_fuse", "", "FUSE needs /dev/fuse",
				 access("/dev/fuse", R_OK | W_OK) == 0 };
	snprintf(f[n].value, sizeof(f[0].value), "%s", f[n].ok ? "present" : "missing");
	n++;
	f[n] = (struct finding){ "cap_sys_admin", "", "passthrough (the kernel's "
				 "BACKING_OPEN) and the private sized tmpfs need it; "
				 "without it the daemon serves data itself",
				 geteuid() == 0 };
	snprintf(f[n].value, sizeof(f[0].value), "%s", f[n].ok ? "yes (root)" : "no");
	n++;
	f[n] = (struct finding){ "passthrough_possible", "", "client mmaps map the "
				 "daemon's huge pages by PMD only with passthrough",
				 f[0].ok && f[1].ok && f[2].ok };
	snprintf(f[n].value, sizeof(f[0].value), "%s", f[n].ok ? "yes" : "no");
	n++;
	read_line("/sys/kernel/mm/transparent_hugepage/enabled", v, sizeof(v));
	selected(v);
	f[n] = (struct finding){ "thp_enabled", "", "foliofs does not depend on it: "
				 "MADV_COLLAPSE works whatever it says", true };
	snprintf(f[n++].value, sizeof(f[0].value), "%s", v);
	read_line("/sys/kernel/mm/transparent_hugepage/shmem_enabled", v, sizeof(v));
	selected(v);
	f[n] = (struct finding){ "shmem_enabled", "", "foliofs collapses its own "
				 "memory; only deny and force change that",
				 strcmp(v, "deny") != 0 };
	snprintf(f[n++].value, sizeof(f[0].value), "%s", v);
	read_line("/sys/kernel/mm/transparent_hugepage/defrag", v, sizeof(v));
	selected(v);
	f[n] = (struct finding){ "defrag", "", "MADV_COLLAPSE may compact memory "
				 "regardless; huge allocations can be slow when memory "
				 "is fragmented", true };
	snprintf(f[n++].value, sizeof(f[0].value), "%s", v);
	f[n] = (struct finding){ "tracefs", "", "with tracefs the kernel's own "
				 "per-region verdict is recorded",
				 access("/sys/kernel/tracing/events/huge_memory", R_OK) == 0 };
	snprintf(f[n].value, sizeof(f[0].value), "%s", f[n].ok ? "available" :
		 "not mounted (mount -t tracefs nodev /sys/kernel/tracing)");
	n++;
	memcg_headroom(v, sizeof(v));
	f[n] = (struct finding){ "memcg_headroom", "", "huge pages are charged to "
				 "the daemon's memory cgroup; too little headroom makes "
				 "collapses fail with EBUSY", true };
	snprintf(f[n++].value, sizeof(f[0].value), "%s", v);
	if (json)
		printf("{");
	for (int i = 0; i < n; i++) {
		if (!json) {
			printf("%-21s %-4s %s\n%21s      %s\n", f[i].key, f[i].ok ? "ok" : "NO",
			       f[i].value, "", f[i].meaning);
			continue;
		}
		printf("%s\"%s\":{\"value\":", i ? "," : "", f[i].key);
		json_str(f[i].value);
		printf(",\"ok\":%s,\"meaning\":", f[i].ok ? "true" : "false");
		json_str(f[i].meaning);
		printf("}");
	}
	if (json)
		printf("}\n");
	return 0;
}

/* ---- elfcheck ---- */

/* What keeps one segment from being PMD-mapped, named as it is. */
static const char *segment_verdict(const Elf64_Phdr *ph)
{
	if (ph->p_offset % CLP_REGION_SIZE != ph->p_vaddr % CLP_REGION_SIZE)
		return "file offset and address differ modulo 2 MiB";
	if (ph->p_align < CLP_REGION_SIZE)
		return "p_align below 2 MiB (the loader may place it anywhere)";
	return "2 MiB-congruent";
}

static int cmd_elfcheck(const char *path)
{
	int fd = open(path, O_RDONLY), bad = 0, loads = 0;
	uint64_t text = 0;
	Elf64_Ehdr eh;
	Elf64_Phdr ph;

	if (fd < 0) {
		fprintf(stderr, "folioctl: %s: %s\n", path, strerror(errno));
		return 1;
	}
	if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_ident[EI_CLASS] != ELFCLASS64) {
		fprintf(stderr, "folioctl: %s: not a 64-bit ELF file\n", path);
		close(fd);
		return 1;
	}
	if (json)
		printf("{\"file\":\"%s\",\"segments\":[", path);
	for (int i = 0; i < eh.e_phnum; i++) {
		bool congruent;

		off_t at = (off_t)(eh.e_phoff + (uint64_t)i * eh.e_phentsize);

		if (pread(fd, &ph, sizeof(ph), at) != (ssize_t)sizeof(ph) || ph.p_type != PT_LOAD)
			continue;
		congruent = ph.p_offset % CLP_REGION_SIZE == ph.p_vaddr % CLP_REGION_SIZE &&
			    ph.p_align >= CLP_REGION_SIZE;
		bad += !congruent;
		if (ph.p_flags & PF_X)
			text += ph.p_filesz;
		if (json)
			printf("%s{\"offset\":%llu,\"vaddr\":%llu,\"align\":%llu,\"size\":%llu,"
			       "\"exec\":%s,\"pmd_congruent\":%s}", loads ? "," : "",
			       (unsigned long long)ph.p_offset, (unsigned long long)ph.p_vaddr,
			       (unsigned long long)ph.p_align, (unsigned long long)ph.p_filesz,
			       ph.p_flags & PF_X ? "true" : "false", congruent ? "true" : "false");
		else
			printf("LOAD offset 0x%llx vaddr 0x%llx align 0x%llx size %llu%s: %s\n",
			       (unsigned long long)ph.p_offset, (unsigned long long)ph.p_vaddr,
			       (unsigned long long)ph.p_align, (unsigned long long)ph.p_filesz,
			       ph.p_flags & PF_X ? " (text)" : "", segment_verdict(&ph));
		loads++;
	}
	close(fd);
	if (json) {
		printf("],\"text_bytes\":%llu,\"pmd_mappable\":%s}\n", (unsigned long long)text,
		       !bad && text >= CLP_REGION_SIZE ? "true" : "false");
	} else if (bad) {
		printf("%s: its text cannot be PMD-mapped; relink with\n"
		       "  -Wl,-z,max-page-size=0x200000 (and -z,common-page-size=0x200000)\n"
		       "so each segment's file offset and address agree modulo 2 MiB.\n", path);
	} else {
		printf("%s: segments are 2 MiB-congruent; %s\n", path, text >= CLP_REGION_SIZE ?
		       "its text can be PMD-mapped from foliofs" :
		       "but its text is smaller than 2 MiB, so there is nothing to map by PMD");
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "count", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 }
	};
	long count = 0;
	const char *cmd;
	int c, n;

	while ((c = getopt_long(argc, argv, "+jhVc:", longopts, NULL)) != -1) {
		switch (c) {
		case 'j': json = true; break;
		case 'c': count = atol(optarg); break;
		case 'h': fputs(usage_text, stdout); return 0;
		case 'V': printf("folioctl %s\n", FOLIOFS_VERSION); return 0;
		default: fputs(usage_text, stderr); return 2;
		}
	}
	if (optind >= argc) {
		fputs(usage_text, stderr);
		return 2;
	}
	/*
	 * Options may also follow the command and its arguments, as with any
	 * getopt_long() tool: parse what follows the command again, in a fresh
	 * scan that permutes (the first one stopped at the command).
	 */
	cmd = argv[optind];
	argc -= optind;
	argv += optind;
	optind = 0;
	while ((c = getopt_long(argc, argv, "jc:", longopts, NULL)) != -1) {
		if (c == 'j')
			json = true;
		else if (c == 'c')
			count = atol(optarg);
		else
			return 2;
	}
	n = argc - optind;
	argv += optind;
	if (!strcmp(cmd, "status") && n == 1)
		return cmd_status(argv[0]);
	if (!strcmp(cmd, "map") && n == 1)
		return cmd_map(argv[0]);
	if (!strcmp(cmd, "collapse") && (n == 1 || n == 3))
		return cmd_collapse(argv[0], n == 3 ? argv[1] : NULL, n == 3 ? argv[2] : NULL);
	if (!strcmp(cmd, "policy") && (n == 1 || n == 2))
		return cmd_policy(argv[0], n == 2 ? argv[1] : NULL);
	if (!strcmp(cmd, "remap") && (n == 1 || n == 2))
		return cmd_remap(argv[0], n == 2 ? argv[1] : NULL);
	if (!strcmp(cmd, "trace") && n == 0)
		return cmd_trace(count);
	if (!strcmp(cmd, "doctor") && n == 0)
		return cmd_doctor();
	if (!strcmp(cmd, "elfcheck") && n == 1)
		return cmd_elfcheck(argv[0]);
	fprintf(stderr, "folioctl: unknown command or wrong arguments: %s\n\n", cmd);
	fputs(usage_text, stderr);
	return 2;
}
