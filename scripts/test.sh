#!/usr/bin/env bash
# Run the whole test suite: fetch the sample clips, install the S3 test server, then every
# test (unit, integration over the real ffmpeg, and the end-to-end runs of the binary).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fixtures.sh
# The S3-compatible server the hosting tests run against (s3s-fs checks every signature and
# the expiry of presigned URLs); built once from crates.io.
if ! command -v s3s-fs >/dev/null 2>&1 && [[ ! -x ${CARGO_HOME:-$HOME/.cargo}/bin/s3s-fs ]]; then
  cargo install --locked s3s-fs --version 0.14.1 --features binary
fi
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --no-fail-fast "$@"
else
  cargo test --no-fail-fast "$@"
fi
