#!/usr/bin/env bash
# PostgreSQL source benchmark: Cairn against the plain PostgreSQL tools on a
# pgbench database (scale 50 by default: 5M accounts rows, ~750 MB on disk).
#
#   logical backup      cairn backup (method logical, into a fresh empty repository)
#                       vs  pg_dump -Fc > /dev/null, and pg_dump -Fc -f FILE; once more with the
#                       fingerprint limited to row counts (checksum_max_table_bytes: 0)
#   physical backup     cairn backup (method physical, into a fresh empty repository)
#                       vs  pg_basebackup -D - -Ft -X fetch > /dev/null, and -D DIR (to disk)
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
  pgcount:
    type: postgres
    targets: [logical]
    host: $SOCK
    port: $PORT
    databases: [bench]
    checksum_max_table_bytes: 0
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

# A fresh, empty repository before each timed backup: creating one (key
# derivation included) is a one-time step, like creating pg_dump's output
# directory, and is not timed.
fresh_repo() { rm -rf "$BENCH_DIR/repo-$1"; "$CAIRN" repo init --repo "$BENCH_DIR/repo-$1" >/dev/null; }
cairn_backup() { "$CAIRN" -c "$CFG" backup "$1" --json; }
pgdump_null() { (cd /tmp && "$PG_BIN/pg_dump" -Fc bench >/dev/null); }
pgdump_file() { rm -f "$BENCH_DIR/out.dump"; (cd /tmp && "$PG_BIN/pg_dump" -Fc -f "$BENCH_DIR/out.dump" bench); }
basebackup_null() { (cd /tmp && "$PG_BIN/pg_basebackup" -D - -Ft -X fetch -c fast >/dev/null); }
basebackup_dir() {
  rm -rf "$BENCH_DIR/out.base"
  (cd /tmp && "$PG_BIN/pg_basebackup" -D "$BENCH_DIR/out.base" -Ft -X fetch -c fast --no-sync)
}
floor_logical() {
  (cd /tmp && "$PG_BIN/pg_dump" -Fc -Z0 bench) |
    "$CAIRN" repo backup --repo "$BENCH_DIR/repo-floor" --stdin-name bench.dump -q
}
floor_physical() {
  (cd /tmp && "$PG_BIN/pg_basebackup" -D - -Ft -X fetch -c fast) |
    "$CAIRN" repo backup --repo "$BENCH_DIR/repo-floor" --stdin-name base.tar -q
}

warm
declare -a T_CL T_CC T_PD T_PF T_CP T_BB T_BD T_FL T_FP T_CR T_PR
for i in $(seq "$REPEAT"); do
  note "run $i/$REPEAT: backups"
  fresh_repo logical
  T_CL+=("$(timed cairn_backup pglog)")
  T_PD+=("$(timed pgdump_null)")
  fresh_repo floor
  T_FL+=("$(timed floor_logical)")
  fresh_repo logical
  T_CC+=("$(timed cairn_backup pgcount)")
  T_PF+=("$(timed pgdump_file)")
  fresh_repo physical
  T_CP+=("$(timed cairn_backup pgphys)")
  T_BB+=("$(timed basebackup_null)")
  fresh_repo floor
  T_FP+=("$(timed floor_physical)")
  T_BD+=("$(timed basebackup_dir)")
done
rm -rf "$BENCH_DIR/repo-floor" "$BENCH_DIR/out.dump" "$BENCH_DIR/out.base"

note "restores"
fresh_repo logical
cairn_backup pglog >/dev/null
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
fresh_repo logical
fresh_repo physical
FIRST_LOG=$(cairn_backup pglog | stored)
FIRST_PHYS=$(cairn_backup pgphys | stored)
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
CC=$(median "${T_CC[@]}") PF=$(median "${T_PF[@]}") BD=$(median "${T_BD[@]}")
CP=$(median "${T_CP[@]}") BB=$(median "${T_BB[@]}") FP=$(median "${T_FP[@]}")
CR=$(median "${T_CR[@]}") PR=$(median "${T_PR[@]}")
cat <<EOF
PostgreSQL $(q postgres "show server_version" | cut -d' ' -f1), pgbench scale $SCALE: database $(mib "$DB_BYTES"), \
uncompressed custom dump $(mib "$DUMP_Z0_BYTES"); $(nproc) cores; median of $REPEAT; load average at the end: \
$(cut -d' ' -f1-3 /proc/loadavg).

| operation | Cairn | baseline | ratio |
|---|---|---|---|
| logical backup | ${CL} s | ${PD} s (\`pg_dump -Fc > /dev/null\`) | $(ratio "$CL" "$PD") |
| logical backup | ${CL} s | ${PF} s (\`pg_dump -Fc -f FILE\`) | $(ratio "$CL" "$PF") |
| logical backup, row counts only (\`checksum_max_table_bytes: 0\`) | ${CC} s | ${PD} s (\`pg_dump -Fc > /dev/null\`) | $(ratio "$CC" "$PD") |
| physical backup | ${CP} s | ${BB} s (\`pg_basebackup -D - -Ft -X fetch > /dev/null\`) | $(ratio "$CP" "$BB") |
| physical backup | ${CP} s | ${BD} s (\`pg_basebackup -D DIR -Ft -X fetch --no-sync\`) | $(ratio "$CP" "$BD") |
| logical backup, engine floor | ${FL} s (\`pg_dump -Fc -Z0 \| cairn repo backup --stdin-name\`) | ${CL} s (service backup) | $(ratio "$CL" "$FL") |
| physical backup, engine floor | ${FP} s (\`pg_basebackup ... \| cairn repo backup --stdin-name\`) | ${CP} s (service backup) | $(ratio "$CP" "$FP") |
| logical restore, new instance (with validation) | ${CR} s | ${PR} s (\`createdb\` + \`pg_restore\` of a \`-Fc\` file) | $(ratio "$CR" "$PR") |

| stored by a backup ("stored") | logical | physical |
|---|---|---|
| first backup | $(mib "$FIRST_LOG") | $(mib "$FIRST_PHYS") |
| after updating 1% of pgbench_accounts ($ONE_PCT rows, one contiguous range) | $(mib "$INC_LOG_RANGE") | $(mib "$INC_PHYS_RANGE") |
| after updating 1% of pgbench_accounts (every 100th row) | $(mib "$INC_LOG_SCATTER") | $(mib "$INC_PHYS_SCATTER") |
EOF
