#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Damaged or wrong images are refused with one line naming the problem;
# bad options are usage errors; damaged data reads fail instead of lying.
. "$(dirname "$0")/lib.sh"

expect_refused() {	# expect_refused PATTERN [daemon args]
	local pat=$1 rc=0
	shift
	"$FOLIOFS" -f "$@" "$IMG" "$MNT" > "$T/out" 2>&1 || rc=$?
	[ "$rc" != 0 ] || fail "mount of a bad image succeeded"
	mountpoint -q "$MNT" && fail "bad image got mounted"
	grep -q -- "$pat" "$T/out" || { cat "$T/out"; fail "message lacks '$pat'"; }
	[ "$(grep -c . "$T/out")" -le 2 ] || { cat "$T/out"; fail "not a one-line message"; }
}

# Not an image at all.
head -c 4M /dev/urandom > "$IMG"
expect_refused "not a foliofs image"
# Missing file.
rm "$IMG"
expect_refused "No such file"
# Usage errors.
rc=0; "$FOLIOFS" > "$T/out" 2>&1 || rc=$?
[ "$rc" = 2 ] && grep -q usage "$T/out" || fail "no usage error without arguments"
mkfs_img 64M
rc=0; "$FOLIOFS" -o huge=sometimes "$IMG" "$MNT" > "$T/out" 2>&1 || rc=$?
[ "$rc" != 0 ] && grep -q "unknown huge policy" "$T/out" || fail "bad option accepted"
# Numbers: no sign, no overflow, no trailing text, within range; one line.
for o in cache_size=-5 cache_size=1Q cache_size=99999999999T commit=-1 commit=5s \
	 commit=999999 scan_sleep_ms=-1 max_ptes_none=512; do
	expect_refused "bad ${o%%=*} '${o#*=}'" -o "$o"
done

# The newest superblock damaged after its commit: never a silent rollback.
# fsck -n names it (exit 4), -y writes it back from its backup copy, and a
# mount uses the backup with one line.
mkfs_img 64M
mount_img
echo precious > "$MNT/p"
umount_img
flip_newest_super() {
	local gen
	gen=$("$HELPERS/fofs_debug" show "$IMG" | awk '/^super/ {print $3}')
	printf '\377\377' | dd of="$IMG" bs=1 seek=$(( (gen % 2) * 4096 + 8 )) conv=notrunc status=none
	echo "$gen"
}
gen=$(flip_newest_super)
rc=0; "$FSCK" -n "$IMG" > "$T/out" 2>&1 || rc=$?
[ "$rc" = 4 ] && grep -q "superblock of generation $gen (slot $((gen % 2))) is damaged" "$T/out" ||
	{ cat "$T/out"; fail "fsck -n missed a damaged newest superblock (exit $rc)"; }
rc=0; "$FSCK" -y "$IMG" > "$T/out" 2>&1 || rc=$?
[ "$rc" = 1 ] || { cat "$T/out"; fail "fsck -y did not repair the superblock (exit $rc)"; }
fsck_clean
gen=$(flip_newest_super)
mount_img
[ "$(cat "$MNT/p")" = precious ] || fail "damaged superblock rolled the filesystem back"
grep -q "generation $gen .* damaged .* backup copy is in use" "$T/daemon.log" ||
	fail "mount did not say it used the backup superblock"
umount_img
fsck_clean
mkfs_img 64M

# A metadata block with a flipped byte.
mount_img
echo data > "$MNT/file"
umount_img
head=$("$HELPERS/fofs_debug" show "$IMG" | awk '/^super/ {print $9}')
cp "$IMG" "$T/good"
printf '\xff' | dd of="$IMG" bs=1 seek=$((head * 4096 + 100)) conv=notrunc status=none
expect_refused "checksum mismatch"
rc=0; "$FSCK" -n "$IMG" > "$T/fsck" || rc=$?
[ "$rc" = 4 ] && grep -q "checksum mismatch" "$T/fsck" || { cat "$T/fsck"; fail "fsck missed it"; }

# Both superblocks gone.
cp "$T/good" "$IMG"
dd if=/dev/zero of="$IMG" bs=4096 count=2 conv=notrunc status=none
expect_refused "not a foliofs image"

# Truncated image.
cp "$T/good" "$IMG"
truncate -s 1M "$IMG"
expect_refused "truncated"

# File data with a flipped byte: mount works, reading fails, fsck names it.
cp "$T/good" "$IMG"
blk=$("$HELPERS/fofs_debug" show "$IMG" | awk '/^  extent/ {print $7; exit}')
printf 'X' | dd of="$IMG" bs=1 seek=$((blk * 4096)) conv=notrunc status=none
mount_img
cat "$MNT/file" > /dev/null 2>&1 && fail "corrupt data was served"
umount_img
rc=0; "$FSCK" -n "$IMG" > "$T/fsck" || rc=$?
[ "$rc" = 4 ] && grep -q "fails its checksum" "$T/fsck" || { cat "$T/fsck"; fail "fsck missed bad data"; }

# The image is locked while mounted.
cp "$T/good" "$IMG"
mount_img
rc=0; "$MKFS" -f -q "$IMG" > "$T/out" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q "in use" "$T/out" || fail "mkfs overwrote a mounted image"
rc=0; "$FSCK" -n "$IMG" > "$T/out" 2>&1 || rc=$?
[ "$rc" = 8 ] && grep -q "in use" "$T/out" || { cat "$T/out"; fail "fsck checked a mounted image"; }
umount_img
pass "bad images refused with a reason; bad data never served"
