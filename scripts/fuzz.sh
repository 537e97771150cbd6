#!/usr/bin/env bash
# Run every fuzz target (tests/fuzz.rs) for CASTBOOK_FUZZ_SECS seconds each (default 60), two
# at a time, then print the executions and time per target. A failing input is saved under
# target/fuzz-failures/ and the script exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
export CASTBOOK_FUZZ_SECS=${CASTBOOK_FUZZ_SECS:-60}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --test fuzz -- --nocapture --test-threads=2 2>&1 | tee "$log" || status=$?
echo
echo "fuzz targets, ${CASTBOOK_FUZZ_SECS} s each:"
grep '^fuzz ' "$log" || true
exit "$status"
