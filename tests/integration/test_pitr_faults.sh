#!/usr/bin/env bash
# shellcheck disable=SC1091,SC2317  # lib.sh/pg_lib.sh are checked with -x; wait_for calls the predicates
# Point-in-time recovery of PostgreSQL under faults (docs/pitr.md), against
# real servers this script starts itself:
#  1. RPO: a primary that commits every ~0.1 s is killed (kill -9) and its
#     data directory removed; `restore --at latest` from the archive holds
#     every row committed more than 5 s before the destruction
#  2. restart: the daemon and its streamer are killed (kill -9), the server
#     restarts and writes on; a restarted daemon archives it all again with
#     no gap (the replication slot kept the WAL), and a recovery holds every row
#  3. a removed archived segment is a gap: `wal status` names it and the
#     window starts at the next base backup; a restore to a time before it
#     is refused with the missing segment named; `latest` still recovers
#     from the newer base backup
#
# Usage: bash test_pitr_faults.sh /path/to/cairn     (needs root: runuser)
source "$(dirname "$0")/lib.sh" "$@"
source "$(dirname "$0")/pg_lib.sh"

[[ $(id -u) == 0 ]] || die "this test needs root (it runs PostgreSQL as user postgres)"
pg_require_bins || die "PostgreSQL 15 server binaries are missing"
[[ -x $PG_BIN/pg_receivewal ]] || die "pg_receivewal is missing"
[[ -x $PG_BIN/pg_basebackup ]] || die "pg_basebackup is missing"

printf 'pitr faults repo pw\n' >"$TMP/pass"
chmod 600 "$TMP/pass"

# write_config FILE CLUSTER_DIR PORT SOCK NAME [archive: stream + server port]
# A repository $TMP/repo-NAME and a spool under $TMP/spool-NAME per phase, so
# that no phase sees another's WAL.
write_config() {
  local file=$1 dir=$2 port=$3 sock=$4 name=$5 sport=${6:-}
  mkdir -p "$TMP/spool-$name"
  chmod 755 "$TMP/spool-$name"
  cat >"$file" <<EOF
targets:
  local:
    location: $TMP/repo-$name
    password_file: $TMP/pass
    retention: {keep_last: 10}
services:
  pg:
    type: postgres
    method: physical
    socket: $sock
    port: $port
    data_dir: $dir/data
    targets: [local]
    temp_dir: $TMP/spool-$name
EOF
  if [[ -n $sport ]]; then
    sed -i 's/    method: physical/    method: physical\n    archive: stream/' "$file"
    printf 'server:\n  listen: 127.0.0.1:%s\n  data_dir: %s\n' "$sport" "$TMP/daemon-$name" >>"$file"
  fi
}

# new_cluster DIR: initdb + start, a database app with a table t; sets PG_PORT, PG_SOCK.
new_cluster() {
  local dir=$1
  mkdir -p "$dir"
  chown postgres:postgres "$dir"
  pg_cluster_init "$dir" || die "initdb in $dir"
  pg_cluster_start "$dir" || die "start PostgreSQL in $dir"
  psql_at "$PG_SOCK" "$PG_PORT" postgres "create database app" >/dev/null || die "create database in $dir"
  psql_at "$PG_SOCK" "$PG_PORT" app \
    "create table t (id serial primary key, v text, at timestamptz not null default clock_timestamp())" \
    >/dev/null || die "create table in $dir"
}

now_utc() { python3 -c 'import datetime; print(datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))'; }
copy_q() {  # copy_q PORT SQL: a query on a restored copy
  (cd /tmp && "$PG_BIN/psql" -XAtq -h 127.0.0.1 -p "$1" -U postgres -d app -c "$2")
}
stop_copy() {
  if [[ -n $1 && -d $1 ]]; then pg_as "$PG_BIN/pg_ctl" -D "$1" -m fast -w stop >/dev/null 2>&1 || true; fi
}
# restore_latest CFG DESC: restore --at latest as a new instance; sets COPY_PORT, COPY_DIR.
restore_latest() {
  COPY_PORT="" COPY_DIR=""
  cx -c "$1" restore pg --at latest --mode new-instance --json
  assert_rc 0 "$2"
  if [[ $RC == 0 ]]; then
    COPY_PORT=$(json 'd["connection"]["port"]' <<<"$OUT")
    COPY_DIR=$(json 'd["connection"]["data_dir"]' <<<"$OUT")
    on_exit "stop_copy '$COPY_DIR'"
  fi
}
wal_json() { "$CAIRN" -c "$1" wal status pg --json 2>/dev/null || true; }

