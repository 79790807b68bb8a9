#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Every POSIX operation of posix_ops on tmpfs and on foliofs must give the
# same trace; then remount and fsck.
. "$(dirname "$0")/lib.sh"

mkdir "$T/tmpfs"
mount -t tmpfs tmpfs "$T/tmpfs"
"$POSIX_OPS" "$T/tmpfs" > "$T/tmpfs.out"
umount "$T/tmpfs"

mkfs_img 1G
mount_img
"$POSIX_OPS" "$MNT" > "$T/foliofs.out"
"$POSIX_OPS" "$MNT" zero_range || fail "ZERO_RANGE semantics"
diff -u "$T/tmpfs.out" "$T/foliofs.out" || fail "foliofs differs from tmpfs"
find "$MNT" -xdev -printf '%p %m %n %s %U:%G %y\n' | sort > "$T/before"
umount_img
fsck_clean
mount_img
find "$MNT" -xdev -printf '%p %m %n %s %U:%G %y\n' | sort > "$T/after"
diff -u "$T/before" "$T/after" || fail "tree changed across remount"
umount_img
fsck_clean
pass "$(grep -c . "$T/tmpfs.out") operations match tmpfs; tree survives remount"
