#!/usr/bin/env bash
# Point-in-time recovery of PostgreSQL (docs/pitr.md) against a real server:
#  - `cairn wal stream` archives WAL from a replication slot into the
#    repository (completed segments and the growing .partial)
#  - `cairn wal status` shows the window from the physical base backup
#  - `restore --at T` replays to the second before a bad DELETE, as a new
#    instance and as an overwrite; `--at latest` replays everything
#  - a time outside the window is a clear error that states the window
#  - forget removes WAL that no kept base backup needs, nothing more
#
# Usage: bash test_pitr.sh /path/to/cairn     (needs root: runuser)
source "$(dirname "$0")/lib.sh" "$@"
source "$(dirname "$0")/pg_lib.sh"

[[ $(id -u) == 0 ]] || die "this test needs root (it runs PostgreSQL as user postgres)"
pg_require_bins || die "PostgreSQL 15 server binaries are missing"
[[ -x $PG_BIN/pg_receivewal ]] || die "pg_receivewal is missing"

PGD=$TMP/pg
mkdir -p "$PGD"
chown postgres:postgres "$PGD"
pg_cluster_init "$PGD" || die "initdb"
pg_cluster_start "$PGD" || die "start PostgreSQL"
q() { psql_at "$PG_SOCK" "$PG_PORT" app "$1"; }
psql_at "$PG_SOCK" "$PG_PORT" postgres "create database app" >/dev/null || die "create database"
q "create table t (id int primary key, v text); insert into t select g, 'base ' || g from generate_series(1, 100) g" \
  >/dev/null || die "fill"

printf 'pitr repo pw\n' >"$TMP/pass"
chmod 600 "$TMP/pass"
CFG=$TMP/cairn.yaml
write_config() {  # write_config KEEP_LAST
  cat >"$CFG" <<EOF
targets:
  local:
    location: $TMP/repo
    password_file: $TMP/pass
    retention: {keep_last: $1}
services:
  pg:
    type: postgres
    method: physical
    archive: stream
    socket: $PG_SOCK
    port: $PG_PORT
    data_dir: $PGD/data
    targets: [local]
    temp_dir: $TMP
EOF
}
write_config 10
now_utc() { python3 -c 'import datetime; print(datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))'; }
copy_count() {  # copy_count PORT: rows of t in a restored copy
  (cd /tmp && "$PG_BIN/psql" -XAtq -h 127.0.0.1 -p "$1" -U postgres -d app -c "select count(*) from t")
}
stop_copy() { pg_as "$PG_BIN/pg_ctl" -D "$1" -m fast -w stop >/dev/null 2>&1 || true; }

# Archiving first, then base backups: the order an operator sets it up in.
"$CAIRN" -c "$CFG" wal stream pg >"$TMP/stream.log" 2>&1 &
STREAMER=$!
on_exit "kill $STREAMER 2>/dev/null || true"
wait_for 30 grep -q 'streaming the WAL' "$TMP/stream.log" || fail "the streamer started" "$(cat "$TMP/stream.log")"
BEFORE_BASE=$(now_utc)
sleep 1
must_ok "a physical base backup" -c "$CFG" backup pg --json
BASE=$(json 'd["point_id"]' <<<"$OUT")

q "insert into t select g, 'a ' || g from generate_series(101, 200) g" >/dev/null
sleep 1.5
T1=$(now_utc)
sleep 1.5
q "delete from t where id <= 50; insert into t select g, 'b ' || g from generate_series(201, 300) g" >/dev/null
q "select pg_switch_wal()" >/dev/null   # completes the segment: it is archived whole
sleep 1
q "insert into t values (301, 'after the switch')" >/dev/null
# The growing segment is uploaded as .partial every 2 s.
sleep 4

cx -c "$CFG" wal status pg --json
assert_rc 0 "wal status: a complete archive"
assert_eq "$BASE" "$(json 'd[0]["from_point"]' <<<"$OUT")" "the window starts at the physical base backup"
assert_eq "[]" "$(json 'd[0]["gaps"]' <<<"$OUT")" "no gap"
assert_lt 0 "$(json 'd[0]["files"]' <<<"$OUT")" "WAL files are archived"
assert_match '^[0-9A-F]{24}' "$(json 'd[0]["head"]' <<<"$OUT")" "the head names a WAL file"
cx -c "$CFG" wal status pg
assert_match 'recoverable from .* to .*archive lag' "$OUT" "the human form states the window and the lag"
assert_match 'archived [0-9A-F]{24}' "$(cat "$TMP/stream.log")" "the streamer archived completed segments"

