#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# fsync through the intent log: small writes to a large file go to the log
# as bytes (its extents stay), appends and new files as log batches; after
# kill -9 the daemon replays them at mount, and fsck -y folds them into a
# new generation itself.  Both must give back every fsync'd byte.
. "$(dirname "$0")/lib.sh"

mkfs_img 256M
mount_img -o commit=0		# no periodic commit: only the log records
python3 - "$MNT" "$T" <<'PY' || fail "writer"
import os, random, sys
mnt, t = sys.argv[1], sys.argv[2]
rnd = random.Random(7)
fd = os.open(f"{mnt}/big", os.O_RDWR | os.O_CREAT, 0o644)
want = bytearray(os.urandom(8 << 20))
os.pwrite(fd, want, 0)
os.fsync(fd)			# the first fsync rewrites; its pages get hashes
for i in range(200):		# then 4 KiB and odd-sized writes, each fsync'd
    off = rnd.randrange(len(want) - 10000)
    n = rnd.choice([1, 100, 4096, 9000])
    b = os.urandom(n)
    os.pwrite(fd, b, off)
    want[off:off + n] = b
    os.fsync(fd)
tail = os.urandom(5000)		# growing the file
os.pwrite(fd, tail, len(want))
want += tail
os.fsync(fd)
open(f"{t}/want", "wb").write(want)
# A shrink inside a 2 MiB extent, then a small write there: the region must
# be rewritten for the new size, not patched (its old extent would reach
# pages past the end of the file).
fd = os.open(f"{mnt}/shrunk", os.O_RDWR | os.O_CREAT, 0o644)
shr = bytearray(os.urandom((4 << 20) - (64 << 10))) + bytes(64 << 10)
os.pwrite(fd, shr, 0)
os.fsync(fd)
os.ftruncate(fd, (4 << 20) - (64 << 10))	# the cut pages held zeros
del shr[(4 << 20) - (64 << 10):]
os.pwrite(fd, b"z" * 10, (5 << 19))
shr[5 << 19:(5 << 19) + 10] = b"z" * 10
os.fsync(fd)
open(f"{t}/shrunk", "wb").write(shr)
for i in range(20):		# new files, each fsync'd once
    with open(f"{mnt}/small{i}", "wb") as f:
        f.write(bytes([i]) * (i * 1000 + 1))
        f.flush()
        os.fsync(f.fileno())
PY
# Concurrent fsyncs share batches (group commit): WRITERS writers, each
# fsync'd write queued behind the batch in flight is served by the next.
# Eight: with four on 2 CPUs, batches overlapped only while something else
# slowed them (the background collapser's rescans of unchanged regions,
# gone since it skips quiet files: 0 shared fsyncs in 2 runs of 7 under
# ASan beside other tests; eight share 60 to 400 there).
WRITERS=8
pids=
for j in $(seq $WRITERS); do
	python3 - "$MNT/g$j" "$T/g$j" <<'PY' &
import os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
want = bytearray(256 << 10)
for i in range(150):
    b = os.urandom(4096)
    off = (i * 7 % 64) * 4096
    os.pwrite(fd, b, off)
    want[off:off + 4096] = b
    os.fsync(fd)
open(sys.argv[2], "wb").write(want)
PY
	pids="$pids $!"
done
wait $pids || fail "concurrent writers"
st=$("$HELPERS/../tools/folioctl" status "$MNT")
shared=$(awk '$1 == "fsyncs_shared" {print $2}' <<< "$st")
batches=$(awk '$1 == "log_batches" {print $2}' <<< "$st")
fsyncs=$(awk '$1 == "fsyncs" {print $2}' <<< "$st")
[ "${shared:-0}" -gt 0 ] && [ "$batches" -lt "$fsyncs" ] ||
	fail "concurrent fsyncs did not share batches: $st"
kill_img
out=$("$FSCK" -n "$IMG") || fail "fsck -n after the crash: $out"
grep -q "intent log holds" <<< "$out" || fail "the fsyncs did not go to the log: $out"
# Served writes are seen: their small changes go to the log as bytes.
# (Passthrough writes are not: such a file is rewritten region by region.)
logged=$(sed -n 's/.* \([0-9]*\) bytes of file data.*/\1/p' <<< "$out")
passthrough_on || [ "${logged:-0}" -gt 100000 ] ||
	fail "small writes were not logged as bytes: $out"
cp --sparse=always "$IMG" "$T/copy.img"

check() {	# check LABEL: the mounted image holds every fsync'd byte
	cmp -s "$MNT/big" "$T/want" || fail "$1: fsync'd bytes of big lost"
	for i in $(seq 0 19); do
		[ "$(stat -c %s "$MNT/small$i")" = $((i * 1000 + 1)) ] ||
			fail "$1: small$i has the wrong size"
	done
	for j in $(seq $WRITERS); do
		cmp -s "$MNT/g$j" "$T/g$j" || fail "$1: fsync'd bytes of g$j lost"
	done
	cmp -s "$MNT/shrunk" "$T/shrunk" || fail "$1: the shrunk file differs"
}
# The daemon replays the log at mount and folds it into a generation.
mount_img
check "mount replay"
umount_img
out=$("$FSCK" -n "$IMG") || fail "fsck after the replaying mount: $out"
grep -q "intent log holds" <<< "$out" && fail "the mount left the log unfolded"

# fsck -y folds the logged bytes into extents itself.
IMG=$T/copy.img
out=$("$FSCK" -y "$IMG") || [ $? = 1 ] || fail "fsck -y: $out"
out=$("$FSCK" -n "$IMG") || fail "fsck after fsck -y: $out"
grep -q "intent log holds" <<< "$out" && fail "fsck -y left the log unfolded"
mount_img
check "fsck -y fold"
umount_img
# An image made without the log (-O ^log): each fsync commits a generation.
IMG=$T/nolog.img
"$MKFS" -q -O ^log -s 64M "$IMG" || fail "mkfs -O ^log"
mount_img
head -c 300000 /dev/urandom > "$T/nolog.want"
cp "$T/nolog.want" "$MNT/f" && "$HELPERS/fsync_file" "$MNT/f" || fail "fsync without a log"
kill_img
out=$("$FSCK" -n "$IMG") || fail "fsck of the log-less image: $out"
grep -q "intent log" <<< "$out" && fail "a log-less image has a log: $out"
mount_img
cmp -s "$MNT/f" "$T/nolog.want" || fail "fsync'd bytes lost without a log"
umount_img
pass "fsync'd bytes survive through the log, by mount replay and by fsck -y"
