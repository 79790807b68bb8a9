#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The benchmark suite (not a test): the same fio jobs on foliofs (passthrough
# with huge pages, passthrough with policy never, served by the daemon),
# tmpfs, tmpfs huge=always and ext4 on a loop image, side by side in one run,
# plus time to first byte and to a fully PMD-mapped 1 GiB file after a
# remount and the client fault-in time of a 64 MiB mapping, and the
# durability jobs (bench/durability.py: 4 KiB write + fsync, SQLite WAL
# synchronous=FULL, fsync latency by file size and by number of files, host
# page cache per resident byte, cold load against dd iflag=direct), and the
# request path over io_uring and /dev/fuse (bench/requestpath.sh).  Writes
# docs/BENCHMARKS.md (ratios to tmpfs huge=always; durability to ext4) and
# docs/benchmarks.png.
# As root, after building: bash bench/suite.sh   (RUNTIME=5 SIZE_MB=1024)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
B=${BUILD:-$ROOT/build}
RUNTIME=${RUNTIME:-5}
SIZE_MB=${SIZE_MB:-1024}
NFILES=${NFILES:-3000}
MANY=${MANY:-100000}		# files for the fsync-latency-by-count job
LATBIG=${LATBIG:-2048}		# MiB: the large file of the fsync-latency-by-size job
FALLOC_MB=${FALLOC_MB:-3400}	# MiB preallocated by the preallocation job
OUT=${OUT:-$ROOT/docs}
command -v gnuplot >/dev/null || { [ "$(id -u)" = 0 ] && DEBIAN_FRONTEND=noninteractive \
	apt-get install -y -qq gnuplot-nox > /dev/null; } || true

T=$(mktemp -d /tmp/foliofs-suite.XXXXXX)
pid=
cleanup() {
	set +e
	for m in "$T"/m-*; do mountpoint -q "$m" && umount -l "$m"; done
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid"
	[ -n "${LOOP:-}" ] && losetup -d "$LOOP"
	rm -rf "$T"
}
trap cleanup EXIT

CONFIGS=${CONFIGS:-"fofs_huge fofs_never fofs_daemon tmpfs tmpfs_huge ext4"}
declare -A LABEL=([fofs_huge]="foliofs passthrough, huge" [fofs_never]="foliofs passthrough, never"
	[fofs_daemon]="foliofs served by daemon" [tmpfs]="tmpfs" [tmpfs_huge]="tmpfs huge=always"
	[ext4]="ext4 on loop")
declare -A FOPTS=([fofs_huge]="" [fofs_never]="-o huge=never,scan_sleep_ms=0"
	[fofs_daemon]="-o nopassthrough")

mount_cfg() {	# mount_cfg CONFIG: mount it on $T/m-CONFIG
	local c=$1 m=$T/m-$1
	mkdir -p "$m"
	case $c in
	fofs_*)
		[ -e "$T/$c.img" ] || "$B/tools/mkfs.foliofs" -q -s $((SIZE_MB * 2 + LATBIG + 512))M "$T/$c.img"
		# shellcheck disable=SC2086
		"$B/fs/fuse/foliofs" -f ${FOPTS[$c]} "$T/$c.img" "$m" 2>> "$T/daemon.log" & pid=$!
		for _ in $(seq 100); do mountpoint -q "$m" && break; sleep 0.05; done
		if [ "$c" = fofs_never ]; then
			setfattr -n user.foliofs.policy -v never "$m"
		fi ;;
	tmpfs)	mount -t tmpfs -o size=$((SIZE_MB * 2 + LATBIG + 512))M tmpfs "$m" ;;
	tmpfs_huge) mount -t tmpfs -o size=$((SIZE_MB * 2 + LATBIG + 512))M,huge=always tmpfs "$m" ;;
	ext4)
		[ -e "$T/ext4.img" ] || { truncate -s $((SIZE_MB * 2 + LATBIG + 512))M "$T/ext4.img";
			mkfs.ext4 -q "$T/ext4.img"; }
		LOOP=$(losetup -f --show "$T/ext4.img")
		mount "$LOOP" "$m" ;;
	esac
}

