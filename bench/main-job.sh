#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The main job, from a fresh Debian 12 machine, as root: install, build,
# format a default image in a temporary place, mount it, write a file through
# the mount, remount it cold, run an fio mmap workload on it, print what it
# got (size, time, throughput, share of the mapping in huge pages), unmount
# cleanly and check the image.  SIZE_MB (default 1024) sets the file size.
# INSTALLED=1 runs it against the installed programs (the Debian package)
# instead of a build: mkfs.foliofs, mount -t foliofs, umount, fsck.foliofs.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MB=${SIZE_MB:-1024}
RUNTIME=${RUNTIME:-10}

if [ -z "${INSTALLED:-}" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq meson ninja-build pkg-config gcc libfuse3-dev fuse3 \
		libxxhash-dev libcmocka-dev fio > /dev/null
fi
if [ -n "${INSTALLED:-}" ]; then
	MKFS=$(command -v mkfs.foliofs) FSCK=$(command -v fsck.foliofs)
	FOLIOCTL=$(command -v folioctl)
else
	[ -d build ] || meson setup build > /dev/null
	meson compile -C build > /dev/null
	MKFS=$PWD/build/tools/mkfs.foliofs FSCK=$PWD/build/tools/fsck.foliofs
	FOLIOCTL=$PWD/build/tools/folioctl DAEMON=$PWD/build/fs/fuse/foliofs
fi

T=$(mktemp -d /tmp/foliofs-main.XXXXXX)
IMG=$T/foliofs.img MNT=$T/mnt
mkdir "$MNT"
pid=
cleanup() { set +e; mountpoint -q "$MNT" && umount "$MNT"; [ -n "$pid" ] && wait "$pid"; rm -rf "$T"; }
trap cleanup EXIT
mount_it() {
	if [ -n "${INSTALLED:-}" ]; then	# mount.foliofs; umount.foliofs waits
		mount -t foliofs "$IMG" "$MNT" 2>> "$T/daemon.log"
		return
	fi
	"$DAEMON" -f "$IMG" "$MNT" 2>> "$T/daemon.log" & pid=$!
	for _ in $(seq 100); do mountpoint -q "$MNT" && return; sleep 0.05; done
	echo "mount failed" >&2; exit 1
}
umount_it() { umount "$MNT"; [ -z "$pid" ] || wait "$pid"; pid=; }
now() { date +%s.%N; }

"$MKFS" -s $((SIZE_MB * 2 + 256))M -L main "$IMG"
mount_it
t0=$(now)
dd if=/dev/urandom of="$MNT/data" bs=1M count="$SIZE_MB" conv=fsync status=none
t1=$(now)
umount_it
mount_it	# cold: the data comes back from the image
t2=$(now)
head -c 1 "$MNT/data" > /dev/null	# first open loads it (into huge pages)
t3=$(now)

# Sample the mapping's huge-page share halfway through the run.
fio --name=mmap --filename="$MNT/data" --ioengine=mmap --rw=randread --bs=4k \
    --size="${SIZE_MB}M" --runtime="$RUNTIME" --time_based --thread \
    --output-format=terse --terse-version=3 > "$T/fio.out" &
fio_pid=$!
sleep $((RUNTIME / 2 + 1))
awk -v f="$MNT/data" '
	$0 ~ "^[0-9a-f]+-[0-9a-f]+ " { on = index($0, f) > 0 }
	on && /^Rss:/ { rss += $2 }
	on && /^(ShmemPmdMapped|FilePmdMapped):/ { pmd += $2 }
	END { printf "%d %d\n", rss, pmd }' "/proc/$fio_pid/smaps" > "$T/smaps" || echo "0 0" > "$T/smaps"
wait "$fio_pid"
read -r rss pmd < "$T/smaps"
IFS=';' read -r -a F < "$T/fio.out"
mode=$("$FOLIOCTL" status "$MNT" | awk '$1 == "data_path" { d = $2 }
	$1 == "passthrough_off_reason" && $2 != "-" { $1 = ""; r = " (passthrough off:" $0 ")" }
	END { print d r }')
umount_it
"$FSCK" -n "$IMG" > "$T/fsck" || { cat "$T/fsck"; exit 1; }

awk -v size="$SIZE_MB" -v t0="$t0" -v t1="$t1" -v t2="$t2" -v t3="$t3" -v mode="$mode" -v bw="${F[6]}" -v iops="${F[7]}" \
    -v rss="$rss" -v pmd="$pmd" -v fsck="$(cat "$T/fsck")" -v rt="$RUNTIME" 'BEGIN {
	printf "foliofs main job\n"
	printf "  file             %d MiB written through the mount, fsync, remount\n", size
	printf "  data path        %s\n", mode
	printf "  write + fsync    %.2f s (%.0f MiB/s)\n", t1 - t0, size / (t1 - t0)
	printf "  load on open     %.2f s (%.0f MiB/s) after remount\n", t3 - t2, size / (t3 - t2)
	printf "  fio mmap 4k randread  %d IOPS, %.1f MiB/s (%s s)\n", iops, bw / 1024, rt
	printf "  mapping resident %d kB, in huge pages %d kB (%.0f%%)\n", rss, pmd,
		rss ? 100 * pmd / rss : 0
	printf "  fsck             %s\n", fsck
}'