# ================================================================ 1. RPO
log "phase 1: the primary is destroyed while it commits"
P1=$TMP/pg1
new_cluster "$P1"
PORT1=$PG_PORT SOCK1=$PG_SOCK
CFG1=$TMP/cairn1.yaml
write_config "$CFG1" "$P1" "$PORT1" "$SOCK1" rpo

# start_streamer CFG N SOCK PORT: `wal stream pg` in the background, its log
# $TMP/streamN.log; waits until the server sends it WAL. Sets STREAMER.
start_streamer() {
  local cfg=$1 n=$2 sock=$3 port=$4
  "$CAIRN" -c "$cfg" wal stream pg >"$TMP/stream$n.log" 2>&1 &
  STREAMER=$!
  on_exit "kill -9 $STREAMER 2>/dev/null || true"
  wait_for 30 grep -q 'streaming the WAL' "$TMP/stream$n.log" ||
    die "phase $n: the streamer started" "$(cat "$TMP/stream$n.log")"
  receiving() { [[ $(psql_at "$sock" "$port" postgres "select count(*) from pg_stat_replication" 2>/dev/null) -ge 1 ]]; }
  wait_for 30 receiving || die "phase $n: the streamer receives WAL" "$(cat "$TMP/stream$n.log")"
}

start_streamer "$CFG1" 1 "$SOCK1" "$PORT1"
STREAMER1=$STREAMER
must_ok "phase 1: a physical base backup while the streamer runs" -c "$CFG1" backup pg --json

# One transaction per psql call; a row is noted (id and commit time as
# epoch seconds) only once psql returned 0, i.e. the server said COMMIT.
COMMITTED=$TMP/committed
: >"$COMMITTED"
insert_loop() {
  local i=0 r
  while [[ ! -e $TMP/stop-inserts ]]; do
    i=$((i + 1))
    if r=$(psql_at "$SOCK1" "$PORT1" app \
      "insert into t (v, at) values ('row $i', clock_timestamp()) returning id, extract(epoch from at)" 2>/dev/null); then
      if [[ -n $r ]]; then printf '%s\n' "$r" >>"$COMMITTED"; fi
    fi
    sleep 0.1
  done
}
insert_loop &
LOOP=$!
on_exit "touch '$TMP/stop-inserts'; kill $LOOP 2>/dev/null || true"
sleep 15

# Destroy the primary: the postmaster and every process of it at once, then its data.
PM=$(head -1 "$P1/data/postmaster.pid")
mapfile -t PM_CHILDREN < <(pgrep -P "$PM" || true)
D_EPOCH=$(date +%s.%N)
kill -9 "$PM" "${PM_CHILDREN[@]}" 2>/dev/null || true
rm -rf "$P1/data"
D_ISO=$(python3 -c 'import datetime,sys; print(datetime.datetime.fromtimestamp(float(sys.argv[1]), datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))' "$D_EPOCH")
log "primary destroyed at $D_ISO"
touch "$TMP/stop-inserts"
wait "$LOOP" || true
assert_lt 20 "$(wc -l <"$COMMITTED")" "phase 1: the loop committed rows for 15 s ($(wc -l <"$COMMITTED") rows)"

# The streamer's pg_receivewal lost its server; SIGTERM makes a last upload pass.
kill -TERM "$STREAMER1"
wait_for 60 bash -c "! kill -0 $STREAMER1 2>/dev/null" || fail "phase 1: the streamer ends on SIGTERM" "$(tail -5 "$TMP/stream1.log")"
set +e
wait "$STREAMER1"
SRC=$?
set -e
assert_eq 0 "$SRC" "phase 1: the streamer ends with 0 after its last upload, the server gone"