umount_cfg() {
	# a client's last close reaches FUSE asynchronously: retry while busy
	for _ in $(seq 50); do umount "$T/m-$1" 2>/dev/null && break; sleep 0.1; done
	mountpoint -q "$T/m-$1" && umount "$T/m-$1"
	case $1 in
	fofs_*) wait "$pid"; pid= ;;
	ext4) losetup -d "$LOOP"; LOOP= ;;
	esac
}

fio_once() {	# fio_once DIR SIDE ARGS... -> "iops bw_kib"
	local dir=$1 side=$2; shift 2
	fio --name=b --directory="$dir" --runtime="$RUNTIME" --thread \
	    --output-format=terse --terse-version=3 "$@" > "$T/out" 2> "$T/err" || {
		echo "0 0"; return; }
	IFS=';' read -r -a F < <(tail -1 "$T/out")
	if [ "$side" = r ]; then echo "${F[7]} ${F[6]}"; else echo "${F[48]} ${F[47]}"; fi
}

# The better of two runs (by bandwidth, then IOPS), so one noisy moment on
# a small machine does not decide a ratio.  Metadata jobs run once: their
# second run would find the files already made or gone.
fio_run() {
	local a b
	a=$(fio_once "$@")
	case " $* " in *filecreate*|*filestat*|*filedelete*) echo "$a"; return ;; esac
	b=$(fio_once "$@")
	if [ "$(cut -d' ' -f2 <<< "$b")" -gt "$(cut -d' ' -f2 <<< "$a")" ] ||
	   [ "$(cut -d' ' -f1 <<< "$b")" -gt "$(cut -d' ' -f1 <<< "$a")" ]; then
		echo "$b"
	else
		echo "$a"
	fi
}

JOBS="mmap_randread mmap_seqread psync_read psync_write randwrite_fsync filecreate filestat filedelete"
declare -A R
run_jobs() {	# run_jobs CONFIG
	local c=$1 d=$T/m-$1
	mkdir -p "$d/data" "$d/meta"
	fio --name=lay --directory="$d/data" --filename=big --size=${SIZE_MB}M --rw=write \
	    --bs=1M --end_fsync=1 --output=/dev/null
	D[$c.cache_write]=$(cache_per_byte "$c")
	if [ "${c#fofs_}" != "$c" ]; then	# remount: load from the image
		umount_cfg "$c"; mount_cfg "$c"
		head -c 1 "$d/data/big" > /dev/null
	fi
	local common=(--filename=big --size=${SIZE_MB}M --time_based)
	R[$c.mmap_randread]=$(fio_run "$d/data" r "${common[@]}" --ioengine=mmap --rw=randread --bs=4k)
	R[$c.mmap_seqread]=$(fio_run "$d/data" r "${common[@]}" --ioengine=mmap --rw=read --bs=1M)
	R[$c.psync_read]=$(fio_run "$d/data" r "${common[@]}" --ioengine=psync --rw=read --bs=1M)
	R[$c.psync_write]=$(fio_run "$d/data" w "${common[@]}" --ioengine=psync --rw=write --bs=1M)
	R[$c.randwrite_fsync]=$(fio_run "$d/data" w "${common[@]}" --ioengine=psync --rw=randwrite \
		--bs=4k --fsync=32)
	R[$c.filecreate]=$(fio_run "$d/meta" w --ioengine=filecreate --nrfiles=$NFILES \
		--filesize=4k --bs=4k --openfiles=1 --rw=write --fallocate=none)
	R[$c.filestat]=$(fio_run "$d/meta" r --ioengine=filestat --nrfiles=$NFILES \
		--filesize=4k --bs=4k --openfiles=1 --rw=read)
	R[$c.filedelete]=$(fio_run "$d/meta" w --ioengine=filedelete --nrfiles=$NFILES \
		--filesize=4k --bs=4k --openfiles=1 --rw=write)
}

