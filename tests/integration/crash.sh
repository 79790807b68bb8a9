#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# kill -9 of the daemon at random moments: after remount every file whose
# fsync returned is intact, and fsck is clean.  ROUNDS rounds (default 8).
# Two clients each round: one creates, renames and fsyncs whole files; the
# other (crashload) writes, writes through mappings, punches, truncates,
# renames over and unlinks a set of files, with fsync and fsyncdir, keeping
# an XXH3 manifest of what is durable.
. "$(dirname "$0")/lib.sh"

ROUNDS=${ROUNDS:-8}
mkfs_img $((ROUNDS * 24 + 512))M	# files accumulate across rounds
: > "$T/manifest"
for round in $(seq "$ROUNDS"); do
	mount_img -o commit=1
	mkdir -p "$MNT/r$round"
	# Writer: each file is fsync'd, then its checksum goes to the manifest.
	(
		i=0
		while :; do
			f="r$round/f$i"
			head -c $(( (RANDOM % 64 + 1) * 16384 + RANDOM )) /dev/urandom > "$T/buf"
			cp "$T/buf" "$MNT/$f" 2>/dev/null || exit 0
			[ $((i % 3)) = 0 ] && mv "$MNT/$f" "$MNT/$f.moved" 2>/dev/null && f="$f.moved"
			"$HELPERS/fsync_file" "$MNT/$f" 2>/dev/null || exit 0
			echo "$(sha256sum < "$T/buf" | cut -d' ' -f1)  $f" >> "$T/manifest"
			i=$((i + 1))
		done
	) &
	writer=$!
	mkdir "$MNT/L$round"
	"$HELPERS/crashload" run "$MNT/L$round" "$T/load$round" "$RANDOM$round" \
		>> "$T/load.out" 2>&1 &
	loader=$!
	sleep "0.$((RANDOM % 9 + 1))"
	kill_img
	wait "$writer" 2>/dev/null || true
	wait "$loader" 2>/dev/null || true
	grep -q "crashload:" "$T/load.out" && { cat "$T/load.out"; fail "round $round: workload saw wrong data"; }
	fsck_clean
	mount_img
	# (a kill before the first fsync returned leaves an empty manifest)
	[ ! -s "$T/manifest" ] || (cd "$MNT" && sha256sum -c --quiet "$T/manifest") ||
		fail "round $round: fsync'd data lost"
	for r in $(seq "$round"); do
		[ -e "$T/load$r" ] || continue
		"$HELPERS/crashload" check "$MNT/L$r" "$T/load$r" > "$T/check.out" ||
			{ cat "$T/check.out"; fail "round $round: crashload files of round $r lost data"; }
	done
	umount_img
done

# Periodic writeback: unsynced data is durable a few seconds later.
mount_img -o commit=1
head -c 3000000 /dev/urandom > "$MNT/periodic"
sha256sum < "$MNT/periodic" > "$T/periodic.sum"
sleep 3
kill_img
mount_img
sha256sum < "$MNT/periodic" | cmp -s - "$T/periodic.sum" || fail "periodic writeback lost data"
# SIGTERM flushes everything, even with periodic writeback off.
umount_img
mount_img -o commit=0
mkdir "$MNT/many"
for i in $(seq 3000); do echo "$i" > "$MNT/many/$i"; done	# 3000 dirty files at once
head -c 5000000 /dev/urandom > "$MNT/term"
sha256sum < "$MNT/term" > "$T/term.sum"
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID" || fail "daemon failed on SIGTERM"
DAEMON_PID=
umount -l "$MNT" 2>/dev/null || true
fsck_clean
mount_img
sha256sum < "$MNT/term" | cmp -s - "$T/term.sum" || fail "SIGTERM lost data"
[ "$(cat "$MNT/many/2999")" = 2999 ] && [ "$(ls "$MNT/many" | wc -l)" = 3000 ] || fail "small files lost"
umount_img
syncs=$(cat "$T"/load* | grep -c "^clean")
pass "$ROUNDS crash rounds, $(wc -l < "$T/manifest") fsync'd files and $syncs crashload fsyncs intact"
