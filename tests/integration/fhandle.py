#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# File handles: name_to_handle_at() of a file in a subdirectory, dentry
# caches dropped so the kernel must ask the filesystem, open_by_handle_at()
# reads the file; after unlink the handle is stale.  Prints one line per
# step, so posix.sh can compare foliofs with tmpfs.
import ctypes
import os
import sys

libc = ctypes.CDLL(None, use_errno=True)


class FileHandle(ctypes.Structure):
    _fields_ = [("handle_bytes", ctypes.c_uint), ("handle_type", ctypes.c_int),
                ("f_handle", ctypes.c_ubyte * 128)]


def drop_dentries():
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("2")


def by_handle(mfd, fh):
    fd = libc.open_by_handle_at(mfd, ctypes.byref(fh), os.O_RDONLY)
    return fd, os.strerror(ctypes.get_errno()) if fd < 0 else "ok"


mnt = sys.argv[1]
os.makedirs(mnt + "/fh/sub", exist_ok=True)
path = mnt + "/fh/sub/file"
with open(path, "w") as f:
    f.write("by handle\n")
fh, mount_id = FileHandle(), ctypes.c_int()
fh.handle_bytes = 128
r = libc.name_to_handle_at(-100, path.encode(), ctypes.byref(fh), ctypes.byref(mount_id), 0)
print("name_to_handle_at:", "ok" if r == 0 else os.strerror(ctypes.get_errno()))
mfd = os.open(mnt, os.O_RDONLY | os.O_DIRECTORY)
drop_dentries()
fd, how = by_handle(mfd, fh)
print("open_by_handle_at:", how, os.read(fd, 64) if fd >= 0 else b"")
if fd >= 0:
    os.close(fd)
os.unlink(path)
drop_dentries()
fd, how = by_handle(mfd, fh)
print("after unlink:", how)
