#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# FUSE over io_uring: with the fuse module's enable_uring on, requests
# really arrive over the ring (the daemon's ring counter grows with the
# creates, stats and deletes this test makes; status says io_uring), on
# queue threads for every possible CPU, each pinned to its CPU; -o noio_uring and
# enable_uring off keep the classic /dev/fuse path and say why; data written
# over one transport reads back over the other; doctor reports the switch.
# Flips enable_uring, so it runs alone.
. "$(dirname "$0")/lib.sh"

[ -e "$URING_PARAM" ] || skip "the kernel has no FUSE over io_uring (CONFIG_FUSE_IO_URING)"
FC="$HELPERS/../tools/folioctl"
old=$(cat "$URING_PARAM")
trap 'echo "$old" > "$URING_PARAM"; cleanup' EXIT
mount_with() {	# mount_with OPTIONS...: the daemon, with exactly these options
	"$FOLIOFS" -f "$@" "$IMG" "$MNT" 2>>"$T/daemon.log" &
	DAEMON_PID=$!
	wait_mount "$DAEMON_PID" "$MNT" || fail "mount with $* did not appear"
}
churn() {	# 200 files created, stat'ed and deleted in a directory
	mkdir -p "$MNT/$1"
	for i in $(seq 200); do : > "$MNT/$1/f$i"; done
	stat "$MNT/$1"/f* > /dev/null
	rm -f "$MNT/$1"/f*
}

mkfs_img 256M
echo 1 > "$URING_PARAM"
mount_with -o io_uring
[ "$(status_field transport)" = io_uring ] || fail "not over io_uring: $(status_field transport_reason)"
before=$(status_field ring_requests)
churn a
after=$(status_field ring_requests)
[ $((after - before)) -ge 600 ] || fail "only $((after - before)) requests came over the ring for 600 operations"
# queue threads for every possible CPU, each pinned to it
ncpu=$(($(sed 's/.*-//; s/.*,//' /sys/devices/system/cpu/possible) + 1))
threads=0 cpus=
for task in /proc/"$DAEMON_PID"/task/*; do
	name=$(cat "$task/comm")
	case $name in foliofs-ring*) ;; *) continue ;; esac
	threads=$((threads + 1))
	cpu=${name#foliofs-ring}
	case " $cpus " in *" $cpu "*) ;; *) cpus="$cpus $cpu" ;; esac
	if grep -q "^Cpus_allowed_list:[[:space:]]*0-$((ncpu - 1))$" /proc/self/status; then
		grep -q "^Cpus_allowed_list:[[:space:]]*$cpu$" "$task/status" ||
			fail "$name is not pinned to CPU $cpu: $(grep Cpus_allowed_list "$task/status")"
	fi
done
[ "$(wc -w <<< "$cpus")" = "$ncpu" ] && [ $((threads % ncpu)) = 0 ] ||
	fail "$threads ring threads for CPUs$cpus, $ncpu possible"
head -c $((8 << 20)) /dev/urandom > "$T/data"
cp "$T/data" "$MNT/data"
umount_img

mount_with -o noio_uring
[ "$(status_field transport)" = classic ] || fail "-o noio_uring still uses the ring"
[ "$(status_field transport_reason)" = "disabled by -o noio_uring" ] ||
	fail "reason: $(status_field transport_reason)"
cmp -s "$T/data" "$MNT/data" || fail "data written over io_uring reads back wrong over /dev/fuse"
churn b
[ "$(status_field ring_requests)" = 0 ] || fail "requests on the ring with -o noio_uring"
cp "$T/data" "$MNT/data2"
umount_img

echo 0 > "$URING_PARAM"
mount_with
[ "$(status_field transport)" = classic ] || fail "ring in use with enable_uring off"
status_field transport_reason | grep -q "enable_uring parameter is off" ||
	fail "reason: $(status_field transport_reason)"
"$FC" doctor | grep -A1 "^fuse_io_uring" | grep -q "available, switched off" ||
	fail "doctor: $("$FC" doctor | grep -A1 fuse_io_uring)"
umount_img

echo 1 > "$URING_PARAM"
mount_with
[ "$(status_field transport)" = io_uring ] || fail "the ring is not the default where available"
cmp -s "$T/data" "$MNT/data2" || fail "data written over /dev/fuse reads back wrong over io_uring"
"$FC" doctor | grep -A1 "^fuse_io_uring" | grep -q "ok.*enabled\|enabled" || fail "doctor with the ring on"
umount_img
fsck_clean
pass "requests arrive over io_uring ($((after - before)) for 600 operations) on $threads queue threads pinned to $ncpu CPUs; classic with -o noio_uring or enable_uring off, and why; data crosses transports"
