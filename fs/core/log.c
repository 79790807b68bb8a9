// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The daemon's one way to say something: a levelled message to stderr
 * (the terminal of a foreground daemon, the test's log) and, for notices
 * and worse, to syslog, which is all a background mount has once it has
 * detached.  errno is preserved, so callers may log before reading it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>

#include "fs.h"

/**
 * fs_log() - report one line
 * @level: LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO
 * @fmt: printf format, without the trailing newline
 */
void fs_log(int level, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	fputs("foliofs: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	if (level <= LOG_NOTICE) {
		va_start(ap, fmt);
		vsyslog(LOG_DAEMON | level, fmt, ap);
		va_end(ap);
	}
	errno = saved;
}
