#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Long crash torture (not part of the suite): ROUNDS (default 100) rounds of
# the crash test (both workloads: whole files, and crashload), kill -9 at
# random moments, every fsync'd byte checked
# against its manifest and fsck clean after each round.  Run as root after
# building: bash tests/torture/crash_long.sh [build-dir]
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${1:-build}
export FOLIOFS=$PWD/$B/fs/fuse/foliofs MKFS=$PWD/$B/tools/mkfs.foliofs \
	FSCK=$PWD/$B/tools/fsck.foliofs HELPERS=$PWD/$B/tests
export ROUNDS=${ROUNDS:-100}
exec bash tests/integration/crash.sh
