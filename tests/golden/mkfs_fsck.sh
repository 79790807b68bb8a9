#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Golden tests for mkfs.foliofs and fsck.foliofs.  mkfs with a pinned UUID
# and SOURCE_DATE_EPOCH must write a byte-identical image; fsck of each kind
# of deliberately damaged image must print the recorded findings and exit
# codes, repair with -y, and be clean afterwards.  GOLDEN_UPDATE=1 rewrites
# the expected files.
set -euo pipefail
: "${MKFS:?}" "${FSCK:?}" "${HELPERS:?}" "${GOLDEN:?}" "${FOLIOFS:?}"

T=$(mktemp -d /tmp/foliofs-golden.XXXXXX)
trap 'mountpoint -q "$T/mnt" && umount -l "$T/mnt"; rm -rf "$T"' EXIT
cd "$T"
export SOURCE_DATE_EPOCH=1700000000
UUID=01234567-89ab-cdef-0123-456789abcdef
failures=0

check() {	# check NAME: compare $T/NAME.out with the golden file
	if [ -n "${GOLDEN_UPDATE:-}" ]; then
		cp "$1.out" "$GOLDEN/$1.expected"
	elif ! diff -u "$GOLDEN/$1.expected" "$1.out"; then
		echo "FAIL: $1"; failures=$((failures + 1))
	else
		echo "ok: $1"
	fi
}

# 1. mkfs is reproducible and its output stable.
"$MKFS" -s 4M -L golden -U $UUID img > mkfs.out
sha256sum img | cut -d' ' -f1 >> mkfs.out
"$FSCK" -n img >> mkfs.out
check mkfs

# Usage and refusal messages.
{
	"$MKFS" -s 4M -U $UUID img 2>&1 || echo "exit $?"
	"$MKFS" -s 512K -f img2 2>&1 || echo "exit $?"
	[ -e img2 ] && echo "img2 left behind by a failed mkfs"
	truncate -s 512K img5
	"$MKFS" -f img5 2>&1 || echo "exit $?"
	[ -e img5 ] || echo "img5 removed although mkfs did not create it"
	"$MKFS" -s 12Q img3 2>&1 || echo "exit $?"
	"$MKFS" newfile 2>&1 || echo "exit $?"
	"$MKFS" -L "$(printf '%070d' 0)" -s 4M img4 2>&1 || echo "exit $?"
	rc=0; "$FSCK" -n -y img > usage.txt 2>&1 || rc=$?
	head -1 usage.txt; echo "exit $rc"
	"$FSCK" -n nonexistent 2>&1 || echo "exit $?"
} > refuse.out
check refuse

# 2. Damaged images need a populated one, made through a real mount.
if [ "$(id -u)" != 0 ] || [ ! -c /dev/fuse ]; then
	echo "SKIP: damaged-image cases need root and /dev/fuse"
	[ $failures = 0 ] || exit 1
	exit 0
fi
"$MKFS" -q -f -s 16M -U $UUID base
mkdir mnt
"$FOLIOFS" -f base mnt & pid=$!
for _ in $(seq 100); do mountpoint -q mnt && break; sleep 0.05; done
mkdir mnt/dir
printf 'hello, world\n' > mnt/dir/small
head -c $((2 << 20)) /dev/zero | tr '\0' 'h' > mnt/huge
echo other > mnt/other
umount mnt
wait $pid

for kind in "nlink 3" "orphan 3" dangling share "beyond 4" meta data; do
	name=${kind%% *}
	cp base img
	case $kind in
	meta)	head=$("$HELPERS/fofs_debug" show img | awk '/^super/ {print $9}')
		printf '\xff' | dd of=img bs=1 seek=$((head * 4096 + 64)) conv=notrunc status=none ;;
	data)	blk=$("$HELPERS/fofs_debug" show img | awk '/order 0/ {print $7; exit}')
		printf 'X' | dd of=img bs=1 seek=$((blk * 4096)) conv=notrunc status=none ;;
	*)	"$HELPERS/fofs_debug" damage img $kind ;;
	esac
	{
		echo "== fsck -n"; "$FSCK" -n img || echo "exit $?"
		echo "== fsck -y"; "$FSCK" -y img || echo "exit $?"
		echo "== fsck -n again"; "$FSCK" -n img || echo "exit $?"
	} > "damage-$name.out" 2>&1
	check "damage-$name"
done
[ $failures = 0 ] || { echo "FAIL: $failures golden mismatches"; exit 1; }
echo "PASS: golden mkfs and fsck output"
