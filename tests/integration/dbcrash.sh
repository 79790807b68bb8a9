#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Real databases under kill -9 of the daemon: LMDB (python3-lmdb, sync, one
# put per transaction) in its default mode, which writes its meta page
# through an O_DSYNC descriptor, and with writemap=True, which commits
# through msync of a shared mapping; SQLite in WAL mode, synchronous=FULL,
# with mmap_size.  A writer records each transaction only after its commit
# returned (in a file outside the mount, fsync'd); the daemon is killed
# while it writes; after a remount every recorded transaction must be there
# and the database must open and check clean.  DBCRASH_ROUNDS (default 3).
. "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
"$PY" -c "import lmdb, sqlite3" 2>/dev/null || skip "python3-lmdb (Debian) is needed; tests/run.sh installs it"
ROUNDS=${DBCRASH_ROUNDS:-3}

# writer KIND DB LOG: commit transactions until the mount goes away
writer() {
	"$PY" - "$@" <<'PY'
import os, sqlite3, sys

kind, db, log = sys.argv[1:4]
out = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
n = int(open(log).read().split()[-1]) + 1 if os.path.getsize(log) else 0
try:
    if kind.startswith("lmdb"):
        import lmdb
        env = lmdb.open(db, map_size=64 << 20, sync=True, writemap=kind == "lmdb_writemap")
        while True:
            with env.begin(write=True) as tx:
                tx.put(b"k%08d" % n, os.urandom(200))
            os.write(out, b"%d\n" % n)
            os.fsync(out)
            n += 1
    else:
        con = sqlite3.connect(db, isolation_level=None)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=FULL")
        con.execute("PRAGMA mmap_size=268435456")
        con.execute("CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v BLOB)")
        while True:
            con.execute("BEGIN")
            con.execute("INSERT INTO t VALUES (?, ?)", (n, os.urandom(200)))
            con.execute("COMMIT")
            os.write(out, b"%d\n" % n)
            os.fsync(out)
            n += 1
except Exception:
    sys.exit(0)  # the mount went away under it: expected
PY
}

# check KIND DB LOG: every recorded transaction is in the database
check() {
	"$PY" - "$@" <<'PY'
import os, sqlite3, sys

kind, db, log = sys.argv[1:4]
want = [int(x) for x in open(log).read().split()]
if kind.startswith("lmdb"):
    import lmdb
    env = lmdb.open(db, map_size=64 << 20, writemap=kind == "lmdb_writemap")
    with env.begin() as tx:
        missing = [k for k in want if tx.get(b"k%08d" % k) is None]
    env.close()
else:
    con = sqlite3.connect(db)
    ok = con.execute("PRAGMA integrity_check").fetchone()[0]
    if ok != "ok":
        sys.exit("integrity_check: %s" % ok)
    have = {r[0] for r in con.execute("SELECT k FROM t")}
    missing = [k for k in want if k not in have]
if missing:
    sys.exit("%d of %d committed transactions lost, first %d" % (len(missing), len(want), missing[0]))
print("%s: %d committed transactions present" % (kind, len(want)))
PY
}

mkfs_img 1G
summary=
for kind in lmdb lmdb_writemap sqlite; do
	: > "$T/$kind.log"
	for round in $(seq "$ROUNDS"); do
		mount_img -o commit=0
		[ "$kind" = sqlite ] || mkdir -p "$MNT/$kind"
		db=$MNT/$kind
		[ "$kind" = sqlite ] && db=$MNT/sqlite.db
		writer "$kind" "$db" "$T/$kind.log" &
		wpid=$!
		sleep "0.$((RANDOM % 7 + 3))"
		kill_img
		wait "$wpid" || true
		mount_img -o commit=0
		out=$(check "$kind" "$db" "$T/$kind.log" 2>&1) || fail "$kind, round $round: $out"
		umount_img
	done
	summary="$summary $out;"
	fsck_clean
done
pass "kill -9 while committing, $ROUNDS rounds each:$summary"
