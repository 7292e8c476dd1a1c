#!/usr/bin/env bash
# PostgreSQL source benchmark: Cairn against the plain PostgreSQL tools on a
# pgbench database (scale 50 by default: 5M accounts rows, ~750 MB on disk).
#
#   logical backup      cairn backup (method logical, fresh repository)  vs  pg_dump -Fc > /dev/null
#   physical backup     cairn backup (method physical, fresh repository) vs  pg_basebackup -D - -Ft -X fetch > /dev/null
#   engine floors       the same tool output piped into `cairn repo backup --stdin-name` (no source logic:
#                       what the repository alone costs; the difference to the row above is the source's share)
#   logical restore     cairn restore --mode new-instance (incl. validation)  vs  createdb + pg_restore of a dump file
#   incremental         bytes a second backup adds ("stored") after 1% of pgbench_accounts rows change,
#                       once as a contiguous range and once scattered (every 100th row)
#
# Times are wall clock, median of REPEAT runs; Cairn and the baseline runs alternate.
# Results: a markdown table on stdout, progress on stderr.
#
# Environment: CAIRN (default build/cairn), SCALE=50, REPEAT=3, BENCH_DIR=/tmp/cairn-pg-bench,
#              PG_BIN=/usr/lib/postgresql/15/bin. Needs root (the server runs as user postgres).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HERE/../tests/integration/pg_lib.sh"
CAIRN=$(realpath -- "${CAIRN:-$HERE/../build/cairn}")
SCALE=${SCALE:-50}
REPEAT=${REPEAT:-3}
BENCH_DIR=$(realpath -m -- "${BENCH_DIR:-/tmp/cairn-pg-bench}")

die() { echo "pg_bench.sh: error: $*" >&2; exit 1; }
note() { echo "[$(date +%H:%M:%S)] $*" >&2; }

[[ $(id -u) == 0 ]] || die "run as root (PostgreSQL runs as user postgres)"
[[ -x $CAIRN ]] || die "Cairn binary not found: $CAIRN (set CAIRN=...)"
[[ $REPEAT =~ ^[1-9][0-9]*$ ]] || die "REPEAT must be a positive integer"
case "$BENCH_DIR" in /|/tmp|/var|/var/tmp|/root|/work|/work/main) die "BENCH_DIR=$BENCH_DIR is too dangerous";; esac
pg_require_bins || die "PostgreSQL server binaries missing"

PGD=$BENCH_DIR/pg
if [[ -f $PGD/data/postmaster.pid ]]; then pg_cluster_stop "$PGD"; fi
rm -rf "$BENCH_DIR"
mkdir -p "$BENCH_DIR"
chown postgres:postgres "$BENCH_DIR"
trap 'pg_cluster_stop "$PGD"' EXIT
note "initdb + pgbench -i -s $SCALE"
pg_cluster_init "$PGD" >/dev/null
pg_cluster_start "$PGD"
PORT=$PG_PORT
SOCK=$PG_SOCK
export PGHOST=$SOCK PGPORT=$PORT PGUSER=postgres
q() { (cd /tmp && "$PG_BIN/psql" -XAtq -v ON_ERROR_STOP=1 -d "$1" -c "$2"); }
q postgres "create database bench" >/dev/null
(cd /tmp && "$PG_BIN/pgbench" -i -s "$SCALE" -q bench >/dev/null 2>&1)
q bench "vacuum analyze" >/dev/null
DB_BYTES=$(q postgres "select pg_database_size('bench')")

CFG=$BENCH_DIR/cairn.yaml
cat >"$CFG" <<EOF
targets:
  logical:
    type: repository
    location: $BENCH_DIR/repo-logical
    password: bench
  physical:
    type: repository
    location: $BENCH_DIR/repo-physical
    password: bench
services:
  pglog:
    type: postgres
    targets: [logical]
    host: $SOCK
    port: $PORT
    databases: [bench]
  pgphys:
    type: postgres
    targets: [physical]
    host: $SOCK
    port: $PORT
    method: physical
EOF
export CAIRN_PASSWORD=bench

now() { date +%s.%N; }
elapsed() { python3 -c "import sys; print('%.2f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$1" "$2"; }
median() {
  python3 -c "import statistics, sys; print('%.2f' % statistics.median(float(x) for x in sys.argv[1:]))" "$@"
}
ratio() { python3 -c "import sys; print('%.2fx' % (float(sys.argv[1]) / float(sys.argv[2])))" "$1" "$2"; }
timed() {  # timed CMD... -> prints seconds; the command's output is discarded
  local t0 t1
  t0=$(now)
  "$@" >/dev/null 2>"$BENCH_DIR/last.err" || { cat "$BENCH_DIR/last.err" >&2; die "failed: $*"; }
  t1=$(now)
  elapsed "$t0" "$t1"
}
warm() { (cd /tmp && "$PG_BIN/psql" -XAtq -d bench -c "select count(*) from pgbench_accounts" >/dev/null); }

cairn_backup() { rm -rf "$BENCH_DIR/repo-$2"; "$CAIRN" -c "$CFG" backup "$1" --json; }
pgdump_null() { (cd /tmp && "$PG_BIN/pg_dump" -Fc bench >/dev/null); }
basebackup_null() { (cd /tmp && "$PG_BIN/pg_basebackup" -D - -Ft -X fetch -c fast >/dev/null); }
floor_logical() {
  rm -rf "$BENCH_DIR/repo-floor"
  "$CAIRN" repo init --repo "$BENCH_DIR/repo-floor" >/dev/null
  (cd /tmp && "$PG_BIN/pg_dump" -Fc -Z0 bench) |
    "$CAIRN" repo backup --repo "$BENCH_DIR/repo-floor" --stdin-name bench.dump -q
}
floor_physical() {
  rm -rf "$BENCH_DIR/repo-floor"
  "$CAIRN" repo init --repo "$BENCH_DIR/repo-floor" >/dev/null
  (cd /tmp && "$PG_BIN/pg_basebackup" -D - -Ft -X fetch -c fast) |
    "$CAIRN" repo backup --repo "$BENCH_DIR/repo-floor" --stdin-name base.tar -q
}

