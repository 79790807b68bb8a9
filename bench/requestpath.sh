#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The request-path benchmark (not a test): the requests the kernel cannot
# pass through, on foliofs over io_uring, foliofs over /dev/fuse, tmpfs
# huge=always and ext4 on a loop image, side by side in one run:
#   - fio filecreate, filestat and filedelete of NFILES 4 KiB files;
#   - stat of every entry, and ls -l, of a BIGDIR-entry directory;
#   - files created per second by 1 thread in one directory and by 2
#     threads in two directories (the best of 3 runs each), and the
#     scaling between them.
# Prints a markdown table (files or entries per second; in brackets the
# ratio to tmpfs huge=always); bench/suite.sh adds it to docs/BENCHMARKS.md.
# As root, after building: bash bench/requestpath.sh   (NFILES=3000 BIGDIR=100000)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${BUILD:-$PWD/build}
NFILES=${NFILES:-3000}
BIGDIR=${BIGDIR:-100000}
SCALE_FILES=${SCALE_FILES:-6000}
URING_PARAM=/sys/module/fuse/parameters/enable_uring

T=$(mktemp -d /tmp/foliofs-rp.XXXXXX)
pid= LOOP= old_param=
cleanup() {
	set +e
	for m in "$T"/m-*; do mountpoint -q "$m" && umount -l "$m"; done
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid"
	[ -n "$LOOP" ] && losetup -d "$LOOP"
	[ -n "$old_param" ] && echo "$old_param" > "$URING_PARAM"
	rm -rf "$T"
}
trap cleanup EXIT

CONFIGS="fofs_uring fofs_classic tmpfs_huge ext4"
declare -A LABEL=([fofs_uring]="foliofs, io_uring" [fofs_classic]="foliofs, /dev/fuse"
	[tmpfs_huge]="tmpfs huge=always" [ext4]="ext4 on loop")
if [ -e "$URING_PARAM" ]; then
	old_param=$(cat "$URING_PARAM")
	echo 1 > "$URING_PARAM"
else
	CONFIGS="fofs_classic tmpfs_huge ext4"
fi

mount_cfg() {	# mount_cfg CONFIG: a fresh filesystem on $T/m-CONFIG
	local c=$1 m=$T/m-$1
	mkdir -p "$m"
	case $c in
	fofs_*)
		"$B/tools/mkfs.foliofs" -q -f -s 2G "$T/img"
		"$B/fs/fuse/foliofs" -f -o "$([ "$c" = fofs_uring ] && echo io_uring || echo noio_uring)" \
			"$T/img" "$m" 2>> "$T/daemon.log" & pid=$!
		for _ in $(seq 100); do mountpoint -q "$m" && break; sleep 0.05; done
		local tr
		tr=$(getfattr --only-values -n user.foliofs.status "$m" | sed -n 's/^transport=//p')
		[ "$c" != fofs_uring ] || [ "$tr" = io_uring ] ||
			echo "note: $c runs over $tr" >&2 ;;
	tmpfs_huge) mount -t tmpfs -o size=2G,huge=always tmpfs "$m" ;;
	ext4)
		truncate -s 2G "$T/ext4.img"
		mkfs.ext4 -q -F "$T/ext4.img"
		LOOP=$(losetup -f --show "$T/ext4.img")
		mount "$LOOP" "$m" ;;
	esac
}

umount_cfg() {
	for _ in $(seq 50); do umount "$T/m-$1" 2>/dev/null && break; sleep 0.1; done
	case $1 in
	fofs_*) wait "$pid"; pid= ;;
	ext4) losetup -d "$LOOP"; LOOP=; rm -f "$T/ext4.img" ;;
	esac
	rm -rf "${T:?}/m-$1"
}

fio_meta() {	# fio_meta DIR ENGINE -> files per second
	fio --name=m --directory="$1" --ioengine="$2" --nrfiles="$NFILES" --filesize=4k \
	    --bs=4k --openfiles=1 --rw="$([ "$2" = filestat ] && echo read || echo write)" \
	    --fallocate=none --thread --output-format=terse --terse-version=3 2> /dev/null |
		awk -F';' -v r="$([ "$2" = filestat ] && echo 8 || echo 49)" '{print $r}'
}

rate() {	# rate N SECONDS -> per second
	awk -v n="$1" -v s="$2" 'BEGIN {printf "%d", (s > 0 ? n / s : 0)}'
}

