#!/usr/bin/env bash
# The dashboard's browser tests (tests/browser/*.test.mjs: playwright-core
# driving Debian's Chromium, axe-core) against a real `cairn serve`:
#
#   - PostgreSQL on loopback (pg_lib.sh), an SQLite file, a volume with a known
#     file; services `app-db`, `notes`, `uploads` and `slow` (PostgreSQL with
#     a bandwidth limit: a backup that runs long enough to cancel) and
#     `pitr-db` (the same cluster, method: physical with archive: stream: the
#     daemon streams its WAL, and a base backup gives it a recoverable window);
#   - one daemon on a free port with a backup of each (and a restore drill of
#     app-db), so there is history;
#   - a second daemon on a catalog seeded by cairn_catalog_bench (200
#     services, 500,000 restore points) for perf.test.mjs;
#   - every test file, one at a time. A skipped test is a failure here.
#
# Screenshots are copied to $CAIRN_DASHBOARD_SHOTS (default: dashboard-screenshots/
# beside the cairn binary, so build/dashboard-screenshots), with the TAP output
# and perf.json. docs/dashboard.md ("In CI") has the details.
source "$(dirname "$0")/lib.sh" "$@"
source "$LIB_DIR/pg_lib.sh"

ROOT=$(cd "$LIB_DIR/../.." && pwd)
BROWSER_DIR=$ROOT/tests/browser
SEEDER=$(dirname "$CAIRN")/cairn_catalog_bench
SHOTS_OUT=${CAIRN_DASHBOARD_SHOTS:-$(dirname "$CAIRN")/dashboard-screenshots}

# ------------------------------------------------------------------ prerequisites
[[ -x ${CHROMIUM:-/usr/bin/chromium} ]] || die "Chromium is missing (apt-get install chromium)"
command -v node >/dev/null || die "node is missing (apt-get install nodejs)"
[[ -d $BROWSER_DIR/node_modules/playwright-core && -d $BROWSER_DIR/node_modules/axe-core ]] ||
  (cd "$BROWSER_DIR" && npm ci --no-audit --no-fund --loglevel=error) ||
  die "npm ci in tests/browser failed"
command -v curl >/dev/null || die "curl is missing"

SECONDS=0
phase() { log "$(printf '%3d s' "$SECONDS") $*"; }

# ------------------------------------------------------------------ services
PG_DIR=$TMP/pg
mkdir -p "$PG_DIR"
pg_cluster_init "$PG_DIR" || die "initdb"
pg_cluster_start "$PG_DIR" || die "PostgreSQL start"
psql_at "$PG_SOCK" "$PG_PORT" postgres "CREATE DATABASE app" >/dev/null
psql_at "$PG_SOCK" "$PG_PORT" app "CREATE TABLE orders (id int primary key, item text, qty int);
  INSERT INTO orders SELECT g, 'item ' || g, g % 7 FROM generate_series(1, 20000) g" >/dev/null
psql_at "$PG_SOCK" "$PG_PORT" postgres "CREATE DATABASE big" >/dev/null
# About 16 MB of incompressible-ish dump: at bandwidth_limit 512K its backup takes ~30 s.
psql_at "$PG_SOCK" "$PG_PORT" big "CREATE TABLE b (id int, v text);
  INSERT INTO b SELECT g, md5(g::text) || md5((g+1)::text) FROM generate_series(1, 200000) g" >/dev/null
phase "PostgreSQL on port $PG_PORT"

SQLITE=$TMP/notes/notes.db
mkdir -p "$TMP/notes"
python3 - "$SQLITE" <<'EOF'
import sqlite3, sys
with sqlite3.connect(sys.argv[1]) as c:
    c.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    c.executemany("INSERT INTO notes (body) VALUES (?)", [("note %d" % i,) for i in range(2000)])
EOF

VOL=$TMP/uploads
mkdir -p "$VOL/docs" "$VOL/images"
VOLUME_TEXT="Uploads of the app, kept by Cairn"
printf '%s\n' "$VOLUME_TEXT" >"$VOL/docs/readme.txt"
printf 'a second file\n' >"$VOL/docs/notes.md"
head -c 200000 /dev/urandom >"$VOL/images/photo.jpg"

