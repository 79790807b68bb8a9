#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Cost follows the data, never a file's apparent size: a 1 PB (and a
# 10 TiB) sparse file with a few bytes written grows the daemon's memory by
# less than 1 MiB, leaves its CPU idle within a second, lists only what it
# holds in folioctl map/status, survives writeback and a remount, and the
# unmount plus the daemon's exit take under 2 s.  A one-byte write at the
# largest offset Linux allows (2^63 - 2) is kept across a remount.
. "$(dirname "$0")/lib.sh"

FC="$HELPERS/../tools/folioctl"

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$DAEMON_PID/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$DAEMON_PID/stat"; }

# idle_check WHAT: the daemon uses under 5% of a CPU over one second,
# after at most 1 s of settling.  The quietest of three seconds counts: a
# cost that follows the apparent size is paid every second, while on a
# busy machine (the suite runs tests side by side) one second may catch a
# periodic commit or scan slowed down by the others.
idle_check() {
	local t0 t1 ticks best=
	sleep 1
	for _ in 1 2 3; do
		t0=$(cpu_ticks)
		sleep 1
		t1=$(cpu_ticks)
		ticks=$((t1 - t0))
		[ -n "$best" ] && [ "$best" -le "$ticks" ] || best=$ticks
		[ "$best" -le 5 ] && break
	done
	echo "$1: daemon CPU while idle: $best ticks in 1 s"
	[ "$best" -le 5 ] || fail "$1: daemon used $best ticks of CPU in each of 3 s while idle"
}

# timed_umount WHAT: unmount and daemon exit take under 2 s.
timed_umount() {
	local start ms
	start=$(date +%s%N)
	umount_img
	ms=$(( ($(date +%s%N) - start) / 1000000 ))
	echo "$1: $ms ms"
	[ "$ms" -lt 2000 ] || fail "$1 took $ms ms"
}

# sparse_case NAME SIZE: write a few bytes into a file of SIZE bytes.
sparse_case() {
	local name=$1 size=$2 before after
	before=$(rss_kb)
	truncate -s "$size" "$MNT/$name"
	printf 'head' | dd of="$MNT/$name" bs=1 conv=notrunc status=none
	printf 'middle' | dd of="$MNT/$name" bs=1 seek=$((size / 2)) conv=notrunc status=none
	printf 't' | dd of="$MNT/$name" bs=1 seek=$((size - 1)) conv=notrunc status=none
	"$HELPERS/fsync_file" "$MNT/$name" || fail "$name: fsync"
	timeout 10 "$FC" map "$MNT/$name" > "$T/$name.map" || fail "$name: folioctl map"
	[ "$(grep -c '^ *[0-9]' "$T/$name.map")" -le 3 ] || fail "$name: map lists more than the 3 regions with data"
	timeout 10 "$FC" status "$MNT" > /dev/null || fail "$name: folioctl status"
	after=$(rss_kb)
	echo "$name: $size bytes, daemon RSS ${before} -> ${after} KiB"
	[ $((after - before)) -lt 1024 ] || fail "$name: daemon RSS grew by $((after - before)) KiB"
	idle_check "$name"
}

mkfs_img 256M
# single-threaded FUSE (-s): worker threads come and go with their
# buffers, which would blur what the files themselves cost
mount_img -s -o scan_sleep_ms=10 -o commit=1
# warm up: the first requests start FUSE worker threads and their buffers
truncate -s 8M "$MNT/warm"
"$FC" map "$MNT/warm" > /dev/null
for _ in 1 2 3; do
	head -c 1M /dev/urandom | dd of="$MNT/warm" conv=notrunc status=none
	"$HELPERS/fsync_file" "$MNT/warm"
	"$FC" status "$MNT" > /dev/null
done
sparse_case pb 999999999999999
sparse_case tb10 $((10 << 40))
sparse_case gb1 $((1 << 30))
far=$(( (1 << 62) + ((1 << 62) - 2) ))		# 2^63 - 2
printf 'Z' | dd of="$MNT/far" bs=1 seek=$far conv=notrunc status=none
"$HELPERS/fsync_file" "$MNT/far" || fail "far: fsync"
timed_umount "unmount + daemon exit"
fsck_clean

mount_img -s
[ "$(stat -c %s "$MNT/pb")" = 999999999999999 ] || fail "pb: size lost"
[ "$(stat -c %s "$MNT/far")" = $((far + 1)) ] || fail "far: size lost"
[ "$(dd if="$MNT/far" bs=1 skip=$far count=1 status=none)" = Z ] || fail "far: byte lost"
[ "$(dd if="$MNT/pb" bs=1 skip=$((999999999999999 / 2)) count=6 status=none)" = middle ] ||
	fail "pb: data lost"
[ "$(dd if="$MNT/tb10" bs=1 count=4 status=none)" = head ] || fail "tb10: data lost"
idle_check "after remount"
timed_umount "second unmount + daemon exit"
fsck_clean
pass "sparse files cost their data: 1 PB, 10 TiB, 1 GiB, a byte at 2^63-2"