secs() {	# secs COMMAND...: wall seconds it took
	local t0 t1
	t0=$(date +%s.%N)
	"$@" > /dev/null
	t1=$(date +%s.%N)
	awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.4f", b - a}'
}

# creators DIR...: one client per directory (processes, so that nothing in
# the client serializes them), SCALE_FILES creates each -> creates per second
creators() {
	python3 - "$SCALE_FILES" "$@" <<'EOF'
import os, sys, time
n, dirs = int(sys.argv[1]), sys.argv[2:]
for d in dirs:
    os.makedirs(d, exist_ok=True)
r, w = os.pipe()
kids = []
for d in dirs:
    pid = os.fork()
    if pid == 0:
        os.read(r, 1)                      # start together
        for i in range(n):
            os.close(os.open('%s/f%d' % (d, i), os.O_CREAT | os.O_WRONLY, 0o644))
        os._exit(0)
    kids.append(pid)
t0 = time.monotonic()
os.write(w, b'x' * len(dirs))
ok = all(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0 for pid in kids)
# a client that failed (ENOSPC: out of inodes) would make a fast, false rate
print('%d' % (n * len(dirs) / (time.monotonic() - t0)) if ok else 0)
EOF
}

# best_of N FUNC DIR...: the best of N runs of FUNC, each in fresh
# directories (DIR-1, DIR-2, ...): where the clients land against the
# daemon's pinned ring threads varies from run to run
best_of() {
	local n=$1 f=$2 best=0 v k d
	shift 2
	for k in $(seq "$n"); do
		local dirs=()
		for d in "$@"; do dirs+=("$d-$k"); done
		v=$("$f" "${dirs[@]}")
		rm -rf "${dirs[@]}"	# each run starts as the first did
		[ "$v" -gt "$best" ] && best=$v
	done
	echo "$best"
}

declare -A R
for c in $CONFIGS; do
	echo "== $c" >&2
	mount_cfg "$c"
	d=$T/m-$c
	mkdir -p "$d/meta"
	R[$c.create]=$(fio_meta "$d/meta" filecreate)
	R[$c.stat]=$(fio_meta "$d/meta" filestat)
	R[$c.delete]=$(fio_meta "$d/meta" filedelete)
	mkdir "$d/big"
	(cd "$d/big" && seq -f "entry%g" "$BIGDIR" | xargs touch)
	sync; echo 2 > /proc/sys/vm/drop_caches	# no cached dentries: ask the fs
	R[$c.bigstat]=$(rate "$BIGDIR" "$(secs python3 -c 'import os, sys
for e in os.scandir(sys.argv[1]):
    os.stat(e.path)' "$d/big")")
	echo 2 > /proc/sys/vm/drop_caches
	R[$c.lsl]=$(rate "$BIGDIR" "$(secs ls -l "$d/big")")
	rm -rf "$d/big" "$d/meta"	# ext4's inodes are few: free them for the creators
	R[$c.one]=$(best_of 3 creators "$d/s1")
	R[$c.two]=$(best_of 3 creators "$d/s2a" "$d/s2b")
	umount_cfg "$c"
done

ROWS="create stat delete bigstat lsl one two"
declare -A RLABEL=([create]="fio filecreate, $NFILES files" [stat]="fio filestat, $NFILES files"
	[delete]="fio filedelete, $NFILES files" [bigstat]="stat of each of $BIGDIR entries"
	[lsl]="ls -l of $BIGDIR entries" [one]="creates/s, 1 thread, 1 directory"
	[two]="creates/s, 2 threads, 2 directories")
echo "Request path: files (or entries) per second; in brackets the ratio to"
echo "tmpfs huge=always. Made by \`bench/requestpath.sh\` in one run."
echo
printf '| job |'; for c in $CONFIGS; do printf ' %s |' "${LABEL[$c]}"; done; echo
printf '| --- |'; for c in $CONFIGS; do printf ' ---: |'; done; echo
for r in $ROWS; do
	printf '| %s |' "${RLABEL[$r]}"
	for c in $CONFIGS; do
		awk -v v="${R[$c.$r]:-0}" -v t="${R[tmpfs_huge.$r]:-0}" \
			'BEGIN {printf " %d (%.2f) |", v, t ? v / t : 0}'
	done
	echo
done
printf '| scaling, 2 threads over 1 |'
for c in $CONFIGS; do
	awk -v a="${R[$c.one]:-0}" -v b="${R[$c.two]:-0}" 'BEGIN {printf " %.2fx |", a ? b / a : 0}'
done
echo
