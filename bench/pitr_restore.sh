#!/usr/bin/env bash
# Point-in-time restore against pgBackRest (docs/pitr.md, docs/benchmarks.md):
# a PostgreSQL 15 cluster (fsync, synchronous_commit and full_page_writes
# on), pgbench -i -s $SCALE, archived into both tools at once; a Cairn base
# backup and a pgBackRest full backup, one after the other; pgbench for
# $LOAD seconds; then each tool restores the database to the time T at the
# end of the load, into a new data directory, up to a server that answers:
#
#   Cairn       cairn restore SVC --at T --mode new-instance (extracts the
#               base backup, fetches the WAL, replays, promotes, starts the
#               server and validates it: every table read in full)
#   pgBackRest  pgbackrest restore --type=time --target=T
#               --target-action=promote --archive-mode=off into an empty
#               directory, pg_ctl start on a free port, waiting until
#               pg_is_in_recovery() is false
#
# Both are timed (wall clock) up to the answer of
# `select count(*) from pgbench_accounts` on the restored server, and both
# copies must hold the source's sum(abalance) at T.
#
# The archive_command runs both archivers, Cairn's first: `cairn wal push`
# (archive: command) then `pgbackrest archive-push` (archive-async=y,
# compress-type=zst, process-max=2); a segment counts as archived only when
# both took it. Both archives therefore hold the same segments, fed the same
# way. Cairn's repository is encrypted, pgBackRest's is not (its default).
# The source server is stopped before the restores: each runs on an
# otherwise idle machine (the page cache stays warm; `sync` before each).
#
# Peak RSS is that of each tool's own processes, the restored server's
# left out: Cairn's (/usr/bin/time around cairn restore, its children
# included); pgBackRest's restore (/usr/bin/time) and its archive-get
# processes, which the restored server runs as restore_command: the
# asynchronous ones detach (a double fork) and are reaped by a subreaper the
# copy runs under (their rusage), the others are sampled (VmHWM every
# 100 ms). The largest single process counts.
#
# Environment: CAIRN (default build/cairn), SCALE=50, LOAD=300 (seconds),
# CLIENTS=4, ORDER="cairn pgbackrest" (the restores' order),
# BENCH_DIR=/tmp/cairn-pitr-restore, PG_BIN. Needs root; installs the
# Debian package pgbackrest when it is missing.
# Results: a markdown table on stdout, JSON in $BENCH_DIR/results.json.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HERE/../tests/integration/pg_lib.sh"
source "$HERE/pitr_lib.sh"
CAIRN=$(realpath -- "${CAIRN:-$HERE/../build/cairn}")
SCALE=${SCALE:-50}
LOAD=${LOAD:-300}
CLIENTS=${CLIENTS:-4}
ORDER=${ORDER:-cairn pgbackrest}
BENCH_DIR=$(realpath -m -- "${BENCH_DIR:-/tmp/cairn-pitr-restore}")

die() { echo "pitr_restore.sh: error: $*" >&2; exit 1; }
note() { echo "# $*" >&2; }
[[ $(id -u) == 0 ]] || die "needs root (the server runs as user postgres)"
[[ -x $CAIRN ]] || die "no cairn binary at $CAIRN (build first)"
pg_require_bins || die "PostgreSQL 15 is missing"
[[ $ORDER == "cairn pgbackrest" || $ORDER == "pgbackrest cairn" ]] || die "ORDER is 'cairn pgbackrest' or 'pgbackrest cairn'"
require_pgbackrest
PGBACKREST=$(command -v pgbackrest)

rm -rf "$BENCH_DIR"
mkdir -p "$BENCH_DIR"
chmod 755 "$BENCH_DIR"
PGD=$BENCH_DIR/pg
BIN=$BENCH_DIR/bin/cairn
W=$BENCH_DIR/cairn             # Cairn's configuration, password, repository; its restored copy
PGBR=$BENCH_DIR/pgbackrest     # pgBackRest's configuration, repository, spool, logs
PGBR_CONF=$PGBR/pgbackrest.conf
CFG=$W/cairn.yaml
RD=$BENCH_DIR/pgbr-restore     # pgBackRest's restored copy
COPIES=()                      # data directories of restored copies to stop on exit
BG=()
cleanup() {
  kill "${BG[@]}" 2>/dev/null || true
  local d
  for d in "${COPIES[@]}"; do
    [[ -f $d/postmaster.pid ]] && pg_as "$PG_BIN/pg_ctl" -D "$d" -m immediate -w stop >/dev/null 2>&1 || true
  done
  pg_cluster_stop "$PGD"
}
trap cleanup EXIT

