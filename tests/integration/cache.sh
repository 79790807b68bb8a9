#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# -o cache_size: clean, closed files beyond the budget give their memory back,
# least recently used first; open or unwritten files never do.
. "$(dirname "$0")/lib.sh"

held() {	# files whose data the daemon holds in memory now
	find "/proc/$DAEMON_PID/fd" -lname '*(deleted)' -o -lname '/memfd:*' | wc -l
}

mkfs_img 256M
mount_img -o cache_size=20M,commit=1
for f in a b c d; do head -c $((8 << 20)) /dev/urandom > "$MNT/$f"; done
exec 7< "$MNT/a"			# a stays open
sleep 3					# a commit and a trim
n=$(held)
[ "$n" = 2 ] || fail "expected a (open) and d (most recent) in memory, daemon holds $n"
cat "$MNT/b" > /dev/null		# b is loaded again on open
sleep 3
n=$(held)
[ "$n" = 2 ] || fail "after reading b: expected a and b, daemon holds $n"
exec 7<&-
cat "$MNT/c" > /dev/null		# a is now the least recently used
sleep 3
n=$(held)
[ "$n" = 2 ] || fail "after closing a and reading c: daemon holds $n"
(cd "$MNT" && sha256sum a b c d) > "$T/sums"
umount_img
mount_img
(cd "$MNT" && sha256sum -c --quiet "$T/sums") || fail "evicted data changed"
umount_img
fsck_clean
pass "cache budget respected, least recently used first"
