#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Every POSIX operation of posix_ops on tmpfs and on foliofs must give the
# same trace; then remount and fsck.
. "$(dirname "$0")/lib.sh"

# Allocated blocks (du, tar and cp read st_blocks) as tmpfs counts them.
blocks() {
	head -c 1048577 /dev/urandom > "$1/dense"
	stat -c 'dense %b' "$1/dense"
	truncate -s 100M "$1/sparse"
	printf x | dd of="$1/sparse" bs=1 seek=50000000 conv=notrunc status=none
	stat -c 'sparse %b' "$1/sparse"
	head -c 3M /dev/urandom > "$1/punched"
	fallocate -p -o 1M -l 1M "$1/punched"
	stat -c 'punched %b' "$1/punched"
	rm "$1/dense" "$1/sparse" "$1/punched"
}

mkdir "$T/tmpfs"
mount -t tmpfs tmpfs "$T/tmpfs"
"$POSIX_OPS" "$T/tmpfs" > "$T/tmpfs.out"
"$HELPERS/sxid_ops" "$T/tmpfs" > "$T/tmpfs.sxid"
python3 "$(dirname "$0")/fhandle.py" "$T/tmpfs" > "$T/tmpfs.fh"
python3 "$(dirname "$0")/mmap_times.py" "$T/tmpfs" > "$T/tmpfs.mt"
blocks "$T/tmpfs" > "$T/tmpfs.blocks"
umount "$T/tmpfs"

mkfs_img 1G
mount_img -o allow_other	# the set-ID trace acts as other users too
"$POSIX_OPS" "$MNT" > "$T/foliofs.out"
"$HELPERS/sxid_ops" "$MNT" > "$T/foliofs.sxid"
diff -u "$T/tmpfs.sxid" "$T/foliofs.sxid" || fail "set-ID bits differ from tmpfs"
"$HELPERS/sxid_ops" "$MNT" zero > "$T/foliofs.zero"
grep ' punch ' "$T/foliofs.sxid" | diff -u - "$T/foliofs.zero" ||
	fail "ZERO_RANGE treats set-ID bits unlike a punch"
"$POSIX_OPS" "$MNT" zero_range || fail "ZERO_RANGE semantics"
python3 "$(dirname "$0")/fhandle.py" "$MNT" > "$T/foliofs.fh"
diff -u "$T/tmpfs.fh" "$T/foliofs.fh" || fail "file handles differ from tmpfs"
python3 "$(dirname "$0")/mmap_times.py" "$MNT" > "$T/foliofs.mt"
diff -u "$T/tmpfs.mt" "$T/foliofs.mt" || fail "times after mapping writes differ from tmpfs"
"$POSIX_OPS" "$MNT" readdir_renames || fail "readdir under renames returned a file twice or did not end"
diff -u "$T/tmpfs.out" "$T/foliofs.out" || fail "foliofs differs from tmpfs"
blocks "$MNT" > "$T/foliofs.blocks"
diff -u "$T/tmpfs.blocks" "$T/foliofs.blocks" || fail "st_blocks differs from tmpfs"
find "$MNT" -xdev -printf '%p %m %n %s %U:%G %y\n' | sort > "$T/before"
umount_img
fsck_clean
mount_img
find "$MNT" -xdev -printf '%p %m %n %s %U:%G %y\n' | sort > "$T/after"
diff -u "$T/before" "$T/after" || fail "tree changed across remount"
umount_img
fsck_clean
pass "$(grep -c . "$T/tmpfs.out") operations and $(grep -c . "$T/tmpfs.sxid") set-ID cases match tmpfs; tree survives remount"
