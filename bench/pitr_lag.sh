#!/usr/bin/env bash
# Continuous archiving under load (docs/pitr.md, docs/benchmarks.md): pgbench
# at full speed against a PostgreSQL 15 cluster (fsync, synchronous_commit
# and full_page_writes on: the WAL a real server writes), in one run:
#
#   none        no archiving: the TPS baseline
#   cairn       cairn wal stream into a local repository (compressed, encrypted)
#   receivewal  plain pg_receivewal --synchronous into a directory (no
#               compression, no encryption: the floor of streaming)
#
# For each: pgbench TPS and the loss against `none`; the archive lag, every
# 200 ms, as the age of the newest server WAL position the archive holds
# (receivewal: the flush position it reports; cairn: that position when its
# newest upload was read; positions are sampled every 200 ms, the
# resolution), p50/p99/max; WAL bytes stored; CPU seconds of the archiver
# (user+sys, its children included) and its peak RSS.
#
# Environment: CAIRN (default build/cairn), DURATION=60 (seconds per run),
# CLIENTS=4, SCALE=10, ORDER="none cairn receivewal", BENCH_DIR=/tmp/cairn-pitr-bench,
# PG_BIN. Needs root.
# Results: a markdown table on stdout, JSON in $BENCH_DIR/results.json.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HERE/../tests/integration/pg_lib.sh"
CAIRN=$(realpath -- "${CAIRN:-$HERE/../build/cairn}")
DURATION=${DURATION:-60}
CLIENTS=${CLIENTS:-4}
SCALE=${SCALE:-10}
BENCH_DIR=$(realpath -m -- "${BENCH_DIR:-/tmp/cairn-pitr-bench}")
# The runs' order: TPS on a small machine drifts over a run of runs (WAL
# growth, checkpoints, page cache), so a second pass in reverse order shows
# how much of a difference is order.
ORDER=${ORDER:-none cairn receivewal}

die() { echo "pitr_lag.sh: error: $*" >&2; exit 1; }
note() { echo "# $*" >&2; }
[[ $(id -u) == 0 ]] || die "needs root (the server runs as user postgres)"
[[ -x $CAIRN ]] || die "no cairn binary at $CAIRN (build first)"
pg_require_bins || die "PostgreSQL 15 is missing"

rm -rf "$BENCH_DIR"
mkdir -p "$BENCH_DIR"
chmod 755 "$BENCH_DIR"
PGD=$BENCH_DIR/pg
pg_cluster_init "$PGD" >/dev/null || die "initdb"
cat >>"$PGD/data/postgresql.conf" <<EOF
fsync = on
synchronous_commit = on
full_page_writes = on
max_wal_size = 4GB
EOF
pg_cluster_start "$PGD" || die "start PostgreSQL"
trap 'pkill -f "wal strea[m] bench" 2>/dev/null || true; pkill -f "pg_receivewal -D $BENCH_DIR" 2>/dev/null || true; pg_cluster_stop "$PGD"' EXIT
note "pgbench -i -s $SCALE"
pg_as "$PG_BIN/pgbench" -i -q -s "$SCALE" -h "$PG_SOCK" -p "$PG_PORT" -U postgres postgres >/dev/null 2>&1 || die "pgbench -i"

printf 'pitr bench pw\n' >"$BENCH_DIR/pass"
chmod 600 "$BENCH_DIR/pass"
CFG=$BENCH_DIR/cairn.yaml
cat >"$CFG" <<EOF
targets:
  local:
    location: $BENCH_DIR/repo
    password_file: $BENCH_DIR/pass
services:
  bench:
    type: postgres
    method: physical
    archive: stream
    socket: $PG_SOCK
    port: $PG_PORT
    data_dir: $PGD/data
    targets: [local]
    temp_dir: $BENCH_DIR
EOF

