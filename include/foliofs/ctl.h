/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The control interface between a mounted foliofs and its tools: the
 * extended attributes the daemon answers (and folioctl and the remount path
 * ask), and the memory-file naming the kernel's collapse tracepoints show.
 * One definition for the daemon and the tools, so they cannot drift.
 */
#ifndef FOLIOFS_CTL_H
#define FOLIOFS_CTL_H

#define FOFS_XATTR_POLICY	"user.foliofs.policy"	/* a file's folio policy */
#define FOFS_XATTR_COLLAPSE	"user.foliofs.collapse"	/* "OFF LEN": collapse now */
#define FOFS_XATTR_MAP		"user.foliofs.map"	/* region table; ".N" pages */
#define FOFS_XATTR_STATUS	"user.foliofs.status"	/* key=value lines */

#endif /* FOLIOFS_CTL_H */
