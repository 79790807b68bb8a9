#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# foliofs mounts like other FUSE filesystems: mount -t fuse.foliofs through
# mount.fuse3, mount -t foliofs through mount.foliofs, from fstab lines of
# both types, and in the background by default; the daemon releases the
# image once unmounted.  mkfs -t foliofs, fsck -t foliofs and fsck -A (an
# fstab pass number, either type) find the tools, with fsck(8) exit codes.
# mount(8) runs helpers with its own PATH, which includes /usr/local/sbin:
# in a private mount namespace, a tmpfs there holds a link to the build's
# daemon, so the test neither needs an install nor touches the system.
if [ -z "${FOLIOFS_NS:-}" ] && [ "$(id -u)" = 0 ] && command -v unshare >/dev/null; then
	FOLIOFS_NS=1 exec unshare --mount --propagation private "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"

command -v mount.fuse3 >/dev/null || skip "mount.fuse3 (package fuse3) missing"
[ -n "${FOLIOFS_NS:-}" ] || skip "unshare(1) missing"
mount -t tmpfs tmpfs /usr/local/sbin
ln -s "$FOLIOFS" /usr/local/sbin/foliofs
# umount(8) looks for umount.foliofs in /sbin only: an overlay there
mkdir "$T/up" "$T/work"
mount -t overlay overlay -o lowerdir=/usr/sbin,upperdir="$T/up",workdir="$T/work" /usr/sbin
cp "$(dirname "$0")/../../tools/umount.foliofs" "$(dirname "$0")/../../tools/mount.foliofs" /usr/sbin/
# fsck(8) looks in /sbin, mkfs(8) in /sbin/fs.d, /sbin/fs and then PATH
ln -s "$MKFS" /usr/sbin/mkfs.foliofs
ln -s "$FSCK" /usr/sbin/fsck.foliofs
ln -s fsck.foliofs /usr/sbin/fsck.fuse.foliofs

wait_released() {	# the daemon holds a lock on the image until its final commit
	for _ in $(seq 200); do
		flock -n "$IMG" true && return 0
		sleep 0.05
	done
	fail "daemon did not release the image"
}

mkfs_img 512M
mount -t fuse.foliofs "$IMG" "$MNT" -o commit=2
mountpoint -q "$MNT" || fail "mount -t fuse.foliofs did not mount"
grep -q "^$IMG $MNT fuse.foliofs " /proc/mounts || fail "/proc/mounts line: $(grep "$MNT" /proc/mounts)"
echo via-mount > "$MNT/a"
umount "$MNT"
wait_released
fsck_clean

echo "$IMG $MNT fuse.foliofs defaults,commit=3 0 0" > "$T/fstab"
mount --fstab "$T/fstab" "$MNT"
mountpoint -q "$MNT" || fail "fstab mount failed"
[ "$(cat "$MNT/a")" = via-mount ] || fail "data lost between mounts"
umount "$MNT"
wait_released

mount -t fuse.foliofs "$IMG" "$MNT" -o ro
echo x > "$MNT/b" 2>/dev/null && fail "read-only mount accepted a write"
umount "$MNT"
wait_released
fsck_clean

"$FOLIOFS" "$IMG" "$MNT"	# backgrounds itself
mountpoint -q "$MNT" || fail "background mount failed"
umount "$MNT"
wait_released

# A background mount says why passthrough is off before it detaches, and
# the mount table names the image absolutely even when given relatively.
(cd "$T" && "$FOLIOFS" -o nopassthrough img mnt 2> "$T/bg.err")
mountpoint -q "$MNT" || fail "background mount failed"
grep -q "passthrough off: disabled by -o nopassthrough" "$T/bg.err" ||
	fail "background mount did not say why passthrough is off: $(cat "$T/bg.err")"
grep -q "^$IMG $MNT fuse.foliofs " /proc/mounts ||
	fail "image not named absolutely: $(grep "$MNT" /proc/mounts)"
[ "$(getfattr --only-values -n user.foliofs.status "$MNT" | grep '^image=')" = "image=$IMG" ] ||
	fail "status does not name the image absolutely"
umount "$MNT"
wait_released

