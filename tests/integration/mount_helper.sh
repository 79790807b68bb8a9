#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# foliofs mounts like other FUSE filesystems: mount -t fuse.foliofs through
# mount.fuse3, from an fstab line, and in the background by default; the
# daemon releases the image once unmounted.
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

wait_released() {	# the daemon holds a lock on the image until its final commit
	for _ in $(seq 200); do
		flock -n "$IMG" true && return 0
		sleep 0.05
	done
	fail "daemon did not release the image"
}

mkfs_img 64M
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
pass "mount -t, fstab, ro and background mounts work; background mounts say why passthrough is off"
