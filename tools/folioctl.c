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
#include "folioctl.h"
#include "tool.h"

static const char usage_text[] =
	"usage: folioctl [--json] COMMAND [ARGS]\n"
	"\n"
	"Inspect and steer foliofs mounts: which data is in 2 MiB pages, and why not.\n"
	"\n"
	"Commands:\n"
	"  status MOUNT [--prometheus]\n"
	"                          data path (passthrough or served by the daemon, and\n"
	"                          why), files and bytes resident, huge regions,\n"
	"                          collapses by result, splits, keep-off regions,\n"
	"                          writeback, fsync and memory-budget figures;\n"
	"                          --prometheus: the Prometheus text format (for\n"
	"                          node_exporter's textfile collector)\n"
	"  map FILE [--svg OUT | --png OUT]\n"
	"                          one line per 2 MiB region: offset, state (small,\n"
	"                          huge, keep-off, failed), resident pages, last\n"
	"                          result, the kernel's own verdict; as root also the\n"
	"                          folio orders really backing it (pagemap/kpageflags);\n"
	"                          --svg/--png: draw the regions as a picture instead\n"
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
	"Exit status: 0 success, 1 the operation failed (elfcheck: a segment's layout\n"
	"keeps the text from being PMD-mapped), 2 usage error.\n";

static int cmd_collapse(const char *path, const char *off, const char *len)
{
	uint64_t o = 0, l = 0, total, step, done = 0;
	char val[64], fdpath[FCTL_FDPATH_LEN];
	struct stat st;
	int first = 0;

	if (fctl_require_foliofs(path, fdpath, sizeof(fdpath)))
		return 1;
	if (stat(fdpath, &st) < 0)
		return fctl_not_foliofs(path, errno);
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
		if (setxattr(fdpath, FOFS_XATTR_COLLAPSE, val, strlen(val), 0) < 0 && !first)
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
	char *text = fctl_get_text(path, FOFS_XATTR_STATUS), val[16];

	if (text && fofs_status_value(text, FOFS_ST_HUGE, val, sizeof(val)) &&
	    clp_policy_parse(val, &p))
		p = CLP_POLICY_ALWAYS;
	free(text);
	return p;
}

static int cmd_policy(const char *path, const char *value)
{
	char *cur, *dp, fdpath[FCTL_FDPATH_LEN];
	enum clp_policy mount, file;
	const char *eff;

	if (fctl_require_foliofs(path, fdpath, sizeof(fdpath)))
		return 1;
	if (value) {
		if (setxattr(fdpath, FOFS_XATTR_POLICY, value, strlen(value), 0) < 0) {
			fprintf(stderr, "folioctl: policy %s: %s%s\n", path, strerror(errno),
				errno == EINVAL ? " (never, small, madvise, always, auto)" : "");
			return 1;
		}
		return 0;
	}
	cur = fctl_get_text(fdpath, FOFS_XATTR_POLICY);
	if (!cur && errno != ENODATA)
		return fctl_not_foliofs(path, errno);
	mount = mount_policy(fdpath);
	if (!cur || clp_policy_parse(cur, &file))
		file = CLP_POLICY_UNSET;
	eff = clp_policy_name(clp_policy_resolve(file, mount));
	dp = fctl_get_text(fdpath, FOFS_XATTR_DATAPATH);
	if (fctl_json) {
		printf("{\"file\":");
		fctl_json_str(path);
		printf(",\"policy\":");
		fctl_json_str(cur ? cur : "inherit");
		printf(",\"mount_huge\":");
		fctl_json_str(clp_policy_name(mount));
		printf(",\"effective\":");
		fctl_json_str(eff);
		printf(",\"datapath\":");
		fctl_json_str(dp ? dp : "auto");
		printf("}\n");
	} else {
		printf("%s (effective: %s, with the mount's huge=%s)\n"
		       "data path: %s\n",
		       cur ? cur : "(none: the mount default applies)", eff, clp_policy_name(mount),
		       dp ? dp : "auto (readers pass through, writers are tracked)");
	}
	free(cur);
	free(dp);
	return 0;
}

static bool remap_first = true;