# Every 200 ms: "epoch lsn flush": the server's WAL position and the newest
# position a streaming client (pg_receivewal, Cairn's included) has flushed.
sample_server() {  # sample_server OUT
  (cd /tmp && printf '%s\n' "SELECT extract(epoch FROM clock_timestamp()), pg_current_wal_lsn() - '0/0',
      coalesce((SELECT max(flush_lsn - '0/0') FROM pg_stat_replication), 0)" '\watch 0.2' |
    "$PG_BIN/psql" -XAtq -h "$PG_SOCK" -p "$PG_PORT" -U postgres -d postgres -F ' ') >"$1" 2>/dev/null &
  echo $!
}
# Cairn's uploads every 200 ms: "epoch uploaded_epoch" from its spool's
# status file. What an upload holds is what pg_receivewal had flushed when
# it was read, i.e. the flush position sampled at or before its time.
sample_uploads() {  # sample_uploads DIR OUT
  python3 - "$1" >"$2" <<'EOF' &
import json, os, sys, time
while True:
    up = 0
    try:
        with open(os.path.join(sys.argv[1], "cairn-status.json")) as f:
            up = json.load(f).get("uploaded_ns", 0) / 1e9
    except (OSError, ValueError):
        pass
    print("%.3f %.3f" % (time.time(), up), flush=True)
    time.sleep(0.2)
EOF
  echo $!
}
run_pgbench() {  # run_pgbench OUT: prints the TPS
  pg_as "$PG_BIN/pgbench" -n -c "$CLIENTS" -j "$CLIENTS" -T "$DURATION" -h "$PG_SOCK" -p "$PG_PORT" -U postgres postgres \
    >"$1" 2>&1 || die "pgbench: $(tail -3 "$1")"
  grep -oP 'tps = \K[0-9.]+(?= \(without initial)' "$1"
}
# Archive lag at each sample time: the age of the newest server position
# the archive holds (receivewal: its flush position; cairn: the flush
# position when its newest upload was read).
lag_stats() {  # lag_stats MODE LOAD_END SERVER [UPLOADS] -> "p50 p99 max"
  python3 - "$@" <<'EOF'
import bisect, sys
mode, end = sys.argv[1], float(sys.argv[2])
del sys.argv[1:3]
srv = sorted(tuple(map(float, l.split())) for l in open(sys.argv[1]) if len(l.split()) == 3)
times = [s[0] for s in srv]
def at(t):  # the newest server sample at or before t
    i = bisect.bisect_right(times, t) - 1
    return srv[i] if i >= 0 else None
if mode == "cairn":
    arc = []
    for l in open(sys.argv[2]):
        f = l.split()
        if len(f) != 2:
            continue
        t, up = map(float, f)
        s = at(up)
        arc.append((t, s[2] if s else 0))
else:
    arc = [(s[0], s[2]) for s in srv]
lags = []
for t, pos in arc:
    if t < times[0] + 3 or t > end:
        continue  # the archiver's start-up; after the load
    # The first sample whose position the archive does not hold yet: the
    # archive is behind since then (0 when it holds the newest one).
    i = bisect.bisect_right(times, t)
    behind = [s for s in srv[:i] if s[1] > pos]
    lags.append(t - behind[0][0] if behind else 0.0)
lags.sort()
pick = lambda q: lags[min(len(lags) - 1, int(q * len(lags)))]
print("%.2f %.2f %.2f" % (pick(0.5), pick(0.99), lags[-1]))
EOF
}

