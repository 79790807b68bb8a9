#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Many small files: each loaded file holds a memory-file descriptor in the
# daemon, so with a descriptor limit of 256 it must give clean closed files
# back, and write dirty ones back to free theirs, instead of failing opens
# with EMFILE.  3,000 files with data, then 3,000 empty ones, all intact
# after a remount; fsck clean.
. "$(dirname "$0")/lib.sh"

mkfs_img 256M
ulimit -Sn 256
ulimit -Hn 256		# the daemon inherits it
mount_img -o commit=60
python3 - "$MNT" <<'PY' || fail "creating files failed"
import os, sys
d = sys.argv[1]
for i in range(3000):
    with open(os.path.join(d, f"d{i}"), "wb") as f:
        f.write(str(i).encode() * 512)
for i in range(3000):
    open(os.path.join(d, f"e{i}"), "wb").close()
PY
n=$(ls "$MNT" | wc -l)
[ "$n" = 6000 ] || fail "expected 6000 files, found $n"
held=$(find "/proc/$DAEMON_PID/fd" | wc -l)
[ "$held" -le 256 ] || fail "daemon holds $held descriptors"
umount_img
mount_img
python3 - "$MNT" <<'PY' || fail "data changed across a remount"
import os, sys
d = sys.argv[1]
for i in range(3000):
    with open(os.path.join(d, f"d{i}"), "rb") as f:
        assert f.read() == str(i).encode() * 512, i
PY
umount_img
fsck_clean
pass "6000 files under a 256-descriptor limit"