restore_latest "$CFG1" "phase 1: restore --at latest as a new instance after the primary is gone"
if [[ -n $COPY_PORT ]]; then
  copy_q "$COPY_PORT" "select id from t order by id" >"$TMP/copy-ids" 2>"$TMP/copy-ids.err" || true
  COPY_MAX=$(copy_q "$COPY_PORT" "select extract(epoch from max(at)) from t" 2>/dev/null || true)
  # Every row committed more than 5 s before the destruction is in the copy.
  RPO=$(python3 - "$COMMITTED" "$TMP/copy-ids" "$D_EPOCH" "${COPY_MAX:-0}" <<'EOF'
import sys
committed = [l.strip().split("|") for l in open(sys.argv[1]) if l.strip()]
present = {l.strip() for l in open(sys.argv[2]) if l.strip()}
d = float(sys.argv[3])
copy_max = float(sys.argv[4] or 0)
due = [i for i, at in committed if float(at) < d - 5]
missing = [i for i in due if i not in present]
print(len(due), len(missing), ",".join(missing[:10]) or "none", "%.1f" % (d - copy_max))
EOF
  )
  read -r DUE MISSING MISSING_IDS LOST <<<"$RPO"
  log "rows committed more than 5 s before the destruction: $DUE; the copy's newest row is ${LOST}s before it"
  assert_lt 10 "$DUE" "phase 1: rows were committed more than 5 s before the destruction ($DUE)"
  assert_eq 0 "$MISSING" "phase 1: every row committed more than 5 s before the destruction is in the copy (missing: $MISSING_IDS)"
  assert_eq "$DUE" "$(copy_q "$COPY_PORT" "select count(*) from t where at < to_timestamp($D_EPOCH - 5)" 2>&1)" \
    "phase 1: the copy has as many rows from before D - 5 s as the loop committed then"
  assert_eq yes "$(python3 -c "print('yes' if float('$LOST') <= 5 else 'no')" 2>/dev/null)" \
    "phase 1: the copy's newest commit is at most 5 s before the destruction (${LOST}s)"
  stop_copy "$COPY_DIR"
fi

# ================================================================ 2. restart
log "phase 2: the daemon and its streamer are killed, the server restarts"
P2=$TMP/pg2
new_cluster "$P2"
PORT2=$PG_PORT SOCK2=$PG_SOCK
q2() { psql_at "$SOCK2" "$PORT2" app "$1"; }
CFG2=$TMP/cairn2.yaml
SPORT=$(pg_free_port)
write_config "$CFG2" "$P2" "$PORT2" "$SOCK2" restart "$SPORT"

# This test's streamers only (the pattern names its configuration; "strea[m]"
# keeps pgrep from matching its own shell's command line).
streamers2() { { pgrep -f -- "$CFG2 wal strea[m] pg" || true; } | wc -l; }
has_streamer2() { [[ $(streamers2) -ge 1 ]]; }
receivers2() { { pgrep -f -- "$TMP/spool-restart/cairn-wal-p[g]" || true; } | wc -l; }
receiving2() { [[ $(psql_at "$SOCK2" "$PORT2" postgres "select count(*) from pg_stat_replication" 2>/dev/null) -ge 1 ]]; }
start_daemon() {
  "$CAIRN" -c "$CFG2" serve >>"$TMP/serve2.log" 2>&1 &
  DAEMON=$!
  on_exit "kill -9 $DAEMON 2>/dev/null || true"
}
start_daemon
wait_for 30 has_streamer2 || die "phase 2: the daemon starts a WAL streamer" "$(tail -5 "$TMP/serve2.log")"
wait_for 30 receiving2 || die "phase 2: the streamer receives WAL" "$(tail -5 "$TMP/serve2.log")"
must_ok "phase 2: a base backup while the daemon streams" -c "$CFG2" backup pg --json
BASE2=$(json 'd["point_id"]' <<<"$OUT")
q2 "insert into t (v) select 'before the crash ' || g from generate_series(1, 200) g" >/dev/null