# umount returns once the daemon has committed and let go of the image:
# fsck and a new mount right after it find a clean, free image; remount
# cycles work.
mount -t fuse.foliofs "$IMG" "$MNT" -o commit=0
head -c $((256 << 20)) /dev/urandom > "$MNT/big"
sum=$(sha256sum < "$MNT/big")
umount "$MNT"
rc=0; "$FSCK" -n "$IMG" > "$T/fsck.out" 2>&1 || rc=$?
[ "$rc" = 0 ] || { cat "$T/fsck.out"; fail "fsck right after umount: exit $rc"; }
mount -t fuse.foliofs "$IMG" "$MNT" || fail "mount right after umount"
[ "$(sha256sum < "$MNT/big")" = "$sum" ] || fail "data lost across umount"
echo more > "$MNT/c"
umount "$MNT"
mount -t fuse.foliofs "$IMG" "$MNT" -o ro || fail "read-only mount right after umount"
[ "$(cat "$MNT/c")" = more ] || fail "data lost before a read-only mount"
umount "$MNT"
mount -t fuse.foliofs "$IMG" "$MNT"
echo one > "$MNT/r"
mount -o remount,ro "$MNT" || fail "remount,ro"
echo two > "$MNT/r2" 2>/dev/null && fail "write after remount,ro"
grep -q " $MNT fuse.foliofs ro," /proc/mounts || fail "mount not read-only: $(grep " $MNT " /proc/mounts)"
mount -o remount,rw "$MNT" || fail "remount,rw"
echo three > "$MNT/r3" || fail "write after remount,rw"
umount "$MNT"
mount -t fuse.foliofs "$IMG" "$MNT" -o ro
mount -o remount,rw "$MNT" 2> "$T/rw.err" && fail "a read-only daemon went read-write"
grep -q "opened its image read-only" "$T/rw.err" || fail "unclear: $(cat "$T/rw.err")"
umount "$MNT"
fsck_clean
# The helpers that make foliofs a type like any other.
rm -f "$IMG"
mkfs -t foliofs -s 256M -L helper "$IMG" > "$T/mkfs.out" || fail "mkfs -t foliofs: $(cat "$T/mkfs.out")"
mount -t foliofs "$IMG" "$MNT" -o commit=2 || fail "mount -t foliofs"
grep -q "^$IMG $MNT fuse.foliofs " /proc/mounts || fail "mount -t foliofs: $(grep "$MNT" /proc/mounts)"
echo typed > "$MNT/t"
umount "$MNT"
wait_released
mkdir "$T/mnt2"
printf '%s %s foliofs noauto,commit=3 0 2\n%s %s fuse.foliofs noauto 0 2\n' \
	"$IMG" "$MNT" "$IMG" "$T/mnt2" > "$T/fstab2"
mount --bind "$T/fstab2" /etc/fstab
mount "$MNT" || fail "mount of an fstab line of type foliofs"
[ "$(cat "$MNT/t")" = typed ] || fail "data lost between mount -t foliofs and fstab"
umount "$MNT"
wait_released
mount "$T/mnt2" || fail "mount of an fstab line of type fuse.foliofs"
umount "$T/mnt2"
wait_released
rc=0; fsck -T -t foliofs -p "$IMG" > "$T/fsck.out" 2>&1 || rc=$?
[ "$rc" = 0 ] && grep -q "^$IMG: clean" "$T/fsck.out" || fail "fsck -t foliofs -p: exit $rc: $(cat "$T/fsck.out")"
# fsck -A checks both lines (pass 2); it skips a nofail line whose source
# is not a block device, so these have none
rc=0; fsck -A -T -p > "$T/fsck.out" 2>&1 || rc=$?
[ "$rc" = 0 ] && [ "$(grep -c "^$IMG: clean" "$T/fsck.out")" = 2 ] ||
	fail "fsck -A -p: exit $rc: $(cat "$T/fsck.out")"
# -p exit codes: 1 when it repaired everything, 4 (and a plain request for
# a manual run) when something is left
gzip -dc "$GOLDEN/images/damage-orphan.img.gz" > "$IMG"
rc=0; fsck -T -t foliofs -p "$IMG" > "$T/fsck.out" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "fsck -p of a repairable image: exit $rc: $(cat "$T/fsck.out")"
fsck_clean
gzip -dc "$GOLDEN/images/damage-meta.img.gz" > "$IMG"
rc=0; fsck -T -A -p > "$T/fsck.out" 2>&1 || rc=$?
[ "$rc" = 4 ] && grep -q "UNEXPECTED INCONSISTENCY; RUN fsck.foliofs MANUALLY" "$T/fsck.out" ||
	fail "fsck -A -p of an image it cannot repair: exit $rc: $(cat "$T/fsck.out")"
umount /etc/fstab
pass "mount -t foliofs and fuse.foliofs, fstab lines of both types, mkfs -t, fsck -t and fsck -A -p with exit codes, ro and background mounts work; background mounts say why passthrough is off; umount waits for the commit; remount cycles"
