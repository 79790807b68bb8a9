#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Concurrent clients against one mount (creates, writes, renames, unlinks,
# mmap writes, punches, truncates, collapses) with a busy background
# collapser and writeback; every file holds what its owner last wrote, also
# after a remount, and fsck is clean.  STRESS_SECONDS (default 10).
. "$(dirname "$0")/lib.sh"

mkfs_img 512M
mount_img -o scan_sleep_ms=50,commit=1
"$HELPERS/stress" "$MNT" 6 "${STRESS_SECONDS:-10}" || fail "invariants broken"
(cd "$MNT" && sha256sum w*) > "$T/sums"
umount_img
fsck_clean
mount_img
(cd "$MNT" && sha256sum -c --quiet "$T/sums") || fail "content changed across remount"
umount_img
pass "$(wc -l < "$T/sums") files intact after concurrent stress and a remount"
