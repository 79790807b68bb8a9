#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Several processes see the same bytes through read/write and shared
# mappings; private mappings stay private; truncate, punch and zero-range
# reach live mappings; size and mtime follow writes.  Data written through a
# shared mapping is written back and survives a remount.
. "$(dirname "$0")/lib.sh"

mkfs_img 256M
mount_img
"$HELPERS/coherence" "$MNT" || fail "coherence"
head -c $((6 << 20)) /dev/zero > "$MNT/mapped"
"$HELPERS/mmap_client" "$MNT/mapped" write > /dev/null || fail "mmap write"
(cd "$MNT" && sha256sum mapped) > "$T/sum"
umount_img
fsck_clean
mount_img
(cd "$MNT" && sha256sum -c --quiet "$T/sum") || fail "mmap writes not persisted"
umount_img
pass "coherent across processes; mmap writes persist ($( passthrough_on && echo passthrough || echo fallback))"
