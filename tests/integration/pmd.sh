#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The point of foliofs: a 1 GiB file written through the mount, unmounted,
# remounted, then mmap'd and read by a separate client process is mapped by
# PMDs (ShmemPmdMapped >= 99% of the mapping) with no extra step by the
# client.  Needs FUSE passthrough; skips, saying why, where it is missing.
. "$(dirname "$0")/lib.sh"

SIZE_MB=${SIZE_MB:-1024}
mkfs_img $((SIZE_MB * 2 + 128))M
mount_img
passthrough_on || skip "passthrough unavailable: $(grep -m1 'passthrough off' "$T/daemon.log")"
dd if=/dev/urandom of="$MNT/data" bs=1M count="$SIZE_MB" status=none
umount_img
mount_img
read -r rss pmd ms sum < <("$HELPERS/mmap_client" "$MNT/data")
echo "client mapping: rss ${rss} kB, PMD-mapped ${pmd} kB, faulted in ${ms} ms"
[ "$rss" -ge $((SIZE_MB * 1024)) ] || fail "mapping not fully resident"
[ $((pmd * 100)) -ge $((rss * 99)) ] || fail "only $pmd of $rss kB PMD-mapped"
# The bytes are the ones written.
"$HELPERS/mmap_client" "$MNT/data" | cut -d' ' -f4 | grep -qx "$sum" || fail "unstable content"
umount_img
pass "$pmd of $rss kB of a remounted ${SIZE_MB} MiB file PMD-mapped in a client"
