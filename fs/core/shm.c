// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The shared memory that holds file data.  Where the daemon may mount (it
 * has CAP_SYS_ADMIN), each open file's memory is an unnamed file on a
 * private, detached tmpfs instance made with fsopen()/fsmount(): attached
 * to no path, so nothing but the FUSE mount reaches it, and sized so that
 * what is in memory plus what lives only in the image never exceeds the
 * image.  A write that would not fit, even one the kernel passes through
 * without asking the daemon, then fails with ENOSPC at write time.
 * Without that privilege each file is a plain memfd and the daemon checks
 * space itself before every write it serves.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <unistd.h>

#include "fs.h"

/**
 * shm_init() - create the private tmpfs, if allowed
 * @fs: the filesystem
 *
 * Without it each file is a plain memfd: a fallback, not an error.
 */
void shm_init(struct fs *fs)
{
	int sfd, mfd;

	fs->shm.mnt = -1;
	sfd = fsopen("tmpfs", FSOPEN_CLOEXEC);
	if (sfd < 0)
		return;
	if (fsconfig(sfd, FSCONFIG_SET_STRING, "source", "foliofs", 0) < 0 ||
	    fsconfig(sfd, FSCONFIG_SET_STRING, "mode", "0700", 0) < 0 ||
	    fsconfig(sfd, FSCONFIG_SET_STRING, "size", "4k", 0) < 0 ||
	    fsconfig(sfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
		close(sfd);
		return;
	}
	mfd = fsmount(sfd, FSMOUNT_CLOEXEC, MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID |
		      MOUNT_ATTR_NOEXEC);
	close(sfd);
	if (mfd < 0)
		return;
	fs->shm.mnt = mfd;
	fs->shm.limit = 1;
}

void shm_exit(struct fs *fs)
{
	if (fs->shm.mnt >= 0)
		close(fs->shm.mnt);
	fs->shm.mnt = -1;
}

/**
 * shm_create() - a new, empty file for one inode's data
 * @fs: the filesystem; fs->lock not held: two or three system calls, and
 *	on the private mount they serialize on its directory, so under the
 *	lock every create would wait for every other
 * @ino: the foliofs inode it holds
 * @fd: the descriptor
 *
 * The file is named CLP_TRACE_NAME after the inode (and unlinked at once),
 * because the kernel's collapse tracepoints name files by their dentry:
 * folioctl trace and the collapser's verdicts then know which inode a
 * region belongs to.
 *
 * Return: 0; -errno from open(2) or memfd_create(2).
 */
int shm_create(struct fs *fs, uint64_t ino, int *fd)
{
	char name[40];

	fs_assert_unheld(&fs->lock);
	snprintf(name, sizeof(name), CLP_TRACE_NAME, (unsigned long long)ino);
	if (fs->shm.mnt < 0) {
		*fd = memfd_create(name, MFD_CLOEXEC);
		return *fd < 0 ? -errno : 0;
	}
	*fd = openat(fs->shm.mnt, name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
	if (*fd >= 0)
		unlinkat(fs->shm.mnt, name, 0);
	else	/* a name left over cannot block a load */
		*fd = openat(fs->shm.mnt, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	return *fd < 0 ? -errno : 0;
}

/*
 * Data blocks files in memory may hold: what the image can still take, and
 * what memory can (mem_cap): past either a write fails with ENOSPC, never
 * with an OOM kill of the daemon.
 */
static uint64_t room_blocks(struct fs *fs)
{
	struct fs_space_use u;

	fs_space_use(fs, &u);
	return u.room;
}

/**
 * shm_update_limit() - resize the private tmpfs to what the image can hold
 * @fs: the filesystem, lock held
 *
 * Called whenever data moves between memory and image only (load, unload),
 * files die, or a commit changes the metadata size.  The size never drops
 * below what is in use, which tmpfs would refuse, plus what loads are
 * bringing in: data already on disk needs no room for new data, and a full
 * image (a commit may use its reserve) must still read back.
 */
void shm_update_limit(struct fs *fs)
{
	uint64_t limit, floor;
	char val[32];
	int pfd;

	fs_assert_held(&fs->lock);
	if (fs->shm.mnt < 0)
		return;
	limit = room_blocks(fs);
	floor = fs->space.cache_blocks + fs->space.loading_blocks;
	if (limit <= floor)
		limit = floor + 1;
	if (limit == fs->shm.limit)
		return;
	pfd = fspick(fs->shm.mnt, "", FSPICK_EMPTY_PATH | FSPICK_CLOEXEC);
	if (pfd < 0)
		return;
	snprintf(val, sizeof(val), "%llu", (unsigned long long)limit * FOFS_BLOCK_SIZE);
	if (fsconfig(pfd, FSCONFIG_SET_STRING, "size", val, 0) == 0 &&
	    fsconfig(pfd, FSCONFIG_CMD_RECONFIGURE, NULL, NULL, 0) == 0)
		fs->shm.limit = limit;
	close(pfd);
}

/* A number from a cgroup file; "max" (v2) and v1's huge "unlimited" are 0. */
static uint64_t cg_read(const char *dir, const char *file, const char *key)
{
	char path[PATH_MAX], line[256];
	unsigned long long v = 0;
	size_t klen = key ? strlen(key) : 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (key && (strncmp(line, key, klen) || line[klen] != ' '))
			continue;
		if (sscanf(line + (key ? klen + 1 : 0), "%llu", &v) != 1)
			v = 0;
		break;
	}
	fclose(f);
	return v >= (1ull << 62) ? 0 : v;
}

static uint64_t tighter(uint64_t a, uint64_t b)
{
	return !a ? b : !b ? a : a < b ? a : b;
}

/**
 * shm_memory_limit() - the memory cgroup limit the daemon runs under
 *
 * File data lives in the daemon's memory and is charged to its cgroup:
 * the default cache size is taken from this.  cgroup v2: the lowest
 * memory.max (or memory.high) from the daemon's cgroup up; v1: the memory
 * controller's hierarchical limit.
 *
 * Return: the limit in bytes, or 0 when there is none.
 */
uint64_t shm_memory_limit(void)
{
	char line[PATH_MAX], dir[PATH_MAX];
	uint64_t lim = 0;
	FILE *f = fopen("/proc/self/cgroup", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		char *path = strrchr(line, ':'), *ctl = strchr(line, ':');

		if (!path || !ctl)
			continue;
		line[strcspn(line, "\n")] = 0;
		if (!strncmp(ctl, "::", 2)) {	/* v2: this cgroup and its parents */
			for (char *rel = path + 1, *slash; rel[1]; *slash = 0) {
				snprintf(dir, sizeof(dir), "/sys/fs/cgroup%s", rel);
				lim = tighter(lim, cg_read(dir, "memory.max", NULL));
				lim = tighter(lim, cg_read(dir, "memory.high", NULL));
				slash = strrchr(rel, '/');
				if (slash == rel)
					break;
			}
		} else if (strstr(ctl, "memory:")) {
			snprintf(dir, sizeof(dir), "/sys/fs/cgroup/memory%s", path + 1);
			lim = tighter(lim, cg_read(dir, "memory.stat",
						   "hierarchical_memory_limit"));
		}
	}
	fclose(f);
	return lim;
}