# Time to first byte and to a fully PMD-mapped 1 GiB file after a remount;
# fault-in of a 64 MiB mapping by a client.
declare -A X
extras() {	# extras CONFIG
	local c=$1 d=$T/m-$1 t0 t1 out
	head -c $((64 << 20)) /dev/urandom > "$d/m64"
	if [ "$c" = fofs_huge ]; then	# what the background collapser does anyway
		setfattr -n user.foliofs.collapse "$d/m64" ||
			echo "note: explicit collapse of m64 failed; measuring as is" >&2
	fi
	out=$("$B/tests/mmap_client" "$d/m64")	# first touch: fault-in
	X[$c.fault64]=$(cut -d' ' -f3 <<< "$out")
	if [ "${c#fofs_}" = "$c" ]; then
		return
	fi
	umount_cfg "$c"
	sync; echo 3 > /proc/sys/vm/drop_caches
	t0=$(date +%s.%N)
	dd if="$T/$c.img" of=/dev/null bs=2M count=$((SIZE_MB / 2)) iflag=direct status=none
	t1=$(date +%s.%N)
	X[$c.dd]=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')
	mount_cfg "$c"
	t0=$(date +%s.%N); head -c 1 "$d/data/big" > /dev/null; t1=$(date +%s.%N)
	X[$c.ttfb]=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')
	D[$c.cache_load]=$(cache_per_byte "$c")
	umount_cfg "$c"; mount_cfg "$c"
	t0=$(date +%s.%N)
	for _ in $(seq 50); do		# up to ~10 s: PMD mapping or a verdict
		read -r rss pmd _ < <("$B/tests/mmap_client" "$d/data/big")
		if [ "$pmd" -ge "$rss" ] && [ "$rss" -gt 0 ]; then break; fi
		if [ "$c" != fofs_huge ]; then break; fi	# small pages by design
		sleep 0.2
	done
	t1=$(date +%s.%N)
	X[$c.pmd_full]=$(awk -v a="$t0" -v b="$t1" -v p="$pmd" -v r="$rss" \
		'BEGIN {if (p >= r) printf "%.3f", b - a; else printf "never (%d of %d kB)", p, r}')
}

# Host page cache of the backing image per byte of file data (1 GiB file).
cache_per_byte() {	# cache_per_byte CONFIG
	local img
	case $1 in
	fofs_*) img=$T/$1.img ;;
	ext4) img=$T/ext4.img ;;
	*) echo 0.00; return ;;		# no backing store
	esac
	awk -v c="$(fincore -b -n -o RES "$img")" -v s=$((SIZE_MB << 20)) \
		'BEGIN {printf "%.2f", c / s}'
}

declare -A D
DUR="fsync4k sqlite lat64 lat2g files1k filesmany cache_write cache_load"
durability() {	# durability CONFIG
	local c=$1 d=$T/m-$1/dur
	mkdir -p "$d"
	D[$c.fsync4k]=$(fio_once "$d" w --filename=f --size=512M --time_based --ioengine=psync \
		--rw=randwrite --bs=4k --fsync=1 | cut -d' ' -f1)
	rm -f "$d/f"
	D[$c.sqlite]=$(python3 "$ROOT/bench/durability.py" sqlite "$d" "$RUNTIME")
	D[$c.lat64]=$(python3 "$ROOT/bench/durability.py" fsync-lat "$d" 64 50)
	D[$c.lat2g]=$(python3 "$ROOT/bench/durability.py" fsync-lat "$d" "$LATBIG" 50)
	D[$c.files1k]=$(python3 "$ROOT/bench/durability.py" many-files "$d/k" 1000 50)
	D[$c.filesmany]=$(python3 "$ROOT/bench/durability.py" many-files "$d/m" "$MANY" 50)
}