printf 'repo-password\n' >"$TMP/repo.pass"
chmod 600 "$TMP/repo.pass"
# The repositories exist before the daemon starts: two first jobs that create
# the same new repository at once (max_concurrent_jobs 2) race, and the loser
# leaves a repository whose config no key opens.
for r in local offsite; do
  must_ok "cairn repo init $r" repo init --repo "$TMP/repo-$r" --password-file "$TMP/repo.pass" --quiet
done

DATA=$TMP/data
CONFIG=$TMP/cairn.yaml
cat >"$CONFIG" <<EOF
targets:
  local:
    type: repository
    location: $TMP/repo-local
    password_file: $TMP/repo.pass
    retention: {keep_last: 30}
  offsite:
    type: repository
    location: $TMP/repo-offsite
    password_file: $TMP/repo.pass
    retention: {keep_daily: 7}
services:
  app-db:
    type: postgres
    host: $PG_SOCK
    port: $PG_PORT
    databases: [app]
    targets: [local, offsite]
    schedule: {every: 6h}
    freshness: 12h
    verify: {every: 7d}
  notes:
    type: sqlite
    path: $SQLITE
    targets: [local]
    schedule: {every: 6h}
    freshness: 12h
    verify: false
  uploads:
    type: volume
    path: $VOL
    targets: [local]
    schedule: {every: 6h}
    freshness: 12h
  slow:
    type: postgres
    host: $PG_SOCK
    port: $PG_PORT
    databases: [big]
    bandwidth_limit: 512K
    targets: [local]
    verify: false
  pitr-db:
    type: postgres
    method: physical
    archive: stream
    socket: $PG_SOCK
    port: $PG_PORT
    data_dir: $PG_DIR/data
    temp_dir: $TMP
    targets: [local]
    verify: false
server:
  data_dir: $DATA
  max_concurrent_jobs: 2
EOF
chmod 600 "$CONFIG"

# ------------------------------------------------------------------ the daemon
start_daemon() {  # start_daemon CONFIG LOG -> PORT (global), pid in BG_PIDS
  local config=$1 logf=$2 i
  PORT=$(pg_free_port)
  "$CAIRN" -c "$config" serve --listen "127.0.0.1:$PORT" >"$logf" 2>&1 &
  BG_PIDS+=($!)
  for ((i = 0; i < 600; i++)); do
    curl -fs -o /dev/null "http://127.0.0.1:$PORT/api/v1/health" && return 0
    kill -0 "${BG_PIDS[-1]}" 2>/dev/null || break
    sleep 0.1
  done
  fail "cairn serve answers on 127.0.0.1:$PORT" "$(tail -n 20 "$logf")"
  return 1
}

# The daemon's WAL streamer (a process group of its own) and the copies that
# point-in-time restores start (in temp_dir) must not outlive the test.
# "strea[m]": the pattern must not match the command line of pgrep's own shell.
stop_pitr_leftovers() {
  local p d
  for p in $(pgrep -f -- "$CONFIG wal strea[m]" || true); do kill "$p" 2>/dev/null || true; done
  for d in "$TMP"/cairn-pg-*; do
    [[ -f $d/postmaster.pid ]] && pg_as "$PG_BIN/pg_ctl" -D "$d" -m fast -w stop >/dev/null 2>&1
  done
  return 0
}
on_exit stop_pitr_leftovers
start_daemon "$CONFIG" "$TMP/serve.log" || finish
DAEMON_PID=${BG_PIDS[-1]}
URL=http://127.0.0.1:$PORT
ok "cairn serve answers on $URL"
ADMIN_TOKEN=$("$CAIRN" -c "$CONFIG" token create dash-admin --role admin | tail -n 1)
READ_TOKEN=$("$CAIRN" -c "$CONFIG" token create dash-read --role read | tail -n 1)
[[ -n $ADMIN_TOKEN && -n $READ_TOKEN ]] || die "cairn token create"
ADMIN_PASSWORD=$(head -n 1 "$DATA/initial-admin-password" 2>/dev/null || true)
[[ -n $ADMIN_PASSWORD ]] || die "the admin password in $DATA/initial-admin-password"

