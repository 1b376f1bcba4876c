#!/usr/bin/env bash
# The test command: installs what is missing (build and test dependencies),
# builds, and runs every test with CTest (unit, component, end-to-end with
# the real Prometheus and Alertmanager). Extra arguments go to ctest, e.g.
#   scripts/test.sh -R engine
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test
scripts/build.sh
BUILD_DIR=${HT_BUILD_DIR:-build}
cd "$BUILD_DIR"
ctest --output-on-failure --timeout 900 "$@"
