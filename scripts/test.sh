#!/usr/bin/env bash
# Run the whole test suite: fetch the sample clips, then every test (unit, integration over
# the real ffmpeg, and the end-to-end runs of the binary).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fixtures.sh
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --no-fail-fast "$@"
else
  cargo test --no-fail-fast "$@"
fi
