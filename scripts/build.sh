#!/usr/bin/env bash
# Configures (once) and builds everything into build/ with ninja and ccache.
# Incremental: a second run with nothing changed takes about a second.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${HT_BUILD_DIR:-build}
# Paths under the checkout are hashed relative to it, so that another clone
# (CI's) reuses what ccache already compiled.
export CCACHE_BASEDIR="$PWD"
export CCACHE_NOHASHDIR=true
if [[ ! -f "$BUILD_DIR/build.ninja" ]]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=${HT_BUILD_TYPE:-Release} >/dev/null
fi
# Two cores and 24 GiB: two jobs keep memory and time in check.
cmake --build "$BUILD_DIR" -- -j"${HT_JOBS:-$(nproc)}"
