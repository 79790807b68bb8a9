#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Direct image I/O: a byte resident in the daemon's memory is held once.
# After writing and fsyncing 64 MiB, and after loading it cold, the image
# has next to nothing in the host page cache (the two superblock blocks and
# metadata at most), and the status says image_io=direct.  Where the host
# filesystem refuses O_DIRECT, the mount says so in one line.
. "$(dirname "$0")/lib.sh"

command -v fincore > /dev/null || skip "no fincore (util-linux)"
cached_kib() { echo $(( $(fincore -b -n -o RES "$IMG") / 1024 )); }

mkfs_img 256M
mount_img
if ! getfattr -n user.foliofs.status --only-values "$MNT" 2>/dev/null | grep -qx 'image_io=direct'; then
	grep -q "image I/O goes through the host page cache" "$T/daemon.log" ||
		fail "buffered image I/O without a word at mount"
	skip "the host filesystem of $T refuses O_DIRECT"
fi
head -c $((64 << 20)) /dev/urandom > "$T/data"
dd if="$T/data" of="$MNT/f" bs=1M conv=fsync status=none
kib=$(cached_kib)
[ "$kib" -le 1024 ] || fail "after write+fsync the image has $kib KiB in the page cache"
umount_img
echo 3 > /proc/sys/vm/drop_caches
mount_img
cmp "$T/data" "$MNT/f" || fail "data read back differs"
kib=$(cached_kib)
[ "$kib" -le 1024 ] || fail "after a cold load the image has $kib KiB in the page cache"
umount_img
fsck_clean
pass "image I/O bypasses the host page cache"
