#!/usr/bin/env bash
# Runs every test: unit tests (GoogleTest) and integration tests against the
# real binary, through CTest. Servers a test needs are started by the test.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${CAIRN_BUILD_DIR:-build}
cd "$BUILD_DIR"
ctest --output-on-failure --timeout 900 -j"${CTEST_JOBS:-2}" "$@"
