#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A full image answers ENOSPC, keeps every byte written before, and deleting
# files makes room again.  Overwriting a file on a full image still works.
. "$(dirname "$0")/lib.sh"

mkfs_img 64M
mount_img -o commit=0
# what was written and closed counts at once, as on tmpfs and ext4 (with
# passthrough it counted only from the next commit: df said 12 KiB used)
dd if=/dev/zero of="$MNT/counted" bs=1M count=16 status=none
used=$(df -k --output=used "$MNT" | tail -1)
[ "$used" -ge $((16 << 10)) ] || fail "df shows $used KiB used after 16 MiB were written"
rm "$MNT/counted"
n=0
while :; do
	if ! head -c $((4 << 20)) /dev/urandom 2>/dev/null > "$T/buf" ||
	   ! cp "$T/buf" "$MNT/f$n" 2> "$T/err"; then
		break
	fi
	sha256sum < "$T/buf" | sed "s|-|f$n|" >> "$T/sums"
	n=$((n + 1))
	[ $n -lt 40 ] || fail "64 MiB image accepted 160 MiB"
done
grep -q "No space left on device" "$T/err" || { cat "$T/err"; fail "expected ENOSPC"; }
[ $n -ge 10 ] || fail "only $n files of 4 MiB fit in 64 MiB"
rm -f "$MNT/f$n"
printf 'Z' | dd of="$MNT/f0" bs=1 seek=100 conv=notrunc status=none || fail "overwrite on a full image failed"
grep -v ' f0$' "$T/sums" > "$T/sums2"
(cd "$MNT" && sha256sum f0) >> "$T/sums2"
mv "$T/sums2" "$T/sums"
sync -f "$MNT"
(cd "$MNT" && sha256sum -c --quiet "$T/sums") || fail "data lost on a full image"
umount_img
fsck_clean
mount_img -o commit=0
(cd "$MNT" && sha256sum -c --quiet "$T/sums") || fail "data lost after remount"
rm "$MNT"/f*
# statfs sees what writes see, at once, while the writer still holds the
# file open (passthrough writes never pass the daemon)
python3 - "$MNT" <<'PY' || fail "df disagrees with ENOSPC"
import errno, os, sys
mnt = sys.argv[1]
fd = os.open(mnt + "/fill", os.O_WRONLY | os.O_CREAT)
buf = os.urandom(1 << 20)
try:
    while True:
        os.write(fd, buf)
except OSError as e:
    assert e.errno == errno.ENOSPC, e
st = os.statvfs(mnt)
avail = st.f_bavail * st.f_frsize
print("after ENOSPC, df says %d KiB available" % (avail >> 10))
os.close(fd)
sys.exit(0 if avail < 2 << 20 else 1)
PY
rm "$MNT/fill"
cp "$T/buf" "$MNT/again" || fail "no room after deleting"
head -c $((40 << 20)) /dev/zero > "$MNT/big" || fail "deleting did not free space"
umount_img
fsck_clean

# Full to the last block, the copy that failed kept: the final commit may
# use the reserve, and after a remount every file still reads back (each
# load read into memory the image had no room left for: EFAULT before).
mkfs_img 64M
mount_img -o commit=0
: > "$T/sums"
for n in $(seq 0 39); do
	head -c $((4 << 20)) /dev/urandom > "$T/buf"
	cp "$T/buf" "$MNT/g$n" 2> /dev/null || break
	sha256sum < "$T/buf" | sed "s|-|g$n|" >> "$T/sums"
done
umount_img
fsck_clean
mount_img -o commit=0
for f in "$MNT"/g*; do
	cat "$f" > /dev/null 2> "$T/err" || fail "a full image's file does not read back: $(cat "$T/err")"
done
(cd "$MNT" && sha256sum -c --quiet "$T/sums") || fail "data lost on a full image after remount"
umount_img
fsck_clean

# A file written, fsync'd and closed while memory is over -o cache_size
# leaves memory at its close, not at the next commit, even when the kernel
# wrote it unseen (passthrough: its close writes it back first).
mkfs_img 64M
mount_img -o commit=0 -o cache_size=4M
dd if=/dev/urandom of="$MNT/kept" bs=1M count=16 conv=fsync status=none
for _ in $(seq 100); do
	[ "$(status_field files_loaded)" = 0 ] && break
	sleep 0.05
done
[ "$(status_field files_loaded)" = 0 ] ||
	fail "a clean, closed file over the cache budget stayed in memory: $(status_field bytes_resident) bytes"
umount_img
fsck_clean
pass "$n files of 4 MiB fit a 64 MiB image, then ENOSPC; nothing lost; deletes free space; a full image reads back after remount; closed files counted and let go at once"