for c in $CONFIGS; do
	echo "== $c" >&2
	mount_cfg "$c"
	run_jobs "$c"
	extras "$c"
	durability "$c"
	umount_cfg "$c"
done

# Preallocation: fallocate FALLOC_MB on a fresh filesystem, fsync it and
# unmount: everything it takes to make it durable (tmpfs: the fallocate).
declare -A P
prealloc() {	# prealloc CONFIG -> seconds
	local c=$1 t0
	rm -f "$T/$c.img"
	mount_cfg "$c"
	t0=$(date +%s.%N)
	fallocate -l "${FALLOC_MB}M" "$T/m-$c/pre"
	case $c in tmpfs*) ;; *) python3 -c 'import os, sys; os.fsync(os.open(sys.argv[1], os.O_RDONLY))' \
		"$T/m-$c/pre" ;; esac
	case $c in tmpfs*) awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.2f", b - a}' ;; esac
	umount_cfg "$c"
	case $c in tmpfs*) ;; *) awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.2f", b - a}' ;; esac
}
for c in $CONFIGS; do
	[ "$c" = ext4 ] && rm -f "$T/ext4.img"
	P[$c]=$(prealloc "$c")
done

# The request path: metadata jobs and directory listing on foliofs over
# io_uring and over /dev/fuse, tmpfs huge=always and ext4 (requestpath.sh).
BUILD=$B bash "$ROOT/bench/requestpath.sh" > "$T/requestpath.md" ||
	echo "(bench/requestpath.sh failed)" > "$T/requestpath.md"

# ---- report ----
declare -A DLABEL=([fsync4k]="4 KiB write + fsync each, per s" [sqlite]="SQLite WAL synchronous=FULL, tx/s"
	[lat64]="fsync latency, 64 MiB file (ms)" [lat2g]="fsync latency, $LATBIG MiB file (ms)"
	[files1k]="fsync latency among 1,000 files (ms)"
	[filesmany]="fsync latency among $MANY files (ms)"
	[cache_write]="host page cache per resident byte, after write+fsync"
	[cache_load]="host page cache per resident byte, after a cold load")
