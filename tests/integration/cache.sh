#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# -o cache_size: clean, closed files beyond the budget give their memory back,
# least recently used first; open or unwritten files never do.
. "$(dirname "$0")/lib.sh"

held() {	# files whose data the daemon holds in memory now
	find "/proc/$DAEMON_PID/fd" -lname '*(deleted)' -o -lname '/memfd:*' | wc -l
}

# expect_held N WHAT: after commits and trims (every second; slower on a
# loaded machine, so wait up to 10 s), the daemon holds exactly N files.
expect_held() {
	for _ in $(seq 100); do
		n=$(held)
		[ "$n" = "$1" ] && return 0
		sleep 0.1
	done
	fail "$2, daemon holds $n"
}

mkfs_img 256M
mount_img -o cache_size=20M,commit=1
for f in a b c d; do head -c $((8 << 20)) /dev/urandom > "$MNT/$f"; done
exec 7< "$MNT/a"			# a stays open
sleep 1
expect_held 2 "expected a (open) and d (most recent) in memory"
cat "$MNT/b" > /dev/null		# b is loaded again on open
sleep 1
expect_held 2 "after reading b: expected a and b"
exec 7<&-
cat "$MNT/c" > /dev/null		# a is now the least recently used
sleep 1
expect_held 2 "after closing a and reading c"
(cd "$MNT" && sha256sum a b c d) > "$T/sums"
umount_img
mount_img
(cd "$MNT" && sha256sum -c --quiet "$T/sums") || fail "evicted data changed"
umount_img
fsck_clean
pass "cache budget respected, least recently used first"
