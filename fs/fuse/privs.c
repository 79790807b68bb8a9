// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Privileges after mount.  Once the mount exists the daemon needs one
 * capability, CAP_SYS_ADMIN: the kernel demands it for every
 * FUSE_DEV_IOC_BACKING_OPEN (passthrough), for resizing the private tmpfs
 * that holds file data, and for unmounting on SIGTERM.  Everything else
 * (DAC override, chown, ptrace, module loading, raw I/O, ...) is dropped
 * from the effective, permitted, inheritable and bounding sets, no new
 * privileges can be gained through exec (when root), and the process is made
 * non-dumpable so that other processes of the same user cannot open its
 * file memory through /proc/PID/fd or /proc/PID/mem: the mount is the only
 * way in.  An unprivileged daemon (fusermount3 mounted it) has no
 * capabilities to drop; the other two steps still apply.
 *
 * Capabilities are per thread: this runs before any thread is started.
 */
#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <syslog.h>
#include <unistd.h>

#include "fsop.h"

#define KEEP_CAP	CAP_SYS_ADMIN

static int caps_get(struct __user_cap_data_struct d[2])
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };

	return syscall(SYS_capget, &h, d) < 0 ? -errno : 0;
}

static int caps_set(struct __user_cap_data_struct d[2])
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };

	return syscall(SYS_capset, &h, d) < 0 ? -errno : 0;
}

/* Empty the bounding set but for KEEP_CAP (needs CAP_SETPCAP, so first). */
static int drop_bounding(void)
{
	for (int cap = 0; cap <= 63; cap++) {
		if (cap == KEEP_CAP)
			continue;
		if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) <= 0)
			continue;	/* not held, or beyond the kernel's last */
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
			return -errno;
	}
	return 0;
}

static int drop_caps(void)
{
	struct __user_cap_data_struct d[2];
	uint32_t keep;
	int ret;

	ret = caps_get(d);
	if (ret)
		return ret;
	if (!(d[0].permitted | d[1].permitted))
		return 0;	/* unprivileged: nothing to drop */
	keep = d[KEEP_CAP / 32].permitted & (1u << (KEEP_CAP % 32));
	ret = drop_bounding();
	if (ret)
		return ret;
	for (int i = 0; i < 2; i++) {
		d[i].effective = d[i].permitted = i == KEEP_CAP / 32 ? keep : 0;
		d[i].inheritable = 0;
	}
	ret = caps_set(d);
	if (ret)
		return ret;
	/* ambient capabilities would survive exec; there should be none */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 &&
	    errno != EINVAL)
		return -errno;
	return 0;
}

/**
 * fs_drop_privileges() - keep only what serving the mount needs
 *
 * Call after the mount, before starting any thread.
 *
 * Return: 0; -EPERM or another errno from prctl(2)/capset(2), after which
 * the daemon should not serve the mount.
 */
int fs_drop_privileges(void)
{
	int ret;

	ret = drop_caps();
	if (ret) {
		fs_log(LOG_ERR, "cannot drop capabilities: %s",
			strerror(-ret));
		return ret;
	}
	/*
	 * An unprivileged daemon unmounts through the set-user-ID
	 * fusermount3 on SIGTERM; no_new_privs would defeat that.
	 */
	if ((geteuid() == 0 && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) ||
	    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
		ret = -errno;
		fs_log(LOG_ERR, "cannot restrict the daemon: %s",
			strerror(-ret));
		return ret;
	}
	return 0;
}