api() {  # api METHOD ROUTE [BODY] -> the body on stdout
  local body=()
  [[ $# -ge 3 ]] && body=(--data "$3")
  curl -sS -X "$1" -H "Authorization: Bearer $ADMIN_TOKEN" -H 'Content-Type: application/json' \
    "${body[@]}" "$URL/api/v1$2"
}
wait_job() {  # wait_job ID -> its final status
  local id=$1 st i
  for ((i = 0; i < 600; i++)); do
    st=$(api GET "/jobs/$id" | json 'd["status"]')
    [[ $st != queued && $st != running ]] && { echo "$st"; return 0; }
    sleep 0.2
  done
  echo "timeout"
}
wait_idle() {  # no job queued or running
  local i
  for ((i = 0; i < 600; i++)); do
    [[ $(api GET "/jobs?status=running&limit=1" | json 'len(d["jobs"])') == 0 &&
       $(api GET "/jobs?status=queued&limit=1" | json 'len(d["jobs"])') == 0 ]] && return 0
    sleep 0.25
  done
  return 1
}

# History: the scheduled first runs (the schedules fire at start), then a
# backup of each from the API and a restore drill of app-db.
wait_idle || fail "the first scheduled runs end"
for svc in app-db notes uploads; do
  id=$(api POST "/services/$svc/backups" '{}' | json 'd["job_id"]')
  st=$(wait_job "$id")
  assert_eq succeeded "$st" "a backup of $svc from the API (job $id)"
done
id=$(api POST /services/app-db/verify '{"point": "latest"}' | json 'd["job_id"]')
assert_eq succeeded "$(wait_job "$id")" "a restore drill of app-db (job $id)"
wait_idle || true
for svc in app-db notes uploads; do
  n=$(api GET "/services/$svc/backups?limit=50" | json 'len(d["points"])')
  assert_le 1 "$n" "$svc has restore points ($n)"
done
phase "history in place"

# Point-in-time recovery (docs/pitr.md): archiving first (the daemon's
# streamer holds the replication slot), then a base backup, then a sync (on
# SIGHUP) works out the recoverable window the service page shows.
slot_active() {
  [[ $(psql_at "$PG_SOCK" "$PG_PORT" postgres "SELECT active FROM pg_replication_slots WHERE slot_name = 'cairn_pitr_db'") == t ]] ||
    { sleep 0.5; return 1; }
}
if wait_for 60 slot_active; then ok "the daemon streams the WAL of pitr-db (replication slot cairn_pitr_db active)"
else fail "the daemon streams the WAL of pitr-db" "$(tail -n 20 "$TMP/serve.log")"; fi
id=$(api POST /services/pitr-db/backups '{}' | json 'd["job_id"]')
assert_eq succeeded "$(wait_job "$id")" "a physical base backup of pitr-db (job $id)"
psql_at "$PG_SOCK" "$PG_PORT" app "INSERT INTO orders VALUES (20001, 'after the base backup', 1)" >/dev/null
kill -HUP "$DAEMON_PID"
pitr_shown() { [[ $(api GET /services/pitr-db | json 'd["pitr"] is not None') == true ]] || { sleep 0.5; return 1; }; }
if wait_for 90 pitr_shown; then ok "pitr-db has a recoverable window ($(api GET /services/pitr-db | json 'd["pitr"]'))"
else fail "pitr-db has a recoverable window" "$(api GET /services/pitr-db | json 'd["pitr"]')"; fi
phase "pitr-db archived, its window in place"

# ------------------------------------------------------------------ the timing data set
PERF_URL=
if [[ ! -x $SEEDER ]]; then
  fail "cairn_catalog_bench is beside $CAIRN (cmake --build build builds it; perf.test.mjs will be skipped)"
else
  PERF=$TMP/perf
  mkdir -p "$PERF/data"
  if nice "$SEEDER" --dir "$PERF/data" --services 200 --jobs 50000 --points 500000 --manifest-tables 2 --until-now \
    --seed-only >"$PERF/seed.log" 2>&1; then
    ok "seeded a catalog with 200 services and 500,000 points ($(grep -E '^seed:' "$PERF/seed.log"))"
  else
    fail "cairn_catalog_bench --seed-only" "$(tail -n 5 "$PERF/seed.log")"
  fi
  {
    echo "targets:"
    for t in local s3; do printf '  %s:\n    type: repository\n    location: %s/missing/%s\n    password: perf\n' "$t" "$PERF" "$t"; done
    echo "services:"
    for ((i = 0; i < 200; i++)); do
      printf '  svc-%03d:\n    type: volume\n    path: %s/missing/svc-%03d\n    targets: [local%s]\n' \
        "$i" "$PERF" "$i" "$( ((i % 3 == 0)) && echo ', s3')"
    done
    # the same admin password as the first daemon's (the tests sign in to both with it)
    printf 'server:\n  data_dir: %s/data\n  admin_password_file: %s/admin.pass\n' "$PERF" "$PERF"
  } >"$PERF/cairn.yaml"
  printf '%s\n' "$ADMIN_PASSWORD" >"$PERF/admin.pass"
  chmod 600 "$PERF/admin.pass"
  chmod 600 "$PERF/cairn.yaml"
  if start_daemon "$PERF/cairn.yaml" "$PERF/serve.log"; then
    PERF_URL=http://127.0.0.1:$PORT
    ok "a second cairn serve on the seeded catalog at $PERF_URL"
  fi
  phase "timing data set in place"
fi

# ------------------------------------------------------------------ the browser tests
SHOTS=$TMP/screenshots
mkdir -p "$SHOTS"
export CAIRN_URL=$URL CAIRN_ADMIN_PASSWORD=$ADMIN_PASSWORD CAIRN_READ_TOKEN=$READ_TOKEN
export CAIRN_SCREENSHOTS=$SHOTS
export CAIRN_SQLITE_SERVICE=notes CAIRN_POSTGRES_SERVICE=app-db CAIRN_VOLUME_SERVICE=uploads CAIRN_SLOW_SERVICE=slow
export CAIRN_PITR_SERVICE=pitr-db
export CAIRN_VOLUME_FILE=$VOL/docs/readme.txt CAIRN_VOLUME_FILE_TEXT=$VOLUME_TEXT
# As root a chmod does not stop a read: the file moves away and back.
export CAIRN_BREAK_CMD="mv '$SQLITE' '$SQLITE.away'" CAIRN_FIX_CMD="mv '$SQLITE.away' '$SQLITE'"
if [[ -n $PERF_URL ]]; then export CAIRN_PERF_URL=$PERF_URL CAIRN_PERF_SERVICES=200; else unset CAIRN_PERF_URL; fi
export CAIRN_JOB_TIMEOUT_MS=${CAIRN_JOB_TIMEOUT_MS:-90000}

TAP=$TMP/browser.tap
set +e
(cd "$BROWSER_DIR" && node --test --test-concurrency=1 \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$TAP" \
  ./*.test.mjs)
node_rc=$?
set -e
phase "browser tests ended (exit $node_rc)"
# The point-in-time restore's copy is a running PostgreSQL: stop it, and the
# daemon (which stops its WAL streamer).
stop_pitr_leftovers
kill -TERM "$DAEMON_PID" 2>/dev/null || true

count() { grep -E "^# $1 [0-9]+" "$TAP" | tail -n 1 | awk '{print $3}'; }
tests=$(count tests) pass=$(count pass) failn=$(count fail) skipped=$(count skipped) todo=$(count todo) cancelled=$(count cancelled)
log "browser tests: ${tests:-?} tests, ${pass:-?} passed, ${failn:-?} failed, ${skipped:-?} skipped, ${cancelled:-?} cancelled"
assert_eq 0 "$node_rc" "node --test exits 0"
assert_eq 0 "${failn:-x}" "no browser test failed"
assert_eq 0 "${cancelled:-x}" "no browser test was cancelled"
if [[ ${skipped:-x} == 0 && ${todo:-x} == 0 ]]; then
  ok "no browser test was skipped"
else
  fail "no browser test was skipped" "$(grep -E '# SKIP|# TODO' "$TAP" | head)"
fi
assert_lt 0 "${pass:-0}" "browser tests passed (${pass:-0} of ${tests:-?})"
n_shots=$(find "$SHOTS" -name '*.png' | wc -l)
assert_lt 20 "$n_shots" "the tests saved screenshots ($n_shots)"

rm -rf "$SHOTS_OUT"
mkdir -p "$SHOTS_OUT"
cp -r "$SHOTS"/. "$SHOTS_OUT"/
cp "$TAP" "$SHOTS_OUT/browser.tap"
log "screenshots: $SHOTS_OUT ($n_shots PNG files)"
log "took $SECONDS s"
finish