warm
declare -a T_CL T_PD T_CP T_BB T_FL T_FP T_CR T_PR
for i in $(seq "$REPEAT"); do
  note "run $i/$REPEAT: backups"
  T_CL+=("$(timed cairn_backup pglog logical)")
  T_PD+=("$(timed pgdump_null)")
  T_FL+=("$(timed floor_logical)")
  T_CP+=("$(timed cairn_backup pgphys physical)")
  T_BB+=("$(timed basebackup_null)")
  T_FP+=("$(timed floor_physical)")
done
rm -rf "$BENCH_DIR/repo-floor"

note "restores"
cairn_backup pglog logical >/dev/null
(cd /tmp && "$PG_BIN/pg_dump" -Fc -f "$BENCH_DIR/bench.dump" bench)
DUMP_Z0_BYTES=$( (cd /tmp && "$PG_BIN/pg_dump" -Fc -Z0 bench) | wc -c)
pg_restore_new() {
  (cd /tmp && "$PG_BIN/createdb" "$1" && "$PG_BIN/pg_restore" -d "$1" "$BENCH_DIR/bench.dump")
}
for i in $(seq "$REPEAT"); do
  note "run $i/$REPEAT: restores"
  T_CR+=("$(timed "$CAIRN" -c "$CFG" restore pglog latest --mode new-instance --as "r$i" --json)")
  q postgres "drop database r$i" >/dev/null
  T_PR+=("$(timed pg_restore_new "p$i")")
  q postgres "drop database p$i" >/dev/null
done

note "incremental backups"
stored() { python3 -c 'import json,sys; print(json.load(sys.stdin).get("stored", "?"))'; }
ROWS=$(q bench "select count(*) from pgbench_accounts")
ONE_PCT=$((ROWS / 100))
FIRST_LOG=$(cairn_backup pglog logical | stored)
FIRST_PHYS=$(cairn_backup pgphys physical | stored)
q bench "update pgbench_accounts set abalance = abalance + 1 where aid <= $ONE_PCT" >/dev/null
q bench "checkpoint" >/dev/null
INC_LOG_RANGE=$("$CAIRN" -c "$CFG" backup pglog --json | stored)
INC_PHYS_RANGE=$("$CAIRN" -c "$CFG" backup pgphys --json | stored)
q bench "update pgbench_accounts set abalance = abalance + 1 where aid % 100 = 0" >/dev/null
q bench "checkpoint" >/dev/null
INC_LOG_SCATTER=$("$CAIRN" -c "$CFG" backup pglog --json | stored)
INC_PHYS_SCATTER=$("$CAIRN" -c "$CFG" backup pgphys --json | stored)

mib() { python3 -c "import sys; print('%.1f MiB' % (int(sys.argv[1]) / 1048576))" "$1"; }
CL=$(median "${T_CL[@]}") PD=$(median "${T_PD[@]}") FL=$(median "${T_FL[@]}")
CP=$(median "${T_CP[@]}") BB=$(median "${T_BB[@]}") FP=$(median "${T_FP[@]}")
CR=$(median "${T_CR[@]}") PR=$(median "${T_PR[@]}")
cat <<EOF
PostgreSQL $(q postgres "show server_version" | cut -d' ' -f1), pgbench scale $SCALE: database $(mib "$DB_BYTES"), \
uncompressed custom dump $(mib "$DUMP_Z0_BYTES"); $(nproc) cores; median of $REPEAT; load average at the end: \
$(cut -d' ' -f1-3 /proc/loadavg).

| operation | Cairn | baseline | ratio |
|---|---|---|---|
| logical backup | ${CL} s | ${PD} s (\`pg_dump -Fc > /dev/null\`) | $(ratio "$CL" "$PD") |
| physical backup | ${CP} s | ${BB} s (\`pg_basebackup -D - -Ft -X fetch > /dev/null\`) | $(ratio "$CP" "$BB") |
| logical backup, engine floor | ${FL} s (\`pg_dump -Fc -Z0 \| cairn repo backup --stdin-name\`) | ${CL} s (service backup) | $(ratio "$CL" "$FL") |
| physical backup, engine floor | ${FP} s (\`pg_basebackup ... \| cairn repo backup --stdin-name\`) | ${CP} s (service backup) | $(ratio "$CP" "$FP") |
| logical restore, new instance (with validation) | ${CR} s | ${PR} s (\`createdb\` + \`pg_restore\` of a \`-Fc\` file) | $(ratio "$CR" "$PR") |

| stored by a backup ("stored") | logical | physical |
|---|---|---|
| first backup | $(mib "$FIRST_LOG") | $(mib "$FIRST_PHYS") |
| after updating 1% of pgbench_accounts ($ONE_PCT rows, one contiguous range) | $(mib "$INC_LOG_RANGE") | $(mib "$INC_PHYS_RANGE") |
| after updating 1% of pgbench_accounts (every 100th row) | $(mib "$INC_LOG_SCATTER") | $(mib "$INC_PHYS_SCATTER") |
EOF
