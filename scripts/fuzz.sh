#!/usr/bin/env bash
# libFuzzer targets (src/**/*_fuzz.cc), built with clang into a build
# directory of their own and run on the corpus kept in fuzz/corpus/<name>/.
#   scripts/fuzz.sh build            build every target
#   scripts/fuzz.sh run NAME [SECS]  run one for SECS seconds (CAIRN_FUZZ_SECONDS, default 45)
#   scripts/fuzz.sh all [SECS]       build, then run each in turn
# The corpus is copied into a temporary directory, so a run never changes the
# tree; a crash fails the run and leaves the crashing input in
# $CAIRN_FUZZ_ARTIFACTS (default build-fuzz/artifacts) for a regression seed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
B=${CAIRN_FUZZ_BUILD_DIR:-$ROOT/build-fuzz}
ARTIFACTS=${CAIRN_FUZZ_ARTIFACTS:-$B/artifacts}

build() {
  command -v clang++ >/dev/null || { echo "fuzz: clang++ is not installed (scripts/setup.sh installs it)" >&2; exit 1; }
  CC=clang CXX=clang++ cmake -S "$ROOT" -B "$B" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCAIRN_FUZZ=ON >/dev/null
  cmake --build "$B" -j"$(nproc)" --target fuzzers >/dev/null
}

run() {
  local name=$1 secs=${2:-${CAIRN_FUZZ_SECONDS:-45}}
  local bin=$B/fuzz_$name
  [[ -x $bin ]] || { echo "fuzz: $bin is missing (run scripts/fuzz.sh build)" >&2; exit 1; }
  local work
  work=$(mktemp -d /tmp/cairn-fuzz-"$name".XXXXXX)
  trap 'rm -rf "$work"' RETURN
  [[ -d fuzz/corpus/$name ]] && cp -r "fuzz/corpus/$name/." "$work/"
  mkdir -p "$ARTIFACTS"
  # -rss_limit_mb: a decoder that allocates what the input claims is a bug too.
  if ! "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=1024 -print_final_stats=1 \
      -artifact_prefix="$ARTIFACTS/$name-" "$work" >"$work.log" 2>&1; then
    tail -n 40 "$work.log" >&2
    echo "fuzz: $name found a crash; the input is in $ARTIFACTS" >&2
    rm -f "$work.log"
    exit 1
  fi
  grep -E '^stat::number_of_executed_units|^Done' "$work.log" | tr '\n' ' '
  echo
  rm -f "$work.log"
}

case ${1:-all} in
  build) build ;;
  run) run "$2" "${3:-}" ;;
  all)
    build
    for src in $(find src -name '*_fuzz.cc' | sort); do
      name=$(basename "$src" _fuzz.cc)
      run "$name" "${2:-}"
    done
    ;;
  *) echo "usage: scripts/fuzz.sh build | run NAME [SECS] | all [SECS]" >&2; exit 2 ;;
esac