static void remap_show(void *arg, const struct clp_remap_report *r)
{
	(void)arg;
	if (!fctl_json) {
		printf("%llx-%llx %-40s %s  PMD-mapped %llu kB -> %llu kB\n",
		       (unsigned long long)r->start, (unsigned long long)r->end, r->path,
		       r->err ? strerror(r->err) : "ok",
		       (unsigned long long)r->pmd_kb_before,
		       (unsigned long long)r->pmd_kb_after);
		return;
	}
	printf("%s{\"start\":%llu,\"end\":%llu,\"path\":", remap_first ? "" : ",",
	       (unsigned long long)r->start, (unsigned long long)r->end);
	fctl_json_str(r->path);
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
	char mounts[16][256], real[PATH_MAX], fdpath[FCTL_FDPATH_LEN];
	int n, ret = 0, pid = atoi(pidstr);

	if (pid <= 0) {
		fprintf(stderr, "folioctl: remap wants a process id\n");
		return 2;
	}
	if (file && fctl_require_foliofs(file, fdpath, sizeof(fdpath)))
		return 1;
	if (file && realpath(fdpath, real))
		file = real;
	if (file && strlen(file) >= sizeof(mounts[0])) {
		fprintf(stderr, "folioctl: path too long\n");
		return 2;
	}
	n = file ? 1 : foliofs_mounts(mounts, 16);
	if (file)
		memcpy(mounts[0], file, strlen(file) + 1);
	if (fctl_json)
		printf("[");
	for (int i = 0; i < n; i++) {
		int r = clp_remap_pid(pid, mounts[i], remap_show, NULL);

		if (r && r != -ENOENT && !ret)
			ret = r;
	}
	if (fctl_json)
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
	if (fctl_json) {
		printf("{\"inode\":%llu,\"file\":", ino);
		fctl_json_str(name);
		printf(",\"region_offset\":");
		if (off >= 0)
			printf("%lld", off);
		else
			printf("null");
		printf(",\"kernel_result\":");
		fctl_json_str(result);
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
	struct finding f[11];
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
	read_line("/sys/module/fuse/parameters/enable_uring", v, sizeof(v));
	f[n] = (struct finding){ "fuse_io_uring", "",
				 "requests travel over io_uring "
				 "(one queue per CPU, one system call each) instead of "
				 "/dev/fuse when this is on: echo 1 > "
				 "/sys/module/fuse/parameters/enable_uring",
				 !strcmp(v, "Y") };
	snprintf(f[n].value, sizeof(f[0].value), "%s",
		 !strcmp(v, "Y") ? "enabled" :
		 !strcmp(v, "N") ? "available, switched off" :
				   "not in this kernel (Linux >= 6.14, CONFIG_FUSE_IO_URING)");
	n++;
	memcg_headroom(v, sizeof(v));
	f[n] = (struct finding){ "memcg_headroom", "", "huge pages are charged to "
				 "the daemon's memory cgroup; too little headroom makes "
				 "collapses fail with EBUSY", true };
	snprintf(f[n++].value, sizeof(f[0].value), "%s", v);
	if (fctl_json)
		printf("{");
	for (int i = 0; i < n; i++) {
		if (!fctl_json) {
			printf("%-21s %-4s %s\n%21s      %s\n", f[i].key, f[i].ok ? "ok" : "NO",
			       f[i].value, "", f[i].meaning);
			continue;
		}
		printf("%s\"%s\":{\"value\":", i ? "," : "", f[i].key);
		fctl_json_str(f[i].value);
		printf(",\"ok\":%s,\"meaning\":", f[i].ok ? "true" : "false");
		fctl_json_str(f[i].meaning);
		printf("}");
	}
	if (fctl_json)
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
	if (fctl_json) {
		printf("{\"file\":");
		fctl_json_str(path);
		printf(",\"segments\":[");
	}
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
		if (fctl_json)
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
	if (fctl_json) {
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
	/*
	 * The answer is the status, as test(1)'s is: 1 when the layout keeps
	 * the text from being PMD-mapped (a relink mends it); text under 2 MiB
	 * has nothing to mend.
	 */
	return bad ? 1 : 0;
}

/* Options that may come before or after the command. */
struct cli_opts {
	long count;	 /* trace --count */
	bool prometheus; /* status --prometheus */
	const char *svg; /* map --svg/--png OUT */
	bool png;
};

static int cli_opt(int c, struct cli_opts *o)
{
	switch (c) {
	case 'j':
		fctl_json = true;
		return 0;
	case 'c':
		o->count = atol(optarg);
		return 0;
	case 'P':
		o->prometheus = true;
		return 0;
	case 's':
	case 'p':
		o->svg = optarg;
		o->png = c == 'p';
		return 0;
	default:
		fputs(usage_text, stderr);
		return 2;
	}
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },	  { "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },	  { "count", required_argument, NULL, 'c' },
		{ "prometheus", no_argument, NULL, 'P' }, { "svg", required_argument, NULL, 's' },
		{ "png", required_argument, NULL, 'p' },  { NULL, 0, NULL, 0 }
	};
	struct cli_opts o = { 0 };
	const char *cmd;
	int c, n;

	while ((c = getopt_long(argc, argv, "+jhVc:", longopts, NULL)) != -1) {
		switch (c) {
		case 'h': fputs(usage_text, stdout); return 0;
		case 'V': printf("folioctl %s\n", FOLIOFS_VERSION); return 0;
		default:
			if (cli_opt(c, &o))
				return 2;
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
	while ((c = getopt_long(argc, argv, "jc:", longopts, NULL)) != -1)
		if (cli_opt(c, &o))
			return 2;
	n = argc - optind;
	argv += optind;
	if (!strcmp(cmd, "status") && n == 1)
		return fctl_status(argv[0], o.prometheus);
	if (!strcmp(cmd, "map") && n == 1 && o.svg)
		return fctl_map_svg(argv[0], o.svg, o.png);
	if (!strcmp(cmd, "map") && n == 1)
		return fctl_map(argv[0]);
	if (!strcmp(cmd, "collapse") && (n == 1 || n == 3))
		return cmd_collapse(argv[0], n == 3 ? argv[1] : NULL, n == 3 ? argv[2] : NULL);
	if (!strcmp(cmd, "policy") && (n == 1 || n == 2))
		return cmd_policy(argv[0], n == 2 ? argv[1] : NULL);
	if (!strcmp(cmd, "remap") && (n == 1 || n == 2))
		return cmd_remap(argv[0], n == 2 ? argv[1] : NULL);
	if (!strcmp(cmd, "trace") && n == 0)
		return cmd_trace(o.count);
	if (!strcmp(cmd, "doctor") && n == 0)
		return cmd_doctor();
	if (!strcmp(cmd, "elfcheck") && n == 1)
		return cmd_elfcheck(argv[0]);
	fprintf(stderr, "folioctl: unknown command or wrong arguments: %s\n\n", cmd);
	fputs(usage_text, stderr);
	return 2;
}