# The server runs the archive_command as user postgres: the binary, the
# configuration, the password and both repositories must be reachable by it.
mkdir -p "$BENCH_DIR/bin" "$W" "$PGBR"/{repo,log,spool,lock}
cp "$CAIRN" "$BIN"
printf 'pitr restore bench pw\n' >"$W/pass"
pg_cluster_init "$PGD" >/dev/null || die "initdb"
cat >"$CFG" <<EOF
targets:
  local:
    location: $W/repo
    password_file: $W/pass
services:
  bench:
    type: postgres
    method: physical
    archive: command
    socket: $PG_SOCK
    port: $PG_PORT
    data_dir: $PGD/data
    targets: [local]
    temp_dir: $W
EOF
cat >"$PGBR_CONF" <<EOF
[global]
repo1-path=$PGBR/repo
repo1-retention-full=10
compress-type=zst
process-max=2
archive-async=y
spool-path=$PGBR/spool
lock-path=$PGBR/lock
log-path=$PGBR/log
start-fast=y

[bench]
pg1-path=$PGD/data
pg1-port=$PG_PORT
pg1-socket-path=$PG_SOCK
pg1-user=postgres
EOF
# (pgBackRest's backup refuses an archive_command whose text does not
# contain "pgbackrest": hence the name.)
cat >"$BENCH_DIR/bin/archive-cairn-pgbackrest" <<EOF
#!/bin/sh
# archive_command of bench/pitr_restore.sh: the WAL file %p into Cairn's
# repository, then into pgBackRest's; archived when both succeed.
set -e
$BIN -c $CFG wal push bench "\$1"
exec $PGBACKREST --config=$PGBR_CONF --stanza=bench archive-push "\$1"
EOF
chmod 755 "$BENCH_DIR/bin" "$BIN" "$BENCH_DIR/bin/archive-cairn-pgbackrest"
chown -R postgres:postgres "$W" "$PGBR"
chmod 700 "$W" "$PGBR"
chmod 600 "$W/pass" "$CFG" "$PGBR_CONF"
pg_as "$BIN" repo init -r "$W/repo" --password-file "$W/pass" -q >/dev/null || die "cairn repo init as postgres"
cat >>"$PGD/data/postgresql.conf" <<EOF
fsync = on
synchronous_commit = on
full_page_writes = on
max_wal_size = 4GB
archive_mode = on
archive_command = '$BENCH_DIR/bin/archive-cairn-pgbackrest %p'
EOF
pg_cluster_start "$PGD" || die "start PostgreSQL"
q() { psql_at "$PG_SOCK" "$PG_PORT" postgres "$1"; }
on_port() { (cd /tmp && "$PG_BIN/psql" -XAtq -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$1" -U postgres -d postgres -c "$2"); }
now() { date +%s.%N; }
secs() { python3 -c "print('%.1f' % ($2 - $1))"; }
# Completes the current segment (after a record, so that there is one) and
# waits until the archiver has archived it (into both repositories).
switch_and_wait() {  # switch_and_wait TIMEOUT_S
  local seg
  q "SELECT txid_current()" >/dev/null
  seg=$(q "SELECT pg_walfile_name(pg_switch_wal())")
  for _ in $(seq "$(($1 * 10))"); do
    [[ $(q "SELECT coalesce(last_archived_wal, '') >= '$seg' FROM pg_stat_archiver") == t ]] && return 0
    sleep 0.1
  done
  return 1
}

T_INIT=$(now)
note "pgbench -i -s $SCALE"
pg_as "$PG_BIN/pgbench" -i -q -s "$SCALE" -h "$PG_SOCK" -p "$PG_PORT" -U postgres postgres >"$BENCH_DIR/pgbench-init.log" 2>&1 ||
  die "pgbench -i: $(tail -3 "$BENCH_DIR/pgbench-init.log")"
note "pgbench -i: $(secs "$T_INIT" "$(now)") s"
pg_as "$PGBACKREST" --config="$PGBR_CONF" --stanza=bench stanza-create >"$BENCH_DIR/stanza-create.log" 2>&1 ||
  die "pgbackrest stanza-create: $(tail -3 "$BENCH_DIR/stanza-create.log")"
switch_and_wait 300 || die "the archive_command does not archive: $(tail -n 5 "$PGD/server.log")"

# The base backups, one after the other, with nothing written in between.
note "base backups"
T0=$(now)
"$CAIRN" -c "$CFG" backup bench --json >"$BENCH_DIR/cairn-backup.json" 2>"$BENCH_DIR/cairn-backup.log" ||
  die "cairn backup: $(tail -3 "$BENCH_DIR/cairn-backup.log")"
T1=$(now)
pg_as "$PGBACKREST" --config="$PGBR_CONF" --stanza=bench --type=full backup >"$BENCH_DIR/pgbackrest-backup.log" 2>&1 ||
  die "pgbackrest backup: $(tail -3 "$BENCH_DIR/pgbackrest-backup.log")"
T2=$(now)
CAIRN_BACKUP_S=$(secs "$T0" "$T1")
PGBR_BACKUP_S=$(secs "$T1" "$T2")
note "base backups: Cairn $CAIRN_BACKUP_S s, pgBackRest $PGBR_BACKUP_S s"

LSN0=$(q "SELECT pg_current_wal_lsn() - '0/0'")
note "pgbench: $LOAD s, $CLIENTS clients"
pg_as "$PG_BIN/pgbench" -n -c "$CLIENTS" -j "$CLIENTS" -T "$LOAD" -h "$PG_SOCK" -p "$PG_PORT" -U postgres postgres \
  >"$BENCH_DIR/pgbench.log" 2>&1 || die "pgbench: $(tail -3 "$BENCH_DIR/pgbench.log")"
# T: the end of the load (pgbench has exited: every commit is before T).
T=$(python3 -c 'import datetime; print(datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))')
T_PG="$(sed 's/T/ /; s/Z$/+00/' <<<"$T")"
TPS=$(grep -oP 'tps = \K[0-9.]+(?= \(without initial)' "$BENCH_DIR/pgbench.log")
LSN1=$(q "SELECT pg_current_wal_lsn() - '0/0'")
SUM=$(q "SELECT sum(abalance) FROM pgbench_accounts")
ROWS=$(q "SELECT count(*) FROM pgbench_accounts")
# A commit after T (a recovery to T stops at the first commit after it;
# without one it would reach the end of the WAL short of its target), then
# everything up to it archived in both.
sleep 1
q "CREATE TABLE after_t AS SELECT now() AS at" >/dev/null
note "waiting for the archive (T = $T)"
T3=$(now)
switch_and_wait 1800 || die "the archive did not catch up: $(tail -n 5 "$PGD/server.log")"
note "archived up to after T $(secs "$T3" "$(now)") s after the load"
"$CAIRN" -c "$CFG" wal status bench --json >"$BENCH_DIR/wal-status.json" 2>"$BENCH_DIR/wal-status.log" ||
  die "cairn wal status: $(tail -3 "$BENCH_DIR/wal-status.log")"
python3 - "$BENCH_DIR/wal-status.json" "$T" <<'EOF' || die "Cairn's archive does not reach T without a gap: $(cat "$BENCH_DIR/wal-status.json")"
import datetime, json, sys
d = json.load(open(sys.argv[1]))[0]
ts = lambda s: datetime.datetime.fromisoformat(s.rstrip("Z")[:26])
sys.exit(0 if not d["gaps"] and d["from_point"] and ts(d["to"]) >= ts(sys.argv[2]) else 1)
EOF
pg_cluster_stop "$PGD"
CAIRN_REPO_BYTES=$(du -sb "$W/repo" | cut -f1)
PGBR_REPO_BYTES=$(du -sb "$PGBR/repo" | cut -f1)

# ---------------------------------------------------------------- Cairn
restore_cairn() {
  note "Cairn: restore --at $T"
  sync
  local t0 t1 rc=0
  t0=$(now)
  /usr/bin/time -f '%e %M' -o "$BENCH_DIR/time.cairn" "$CAIRN" -c "$CFG" restore bench --at "$T" --mode new-instance --json \
    >"$BENCH_DIR/cairn-restore.json" 2>"$BENCH_DIR/cairn-restore.log" || rc=$?
  local port dir
  port=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["connection"]["port"])' "$BENCH_DIR/cairn-restore.json" 2>/dev/null) || true
  dir=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["connection"]["data_dir"])' "$BENCH_DIR/cairn-restore.json" 2>/dev/null) || true
  [[ -z $dir ]] || COPIES+=("$dir")
  ((rc == 0)) && [[ -n $port ]] || die "cairn restore (exit $rc): $(tail -5 "$BENCH_DIR/cairn-restore.log")"
  CAIRN_COUNT=$(on_port "$port" "SELECT count(*) FROM pgbench_accounts") || die "the Cairn copy does not answer"
  t1=$(now)
  CAIRN_WALL=$(secs "$t0" "$t1")
  CAIRN_CMD_S=$(cut -d' ' -f1 <"$BENCH_DIR/time.cairn")
  CAIRN_RSS=$(($(tail -n 1 "$BENCH_DIR/time.cairn" | cut -d' ' -f2) / 1024))
  CAIRN_SUM=$(on_port "$port" "SELECT sum(abalance) FROM pgbench_accounts")
  note "Cairn: $CAIRN_WALL s (cairn restore $CAIRN_CMD_S s), peak RSS $CAIRN_RSS MiB, sum(abalance) $CAIRN_SUM"
  pg_as "$PG_BIN/pg_ctl" -D "$dir" -m fast -w stop >/dev/null 2>&1 || die "stop the Cairn copy"
}

