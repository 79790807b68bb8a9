# SPDX-License-Identifier: LGPL-2.1-or-later
# Shared helpers for the integration tests: a scratch directory, formatting,
# mounting the daemon in the foreground (so the test knows its pid), and an
# unmount that waits for the daemon's final commit.  meson passes the build
# tree's binaries in FOLIOFS, MKFS, FSCK and helper programs in HELPERS.
set -euo pipefail

: "${FOLIOFS:?}" "${MKFS:?}" "${FSCK:?}"

skip() { echo "SKIP: $*"; exit 77; }
fail() {
	echo "FAIL: $*" >&2
	if [ -n "${T:-}" ] && [ -s "$T/daemon.log" ]; then
		echo "--- daemon log (last lines)" >&2
		tail -40 "$T/daemon.log" >&2
	fi
	exit 1
}
pass() { echo "PASS: $*"; }

[ "$(id -u)" = 0 ] || skip "needs root to mount"
[ -c /dev/fuse ] || skip "no /dev/fuse"

T=$(mktemp -d /tmp/foliofs-test.XXXXXX)
IMG=$T/img
MNT=$T/mnt
mkdir -p "$MNT"
DAEMON_PID=

cleanup() {
	set +e
	if mountpoint -q "$MNT"; then umount -l "$MNT"; fi
	[ -n "$DAEMON_PID" ] && kill -9 "$DAEMON_PID" 2>/dev/null
	for m in "$T"/*; do mountpoint -q "$m" 2>/dev/null && umount -l "$m"; done
	rm -rf "$T"
}
trap cleanup EXIT

mkfs_img() { "$MKFS" -q -f -s "${1:-512M}" "$IMG"; }

# FOLIOFS_MODE=fallback runs a test with the daemon serving data itself.
MODE_OPTS=()
[ "${FOLIOFS_MODE:-}" = fallback ] && MODE_OPTS=(-o nopassthrough)
# FOLIOFS_TRANSPORT=io_uring carries requests over io_uring (switching the
# fuse module's enable_uring on, which the kernel needs to offer it);
# classic, the default, reads them from /dev/fuse.
URING_PARAM=/sys/module/fuse/parameters/enable_uring
if [ "${FOLIOFS_TRANSPORT:-classic}" = io_uring ]; then
	[ -e "$URING_PARAM" ] || skip "the kernel has no FUSE over io_uring (CONFIG_FUSE_IO_URING)"
	[ "$(cat "$URING_PARAM")" = Y ] || echo 1 > "$URING_PARAM" ||
		fail "cannot switch on $URING_PARAM"
	MODE_OPTS+=(-o io_uring)
else
	MODE_OPTS+=(-o noio_uring)
fi

# status_field KEY: a field of the mount's status
status_field() {
	getfattr --only-values -n user.foliofs.status "$MNT" 2>/dev/null |
		sed -n "s/^$1=//p"
}

# wait_mount PID DIR [COMMAND...]: wait until DIR answers as a mount point
# (so its daemon has answered INIT), while daemon PID lives.  COMMAND, e.g.
# setpriv, runs the check as a user who may look at the mount.
wait_mount() {
	local pid=$1 dir=$2
	shift 2
	# 20 s: a remount after kill -9 replays the log and commits before it
	# serves, beside another test doing the same on a 2-CPU machine
	for _ in $(seq 400); do
		"$@" mountpoint -q "$dir" && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

# mount_img [daemon options...]: mount $IMG on $MNT, daemon in foreground;
# DAEMON_PRELOAD, if set, is LD_PRELOADed into the daemon alone.
mount_img() {
	LD_PRELOAD=${DAEMON_PRELOAD:-} "$FOLIOFS" -f "${MODE_OPTS[@]}" "$@" "$IMG" "$MNT" 2>>"$T/daemon.log" &
	DAEMON_PID=$!
	if ! wait_mount "$DAEMON_PID" "$MNT"; then
		cat "$T/daemon.log" >&2
		# alive but not mounted: say where each of its threads waits
		for t in /proc/"$DAEMON_PID"/task/*; do
			[ -r "$t/wchan" ] && echo "thread ${t##*/}: $(cat "$t/wchan" 2>/dev/null)" >&2
		done
		fail "mount did not appear"
	fi
	# the transport asked for is the one requests take
	local want=classic
	[ "${FOLIOFS_TRANSPORT:-classic}" = io_uring ] && want=io_uring
	[ "$(status_field transport)" = "$want" ] ||
		fail "requests do not arrive by $want: $(status_field transport_reason)"
}

# umount_img: unmount and wait for the daemon's final commit.
umount_img() {
	umount "$MNT"
	wait "$DAEMON_PID" || fail "daemon exited with $?"
	DAEMON_PID=
}

# kill_img: kill -9 the daemon, as a crash would.
kill_img() {
	kill -9 "$DAEMON_PID"
	wait "$DAEMON_PID" 2>/dev/null || true
	DAEMON_PID=
	umount -l "$MNT" 2>/dev/null || true
}

# passthrough_on: did the last mount negotiate FUSE passthrough?
passthrough_on() { ! grep -q "passthrough off" "$T/daemon.log"; }

fsck_clean() {
	local out rc=0
	out=$("$FSCK" -n "$IMG") || rc=$?
	[ "$rc" = 0 ] || { echo "$out" >&2; fail "fsck found problems (exit $rc)"; }
}
