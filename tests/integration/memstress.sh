#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The stress workload against a daemon in a memory cgroup (v1 or v2) too
# small to hold the data twice: file data is charged to the daemon, so
# collapse's new huge pages must fail to charge at times.  Those failures
# stay inside the daemon: clients see no error and every file is right, the
# daemon is never OOM-killed, its default cache follows the limit, and
# everything survives a remount.  Then a file larger than the cgroup: its
# writer gets ENOSPC, the daemon lives, nothing committed changes.  STRESS_SECONDS (default 10).
. "$(dirname "$0")/lib.sh"
: "${HELPERS:?}"

LIMIT_MB=${LIMIT_MB:-384}
# Under ASan a daemon's freed memory waits in a quarantine (256 MiB by
# default), charged to the cgroup: keep that out of the measurement.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=16"
CG=
if grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
	CG=/sys/fs/cgroup/foliofs-test.$$
	echo +memory > /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || true
	mkdir "$CG" || skip "cannot create a cgroup"
	echo $((LIMIT_MB << 20)) > "$CG/memory.max"
	echo 0 > "$CG/memory.swap.max" 2>/dev/null || true
	usage() { cat "$CG/memory.peak" 2>/dev/null || cat "$CG/memory.current"; }
	current() { cat "$CG/memory.current"; }
	set_limit() { echo "$1" > "$CG/memory.max"; }
	limit_hits() { awk '$1 == "max" { print $2 }' "$CG/memory.events"; }
	oom_kills() { awk '$1 == "oom_kill" { print $2 }' "$CG/memory.events"; }
elif [ -d /sys/fs/cgroup/memory ]; then
	CG=/sys/fs/cgroup/memory/foliofs-test.$$
	mkdir "$CG" || skip "cannot create a cgroup"
	echo $((LIMIT_MB << 20)) > "$CG/memory.limit_in_bytes"
	usage() { cat "$CG/memory.max_usage_in_bytes"; }
	current() { cat "$CG/memory.usage_in_bytes"; }
	set_limit() { echo "$1" > "$CG/memory.limit_in_bytes"; }
	limit_hits() { cat "$CG/memory.failcnt"; }
	oom_kills() { awk '$1 == "oom_kill" { print $2 }' "$CG/memory.oom_control"; }
else
	skip "no memory cgroup controller"
fi
cg_cleanup() {
	cleanup
	rmdir "$CG" 2>/dev/null || true
}
trap cg_cleanup EXIT

mkfs_img 1G
# The daemon joins the cgroup, then becomes foliofs (same pid, for $!).
bash -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' _ "$CG" \
	"$FOLIOFS" -f "${MODE_OPTS[@]}" -o scan_sleep_ms=50,commit=1 "$IMG" "$MNT" \
	2>> "$T/daemon.log" &
DAEMON_PID=$!
wait_mount "$DAEMON_PID" "$MNT" || fail "mount in the cgroup did not appear"
grep -q "^$DAEMON_PID$" "$CG/cgroup.procs" || fail "daemon is not in the cgroup"
grep -q "memory cgroup limit $LIMIT_MB MiB: cache_size $((LIMIT_MB / 4)) MiB" "$T/daemon.log" ||
	fail "the default cache did not follow the cgroup limit"

# 6 workers x 8 files x 3 MiB = 144 MiB live, plus what they rewrite, in
# a 384 MiB cgroup (336 MiB of it for file data) that also pays for collapses' new huge pages, the
# cached clean files (a quarter of the limit) and the daemon itself.
"$HELPERS/stress" "$MNT" 6 "${STRESS_SECONDS:-10}" > "$T/stress.out" ||
	{ cat "$T/stress.out"; fail "a client saw an error or wrong data under memory pressure"; }
# Squeeze: files written as small pages, the limit lowered to just above
# what the cgroup holds plus 16 MiB for the daemon's own work (the image no
# longer sits in the page cache to give slack, so less would starve the
# daemon itself, which no filesystem survives), then huge pages asked for;
# files are read after the limit is restored.
for i in 0 1 2 3; do
	head -c $((24 << 20)) /dev/urandom > "$MNT/big$i"
	setfattr -n user.foliofs.policy -v never "$MNT/big$i"