restore_pgbackrest() {
  note "pgBackRest: restore --type=time --target=$T_PG"
  mkdir -p "$RD"
  chown postgres:postgres "$RD"
  mkdir -m 700 "$RD/data"
  chown postgres:postgres "$RD/data"
  sync
  local rss_pid port t0 t1 t2 t3 t4
  rss_pid=$(sample_rss "--config=$PGBR_CONF" "$BENCH_DIR/rss.pgbackrest")
  BG+=("$rss_pid")
  t0=$(now)
  (cd /tmp && /usr/bin/time -f '%e %M' -o "$BENCH_DIR/time.pgbackrest" runuser -u postgres -- "$PGBACKREST" \
    --config="$PGBR_CONF" --stanza=bench --pg1-path="$RD/data" --type=time "--target=$T_PG" --target-action=promote \
    --archive-mode=off restore) >"$BENCH_DIR/pgbackrest-restore.log" 2>&1 ||
    die "pgbackrest restore: $(tail -5 "$BENCH_DIR/pgbackrest-restore.log")"
  t1=$(now)
  COPIES+=("$RD/data")
  port=$(pg_free_port)
  rm -f "$BENCH_DIR/reaper.ready"
  (cd /tmp && exec python3 "$HERE/pitr_reaper.py" "$BENCH_DIR/reaped.log" "$BENCH_DIR/reaper.ready" \
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$RD/data" -l "$RD/server.log" -w -t 3600 -o "-p $port -k $RD" start) \
    >/dev/null 2>&1 &
  for _ in $(seq 36000); do [[ -s $BENCH_DIR/reaper.ready ]] && break; sleep 0.1; done
  [[ $(cat "$BENCH_DIR/reaper.ready" 2>/dev/null) == 0 ]] || die "the pgBackRest copy does not start: $(tail -n 5 "$RD/server.log")"
  t2=$(now)
  local promoted=""
  for _ in $(seq 36000); do
    [[ $(on_port "$port" "SELECT pg_is_in_recovery()" 2>/dev/null) == f ]] && { promoted=1; break; }
    sleep 0.1
  done
  [[ -n $promoted ]] || die "the pgBackRest copy did not promote: $(tail -n 5 "$RD/server.log")"
  t3=$(now)
  PGBR_COUNT=$(on_port "$port" "SELECT count(*) FROM pgbench_accounts") || die "the pgBackRest copy does not answer"
  t4=$(now)
  PGBR_WALL=$(secs "$t0" "$t4")
  PGBR_PHASES="restore $(secs "$t0" "$t1") s, start $(secs "$t1" "$t2") s, replay to the promotion $(secs "$t2" "$t3") s, count $(secs "$t3" "$t4") s"
  PGBR_SUM=$(on_port "$port" "SELECT sum(abalance) FROM pgbench_accounts")
  pg_as "$PG_BIN/pg_ctl" -D "$RD/data" -m fast -w stop >/dev/null 2>&1 || die "stop the pgBackRest copy"
  for _ in $(seq 600); do pgrep -f -- "--config=$PGBR_CONF" >/dev/null || break; sleep 0.1; done
  kill "$rss_pid" 2>/dev/null || true
  sleep 0.5  # the subreaper has written its last line
  PGBR_RSS=$(python3 - "$BENCH_DIR/rss.pgbackrest" "$BENCH_DIR/reaped.log" "$(tail -n 1 "$BENCH_DIR/time.pgbackrest" | cut -d' ' -f2)" <<'EOF'
import sys
kb = [int(sys.argv[3])]
kb += [int(l.split()[1]) for l in open(sys.argv[1]) if len(l.split()) == 2]
try:
    kb += [int(f[5]) for f in (l.split() for l in open(sys.argv[2])) if len(f) == 6 and f[2] != "postgres"]
except OSError:
    pass
print(max(kb) // 1024)
EOF
)
  PGBR_RESTORE_RSS=$(($(tail -n 1 "$BENCH_DIR/time.pgbackrest" | cut -d' ' -f2) / 1024))
  PGBR_ASYNC=$(grep -c ' pgbackrest ' "$BENCH_DIR/reaped.log" 2>/dev/null || true)
  note "pgBackRest: $PGBR_WALL s ($PGBR_PHASES), peak RSS $PGBR_RSS MiB (restore $PGBR_RESTORE_RSS MiB), sum(abalance) $PGBR_SUM"
}

for tool in $ORDER; do "restore_$tool"; done

ok=yes
[[ $CAIRN_SUM == "$SUM" && $PGBR_SUM == "$SUM" && $CAIRN_COUNT == "$ROWS" && $PGBR_COUNT == "$ROWS" ]] || ok=no
mib() { python3 -c "print('%.0f MiB' % ($1 / 1048576))"; }
ratio() { python3 -c "print('%.2f' % ($1 / $2))"; }
printf 'pgbench scale %s (%s accounts), %s clients for %s s after the base backups (%.0f TPS, %s of WAL); %s cores\n' \
  "$SCALE" "$ROWS" "$CLIENTS" "$LOAD" "$TPS" "$(mib $((LSN1 - LSN0)))" "$(nproc)"
echo "base backups: Cairn $CAIRN_BACKUP_S s, pgBackRest (full) $PGBR_BACKUP_S s; repositories at the end: Cairn $(mib "$CAIRN_REPO_BYTES"), pgBackRest $(mib "$PGBR_REPO_BYTES")"
echo "restore target T = $T; restores in the order: $ORDER"
echo
echo "| tool | wall time | peak RSS | ratio Cairn/pgBackRest (wall time, peak RSS) |"
echo "|---|---|---|---|"
printf '| Cairn | %s s | %s MiB | %s, %s |\n' "$CAIRN_WALL" "$CAIRN_RSS" "$(ratio "$CAIRN_WALL" "$PGBR_WALL")" "$(ratio "$CAIRN_RSS" "$PGBR_RSS")"
printf '| pgBackRest | %s s | %s MiB | 1 |\n' "$PGBR_WALL" "$PGBR_RSS"
echo
echo "- Cairn: cairn restore --at T --mode new-instance $CAIRN_CMD_S s (it returns with the server promoted, started and validated), then the count query."
echo "- pgBackRest: $PGBR_PHASES; peak RSS of the restore command $PGBR_RESTORE_RSS MiB; asynchronous archive-get processes reaped: $PGBR_ASYNC."
echo "- sum(abalance) at T: source $SUM, Cairn copy $CAIRN_SUM, pgBackRest copy $PGBR_SUM; pgbench_accounts rows $ROWS / $CAIRN_COUNT / $PGBR_COUNT: $([[ $ok == yes ]] && echo "the same" || echo "MISMATCH")"
python3 - "$BENCH_DIR/results.json" <<EOF
import json, sys
json.dump({"scale": $SCALE, "load_s": $LOAD, "clients": $CLIENTS, "order": "$ORDER", "tps": $TPS, "wal_bytes": $((LSN1 - LSN0)),
           "target": "$T", "sum_abalance": {"source": $SUM, "cairn": $CAIRN_SUM, "pgbackrest": $PGBR_SUM},
           "backup_s": {"cairn": $CAIRN_BACKUP_S, "pgbackrest": $PGBR_BACKUP_S},
           "repo_bytes": {"cairn": $CAIRN_REPO_BYTES, "pgbackrest": $PGBR_REPO_BYTES},
           "restore_wall_s": {"cairn": $CAIRN_WALL, "pgbackrest": $PGBR_WALL},
           "restore_peak_rss_mib": {"cairn": $CAIRN_RSS, "pgbackrest": $PGBR_RSS}}, open(sys.argv[1], "w"), indent=1)
EOF
[[ $ok == yes ]] || die "the restored copies differ from the source at T"
