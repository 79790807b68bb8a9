// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Set-ID trace: what write, truncate, O_TRUNC, fallocate (each mode) and
 * chown do to the set-user-ID and set-group-ID bits, done by root, by the
 * owner inside and outside the file's group and by another user, on files
 * of several modes and on directories.  One line per case: who, what, the
 * mode before, the result and the mode and owner after.  posix.sh runs it
 * on tmpfs and on foliofs and requires the same trace (the kernel's rules,
 * setattr_should_drop_suidgid(), are the reference).  Run as root in the
 * directory to test; "sxid_ops DIR zero" prints the FALLOC_FL_ZERO_RANGE
 * cases under the punch-hole name (tmpfs has no ZERO_RANGE to compare
 * with, so foliofs's are compared with its own punch).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/falloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define FILE_UID	1000
#define FILE_GID	2000

struct actor {
	const char *name;
	uid_t uid;
	gid_t gid;
	gid_t groups[2];
	int ngroups;
};

static const struct actor actors[] = {
	{ "root", 0, 0, { 0 }, 1 },
	{ "owner-in-group", FILE_UID, 1000, { 1000, FILE_GID }, 2 },
	{ "owner-not-in-group", FILE_UID, 1000, { 1000 }, 1 },
	{ "other", 3000, 3000, { 3000 }, 1 },
};

/*
 * write_held: a write while root holds the file open read-only;
 * write_chmod: root opened it for writing before its mode was set (foliofs
 * answered both second opens with EIO: a served open beside passthrough).
 */
enum op {
	OP_WRITE,
	OP_TRUNCATE,
	OP_FTRUNCATE,
	OP_OPEN_TRUNC,
	OP_FALLOC,
	OP_FALLOC_KEEP,
	OP_PUNCH,
	OP_ZERO,
	OP_WRITE_HELD,
	OP_WRITE_CHMOD,
	OP_CHOWN_NONE,
	OP_CHOWN_GID,
	OP_CHOWN_UID,
	OP_NR
};

static const char *const op_names[] = {
	"write",	  "truncate",	  "ftruncate",	  "open_trunc", "fallocate",
	"fallocate_keep", "punch",	  "zero_range",	  "write_held", "write_chmod",
	"chown_-1_-1",	  "chown_-1_gid", "chown_uid_-1",
};

static int do_op(enum op op, const char *name)
{
	int fd = -1, ret = 0;

	if (op < OP_CHOWN_NONE && op != OP_TRUNCATE) {
		fd = open(name, op == OP_OPEN_TRUNC ? O_WRONLY | O_TRUNC : O_WRONLY);
		if (fd < 0)
			return -1;
	}
	switch (op) {
	case OP_WRITE:
	case OP_WRITE_HELD:
	case OP_WRITE_CHMOD:
		ret = (int)pwrite(fd, "x", 1, 8192);
		break;
	case OP_TRUNCATE: ret = truncate(name, 100); break;
	case OP_FTRUNCATE: ret = ftruncate(fd, 100); break;
	case OP_OPEN_TRUNC: break;
	case OP_FALLOC: ret = fallocate(fd, 0, 0, 16384); break;
	case OP_FALLOC_KEEP: ret = fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 16384); break;
	case OP_PUNCH:
		ret = fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096);
		break;
	case OP_ZERO: ret = fallocate(fd, FALLOC_FL_ZERO_RANGE, 0, 4096); break;
	case OP_CHOWN_NONE: ret = chown(name, (uid_t)-1, (gid_t)-1); break;
	case OP_CHOWN_GID: ret = chown(name, (uid_t)-1, 1000); break;
	case OP_CHOWN_UID: ret = chown(name, getuid() ? getuid() : 1000, (gid_t)-1); break;
	default: break;
	}
	if (fd >= 0)
		close(fd);
	return ret < 0 ? -1 : 0;
}

static const char *errname(int e)
{
	static char buf[16];

	if (!e)
		return "OK";
	if (e == EPERM)
		return "EPERM";
	if (e == EACCES)
		return "EACCES";
	if (e == EOPNOTSUPP)
		return "EOPNOTSUPP";
	snprintf(buf, sizeof(buf), "errno%d", e);
	return buf;
}

