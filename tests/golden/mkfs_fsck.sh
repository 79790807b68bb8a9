#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Golden tests for mkfs.foliofs and fsck.foliofs.  mkfs with a pinned UUID
# and SOURCE_DATE_EPOCH must write a byte-identical image; fsck of each kind
# of deliberately damaged image (stored in images/) must print the recorded
# findings and exit codes, repair with -y, and be clean afterwards.  Runs
# as any user.  GOLDEN_UPDATE=1 rewrites the expected files.
set -euo pipefail
: "${MKFS:?}" "${FSCK:?}" "${GOLDEN:?}"

T=$(mktemp -d /tmp/foliofs-golden.XXXXXX)
trap 'rm -rf "$T"' EXIT
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
"$MKFS" -s 4M -L golden -U $UUID -E root_owner=0:0 img > mkfs.out
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
	"$MKFS" -E root_owner=1:x -s 4M img4 2>&1 || echo "exit $?"
	rc=0; "$FSCK" -n -y img > usage.txt 2>&1 || rc=$?
	head -1 usage.txt; echo "exit $rc"
	"$FSCK" -n nonexistent 2>&1 || echo "exit $?"
} > refuse.out
check refuse

# 2. Each kind of damage, as a stored image (made by make_images.sh through
# a real mount): fsck finds it, -y repairs it, and the result is clean.
# Plain files only: no root, no /dev/fuse.
for stored in "$GOLDEN"/images/damage-*.img.gz; do
	name=$(basename "$stored" .img.gz)
	gzip -dc "$stored" > img
	{
		echo "== fsck -n"; "$FSCK" -n img || echo "exit $?"
		echo "== fsck -y"; "$FSCK" -y img || echo "exit $?"
		echo "== fsck -n again"; "$FSCK" -n img || echo "exit $?"
	} > "$name.out" 2>&1
	check "$name"
done
[ $failures = 0 ] || { echo "FAIL: $failures golden mismatches"; exit 1; }
echo "PASS: golden mkfs and fsck output"
