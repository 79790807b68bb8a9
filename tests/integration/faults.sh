#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Image faults.  Writes and syncs of the image fail on request (faultio.so,
# LD_PRELOAD into the daemon); a failed sync also loses the bytes it should
# have made durable.  fsync must report the error, the image must keep its
# last good generation (kill -9 while failing, then fsck), and once the
# image works again the next fsync must store everything, never trusting
# what the failed commit wrote.  Then a real full host filesystem: the
# image on a small tmpfs.
. "$(dirname "$0")/lib.sh"
: "${FAULTIO:?}" "${HELPERS:?}"

CTL=$T/fault
export FOLIOFS_FAULT_IMAGE=$IMG FOLIOFS_FAULT_CTL=$CTL
fault() { echo "$1" > "$CTL"; }
injected() { grep -c "^$1$" "$CTL.count" 2>/dev/null || true; }
fsync_ok() { "$HELPERS/fsync_file" "$1" 2>> "$T/fsync.err" || fail "fsync $1: $(tail -1 "$T/fsync.err")"; }
# fsync_fails FILE MESSAGE: fsync must fail with that strerror text.
fsync_fails() {
	if "$HELPERS/fsync_file" "$1" 2> "$T/fsync.err"; then
		fail "fsync $1 succeeded while the image was failing"
	fi
	grep -q "$2" "$T/fsync.err" || fail "fsync $1: expected '$2', got: $(cat "$T/fsync.err")"
}
mount_faulty() {
	DAEMON_PRELOAD=$FAULTIO mount_img -o commit=0 "$@"
}
newfile() { head -c "$2" /dev/urandom > "$MNT/$1"; (cd "$MNT" && sha256sum "$1") >> "$T/sums"; }
check_sums() { (cd "$MNT" && sha256sum -c --quiet "$T/sums") || fail "$1"; }

mkfs_img 256M
mount_faulty
newfile a $((3 << 20))
fsync_ok "$MNT/a"

# 1. Writes of the image fail: EIO, nothing half-committed.
fault write-eio
newfile b $((5 << 20))
fsync_fails "$MNT/b" "Input/output error"
[ "$(injected write-eio)" -gt 0 ] || fail "no write was failed"
check_sums "data unreadable in the mount after a failed commit"
fault none
fsync_ok "$MNT/b"

# 2. Syncs fail and lose the unsynced bytes; a later commit rewrites them.
fault sync-eio
newfile c $((4 << 20))
printf 'changed' | dd of="$MNT/a" bs=1 seek=1000 conv=notrunc status=none
sed -i '/ a$/d' "$T/sums"; (cd "$MNT" && sha256sum a) >> "$T/sums"
fsync_fails "$MNT/c" "Input/output error"
[ "$(injected sync-eio)" -gt 0 ] || fail "no sync was failed"
fault none
fsync_ok "$MNT/c"
kill_img
fsck_clean
mount_faulty
check_sums "fsync'd data wrong after a failed sync and a retry"

# 3. A crash while the image is failing leaves the last good generation.
fault write-eio
newfile d $((2 << 20))
fsync_fails "$MNT/d" "Input/output error"
kill_img
fsck_clean
if LD_PRELOAD=$FAULTIO "$FOLIOFS" -f "$IMG" "$MNT" 2> "$T/mount.err"; then
	fail "mounted an image that cannot be written"
fi
grep -q "cannot write the image: Input/output error" "$T/mount.err" ||
	fail "unclear message mounting a failing image: $(cat "$T/mount.err")"
fault none
mount_faulty
sed -i '/ d$/d' "$T/sums"
check_sums "committed data lost by a crash during failing writes"
[ ! -e "$MNT/d" ] || fail "an uncommitted file survived the crash"

# 3b. A truncate, then a delete: the commit that frees the deleted file's
# blocks lands, the data commit after it fails, the daemon dies.  The
# image must not pair the new size with extents past it.
newfile t $((4 << 20))
echo v > "$MNT/v"
fsync_ok "$MNT/t"
truncate -s $((1 << 20)) "$MNT/t"
rm "$MNT/v"
fault write-eio-data
fsync_fails "$MNT/t" "Input/output error"
kill_img
fsck_clean
fault none
mount_faulty
size=$(stat -c %s "$MNT/t")
[ "$size" = $((4 << 20)) ] || [ "$size" = $((1 << 20)) ] || fail "t has size $size after the crash"
[ "$size" = $((4 << 20)) ] && check_sums "t lost its committed content"
sed -i '/ t$/d' "$T/sums"; (cd "$MNT" && sha256sum t) >> "$T/sums"

