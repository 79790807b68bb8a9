#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The collapser for real: the background collapser makes freshly written
# data huge; a partial punch splits a region and keeps it off-limits (even
# across a remount) until the hole is rewritten; truncate splits too; an
# aligned whole-region punch drops the huge extent; an explicit collapse
# ends keep-off; policy "never" (inherited from a directory) wins; a running
# process's old mapping is remapped by PMD.  Asserts on smaps, the region
# map, allocated sizes and the image's extents.
. "$(dirname "$0")/lib.sh"

MB=$((1 << 20))
state() { getfattr --absolute-names --only-values -n user.foliofs.map "$MNT/$1" | awk -v o="$2" '$1 == o {print $2}'; }
status() { getfattr --absolute-names --only-values -n user.foliofs.status "$MNT" | sed -n "s/^$1=//p"; }
wait_state() {	# wait_state FILE OFFSET STATE
	for _ in $(seq 60); do [ "$(state "$1" "$2")" = "$3" ] && return 0; sleep 0.25; done
	getfattr --absolute-names --only-values -n user.foliofs.map "$MNT/$1" >&2
	fail "region $2 of $1 never became $3"
}
kb() { du -k "$MNT/$1" | cut -f1; }
collapse_now() {	# an explicit collapse; EAGAIN means "try again", so do
	for _ in 1 2 3; do
		setfattr -n user.foliofs.collapse "$MNT/$1" 2> "$T/collapse.err" && return 0
		grep -q "temporarily unavailable" "$T/collapse.err" || break
		sleep 0.2
	done
	cat "$T/collapse.err" >&2
	return 1
}

mkfs_img 256M
mount_img -o scan_sleep_ms=200
dd if=/dev/urandom of="$MNT/f" bs=1M count=16 status=none
for off in 0 $((2 * MB)) $((14 * MB)); do wait_state f $off huge; done
if passthrough_on; then
	read -r rss pmd _ < <("$HELPERS/mmap_client" "$MNT/f")
	[ "$pmd" = "$rss" ] || fail "client sees $pmd of $rss kB PMD-mapped after collapse"
fi

# Partial punch: split, keep-off, hole kept by the background collapser.
before=$(kb f)
fallocate -p -o $((2 * MB + 8192)) -l 4096 "$MNT/f"
[ "$(state f $((2 * MB)))" = keep-off ] || fail "punched region not keep-off"
sleep 1	# several background passes
[ "$(state f $((2 * MB)))" = keep-off ] || fail "background collapser refilled a hole"
[ "$(kb f)" = $((before - 4)) ] || fail "allocated size $(kb f), expected $((before - 4)) kB"
[ "$(status splits)" -ge 1 ] || fail "split not counted"
resident=$(getfattr --absolute-names --only-values -n user.foliofs.map "$MNT/f" | awk -v o=$((2 * MB)) '$1 == o {print $3}')
[ "$resident" = 511 ] || fail "punched region holds $resident pages, expected 511"
# (a client reading the hole through a mapping would fill it, as on tmpfs)

# Keep-off survives a remount.
umount_img
fsck_clean
mount_img -o scan_sleep_ms=200
cat "$MNT/f" > /dev/null
sleep 1
[ "$(state f $((2 * MB)))" = keep-off ] || fail "keep-off lost across remount"
[ "$(state f 0)" = huge ] || fail "region 0 not huge after remount (load collapse)"
[ "$(kb f)" = $((16384 - 4)) ] || fail "hole refilled after remount: $(kb f) kB"

# A client's own MADV_COLLAPSE on its mapping still works (passthrough).
if passthrough_on; then
	cp "$MNT/f" "$MNT/copy"		# fresh small pages
	read -r rss pmd _ < <("$HELPERS/mmap_client" "$MNT/copy" collapse) ||
		fail "client MADV_COLLAPSE failed"
	[ "$pmd" = "$rss" ] || fail "client collapse: $pmd of $rss kB PMD-mapped"
	rm "$MNT/copy"
fi

# Rewriting the hole ends keep-off.
dd if=/dev/urandom of="$MNT/f" bs=4096 count=1 seek=$((2 * MB / 4096 + 2)) conv=notrunc status=none
wait_state f $((2 * MB)) huge

# Truncate through a huge region; aligned whole-region punch.
truncate -s $((5 * MB)) "$MNT/f"
[ "$(state f $((4 * MB)))" = keep-off ] || fail "truncate did not split region 2"
sleep 1	# background passes must not end it: the region now crosses EOF
[ "$(state f $((4 * MB)))" = keep-off ] || fail "background pass ended keep-off at EOF"
fallocate -p -o 0 -l $((2 * MB)) "$MNT/f"
[ "$(state f 0)" = small ] || fail "whole-region punch: region 0 is $(state f 0)"
# Explicit collapse ends keep-off and may fill holes (the user asked).
setfattr -n user.foliofs.collapse -v "$((4 * MB)) $((2 * MB))" "$MNT/f" 2>&1 | grep -q . &&
	fail "explicit collapse of a tail region should be a no-op"
truncate -s $((6 * MB)) "$MNT/f"
collapse_now f || fail "explicit collapse failed"
[ "$(state f $((4 * MB)))" = huge ] || fail "explicit collapse left keep-off"
[ "$(state f 0)" = small ] || fail "empty region 0 must stay a hole"
umount_img
fsck_clean
"$HELPERS/fofs_debug" show "$IMG" | grep -q "extent off 0 " && fail "punched huge extent still on disk"

# Policy "never" on a directory is inherited and wins.
mount_img -o scan_sleep_ms=200
mkdir "$MNT/small"
setfattr -n user.foliofs.policy -v never "$MNT/small"
setfattr -n user.foliofs.policy -v sometimes "$MNT/small" 2>/dev/null && fail "bad policy accepted"
dd if=/dev/urandom of="$MNT/small/g" bs=1M count=4 status=none
[ "$(getfattr --absolute-names --only-values -n user.foliofs.policy "$MNT/small/g")" = never ] || fail "policy not inherited"
sleep 1
[ "$(state small/g 0)" = small ] || fail "policy never: background collapsed"
setfattr -n user.foliofs.collapse "$MNT/small/g" 2>/dev/null && fail "never: explicit collapse succeeded"

# Stage two: a process mapping the file before it was huge gets PMDs.
if passthrough_on; then
	dd if=/dev/urandom of="$MNT/h" bs=1M count=8 status=none
	"$HELPERS/mmap_hold" "$MNT/h" "$T/ready" & holder=$!
	for _ in $(seq 40); do [ -e "$T/ready" ] && break; sleep 0.1; done
	wait_state h 0 huge
	"$HELPERS/remap" "$holder" "$MNT/h" > "$T/remap" || { cat "$T/remap"; kill $holder; fail "remap failed"; }
	kill $holder; wait $holder 2>/dev/null || true
	read -r _ err before after < "$T/remap"
	[ "$err" = 0 ] && [ "$after" = 8192 ] || fail "remap: $(cat "$T/remap")"
fi
umount_img
fsck_clean
pass "background collapse, split and keep-off, truncate, policy, explicit collapse, remap"
