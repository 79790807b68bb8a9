#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The image and its intent log against what a crash, a damaged block, a new
# mkfs and a read-only daemon do to them, through real mounts and kill -9:
# a log an earlier filesystem left on the image never replays into the new
# one; a damaged batch with a sound one after it is corruption (fsck says so
# and exits 4, a read-write mount refuses naming fsck.foliofs, a read-only
# one serves what replayed, fsck -y salvages); a daemon started with -o ro
# refuses every change even after mount -o remount,rw.
. "$(dirname "$0")/lib.sh"

# put NAME MIB: write MIB MiB of NAME's own bytes and fsync them
put() {
	head -c $(($2 << 20)) /dev/urandom > "$T/$1.src"
	dd if="$T/$1.src" of="$MNT/$1" bs=1M conv=fsync status=none || fail "write $1"
}
log_head() { "$HELPERS/fofs_debug" show "$IMG" | awk '/^super/ {print $NF}'; }

# 1. mkfs -f over an old image: the old filesystem's log stays dead
mkfs_img 1G
mount_img -o commit=0
put f 64
rm "$MNT/f"
put g 64
umount_img
"$MKFS" -q -f -s 1G "$IMG"
mount_img -o commit=0
put f 64
kill_img
mount_img
[ -e "$MNT/g" ] && fail "a file of the filesystem mkfs replaced came back after a crash"
cmp -s "$T/f.src" "$MNT/f" || fail "the new filesystem's fsync'd file is lost or wrong"
umount_img
fsck_clean
pass "a crash after mkfs -f replays only the new filesystem's log"

# 2. a damaged batch with a sound one after it is corruption, not a torn tail
mkfs_img 256M
mount_img -o commit=0
head=$(log_head)
put a 1
put b 1
kill_img
printf '\xa5' | dd of="$IMG" bs=1 seek=$((head * 4096 + 100)) conv=notrunc status=none
rc=0
out=$("$FSCK" -n "$IMG" 2>&1) || rc=$?
[ "$rc" = 4 ] || fail "fsck -n of a corrupt log exits $rc, not 4: $out"
grep -q "corrupt" <<< "$out" || fail "fsck -n does not say the log is corrupt: $out"
rc=0
"$FOLIOFS" -f "${MODE_OPTS[@]}" "$IMG" "$MNT" > "$T/refused.log" 2>&1 || rc=$?
[ "$rc" != 0 ] || fail "a read-write mount of a corrupt log was accepted"
[ "$(grep -c . "$T/refused.log")" = 1 ] && grep -q "fsck.foliofs" "$T/refused.log" ||
	fail "the refusal is not one line naming fsck.foliofs: $(cat "$T/refused.log")"
mount_img -o ro
grep -q "intent log" "$T/daemon.log" || fail "a read-only mount says nothing of the corrupt log"
umount_img
rc=0
"$FSCK" -y "$IMG" > "$T/fsck.out" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "fsck -y of a corrupt log exits $rc, not 1: $(cat "$T/fsck.out")"
fsck_clean
mount_img
umount_img
pass "a damaged log batch with a sound one after it is reported, refused and salvaged"

# 3. a read-only daemon refuses changes after mount -o remount,rw
mkfs_img 256M
mount_img
echo kept > "$MNT/kept"
umount_img
mount_img -o ro
# the kernel flips its flag without asking the daemon (-i: no helper)
mount -i -o remount,rw "$MNT" || fail "the kernel refused remount,rw"
for op in "echo x > '$MNT/new'" "echo x >> '$MNT/kept'" "mkdir '$MNT/d'" \
	"rm '$MNT/kept'" "chmod 600 '$MNT/kept'" "truncate -s 0 '$MNT/kept'" \
	"setfattr -n user.a -v 1 '$MNT/kept'" "mv '$MNT/kept' '$MNT/moved'"; do
	err=$(bash -c "$op" 2>&1) && fail "a read-only daemon accepted: $op"
	grep -qi "read-only" <<< "$err" || fail "$op: not EROFS: $err"
done
grep -q "refusing changes" "$T/daemon.log" || fail "the daemon did not say it refuses changes"
umount_img
mount_img
[ "$(cat "$MNT/kept")" = kept ] || fail "the read-only mount changed a file"
[ -e "$MNT/new" ] && fail "the read-only mount created a file"
umount_img
pass "a daemon started read-only refuses every change, remounted rw or not"

# 4. an image holds every file's bytes: mkfs makes it 0600, mount warns of
# one others may read
rm -f "$IMG"
mkfs_img 64M
[ "$(stat -c %a "$IMG")" = 600 ] || fail "mkfs made the image mode $(stat -c %a "$IMG"), not 600"
chmod 644 "$IMG"
mount_img
umount_img
grep -q "readable by other users" "$T/daemon.log" || fail "no warning for an image others may read"
pass "mkfs makes images 0600 and mount warns of one others may read"
