#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Durability jobs for bench/suite.sh (a benchmark, not a test): what an
fsync costs on a directory, printed as one number.

  durability.py sqlite DIR SECONDS        SQLite WAL, synchronous=FULL,
                                          one insert per transaction: tx/s
  durability.py fsync-lat DIR SIZE_MB N   a SIZE_MB file written with
                                          pwrite and fsynced, then N times
                                          4 KiB pwrite + fsync: median ms
  durability.py many-files DIR COUNT N    COUNT files made and fsynced,
                                          then the fsync-lat of a 1 MiB
                                          file among them: median ms
"""
import os
import random
import sqlite3
import statistics
import sys
import time

MIB = 1 << 20


def sqlite_tps(d, seconds):
    path = os.path.join(d, "bench.db")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.unlink(path + suffix)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)")
    blob = os.urandom(100)
    n, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        db.execute("BEGIN")
        db.execute("INSERT INTO t (v) VALUES (?)", (blob,))
        db.execute("COMMIT")
        n += 1
    db.close()
    return n / seconds


def fsync_lat(d, size_mb, n, name="lat"):
    path = os.path.join(d, name)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    chunk = os.urandom(MIB)
    for i in range(size_mb):
        os.pwrite(fd, chunk, i * MIB)
    os.fsync(fd)
    page = os.urandom(4096)
    rnd = random.Random(1)
    lat = []
    for _ in range(n):
        off = rnd.randrange(size_mb * 256) * 4096
        t0 = time.monotonic()
        os.pwrite(fd, page, off)
        os.fsync(fd)
        lat.append(time.monotonic() - t0)
    os.close(fd)
    os.unlink(path)
    return statistics.median(lat) * 1000


def many_files(d, count, n):
    sub = os.path.join(d, "many")
    os.makedirs(sub, exist_ok=True)
    for i in range(count):
        fd = os.open(os.path.join(sub, f"f{i}"), os.O_WRONLY | os.O_CREAT, 0o644)
        os.close(fd)
    dfd = os.open(sub, os.O_RDONLY)
    os.fsync(dfd)
    os.close(dfd)
    return fsync_lat(sub, 1, n, "target")


def main():
    job, d = sys.argv[1], sys.argv[2]
    if job == "sqlite":
        print(f"{sqlite_tps(d, float(sys.argv[3])):.0f}")
    elif job == "fsync-lat":
        print(f"{fsync_lat(d, int(sys.argv[3]), int(sys.argv[4])):.2f}")
    elif job == "many-files":
        print(f"{many_files(d, int(sys.argv[3]), int(sys.argv[4])):.2f}")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
