#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Maintainer tool, not a test: (re)make the damaged images the golden fsck
# test replays (tests/golden/images/*.img.gz).  Needs root and /dev/fuse,
# because the base image is populated through a real mount; the stored
# images then let the test run anywhere, without either.
#   MKFS=... FOLIOFS=... HELPERS=build/tests tests/golden/make_images.sh
set -euo pipefail
: "${MKFS:?}" "${FOLIOFS:?}" "${HELPERS:?}"
OUT=$(cd "$(dirname "$0")" && pwd)/images
T=$(mktemp -d /tmp/foliofs-images.XXXXXX)
trap 'mountpoint -q "$T/mnt" && umount -l "$T/mnt"; rm -rf "$T"' EXIT
cd "$T"
export SOURCE_DATE_EPOCH=1700000000
"$MKFS" -q -f -s 16M -U 01234567-89ab-cdef-0123-456789abcdef base
mkdir mnt
"$FOLIOFS" -f base mnt & pid=$!
for _ in $(seq 100); do mountpoint -q mnt && break; sleep 0.05; done
mkdir mnt/dir
printf 'hello, world\n' > mnt/dir/small
head -c $((2 << 20)) /dev/zero | tr '\0' 'h' > mnt/huge
echo other > mnt/other
umount mnt
wait $pid

mkdir -p "$OUT"
for kind in "nlink 3" "orphan 3" dangling share "beyond 4" meta data super; do
	name=${kind%% *}
	cp base img
	case $kind in
	meta)	head=$("$HELPERS/fofs_debug" show img | awk '/^super/ {print $9}')
		printf '\xff' | dd of=img bs=1 seek=$((head * 4096 + 64)) conv=notrunc status=none ;;
	data)	blk=$("$HELPERS/fofs_debug" show img | awk '/order 0/ {print $7; exit}')
		printf 'X' | dd of=img bs=1 seek=$((blk * 4096)) conv=notrunc status=none ;;
	super)	# the newest slot (generation & 1): recovered from its copy
		gen=$("$HELPERS/fofs_debug" show img | awk '/^super/ {print $3}')
		printf '\xff' | dd of=img bs=1 seek=$(((gen & 1) * 4096 + 100)) \
			conv=notrunc status=none ;;
	*)	"$HELPERS/fofs_debug" damage img $kind ;;
	esac
	gzip -9 -n < img > "$OUT/damage-$name.img.gz"
done
ls -l "$OUT"
