#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Data-plane benchmark (not a test): fio on a 2 GiB file on foliofs
# (passthrough, file loaded into huge pages after a remount), tmpfs and
# tmpfs huge=always, measured side by side in one run; prints ratios.
#   mmap randread bs=512   - what PMD mappings are worth (TLB reach)
#   psync read/write 1 MiB - the syscall path
# Run as root after building (meson setup build && meson compile -C build).
set -euo pipefail
cd "$(dirname "$0")/.."
B=${BUILD:-$PWD/build}
SIZE=${SIZE:-2G}
RUNTIME=${RUNTIME:-10}
T=$(mktemp -d /tmp/foliofs-bench.XXXXXX)
mkdir "$T/fofs" "$T/tmpfs" "$T/huge"
pid=
cleanup() {
	set +e
	for m in fofs tmpfs huge; do mountpoint -q "$T/$m" && umount "$T/$m"; done
	[ -n "$pid" ] && wait "$pid"
	rm -rf "$T"
}
trap cleanup EXIT

mount_fofs() {
	# shellcheck disable=SC2086
	"$B/fs/fuse/foliofs" -f ${FOFS_OPTS:-} "$@" "$T/img" "$T/fofs" 2>> "$T/daemon.log" & pid=$!
	for _ in $(seq 100); do mountpoint -q "$T/fofs" && return; sleep 0.05; done
	echo "mount failed" >&2; cat "$T/daemon.log" >&2; exit 1
}
umount_fofs() { umount "$T/fofs"; wait "$pid"; pid=; }

"$B/tools/mkfs.foliofs" -q -s 6G "$T/img"
mount_fofs
dd if=/dev/zero of="$T/fofs/data" bs=1M count=$(( ${SIZE%G} * 1024 )) conv=fsync status=none
umount_fofs
mount_fofs
head -c 1 "$T/fofs/data" > /dev/null	# load it now, not inside a timed run
grep -q "passthrough off" "$T/daemon.log" && echo "note: $(grep -m1 'passthrough off' "$T/daemon.log")"
mount -t tmpfs -o size=3G tmpfs "$T/tmpfs"
mount -t tmpfs -o size=3G,huge=always tmpfs "$T/huge"

# run NAME DIR FIO-ARGS... -> prints "iops bw_kib" of the read or write side
run() {
	local dir=$1 side=$2; shift 2
	fio --name=b --filename="$dir/data" --size="$SIZE" --runtime="$RUNTIME" \
	    --time_based --thread --output-format=terse --terse-version=3 "$@" \
	    > "$T/out" 2>/dev/null
	IFS=';' read -r -a F < "$T/out"
	if [ "$side" = r ]; then echo "${F[7]} ${F[6]}"; else echo "${F[48]} ${F[47]}"; fi
}

# Each figure is the better of two runs, the three filesystems interleaved,
# so that a noisy moment on a small machine does not decide a ratio.
declare -A R
best() {	# best OLD NEW: the pair with the larger first field
	local a b
	read -r a _ <<< "$1"; read -r b _ <<< "$2"
	if [ -z "$1" ] || [ "$b" -gt "$a" ]; then echo "$2"; else echo "$1"; fi
}
for w in mmap_randread psync_read psync_write; do
	for rep in 1 2; do
		for fs in fofs tmpfs huge; do
			case $w in
			mmap_randread) r=$(run "$T/$fs" r --ioengine=mmap --rw=randread --bs=512) ;;
			psync_read)    r=$(run "$T/$fs" r --ioengine=psync --rw=read --bs=1M) ;;
			psync_write)   r=$(run "$T/$fs" w --ioengine=psync --rw=write --bs=1M) ;;
			esac
			R[$w.$fs]=$(best "${R[$w.$fs]:-}" "$r")
		done
	done
done

printf '\n%-15s %14s %14s %14s %10s %10s\n' workload foliofs tmpfs tmpfs-huge fofs/tmpfs fofs/huge
for w in mmap_randread psync_read psync_write; do
	read -r a _ <<< "${R[$w.fofs]}"; read -r b _ <<< "${R[$w.tmpfs]}"; read -r c _ <<< "${R[$w.huge]}"
	unit=IOPS
	if [ "$w" != mmap_randread ]; then
		read -r _ a <<< "${R[$w.fofs]}"; read -r _ b <<< "${R[$w.tmpfs]}"; read -r _ c <<< "${R[$w.huge]}"
		unit=KiB/s
	fi
	[ "$b" -gt 0 ] && [ "$c" -gt 0 ] || { echo "$w: a run failed"; continue; }
	awk -v w="$w" -v a="$a" -v b="$b" -v c="$c" -v u="$unit" 'BEGIN {
		printf "%-15s %14s %14s %14s %10.2f %10.2f   (%s)\n", w, a, b, c, a / b, a / c, u }'
done
echo "machine: $(nproc) CPUs, $(uname -r), file $SIZE, best of 2 runs of ${RUNTIME}s; foliofs options: ${FOFS_OPTS:-defaults}"