mkdir -p "$OUT"
value() {	# value CONFIG JOB -> the job's figure (IOPS or KiB/s)
	local iops bw
	read -r iops bw <<< "${R[$1.$2]}"
	case $2 in mmap_seqread|psync_read|psync_write) echo "$bw" ;; *) echo "$iops" ;; esac
}
{
	echo "# foliofs benchmarks"
	echo
	echo "Made by \`bench/suite.sh\` on $(date -u +%Y-%m-%d): $(nproc) CPUs,"
	echo "$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo) RAM, Linux $(uname -r),"
	echo "fio $(fio --version | sed 's/fio-//'), ${SIZE_MB} MiB file, ${RUNTIME} s per job; data jobs"
	echo "are the better of two runs, metadata jobs ($NFILES files) one run."
	echo "Throughput jobs are KiB/s, the rest IOPS (files per second for the"
	echo "metadata jobs). Each cell: figure, and in brackets the ratio to tmpfs huge=always."
	echo
	printf '| job |'; for c in $CONFIGS; do printf ' %s |' "${LABEL[$c]}"; done; echo
	printf '| --- |'; for c in $CONFIGS; do printf ' ---: |'; done; echo
	for j in $JOBS; do
		printf '| %s |' "$j"
		ref=$(value tmpfs_huge "$j")
		for c in $CONFIGS; do
			v=$(value "$c" "$j")
			awk -v v="$v" -v r="$ref" 'BEGIN {printf " %d (%.2f) |", v, r ? v / r : 0}'
		done
		echo
	done
	echo
	echo "| after a remount, 1 GiB file | ${LABEL[fofs_huge]} | ${LABEL[fofs_never]} | ${LABEL[fofs_daemon]} |"
	echo "| --- | ---: | ---: | ---: |"
	echo "| time to first byte (s) | ${X[fofs_huge.ttfb]:--} | ${X[fofs_never.ttfb]:--} | ${X[fofs_daemon.ttfb]:--} |"
	echo "| time to fully PMD-mapped in a client (s) | ${X[fofs_huge.pmd_full]:--} | ${X[fofs_never.pmd_full]:--} | ${X[fofs_daemon.pmd_full]:--} |"
	echo
	printf '| client fault-in of a 64 MiB mapping (ms) |'; for c in $CONFIGS; do printf ' %s |' "${LABEL[$c]}"; done; echo
	printf '| --- |'; for c in $CONFIGS; do printf ' ---: |'; done; echo
	printf '| first touch of every page |'; for c in $CONFIGS; do printf " %s |" "${X[$c.fault64]:--}"; done; echo
	echo
	echo "Time to first byte is the whole load: foliofs reads a file into memory"
	echo "(collapse-then-fill) when it is first opened."
	echo
	echo "Durability (ratio to ext4 on loop in brackets; for latencies lower is better):"
	echo
	printf '| job |'; for c in $CONFIGS; do printf ' %s |' "${LABEL[$c]}"; done; echo
	printf '| --- |'; for c in $CONFIGS; do printf ' ---: |'; done; echo
	for j in $DUR; do
		printf '| %s |' "${DLABEL[$j]}"
		for c in $CONFIGS; do
			awk -v v="${D[$c.$j]:--}" -v r="${D[ext4.$j]:-0}" \
				'BEGIN {if (v == "-") printf " - |"; else printf " %s (%.2f) |", v, r + 0 ? v / r : 0}'
		done
		echo
	done
	printf '| fallocate %s MiB + fsync + unmount, s (ratio to tmpfs: its fallocate alone) |' "$FALLOC_MB"
	for c in $CONFIGS; do
		awk -v v="${P[$c]:--}" -v r="${P[tmpfs]:-0}" \
			'BEGIN {if (v == "-") printf " - |"; else printf " %s (%.2f) |", v, r + 0 ? v / r : 0}'
	done
	echo
	printf '| cold load of %s MiB vs dd iflag=direct of as much image |' "$SIZE_MB"
	for c in $CONFIGS; do
		if [ -n "${X[$c.dd]:-}" ]; then
			awk -v d="${X[$c.dd]}" -v l="${X[$c.ttfb]}" 'BEGIN {printf " %.2f |", d / l}'
		else
			printf ' - |'
		fi
	done
	echo
	echo
	cat "$T/requestpath.md"
	echo
	echo "![ratios to tmpfs huge=always](benchmarks.png)"
} > "$OUT/BENCHMARKS.md"

# chart: ratio to tmpfs huge=always per job and configuration
{
	printf 'job'; for c in $CONFIGS; do printf ' "%s"' "${LABEL[$c]}"; done; echo
	for j in $JOBS; do
		ref=$(value tmpfs_huge "$j")
		printf '%s' "$j"
		for c in $CONFIGS; do
			awk -v v="$(value "$c" "$j")" -v r="$ref" 'BEGIN {printf " %.3f", r ? v / r : 0}'
		done
		echo
	done
} > "$T/chart.dat"
if command -v gnuplot >/dev/null; then
	gnuplot <<EOF
set terminal pngcairo size 1200,600 noenhanced
set output "$OUT/benchmarks.png"
set title "fio on foliofs and alternatives, ratio to tmpfs huge=always (higher is better)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set key top left
set yrange [0:*]
set xtics rotate by -20
set grid ytics
plot for [i=2:$(( $(wc -w <<< "$CONFIGS") + 1 ))] "$T/chart.dat" using i:xtic(1) title columnheader(i)
EOF
fi
cat "$OUT/BENCHMARKS.md"
