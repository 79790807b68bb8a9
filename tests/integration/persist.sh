#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Data written through the mount survives unmount and remount byte for byte,
# in folio-sized extents (2 MiB regions as order 9, tails as order 4 or 0),
# holes stay holes, and overwrites keep the untouched extents.
. "$(dirname "$0")/lib.sh"

mkfs_img 512M
mount_img
head -c $((8 << 20)) /dev/urandom > "$MNT/huge"           # 4 whole regions
head -c $((3 << 20 | 12345)) /dev/urandom > "$MNT/tail"   # region + tail
head -c 100 /dev/urandom > "$MNT/small"
truncate -s 64M "$MNT/sparse"
printf 'island' | dd of="$MNT/sparse" bs=1 seek=$((40 << 20)) conv=notrunc status=none
(cd "$MNT" && sha256sum huge tail small sparse) > "$T/sums"
umount_img
fsck_clean

"$HELPERS/fofs_debug" show "$IMG" > "$T/show"
grep -c "order 9" "$T/show" | grep -qx 5 || { cat "$T/show"; fail "expected 5 order-9 extents"; }
grep -q "order 4" "$T/show" || fail "expected order-4 extents for the tail"
sparse_ext=$(awk '/^inode/ {cur=$0} /^  extent/ && cur ~ /size 67108864/ {n++} END {print n+0}' "$T/show")
[ "$sparse_ext" = 1 ] || fail "sparse file should hold one 4 KiB extent, has $sparse_ext"

mount_img
(cd "$MNT" && sha256sum -c --quiet "$T/sums") || fail "data changed across remount"
[ "$(stat -c %b "$MNT/sparse")" -le 8 ] || fail "hole was filled on load"
blocks_before=$(awk '/^super/ {print $7}' "$T/show")
printf 'X' | dd of="$MNT/huge" bs=1 seek=$((5 << 20)) conv=notrunc status=none
(cd "$MNT" && sha256sum huge) > "$T/sum2"
umount_img
fsck_clean
"$HELPERS/fofs_debug" show "$IMG" > "$T/show2"
blocks_after=$(awk '/^super/ {print $7}' "$T/show2")
[ "$blocks_before" = "$blocks_after" ] || fail "one-byte overwrite changed used blocks $blocks_before -> $blocks_after"
mount_img
(cd "$MNT" && sha256sum -c --quiet "$T/sum2") || fail "overwrite lost"
rm "$MNT/huge" "$MNT/tail"
umount_img
fsck_clean
"$HELPERS/fofs_debug" show "$IMG" | grep -q "order 9" && fail "deleted extents still referenced"
pass "data, holes and extent orders persist; overwrite is copy-on-write per extent"