/*
 * A fresh "t" of @mode owned by FILE_UID:FILE_GID, as root; for the held
 * cases, *@held is root's open of it (-1 otherwise).
 */
static int make_target(mode_t mode, bool dir, enum op op, int *held)
{
	int fd;

	*held = -1;
	rmdir("t");
	unlink("t");
	if (dir) {
		if (mkdir("t", 0700))
			return -1;
	} else {
		fd = open("t", O_CREAT | O_WRONLY, 0600);
		if (fd < 0 || write(fd, "data", 4) != 4)
			return -1;
		close(fd);
	}
	if (chown("t", FILE_UID, FILE_GID))
		return -1;
	if (op == OP_WRITE_CHMOD)
		*held = open("t", O_RDWR);
	if (chmod("t", mode))
		return -1;
	if (op == OP_WRITE_HELD)
		*held = open("t", O_RDONLY);
	return (op == OP_WRITE_HELD || op == OP_WRITE_CHMOD) && *held < 0 ? -1 : 0;
}

/* Run @op on "t" as @a in a child; the child's errno comes back as status. */
static int run_as(const struct actor *a, enum op op)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (!pid) {
		if (setgroups((size_t)a->ngroups, a->groups) || setresgid(a->gid, a->gid, a->gid) ||
		    setresuid(a->uid, a->uid, a->uid))
			_exit(255);
		_exit(do_op(op, "t") ? errno : 0);
	}
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static void one_case(const struct actor *a, enum op op, mode_t mode, bool dir,
		     const char *label)
{
	struct stat st;
	int err, held;

	if (make_target(mode, dir, op, &held)) {
		printf("%s %s setup failed: %s\n", a->name, label, strerror(errno));
		return;
	}
	/*
	 * chown(f, -1, -1) by a non-owner: tmpfs says EPERM where it would
	 * clear bits; FUSE cannot tell that request from a write's privilege
	 * removal (docs/POSIX.md), so the case is left out.
	 */
	if (op == OP_CHOWN_NONE && a->uid && a->uid != FILE_UID)
		return;
	err = run_as(a, op);
	if (held >= 0)
		close(held);
	if (stat("t", &st))
		memset(&st, 0, sizeof(st));
	printf("%-18s %-4s %-15s %05o -> %-10s %05o %u:%u\n", a->name, dir ? "dir" : "file",
	       label, (unsigned)mode, err < 0 ? "setup" : errname(err),
	       (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid, (unsigned)st.st_gid);
}

int main(int argc, char **argv)
{
	static const mode_t file_modes[] = { 06777, 06767, 06666, 04666, 02666, 02676, 00777 };
	static const mode_t dir_modes[] = { 06777, 02777, 02767 };
	bool zero = argc > 2 && !strcmp(argv[2], "zero");

	if (argc < 2 || chdir(argv[1])) {
		fprintf(stderr, "usage: sxid_ops DIR [zero]\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (geteuid()) {
		printf("not root: no set-ID trace\n");
		return 0;
	}
	for (size_t a = 0; a < sizeof(actors) / sizeof(actors[0]); a++) {
		for (size_t m = 0; m < sizeof(file_modes) / sizeof(file_modes[0]); m++)
			for (int op = 0; op < OP_NR; op++) {
				if (zero ? op != OP_ZERO : op == OP_ZERO)
					continue;
				/* ZERO_RANGE is reported as the punch it must equal */
				one_case(&actors[a], (enum op)op, file_modes[m], false,
					 op_names[op == OP_ZERO ? OP_PUNCH : op]);
			}
		for (size_t m = 0; m < sizeof(dir_modes) / sizeof(dir_modes[0]) && !zero; m++)
			for (int op = OP_CHOWN_NONE; op < OP_NR; op++)
				one_case(&actors[a], (enum op)op, dir_modes[m], true, op_names[op]);
	}
	rmdir("t");
	unlink("t");
	return 0;
}
