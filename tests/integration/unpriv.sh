#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# foliofs run by an unprivileged user: mkfs, mount through fusermount3,
# the POSIX trace against a tmpfs the same user works in, fsync'd data
# surviving kill -9, fsck, unmount with fusermount3 -u.  Then the walls:
# without allow_other even root is refused; allow_other needs
# user_allow_other; the daemon's file memory cannot be reached through
# /proc/PID/fd, by its own user or another; a root daemon keeps only
# CAP_SYS_ADMIN.
. "$(dirname "$0")/lib.sh"
: "${HELPERS:?}" "${POSIX_OPS:?}"
command -v setpriv >/dev/null || skip "setpriv missing"
command -v fusermount3 >/dev/null || skip "fusermount3 missing"
[ -u "$(command -v fusermount3)" ] || skip "fusermount3 is not set-user-ID"

USR=65534
as_user() { setpriv --reuid=$USR --regid=$USR --clear-groups "$@"; }
as_other() { setpriv --reuid=65533 --regid=65533 --clear-groups "$@"; }

chmod 755 "$T"
U=$T/u
mkdir -p "$U/mnt" "$U/tmpfs"
chown -R $USR:$USR "$U"
UIMG=$U/img UMNT=$U/mnt UPID=

umount_user() {
	as_user fusermount3 -u "$UMNT" || fail "fusermount3 -u failed"
	wait "$UPID" || fail "user daemon exited with $?"
	UPID=
}
# Root cannot stat a user's mount without allow_other: ask the mount table.
mounted() { grep -q " $UMNT fuse.foliofs " /proc/self/mounts; }
mount_user() {
	# not through as_user: $! must be the daemon itself (setpriv execs it)
	setpriv --reuid=$USR --regid=$USR --clear-groups \
		"$FOLIOFS" -f "$@" "$UIMG" "$UMNT" >> "$T/daemon.log" 2>&1 &
	UPID=$!
	wait_mount "$UPID" "$UMNT" as_user || fail "unprivileged mount did not appear"
}
# Debian's udev makes /dev/fuse 0666; a bare machine may not.  Lend the
# user access for the test and put the mode back after.
FUSE_MODE=$(stat -c %a /dev/fuse)
user_cleanup() {
	[ -n "${UPID:-}" ] && kill -9 "$UPID" 2>/dev/null
	mounted && umount -l "$UMNT"
	mountpoint -q "$U/tmpfs" && umount -l "$U/tmpfs"
	chmod "$FUSE_MODE" /dev/fuse
	cleanup
}
trap user_cleanup EXIT
[ "$FUSE_MODE" = 666 ] || { echo "note: /dev/fuse is $FUSE_MODE; 666 for this test"; chmod 666 /dev/fuse; }

# The same POSIX trace as posix.sh, but as the user, on a tmpfs it owns.
mount -t tmpfs -o uid=$USR,gid=$USR tmpfs "$U/tmpfs"
as_user "$POSIX_OPS" "$U/tmpfs" > "$T/tmpfs.out"
umount "$U/tmpfs"

as_user "$MKFS" -q -s 256M "$UIMG" || fail "mkfs as a user"
mount_user
grep -q "passthrough off" "$T/daemon.log" || fail "a user daemon claims passthrough"
as_user "$POSIX_OPS" "$UMNT" > "$T/foliofs.out"
diff -u "$T/tmpfs.out" "$T/foliofs.out" || fail "as a user, foliofs differs from tmpfs"

# fsync'd data survives a crash of the user's daemon.
as_user sh -c "head -c 3000000 /dev/urandom > $UMNT/data" || fail "write as user"
as_user "$HELPERS/fsync_file" "$UMNT/data" || fail "fsync as user"
sum=$(as_user sha256sum "$UMNT/data")
as_user "$HELPERS/mmap_client" "$UMNT/data" > /dev/null 2>&1 ||
	fail "mmap as user"

# Walls around the mount and the daemon.
if stat "$UMNT/data" > /dev/null 2>&1; then
	fail "root reached a user's mount without allow_other"
fi
for who in as_user as_other; do
	if $who ls "/proc/$UPID/fd/" > /dev/null 2>&1; then
		fail "$who can list the daemon's descriptors"
	fi
done
grep -q "^Uid:.*$USR" "/proc/$UPID/status" || fail "UPID is not the user's daemon"
kill -9 "$UPID"; wait "$UPID" 2>/dev/null || true; UPID=
as_user fusermount3 -u "$UMNT" 2>/dev/null || umount -l "$UMNT"
as_user "$FSCK" -n "$UIMG" > "$T/fsck.out" 2>&1 || { cat "$T/fsck.out"; fail "fsck after a crash"; }
mount_user
[ "$(as_user sha256sum "$UMNT/data")" = "$sum" ] || fail "fsync'd data lost"
umount_user

# allow_other is refused to users unless /etc/fuse.conf says otherwise.
if grep -q "^user_allow_other" /etc/fuse.conf 2>/dev/null; then
	echo "note: user_allow_other is set here; not checking the refusal"
else
	if as_user "$FOLIOFS" -f -o allow_other "$UIMG" "$UMNT" 2> "$T/ao.err"; then
		fail "allow_other accepted for a user"
	fi
	grep -q "allow_other only allowed if 'user_allow_other'" "$T/ao.err" ||
		fail "unclear allow_other refusal: $(cat "$T/ao.err")"
	mounted && fail "a refused mount is mounted"
fi
as_user "$FSCK" -n "$UIMG" > /dev/null || fail "fsck after unmount"
pass "user: mkfs, mount, $(grep -c . "$T/tmpfs.out") POSIX operations as on tmpfs, crash, fsck, fusermount3 -u; root refused without allow_other; /proc/PID/fd closed"

# A root daemon keeps CAP_SYS_ADMIN only and cannot gain more.
mkfs_img 64M
mount_img
st=/proc/$DAEMON_PID/status
# the mount appears before the daemon drops what it no longer needs
for _ in $(seq 100); do grep -q "^NoNewPrivs:.1$" "$st" && break; sleep 0.02; done
grep -q "^CapEff:.*0000000000200000$" "$st" || fail "effective: $(grep CapEff "$st")"
grep -q "^CapPrm:.*0000000000200000$" "$st" || fail "permitted: $(grep CapPrm "$st")"
grep -q "^CapBnd:.*0000000000200000$" "$st" || fail "bounding: $(grep CapBnd "$st")"
grep -q "^NoNewPrivs:.1$" "$st" || fail "no_new_privs not set"
echo x > "$MNT/x" && [ "$(cat "$MNT/x")" = x ] || fail "root daemon does not serve"
as_user ls "$MNT" > /dev/null 2>&1 && fail "a user reached root's mount without allow_other"
umount_img
fsck_clean
pass "root daemon: CAP_SYS_ADMIN only, no_new_privs, not dumpable; others refused without allow_other"
