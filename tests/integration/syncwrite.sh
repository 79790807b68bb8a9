#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Every way a program is told its data is durable, then kill -9 of the
# daemon and a remount: msync(MS_SYNC) of a new and of an existing file's
# shared mapping, O_DSYNC, O_SYNC and RWF_DSYNC writes, a mapping that
# outlived its close() made durable by fsync of another descriptor, and a
# plain fsync for comparison.  Every byte must be there.  Writers take the
# tracked path in the default mode, so the daemon sees their writes (with
# passthrough for writers the kernel wrote the memory file unseen and msync
# never reached the daemon: all of it came back as the old contents).
. "$(dirname "$0")/lib.sh"

ROUNDS=${SYNCWRITE_ROUNDS:-2}
mkfs_img 512M
for round in $(seq "$ROUNDS"); do
	mount_img -o commit=0
	python3 - "$MNT" "$T" "$round" <<'PY' || fail "round $round: a synchronous write failed"
import mmap, os, sys

mnt, t, rnd = sys.argv[1], sys.argv[2], sys.argv[3]


def want(name, data):
    with open(f"{t}/{name}.want", "wb") as f:
        f.write(data)


def mapped(name, data, create):
    fd = os.open(f"{mnt}/{name}", os.O_RDWR | (os.O_CREAT if create else 0), 0o644)
    os.ftruncate(fd, len(data))
    m = mmap.mmap(fd, len(data), mmap.MAP_SHARED)
    m[:] = data
    m.flush()  # msync(MS_SYNC)
    m.close()
    os.close(fd)
    want(name, data)


size = 8 << 20
# a new file, and an existing one rewritten, through shared mappings
mapped(f"map_new{rnd}", os.urandom(size), True)
if rnd == "1":
    with open(f"{mnt}/map_old", "wb") as f:
        f.write(os.urandom(size))
        f.flush()
        os.fsync(f.fileno())
mapped("map_old", os.urandom(size), False)
# O_DSYNC, O_SYNC and RWF_DSYNC writes, 64 KiB at a time
for name, flags, rwf in (("dsync", os.O_DSYNC, 0), ("sync", os.O_SYNC, 0),
                         ("rwf_dsync", 0, os.RWF_DSYNC)):
    data = os.urandom(size)
    fd = os.open(f"{mnt}/{name}{rnd}", os.O_WRONLY | os.O_CREAT | flags, 0o644)
    for off in range(0, size, 65536):
        os.pwritev(fd, [data[off:off + 65536]], off, rwf)
    want(f"{name}{rnd}", data)
    # left open: the kill comes with the descriptor still held
# a mapping that outlived its close, made durable by fsync of another fd
data = os.urandom(size)
fd = os.open(f"{mnt}/outlived{rnd}", os.O_RDWR | os.O_CREAT, 0o644)
os.ftruncate(fd, size)
m = mmap.mmap(fd, size, mmap.MAP_SHARED)
os.close(fd)
m[:] = data
fd2 = os.open(f"{mnt}/outlived{rnd}", os.O_RDONLY)
os.fsync(fd2)
want(f"outlived{rnd}", data)
# plain write + fsync
data = os.urandom(size)
with open(f"{mnt}/fsynced{rnd}", "wb") as f:
    f.write(data)
    f.flush()
    os.fsync(f.fileno())
want(f"fsynced{rnd}", data)
PY
	kill_img
	mount_img -o commit=0
	for w in "$T"/*.want; do
		name=$(basename "$w" .want)
		cmp -s "$w" "$MNT/$name" || fail "round $round: $name lost or wrong after kill -9"
	done
	umount_img
	fsck_clean
done
pass "$ROUNDS rounds: msync (new and existing files), O_DSYNC, O_SYNC, RWF_DSYNC, a mapping outlived its close: every byte survived kill -9"
