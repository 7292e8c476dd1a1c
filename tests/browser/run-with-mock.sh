#!/usr/bin/env bash
# Runs the browser tests against the mock API (web/mock/server.mjs): one mock
# with the demo services, one seeded with 200 services and 500,000 restore
# points for the timing test. For development; CI runs the same tests against
# a real `cairn serve` (see docs/dashboard.md).
#
#   tests/browser/run-with-mock.sh [test files...]
#
# Screenshots go to $CAIRN_SCREENSHOTS (default tests/browser/screenshots).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

[ -d web/node_modules ] || (cd web && npm ci --no-audit --no-fund)
if [ ! -f web/dist/index.html ] || [ -n "$(find web/src web/index.html -newer web/dist/index.html -print -quit)" ]; then
  (cd web && nice npm run build >/dev/null)
fi
[ -d tests/browser/node_modules ] || (cd tests/browser && npm ci --no-audit --no-fund)

PORT=${MOCK_PORT:-18421}
PERF_PORT=${MOCK_PERF_PORT:-18422}
export CAIRN_ADMIN_PASSWORD=${CAIRN_ADMIN_PASSWORD:-mock-admin-password}
export CAIRN_SCREENSHOTS=${CAIRN_SCREENSHOTS:-$ROOT/tests/browser/screenshots}
LOGDIR=$(mktemp -d)

node web/mock/server.mjs --port "$PORT" --job-seconds "${MOCK_JOB_SECONDS:-4}" >"$LOGDIR/mock.log" 2>&1 &
MOCK=$!
node web/mock/server.mjs --port "$PERF_PORT" --seed-services 200 --seed-points 500000 >"$LOGDIR/perf.log" 2>&1 &
PERF=$!
trap 'kill $MOCK $PERF 2>/dev/null || true; rm -rf "$LOGDIR"' EXIT
for p in "$PORT" "$PERF_PORT"; do
  for _ in $(seq 100); do
    curl -fs -o /dev/null "http://127.0.0.1:$p/api/v1/health" && break
    sleep 0.1
  done
done
cat "$LOGDIR/mock.log" "$LOGDIR/perf.log"

export CAIRN_URL=http://127.0.0.1:$PORT
export CAIRN_PERF_URL=http://127.0.0.1:$PERF_PORT
cd tests/browser
if [ $# -eq 0 ]; then set -- ./*.test.mjs; fi
nice node --test --test-concurrency=1 "$@"