declare -A TPS LAG STORED CPU RSS
for mode in $ORDER; do
  note "run: $mode ($DURATION s, $CLIENTS clients)"
  archiver=""
  case $mode in
    cairn)
      /usr/bin/time -f '%U %S %M' -o "$BENCH_DIR/time.$mode" "$CAIRN" -c "$CFG" wal stream bench \
        >"$BENCH_DIR/stream.log" 2>&1 &
      archiver=$!
      for _ in $(seq 100); do grep -q 'streaming the WAL' "$BENCH_DIR/stream.log" && break; sleep 0.1; done
      spool=$BENCH_DIR/cairn-wal-bench
      ;;
    receivewal)
      spool=$BENCH_DIR/receivewal
      mkdir -p "$spool"
      chown postgres "$spool"
      pg_as "$PG_BIN/pg_receivewal" -h "$PG_SOCK" -p "$PG_PORT" -U postgres --create-slot --if-not-exists \
        -S bench_plain >/dev/null 2>&1 || die "create slot"
      (cd /tmp && /usr/bin/time -f '%U %S %M' -o "$BENCH_DIR/time.$mode" runuser -u postgres -- \
        "$PG_BIN/pg_receivewal" -D "$spool" -S bench_plain --synchronous -n -h "$PG_SOCK" -p "$PG_PORT" -U postgres) \
        >"$BENCH_DIR/receivewal.log" 2>&1 &
      archiver=$!
      sleep 1
      ;;
  esac
  srv_pid=$(sample_server "$BENCH_DIR/server.$mode")
  arc_pid=""
  [[ $mode != cairn ]] || arc_pid=$(sample_uploads "$spool" "$BENCH_DIR/uploads.$mode")
  TPS[$mode]=$(run_pgbench "$BENCH_DIR/pgbench.$mode")
  date +%s.%N >"$BENCH_DIR/end.$mode"  # lag samples after the load are left out
  sleep 3  # the archive catches up; lag samples after the load are left out
  kill "$srv_pid" ${arc_pid:+"$arc_pid"} 2>/dev/null || true
  if [[ -n $archiver ]]; then
    # The archiver itself, not /usr/bin/time around it (which must report).
    if [[ $mode == cairn ]]; then pkill -TERM -f "^$CAIRN -c .*wal stream bench" || true
    else pkill -TERM -f "^$PG_BIN/pg_receivewal -D $spool" || true; fi
    wait "$archiver" 2>/dev/null || true
    read -r u s m < <(tail -n 1 "$BENCH_DIR/time.$mode")  # after a "Command terminated by signal" line
    CPU[$mode]=$(python3 -c "print('%.1f' % ($u + $s))")
    RSS[$mode]=$((m / 1024))
    if [[ $mode == cairn ]]; then STORED[$mode]=$(du -sb "$BENCH_DIR/repo" | cut -f1); else STORED[$mode]=$(du -sb "$spool" | cut -f1); fi
    LAG[$mode]=$(lag_stats "$mode" "$(cat "$BENCH_DIR/end.$mode")" "$BENCH_DIR/server.$mode" "$BENCH_DIR/uploads.$mode")
  fi
done
WAL_BYTES=$(psql_at "$PG_SOCK" "$PG_PORT" postgres "SELECT pg_current_wal_lsn() - '0/0'")

mib() { python3 -c "print('%.0f MiB' % ($1 / 1048576))"; }
echo "pgbench scale $SCALE, $CLIENTS clients, $DURATION s per run; $(nproc) cores; WAL written in all runs: $(mib "$WAL_BYTES")"
echo
echo "| archiving | TPS | TPS lost | lag p50 | lag p99 | lag max | WAL stored | archiver CPU | archiver peak RSS |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '| none | %.0f | – | – | – | – | – | – | – |\n' "${TPS[none]}"
for mode in cairn receivewal; do
  read -r p50 p99 max <<<"${LAG[$mode]}"
  lost=$(python3 -c "print('%.1f%%' % (100 * (1 - ${TPS[$mode]} / ${TPS[none]})))")
  printf '| %s | %.0f | %s | %s s | %s s | %s s | %s | %s s | %s MiB |\n' "$mode" "${TPS[$mode]}" "$lost" "$p50" "$p99" \
    "$max" "$(mib "${STORED[$mode]}")" "${CPU[$mode]}" "${RSS[$mode]}"
done
python3 - "$BENCH_DIR/results.json" <<EOF
import json, sys
json.dump({"scale": $SCALE, "clients": $CLIENTS, "duration_s": $DURATION,
           "tps": {"none": ${TPS[none]}, "cairn": ${TPS[cairn]}, "receivewal": ${TPS[receivewal]}},
           "lag_p50_p99_max_s": {"cairn": "${LAG[cairn]}", "receivewal": "${LAG[receivewal]}"},
           "stored_bytes": {"cairn": ${STORED[cairn]}, "receivewal": ${STORED[receivewal]}},
           "cpu_s": {"cairn": ${CPU[cairn]}, "receivewal": ${CPU[receivewal]}}}, open(sys.argv[1], "w"), indent=1)
EOF