# Kill the daemon and its streamer (kill -9: no last upload), by pid.
mapfile -t STREAMER_PIDS < <(pgrep -f -- "$CFG2 wal strea[m] pg" || true)
mapfile -t RECEIVER_PIDS < <(pgrep -f -- "$TMP/spool-restart/cairn-wal-p[g]" || true)
kill -9 "$DAEMON" 2>/dev/null || true
if ((${#STREAMER_PIDS[@]})); then kill -9 "${STREAMER_PIDS[@]}" 2>/dev/null || true; fi
wait "$DAEMON" 2>/dev/null || true
wait_for 10 bash -c "[[ \$(pgrep -f -- '$CFG2 wal strea[m] pg' | wc -l) == 0 ]]" || true
assert_eq 0 "$(streamers2)" "phase 2: the daemon and its streamer are gone after kill -9"
for p in "${RECEIVER_PIDS[@]}"; do on_exit "kill -9 $p 2>/dev/null || true"; done

# The server restarts (its orphaned pg_receivewal loses the connection and
# ends: it runs with --no-loop) and writes on while nothing streams.
pg_cluster_stop "$P2"
pg_cluster_start "$P2" || die "phase 2: restart PostgreSQL"
wait_for 30 bash -c "[[ \$(pgrep -f -- '$TMP/spool-restart/cairn-wal-p[g]' | wc -l) == 0 ]]" || true
assert_eq 0 "$(receivers2)" "phase 2: the orphaned pg_receivewal ended with the server restart"
q2 "insert into t (v) select 'after the restart ' || g from generate_series(1, 200) g" >/dev/null
q2 "select pg_switch_wal()" >/dev/null
q2 "insert into t (v) values ('after the switch')" >/dev/null
ROWS2=$(q2 "select count(*) from t")
# The insert position: with synchronous_commit off the write position
# (pg_current_wal_lsn) may still be the end of the switched segment.
CURRENT=$(q2 "select pg_walfile_name(pg_current_wal_insert_lsn())")

start_daemon
head_reached() { wal_json "$CFG2" | grep -Eq "\"head\":\"$CURRENT(\\.partial)?\""; }
if wait_for 90 head_reached; then
  ok "phase 2: the restarted daemon archives up to the server's current segment $CURRENT"
else
  fail "phase 2: the restarted daemon archives up to the server's current segment $CURRENT" \
    "$(wal_json "$CFG2")
$(tail -5 "$TMP/serve2.log")"
fi
# The head may be the .partial's first upload, taken while pg_receivewal was
# still writing it; it is uploaded again every 2 s while it changes.
sleep 3
WS=$(wal_json "$CFG2")
assert_eq "[]" "$(json 'd[0]["gaps"]' <<<"$WS")" "phase 2: no gap after the crash and the restart"
assert_eq "$BASE2" "$(json 'd[0]["from_point"]' <<<"$WS")" "phase 2: the window still starts at the base backup"
restore_latest "$CFG2" "phase 2: restore --at latest as a new instance after the crash"
if [[ -n $COPY_PORT ]]; then
  assert_eq "$ROWS2" "$(copy_q "$COPY_PORT" "select count(*) from t" 2>&1)" \
    "phase 2: the copy holds every row, before the crash and after the restart ($ROWS2)"
  assert_eq 1 "$(copy_q "$COPY_PORT" "select count(*) from t where v = 'after the switch'" 2>&1)" \
    "phase 2: the copy holds the row written after the switch (from the .partial segment)"
  stop_copy "$COPY_DIR"
fi
kill -TERM "$DAEMON"
wait "$DAEMON" || true
assert_eq 0 "$(streamers2)" "phase 2: stopping the daemon stops its streamer"
assert_eq 0 "$(receivers2)" "phase 2: and its pg_receivewal"

# ================================================================ 3. a removed segment is a gap
log "phase 3: an archived segment between two base backups is removed"
P3=$TMP/pg3
new_cluster "$P3"
PORT3=$PG_PORT SOCK3=$PG_SOCK
q3() { psql_at "$SOCK3" "$PORT3" app "$1"; }
CFG3=$TMP/cairn3.yaml
write_config "$CFG3" "$P3" "$PORT3" "$SOCK3" gap
WALDIR=$TMP/repo-gap/wal/pg

start_streamer "$CFG3" 3 "$SOCK3" "$PORT3"
STREAMER3=$STREAMER
must_ok "phase 3: base backup A" -c "$CFG3" backup pg --json
BASE_A=$(json 'd["point_id"]' <<<"$OUT")
for i in 1 2 3; do
  q3 "insert into t (v) select 'between A and B, $i.' || g from generate_series(1, 100) g" >/dev/null
  q3 "select pg_switch_wal()" >/dev/null
done
archived() { [[ -f $WALDIR/$1 ]]; }
LAST_DONE=$(q3 "select pg_walfile_name(pg_current_wal_lsn() - 1)")
wait_for 30 archived "$LAST_DONE" || fail "phase 3: the segments written between A and B are archived" "$(ls "$WALDIR" 2>&1)"
ROWS_MID=$(q3 "select count(*) from t")
sleep 1
T_MID=$(now_utc)
sleep 1
must_ok "phase 3: base backup B" -c "$CFG3" backup pg --json
BASE_B=$(json 'd["point_id"]' <<<"$OUT")
q3 "insert into t (v) select 'after B ' || g from generate_series(1, 100) g" >/dev/null
q3 "select pg_switch_wal()" >/dev/null
ROWS3=$(q3 "select count(*) from t")
LAST_DONE=$(q3 "select pg_walfile_name(pg_current_wal_lsn() - 1)")
wait_for 30 archived "$LAST_DONE" || fail "phase 3: the segments written after B are archived" "$(ls "$WALDIR" 2>&1)"
kill -TERM "$STREAMER3"
wait "$STREAMER3" || true

cx -c "$CFG3" wal status pg --json
assert_eq "[]" "$(json 'd[0]["gaps"]' <<<"$OUT")" "phase 3: no gap before a segment is removed"
assert_eq "$BASE_A" "$(json 'd[0]["from_point"]' <<<"$OUT")" "phase 3: the window starts at base backup A"

# The WAL each base backup starts at and holds itself: its manifest's source
# (wal_start, wal_end), as the repository's snapshots carry it.
cx repo snapshots --repo "$TMP/repo-gap" --password-file "$TMP/pass" --json
WAL_RANGES=$(python3 -c '
import json, sys
src = {s["service"]["point_id"]: s["service"].get("source", {}) for s in json.loads(sys.stdin.read()) if s.get("service")}
for pid in sys.argv[1:]:
    print(src.get(pid, {}).get("wal_start") or "-", src.get(pid, {}).get("wal_end") or "-")
' "$BASE_A" "$BASE_B" <<<"$OUT" 2>&1 || true)
{ read -r A_START A_END; read -r B_START _; } <<<"$WAL_RANGES"
log "base A $BASE_A: WAL $A_START to $A_END in its tar; base B $BASE_B: WAL from $B_START"
[[ $A_START =~ ^[0-9A-F]{24}$ && $B_START =~ ^[0-9A-F]{24}$ ]] ||
  die "phase 3: the base backups record where their WAL starts" "$WAL_RANGES
$(_rc_detail)"
[[ $A_END =~ ^[0-9A-F]{24}$ ]] || A_END=$A_START
# The first completed segment archived after what A holds and before B's start.
REMOVED=""
for f in "$WALDIR"/*; do
  f=${f##*/}
  if [[ $f =~ ^[0-9A-F]{24}$ && $f > $A_END && $f < $B_START ]]; then REMOVED=$f; break; fi
done
[[ -n $REMOVED ]] || die "phase 3: a completed segment lies between base A and base B" "$(ls "$WALDIR")"
log "removing $REMOVED"
rm -f "$WALDIR/$REMOVED"

cx -c "$CFG3" wal status pg --json
assert_eq "$REMOVED" "$(json 'd[0]["gaps"][0] if d[0]["gaps"] else ""' <<<"$OUT")" \
  "phase 3: wal status names the removed segment as the gap"
assert_eq "$BASE_B" "$(json 'd[0]["from_point"]' <<<"$OUT")" "phase 3: the window now starts at base backup B"
cx -c "$CFG3" wal status pg
assert_match "gap.*$REMOVED" "$OUT" "phase 3: the human form of wal status mentions the gap"
assert_rc 1 "phase 3: wal status exits 1 for an archive with a gap"

expect_fail 1 "gap after base backup $BASE_A \\(missing $REMOVED\\)" \
  "phase 3: restore --at a time between base A and base B (past the gap) is refused, naming the missing segment" \
  -c "$CFG3" restore pg --at "$T_MID" --mode new-instance --json
log "the refusal: $ERR"
if [[ $RC == 0 ]]; then  # a copy was made after all: what it holds, for the report
  P=$(json 'd["connection"]["port"]' <<<"$OUT")
  log "the restore at $T_MID succeeded; its copy holds $(copy_q "$P" "select count(*) from t" 2>&1) rows (expected $ROWS_MID)"
  stop_copy "$(json 'd["connection"]["data_dir"]' <<<"$OUT")"
fi

restore_latest "$CFG3" "phase 3: restore --at latest still succeeds from base B"
if [[ -n $COPY_PORT ]]; then
  assert_eq "$ROWS3" "$(copy_q "$COPY_PORT" "select count(*) from t" 2>&1)" "phase 3: the copy from base B holds every row ($ROWS3)"
  stop_copy "$COPY_DIR"
fi

finish