# ---------------------------------------------------------------- new instance at T1
cx -c "$CFG" restore pg --at "$T1" --mode new-instance --json
assert_rc 0 "restore --at T1 as a new instance"
P1=$(json 'd["connection"]["port"]' <<<"$OUT")
D1=$(json 'd["connection"]["data_dir"]' <<<"$OUT")
assert_eq 200 "$(copy_count "$P1")" "the copy holds what was there at T1 (200 rows), not the DELETE after it"
assert_match 'point-in-time' "$(json 'd["validation"]' <<<"$OUT")" "the validation says what it proved for a point in time"
stop_copy "$D1"

cx -c "$CFG" restore pg --at latest --mode new-instance --json
assert_rc 0 "restore --at latest as a new instance"
P2=$(json 'd["connection"]["port"]' <<<"$OUT")
D2=$(json 'd["connection"]["data_dir"]' <<<"$OUT")
assert_eq 251 "$(copy_count "$P2")" "latest replays everything archived, the .partial segment included"
stop_copy "$D2"

# A time after the last commit (the server idle since): PostgreSQL replays
# everything without meeting a later commit. The archive was current then,
# so the state at that time is the end of the archive.
HEAD_TO=$("$CAIRN" -c "$CFG" wal status pg --json | json 'd[0]["to"]' || true)
cx -c "$CFG" restore pg --at "$HEAD_TO" --mode new-instance --json
assert_rc 0 "restore --at the archive's end, after the last commit (an idle server)"
P4=$(json 'd["connection"]["port"]' <<<"$OUT")
D4=$(json 'd["connection"]["data_dir"]' <<<"$OUT")
assert_eq 251 "$(copy_count "$P4" 2>/dev/null)" "it holds every archived commit"
stop_copy "$D4"

# ---------------------------------------------------------------- outside the window
expect_fail 1 'no base backup before .*recoverable window' "a time before the first base backup names the window" \
  -c "$CFG" restore pg --at "$BEFORE_BASE" --mode new-instance
expect_fail 1 'after the newest archived WAL.*recoverable window' "a time after the archive names the window" \
  -c "$CFG" restore pg --at 2099-01-01T00:00:00Z --mode new-instance
expect_fail 1 'not a time' "a malformed time" -c "$CFG" restore pg --at yesterday --mode new-instance
expect_fail 1 'not both' "a point and --at" -c "$CFG" restore pg latest --at latest --mode new-instance

# ---------------------------------------------------------------- the streamer stops cleanly
kill -TERM "$STREAMER"
wait "$STREAMER"
assert_eq 0 "$?" "the streamer ends with 0 on SIGTERM after its last upload"

# ---------------------------------------------------------------- overwrite at T1
cx -c "$CFG" restore pg --at "$T1" --mode overwrite --yes --json
assert_rc 0 "restore --at T1 over the live cluster"
assert_eq 200 "$(q 'select count(*) from t')" "the live cluster is back at T1"
assert_eq f "$(q 'select pg_is_in_recovery()')" "and promoted"
assert_nomatch 'recovery_target' "$(cat "$PGD/data/postgresql.auto.conf")" "the recovery settings are removed again"
# pg_basebackup copies no slot; the restore creates the streamer's again,
# holding the WAL from before the promotion, so nothing written on the new
# timeline is lost before the streamer reconnects.
SWITCH=$(awk 'NF >= 2 {p = $2} END {print p}' "$PGD/data/pg_wal/00000002.history" 2>/dev/null || true)
assert_eq t "$(q "select restart_lsn <= '${SWITCH:-0/0}'::pg_lsn from pg_replication_slots where slot_name = 'cairn_pg'")" \
  "the overwrite recreated the streamer's slot, reserving WAL from before the promotion ($SWITCH)"

# ---------------------------------------------------------------- retention follows the base backups
FILES_BEFORE=$("$CAIRN" -c "$CFG" wal status pg --json | json 'd[0]["files"]' || true)
must_ok "a second base backup" -c "$CFG" backup pg
write_config 1
must_ok "forget keeps the newest base backup" -c "$CFG" forget pg
cx -c "$CFG" wal status pg --json
FILES_AFTER=$(json 'd[0]["files"]' <<<"$OUT")
assert_lt "$FILES_AFTER" "$FILES_BEFORE" "WAL older than the kept base backup was removed"
assert_ne "$BASE" "$(json 'd[0]["from_point"]' <<<"$OUT")" "the window now starts at the kept base backup"

# ---------------------------------------------------------------- cairn serve streams archive: stream services
expect_fail 1 'archive: stream needs method: physical' "archive: stream on a logical service is refused at load" \
  -c <(sed 's/method: physical/method: logical/' "$CFG") config check
