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
[ "$(grep -c . "$T/out")" = 1 ] || fail "a usage error is not one line: $(cat "$T/out")"
mkfs_img 64M
# A mount point that is a file, or missing: one line, exit 2, nothing mounted.
touch "$T/file"
rc=0; "$FOLIOFS" "$IMG" "$T/file" > "$T/out" 2>&1 || rc=$?
[ "$rc" = 2 ] && grep -q "not a directory" "$T/out" && [ "$(grep -c . "$T/out")" = 1 ] ||
	fail "a file as mount point: exit $rc, $(cat "$T/out")"
mountpoint -q "$T/file" && fail "a file was mounted over"
rc=0; "$FOLIOFS" "$IMG" "$T/missing" > "$T/out" 2>&1 || rc=$?
[ "$rc" = 2 ] && [ "$(grep -c . "$T/out")" -le 2 ] ||
	fail "a missing mount point: exit $rc, $(cat "$T/out")"

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
# fsck says how to get out of it, not to run fsck again; growing it back works
rc=0; "$FSCK" -n "$IMG" > "$T/out" 2>&1 || rc=$?
[ "$rc" = 4 ] && grep -q "truncate -s $(stat -c %s "$T/good")" "$T/out" ||
	fail "fsck of a truncated image: exit $rc, $(cat "$T/out")"
grep -q "fsck.foliofs -y" "$T/out" && fail "fsck suggests -y for a truncated image"
truncate -s "$(stat -c %s "$T/good")" "$IMG"
fsck_clean

# File data with a flipped byte: mount works, reading fails, fsck names it.
cp "$T/good" "$IMG"
blk=$("$HELPERS/fofs_debug" show "$IMG" | awk '/^  extent/ {print $7; exit}')
printf 'X' | dd of="$IMG" bs=1 seek=$((blk * 4096)) conv=notrunc status=none
mount_img
cat "$MNT/file" > /dev/null 2>&1 && fail "corrupt data was served"
umount_img
rc=0; "$FSCK" -n "$IMG" > "$T/fsck" || rc=$?
[ "$rc" = 4 ] && grep -q "fails its checksum" "$T/fsck" || { cat "$T/fsck"; fail "fsck missed bad data"; }

# One damaged extent costs its own bytes: the file opens, the damaged
# range fails with EIO, the rest reads as written, writes elsewhere are
# committed around it, the daemon says it once; fsck names file, offset and
# length, -y punches the range.
mkfs_img 64M
mount_img
head -c $((6 << 20)) /dev/urandom > "$T/big"
cp "$T/big" "$MNT/big"
umount_img
"$HELPERS/fofs_debug" show "$IMG" > "$T/show"
blk=$(awk '/^  extent/ && $3 == 2097152 {print $7; exit}' "$T/show")	# region 1
[ -n "$blk" ] || { cat "$T/show"; fail "no extent at 2 MiB"; }
# invert the byte (random data may already hold any given value)
python3 -c "import sys; f = open(sys.argv[1], 'r+b'); f.seek(int(sys.argv[2])); b = f.read(1)
f.seek(int(sys.argv[2])); f.write(bytes([b[0] ^ 0xff]))" "$IMG" $((blk * 4096 + 5))
logged=$(grep -c "fails its checksum" "$T/daemon.log" || true)
mount_img
dd if="$MNT/big" of="$T/r0" bs=1M count=2 status=none || fail "intact region 0 unreadable"
dd if="$MNT/big" of="$T/r2" bs=1M skip=4 count=2 status=none || fail "intact region 2 unreadable"
cmp -s "$T/r0" <(head -c $((2 << 20)) "$T/big") || fail "region 0 changed"
cmp -s "$T/r2" <(tail -c $((2 << 20)) "$T/big") || fail "region 2 changed"
dd if="$MNT/big" of=/dev/null bs=4k skip=$((2 << 8)) count=1 status=none 2> "$T/err" &&
	fail "damaged data was served"
grep -q "Input/output error" "$T/err" || fail "damaged read: $(cat "$T/err")"
[ "$(grep -c "fails its checksum" "$T/daemon.log")" = $((logged + 1)) ] ||
	fail "daemon did not say it once"
printf 'new' | dd of="$MNT/big" bs=1 seek=100 conv=notrunc status=none || fail "write to an intact region"
printf 'new' | dd of="$MNT/big" bs=1 seek=$((3 << 20)) conv=notrunc status=none 2>/dev/null &&
	fail "a write replaced damaged data"
"$HELPERS/fsync_file" "$MNT/big" || fail "fsync around damage"
umount_img
rc=0; "$FSCK" -n "$IMG" > "$T/fsck" || rc=$?
[ "$rc" = 4 ] && grep -q "inode 2 (/big): data at offset 2097152 (2097152 bytes) fails its checksum" "$T/fsck" ||
	{ cat "$T/fsck"; fail "fsck does not name the damaged range"; }
grep -q "run fsck.foliofs -y" "$T/fsck" || fail "fsck does not offer -y"
rc=0; "$FSCK" -y "$IMG" > "$T/fsck" || rc=$?
[ "$rc" = 1 ] || { cat "$T/fsck"; fail "fsck -y did not punch the damage (exit $rc)"; }
fsck_clean
mount_img
[ "$(dd if="$MNT/big" bs=1 skip=100 count=3 status=none)" = new ] || fail "write lost"
cmp -s <(dd if="$MNT/big" bs=1M skip=2 count=2 status=none) <(head -c $((2 << 20)) /dev/zero) ||
	fail "punched range does not read as zeros"
umount_img

# The image is locked while mounted.
cp "$T/good" "$IMG"
mount_img
rc=0; "$MKFS" -f -q "$IMG" > "$T/out" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q "in use" "$T/out" || fail "mkfs overwrote a mounted image"
rc=0; "$FSCK" -n "$IMG" > "$T/out" 2>&1 || rc=$?
[ "$rc" = 8 ] && grep -q "in use" "$T/out" || { cat "$T/out"; fail "fsck checked a mounted image"; }
umount_img
pass "bad images refused with a reason; bad data never served"
