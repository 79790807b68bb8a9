#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# mtime and ctime after writes through a shared mapping, with the file kept
# open and with it closed before the write (the mapping outlives the
# descriptor): after msync, and a little later, both times must have moved.
# Prints one line per case so posix.sh can compare foliofs with tmpfs.
import mmap
import os
import sys
import time

OLD = 1000000000


def case(path, close_first):
    with open(path, "wb") as f:
        f.write(b"\0" * 8192)
    os.utime(path, (OLD, OLD))
    fd = os.open(path, os.O_RDWR)
    m = mmap.mmap(fd, 8192)
    if close_first:
        os.close(fd)
    m[4096:4101] = b"hello"
    m.flush()
    synced = os.stat(path)
    time.sleep(1.1)		# past the kernel's attribute cache
    later = os.stat(path)
    m.close()
    if not close_first:
        os.close(fd)
    print("%s: after msync mtime %s ctime %s; later mtime %s ctime %s" % (
        "closed" if close_first else "open",
        synced.st_mtime > OLD, synced.st_ctime > OLD,
        later.st_mtime > OLD, later.st_ctime > OLD))


case(sys.argv[1] + "/mt_open", False)
case(sys.argv[1] + "/mt_closed", True)