# 4. The host says ENOSPC: reported as such, nothing lost, then it recovers.
fault write-enospc
newfile e $((6 << 20))
fsync_fails "$MNT/e" "No space left on device"
check_sums "data unreadable after a host ENOSPC"
fault none
fsync_ok "$MNT/e"

# 5. Periodic writeback failing is logged; the next fsync still reports it.
umount_img
DAEMON_PRELOAD=$FAULTIO mount_img -o commit=1
fault sync-eio
newfile f $((1 << 20))
for _ in $(seq 50); do
	grep -q "periodic writeback failed" "$T/daemon.log" && break
	sleep 0.1
done
grep -q "periodic writeback failed: Input/output error" "$T/daemon.log" ||
	fail "a failing periodic writeback was not logged"
fsync_fails "$MNT/f" "Input/output error"

# 6. Unmount while failing: the daemon says what is lost and exits 1.
echo g > "$MNT/g"
umount "$MNT"
rc=0; wait "$DAEMON_PID" || rc=$?
DAEMON_PID=
[ "$rc" = 1 ] || fail "daemon exited $rc after a failed final writeback"
grep -q "still holds generation [0-9]*; changes made after it are lost" "$T/daemon.log" ||
	fail "no message about the lost final writeback"
fsck_clean
fault none
mount_img -o commit=0
sed -i '/ f$/d' "$T/sums"
check_sums "committed data lost by a failed unmount"
umount_img
fsck_clean
pass "EIO on write and sync, host ENOSPC, crash and unmount while failing: errors reported, image consistent, nothing committed lost ($(wc -l < "$CTL.count") injected faults)"

# 7. A real full host filesystem under a sparse image.
HOST=$T/host
mkdir "$HOST"
mount -t tmpfs -o size=48M tmpfs "$HOST"
if "$MKFS" -q -s 64M "$HOST/img" 2> "$T/mkfs.err"; then
	fail "mkfs reserved a 64 MiB image on a 48 MiB host"
fi
grep -q "cannot reserve .* No space left on device (--sparse" "$T/mkfs.err" ||
	fail "unclear mkfs message: $(cat "$T/mkfs.err")"
[ -e "$HOST/img" ] && fail "a failed mkfs left the image file it created"
"$MKFS" -q -S -s 64M "$HOST/img" || fail "mkfs --sparse failed"
IMG=$HOST/img
unset FOLIOFS_FAULT_IMAGE FOLIOFS_FAULT_CTL
: > "$T/sums"
mount_img -o commit=0
head -c $((30 << 20)) /dev/zero > "$HOST/filler"
i=0
while [ $i -lt 8 ]; do
	newfile "h$i" $((4 << 20))
	if ! "$HELPERS/fsync_file" "$MNT/h$i" 2> "$T/fsync.err"; then
		grep -q "No space left on device" "$T/fsync.err" ||
			fail "host full: expected ENOSPC, got $(cat "$T/fsync.err")"
		break
	fi
	i=$((i + 1))
done
[ $i -lt 8 ] || fail "the host never filled up"
check_sums "data unreadable in the mount with the host full"
rm "$HOST/filler"
fsync_ok "$MNT/h$i"
umount_img
fsck_clean
mount_img -o commit=0
check_sums "data lost after the host filled up and recovered"
umount_img
umount "$HOST"
pass "host full: mkfs refuses to reserve with a clear message; a sparse image gets ENOSPC at fsync after $i files, loses nothing, and recovers"

# 8. What a failed fsync wrote on a sparse image goes back to the host: with
# less room freed than the whole retry needs (but more than it needs beyond
# what the failed attempt took), the retry commits.
mount -t tmpfs -o size=200M tmpfs "$HOST"
"$MKFS" -q -S -s 1G "$HOST/img" || fail "mkfs --sparse failed"
: > "$T/sums"
mount_img -o commit=0
newfile big0 $((60 << 20))
fsync_ok "$MNT/big0"
head -c $((38 << 20)) /dev/zero > "$HOST/filler1"
head -c $((62 << 20)) /dev/zero > "$HOST/filler2"
newfile big1 $((80 << 20))
fsync_fails "$MNT/big1" "No space left on device"
rm "$HOST/filler2"
fsync_ok "$MNT/big1"
used=$(du -k "$HOST/img" | cut -f1)
[ "$used" -lt $((150 << 10)) ] || fail "the image takes $used KiB of the host for 140 MiB of data"
umount_img
fsck_clean
mount_img -o commit=0
check_sums "data lost after a failed fsync on a full host was retried"
umount_img
umount "$HOST"
pass "host full: a failed fsync's blocks return to a sparse image's host, and the retry commits"