done
# The squeeze runs where the daemon owns the data (served by it).  With
# passthrough the clients' writes are charged to the clients, and a
# collapse moves those pages into the daemon's cgroup: a limit cut below
# what the daemon's memory cap allowed then starves the daemon itself.
if [ "${FOLIOFS_MODE:-}" = fallback ]; then
	# held open, so none is trimmed from memory and loaded again while squeezed
	exec 3< "$MNT/big0" 4< "$MNT/big1" 5< "$MNT/big2" 6< "$MNT/big3"
	sleep 0.2
	set_limit $(( $(current) + (16 << 20) ))
	for i in 0 1 2 3; do
		setfattr -n user.foliofs.policy -v always "$MNT/big$i"
		setfattr -n user.foliofs.collapse -v "" "$MNT/big$i" 2>> "$T/collapse.err" || true
	done
	kill -0 "$DAEMON_PID" 2>/dev/null || fail "the daemon died while squeezed"
	set_limit $((LIMIT_MB << 20))
	exec 3<&- 4<&- 5<&- 6<&-
fi
for i in 0 1 2 3; do
	cmp -s "$MNT/big$i" "$MNT/big$i" || fail "big$i unreadable after the squeeze"
done
kill -0 "$DAEMON_PID" 2>/dev/null || fail "the daemon died under memory pressure"
# Two files that fit the memory only one at a time, the first fsync'd and
# closed: it is clean, so it leaves memory for the second at its close
# (the second got ENOSPC unless written seconds later).  Where the daemon
# serves the writes: a passthrough writer's go to the memory file unseen,
# so one that starts before the previous writer's close reached the daemon
# (an asynchronous RELEASE) can still find no room; giving writers the
# tracked path is the cure (the next issue).
half=$(( (LIMIT_MB - 64) * 11 / 20 ))
if [ "${FOLIOFS_MODE:-}" = fallback ]; then
	head -c $((half << 20)) /dev/urandom > "$T/half"
	dd if="$T/half" of="$MNT/half0" bs=1M conv=fsync status=none || fail "writing half0"
	dd if="$T/half" of="$MNT/half1" bs=1M status=none 2> "$T/half.err" ||
		fail "a clean, closed file did not make room: $(cat "$T/half.err")"
	# one at a time: both do not fit memory (a load that cannot is refused)
	cmp -s "$T/half" "$MNT/half1" || fail "half1 differs"
	rm "$MNT/half1"
	cmp "$T/half" "$MNT/half0" || fail "half0 differs"
	rm "$MNT/half0" "$T/half"
fi
(cd "$MNT" && sha256sum w* big*) > "$T/sums"
# A file larger than the cgroup can hold: the writer gets ENOSPC, the
# daemon lives and keeps everything committed; deleting makes room again.
rc=0; head -c $(( (LIMIT_MB + 64) << 20 )) /dev/zero 2> "$T/full.err" > "$MNT/huge" || rc=$?
[ "$rc" != 0 ] && grep -q "No space left on device" "$T/full.err" ||
	fail "writing past the cgroup's memory did not end in ENOSPC: $(cat "$T/full.err")"
kill -0 "$DAEMON_PID" 2>/dev/null || fail "the daemon died writing past its memory"
rm "$MNT/huge"
# the room comes back with the rm, not with the kernel's later FORGET
head -c $((8 << 20)) /dev/urandom > "$T/after"
cp "$T/after" "$MNT/after" 2> "$T/cp.err" ||
	fail "no room after deleting the huge file: $(cat "$T/cp.err")"

(cd "$MNT" && sha256sum -c --quiet "$T/sums") || fail "data changed after memory ran out"
(cd "$MNT" && sha256sum after) >> "$T/sums"
getfattr --only-values -n user.foliofs.status "$MNT" > "$T/status"
charge_fails=$(sed -n 's/^result_ccgroup_charge_failed=//p; s/^result_alloc_failed=//p' "$T/status" |
	awk '{ s += $1 } END { print s + 0 }')
collapsed=$(sed -n 's/^collapsed=//p' "$T/status")
peak=$(( $(usage) >> 20 ))
hits=$(limit_hits)
kills=$(oom_kills)
umount_img
[ "${kills:-0}" = 0 ] || fail "$kills OOM kills in the daemon's cgroup"
[ "$peak" -le "$LIMIT_MB" ] || fail "daemon used $peak MiB over a $LIMIT_MB MiB limit"
# pressure was tested: the cgroup's limit was hit (stress, collapses), or
# at least the memory cap refused the huge file above (checked there)
[ "${hits:-0}" -gt 0 ] || [ -s "$T/full.err" ] || fail "no memory pressure was tested"
fsck_clean
mount_img
(cd "$MNT" && sha256sum -c --quiet "$T/sums") || fail "content changed across remount"
umount_img
grep "^result_" "$T/status" | tr "\n" " "; echo
pass "$(grep -o '[0-9]* operations' "$T/stress.out" | head -1 || true) in a $LIMIT_MB MiB cgroup: peak $peak MiB, limit hit $hits times, $charge_fails collapses refused memory, $collapsed collapsed, no client error, no OOM kill; $(wc -l < "$T/sums") files intact after remount"