SPORT=$(pg_free_port)
printf 'server:\n  listen: 127.0.0.1:%s\n  data_dir: %s\n' "$SPORT" "$TMP/daemon" >>"$CFG"
"$CAIRN" -c "$CFG" serve >"$TMP/serve.log" 2>&1 &
DAEMON=$!
on_exit "kill $DAEMON 2>/dev/null || true"
# "strea[m]": the pattern must not match the command line of the pgrep's own shell.
streamers() { { pgrep -f -- "$CFG wal strea[m] pg" || true; } | wc -l; }
has_streamer() { [[ $(streamers) -ge 1 ]]; }
wait_for 30 has_streamer || true
assert_eq 1 "$(streamers)" "the daemon runs one WAL streamer for the service"
# The second base backup above was taken after the overwrite while nothing
# streamed: the slot the overwrite recreated kept its WAL, so the recovery
# below starts from it with nothing missing.
receiving() { [[ $(q "select count(*) from pg_stat_replication") -ge 1 ]]; }
wait_for 30 receiving || true
HEAD_BEFORE=$("$CAIRN" -c "$CFG" wal status pg --json | json 'd[0]["head"]' || true)
q "insert into t select g, 'daemon ' || g from generate_series(1000, 1100) g" >/dev/null
q "select pg_switch_wal()" >/dev/null
CURRENT=$(q "select pg_walfile_name(pg_current_wal_lsn())")
# Uploads go in name order: once the current segment's .partial is there,
# the segment holding the insert is archived whole.
head_reached() { "$CAIRN" -c "$CFG" wal status pg --json 2>/dev/null | grep -q "\"head\":\"$CURRENT"; }
wait_for 60 head_reached || true
HEAD_AFTER=$("$CAIRN" -c "$CFG" wal status pg --json | json 'd[0]["head"]' || true)
assert_ne "$HEAD_BEFORE" "$HEAD_AFTER" "WAL written while the daemon runs reaches the archive"
STREAMER_PID=$(pgrep -f -- "$CFG wal strea[m] pg" | head -1)
kill -9 "$STREAMER_PID"
another_streamer() { { pgrep -f -- "$CFG wal strea[m] pg" || true; } | grep -qv "^$STREAMER_PID\$"; }
wait_for 30 another_streamer || true
assert_eq 1 "$(streamers)" "a streamer that dies is restarted"
# The same recovery through the REST API, as a job of the daemon.
TOKEN=$("$CAIRN" -c "$CFG" token create pitr --role operate | grep -o 'cairn_[A-Za-z0-9_-]*' | head -1)
api() { curl -s -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' "$@"; }
JOB=$(api -X POST -d '{"at": "latest", "mode": "new-instance"}' "http://127.0.0.1:$SPORT/api/v1/services/pg/restores" |
  json 'd["job_id"]')
job_done() { api "http://127.0.0.1:$SPORT/api/v1/jobs/$JOB" | grep -Eq '"status":"(succeeded|failed|cancelled)"'; }
wait_for 120 job_done || true
JOBJSON=$(api "http://127.0.0.1:$SPORT/api/v1/jobs/$JOB")
if [[ $(json 'd["status"]' <<<"$JOBJSON") == succeeded ]]; then
  ok "POST restores {at: latest} runs a point-in-time recovery job"
else
  fail "POST restores {at: latest} runs a point-in-time recovery job" "$JOBJSON"
fi
P3=$(json 'd["result"]["connection"]["port"]' <<<"$JOBJSON")
assert_eq 301 "$(copy_count "$P3" 2>/dev/null)" "the job's copy has every row archived"
stop_copy "$(json 'd["result"]["connection"]["data_dir"]' <<<"$JOBJSON")"
# The window on the service page and in the metrics: a base backup taken
# while the streamer runs, then a sync (SIGHUP reloads and syncs).
kill -HUP "$DAEMON"
pitr_shown() { api "http://127.0.0.1:$SPORT/api/v1/services/pg" | grep -q '"pitr":{'; }
wait_for 60 pitr_shown || true
SVC=$(api "http://127.0.0.1:$SPORT/api/v1/services/pg")
assert_match '^20' "$(json 'd["pitr"]["window_start"]' <<<"$SVC")" "the service shows where its recoverable window starts"
LAG=$(json 'd["pitr"]["lag_s"]' <<<"$SVC")
assert_eq yes "$(python3 -c "print('yes' if float('$LAG') < 30 else 'no')" 2>/dev/null)" "and an archive lag of seconds ($LAG s)"
METRICS=$(api "http://127.0.0.1:$SPORT/metrics")
assert_match 'cairn_pitr_window_start_timestamp_seconds\{service="pg"\} [0-9]' "$METRICS" "the metrics carry the window"
assert_match 'cairn_wal_archive_lag_seconds\{service="pg"\} [0-9]' "$METRICS" "and the lag"
kill -TERM "$DAEMON"
wait "$DAEMON" || true
assert_eq 0 "$(streamers)" "stopping the daemon stops its streamer"

finish
