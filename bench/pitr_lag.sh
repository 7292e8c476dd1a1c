#!/usr/bin/env bash
# Continuous archiving under load (docs/pitr.md, docs/benchmarks.md): pgbench
# at full speed against a PostgreSQL 15 cluster (fsync, synchronous_commit
# and full_page_writes on: the WAL a real server writes), in one run:
#
#   none        no archiving: the TPS baseline
#   cairn       cairn wal stream into a local repository (compressed, encrypted)
#   command     archive_command = cairn wal push (`archive: command`) into a
#               local repository the postgres user can reach (compressed,
#               encrypted)
#   pgbackrest  archive_command = pgbackrest archive-push with archive-async=y,
#               compress-type=zst, process-max=2 (not encrypted)
#   receivewal  plain pg_receivewal --synchronous into a directory (no
#               compression, no encryption: the floor of streaming)
#
# For each: pgbench TPS and the loss against `none`; the archive lag, every
# 200 ms, as the age of the newest server WAL position the archive holds
# (receivewal: the flush position it reports; cairn: that position when its
# newest upload was read; command, pgbackrest: the end of the segment
# pg_stat_archiver.last_archived_wal names; positions are sampled every
# 200 ms, the resolution), p50/p99/max; WAL bytes stored; CPU seconds of the
# archiver (user+sys, its children included) and its peak RSS.
#
# archive_mode needs a restart: the server restarts when a run needs another
# archive_mode than the one before (off for none, cairn, receivewal; on for
# command, pgbackrest); archive_command alone changes with a reload.
# archive_timeout stays at its default 0 (no forced segment switch). Each
# run starts right after a CHECKPOINT, so that all do the same full-page writes.
# CPU of the archive_command modes: the cutime+cstime the postmaster's
# archiver gathers from the archive_command processes it waits for, plus
# (pgbackrest) the asynchronous archive-push processes, which detach from
# the archiver: the server runs under a small subreaper (pitr_reaper.py) that
# reaps them and records their rusage.
#
# Environment: CAIRN (default build/cairn), DURATION=60 (seconds per run),
# WARMUP=60 (seconds of pgbench, not measured, before the first run),
# CLIENTS=4, SCALE=10, ORDER="none cairn command pgbackrest receivewal",
# BENCH_DIR=/tmp/cairn-pitr-bench, PG_BIN. Needs root; the pgbackrest mode
# installs the Debian package pgbackrest when it is missing.
# Results: a markdown table and notes on stdout, JSON in $BENCH_DIR/results.json.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HERE/../tests/integration/pg_lib.sh"
source "$HERE/pitr_lib.sh"
CAIRN=$(realpath -- "${CAIRN:-$HERE/../build/cairn}")
DURATION=${DURATION:-60}
# The first minutes after pgbench -i are slower whatever archives (hint
# bits, the first full-page writes of every page): a run that came first
# would measure that, not its archiver.
WARMUP=${WARMUP:-60}
CLIENTS=${CLIENTS:-4}
SCALE=${SCALE:-10}
BENCH_DIR=$(realpath -m -- "${BENCH_DIR:-/tmp/cairn-pitr-bench}")
# The runs' order: TPS on a small machine drifts over a run of runs (WAL
# growth, checkpoints, page cache), so a second pass in reverse order shows
# how much of a difference is order.
ORDER=${ORDER:-none cairn command pgbackrest receivewal}

die() { echo "pitr_lag.sh: error: $*" >&2; exit 1; }
note() { echo "# $*" >&2; }
[[ $(id -u) == 0 ]] || die "needs root (the server runs as user postgres)"
[[ -x $CAIRN ]] || die "no cairn binary at $CAIRN (build first)"
pg_require_bins || die "PostgreSQL 15 is missing"
for mode in $ORDER; do
  case $mode in none | cairn | command | pgbackrest | receivewal) ;;
    *) die "unknown mode '$mode' in ORDER (none cairn command pgbackrest receivewal)" ;;
  esac
done
has_mode() { [[ " $ORDER " == *" $1 "* ]]; }
if has_mode pgbackrest; then require_pgbackrest; fi

rm -rf "$BENCH_DIR"
mkdir -p "$BENCH_DIR"
chmod 755 "$BENCH_DIR"
PGD=$BENCH_DIR/pg
CFG=$BENCH_DIR/cairn.yaml
BG=()  # samplers to stop on exit
pg_cluster_init "$PGD" >/dev/null || die "initdb"
cat >>"$PGD/data/postgresql.conf" <<EOF
fsync = on
synchronous_commit = on
full_page_writes = on
max_wal_size = 4GB
EOF
# The server runs under a subreaper: pgBackRest's asynchronous archive-push
# detaches from the archive_command that starts it (a double fork), so no
# process of the server waits for it and its CPU time would be lost; as
# their subreaper this script reaps it and records "epoch pid comm user_s
# sys_s maxrss_kB" (its rusage, the processes it waited for included).
pg_start() {
  rm -f "$BENCH_DIR/reaper.ready"
  (cd /tmp && exec python3 "$HERE/pitr_reaper.py" "$BENCH_DIR/reaped.log" "$BENCH_DIR/reaper.ready" \
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PGD/data" -l "$PGD/server.log" -w -t 60 start) >/dev/null 2>&1 &
  for _ in $(seq 700); do [[ -s $BENCH_DIR/reaper.ready ]] && break; sleep 0.1; done
  [[ $(cat "$BENCH_DIR/reaper.ready" 2>/dev/null) == 0 ]] || { tail -n 5 "$PGD/server.log" >&2; return 1; }
}
pg_start || die "start PostgreSQL"
trap 'kill "${BG[@]}" 2>/dev/null || true; pkill -f -- "$CFG wal strea[m] bench" 2>/dev/null || true; pkill -f "pg_receivewal -D $BENCH_DIR" 2>/dev/null || true; pg_cluster_stop "$PGD"' EXIT
note "pgbench -i -s $SCALE"
pg_as "$PG_BIN/pgbench" -i -q -s "$SCALE" -h "$PG_SOCK" -p "$PG_PORT" -U postgres postgres >/dev/null 2>&1 || die "pgbench -i"
q() { psql_at "$PG_SOCK" "$PG_PORT" postgres "$1"; }
if ((WARMUP > 0)); then
  note "warm-up: pgbench for $WARMUP s (not measured)"
  pg_as "$PG_BIN/pgbench" -n -c "$CLIENTS" -j "$CLIENTS" -T "$WARMUP" -h "$PG_SOCK" -p "$PG_PORT" -U postgres postgres \
    >"$BENCH_DIR/pgbench.warmup" 2>&1 || die "pgbench warm-up: $(tail -3 "$BENCH_DIR/pgbench.warmup")"
fi

printf 'pitr bench pw\n' >"$BENCH_DIR/pass"
chmod 600 "$BENCH_DIR/pass"
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

# archive: command. The server runs the archive_command as user postgres:
# the binary, the configuration, the password and the repository must be
# reachable by that user.
BIN=$BENCH_DIR/bin/cairn
CW=$BENCH_DIR/cmd
CMD_CFG=$CW/cairn.yaml
if has_mode command; then
  mkdir -p "$BENCH_DIR/bin" "$CW"
  cp "$CAIRN" "$BIN"
  chmod 755 "$BENCH_DIR/bin" "$BIN"
  chown postgres:postgres "$CW"
  chmod 700 "$CW"
  printf 'pitr bench pw\n' >"$CW/pass"
  cat >"$CMD_CFG" <<EOF
targets:
  local:
    location: $CW/repo
    password_file: $CW/pass
services:
  bench:
    type: postgres
    method: physical
    archive: command
    socket: $PG_SOCK
    port: $PG_PORT
    data_dir: $PGD/data
    targets: [local]
    temp_dir: $CW
EOF
  chown postgres:postgres "$CW/pass" "$CMD_CFG"
  chmod 600 "$CW/pass" "$CMD_CFG"
  pg_as "$BIN" repo init -r "$CW/repo" --password-file "$CW/pass" -q >/dev/null || die "cairn repo init as postgres"
fi
# pgBackRest: archive-push with archive-async into its own repository.
PGBR=$BENCH_DIR/pgbackrest
PGBR_CONF=$PGBR/pgbackrest.conf
if has_mode pgbackrest; then
  mkdir -p "$PGBR"/{repo,log,spool,lock}
  cat >"$PGBR_CONF" <<EOF
[global]
repo1-path=$PGBR/repo
compress-type=zst
process-max=2
archive-async=y
spool-path=$PGBR/spool
lock-path=$PGBR/lock
log-path=$PGBR/log

[bench]
pg1-path=$PGD/data
pg1-port=$PG_PORT
pg1-socket-path=$PG_SOCK
pg1-user=postgres
EOF
  chown -R postgres:postgres "$PGBR"
  chmod 700 "$PGBR"
  chmod 600 "$PGBR_CONF"
  pg_as pgbackrest --config="$PGBR_CONF" --stanza=bench stanza-create >"$BENCH_DIR/stanza-create.log" 2>&1 ||
    die "pgbackrest stanza-create: $(tail -3 "$BENCH_DIR/stanza-create.log")"
fi
archive_command_for() {  # archive_command_for MODE
  case $1 in
    command) echo "$BIN -c $CMD_CFG wal push bench %p" ;;
    pgbackrest) echo "$(command -v pgbackrest) --config=$PGBR_CONF --stanza=bench archive-push %p" ;;
  esac
}
# archive_mode needs a restart, archive_command a reload: the server
# restarts only when the run needs the other archive_mode.
set_archiving() {  # set_archiving MODE
  local want=off
  case $1 in
    command | pgbackrest)
      want=on
      q "ALTER SYSTEM SET archive_command = '$(archive_command_for "$1")'" >/dev/null
      ;;
  esac
  if [[ $(q "SHOW archive_mode") != "$want" ]]; then
    note "restarting PostgreSQL with archive_mode = $want"
    q "ALTER SYSTEM SET archive_mode = $want" >/dev/null
    pg_cluster_stop "$PGD"
    pg_start || die "restart PostgreSQL"
  elif [[ $want == on ]]; then
    q "SELECT pg_reload_conf()" >/dev/null
    sleep 1  # the archiver reads the new archive_command
  fi
}
# Completes the current segment (after a record, so that there is one) and
# waits until the archiver has archived it (120 s at most).
switch_and_wait() {
  local seg
  q "SELECT txid_current()" >/dev/null
  seg=$(q "SELECT pg_walfile_name(pg_switch_wal())")
  for _ in $(seq 1200); do
    [[ $(q "SELECT coalesce(last_archived_wal, '') >= '$seg' FROM pg_stat_archiver") == t ]] && return 0
    sleep 0.1
  done
  return 1
}
archiver_pid() { pgrep -P "$(head -n 1 "$PGD/data/postmaster.pid")" -f '^postgres: .*archiver'; }
# The CPU seconds of the children a process has waited for (cutime+cstime).
children_cpu() {  # children_cpu PID
  python3 - "$1" <<'EOF'
import os, sys
s = open("/proc/%s/stat" % sys.argv[1]).read()
f = s[s.rindex(")") + 2:].split()  # f[0] is field 3 (state): cutime, cstime are fields 16, 17
print("%.2f" % ((int(f[13]) + int(f[14])) / os.sysconf("SC_CLK_TCK")))
EOF
}
# The processes the subreaper reaped between FROM and TO (the postmaster
# left out): "cpu_s maxrss_kB count".
reaped() {  # reaped FROM TO
  python3 - "$BENCH_DIR/reaped.log" "$1" "$2" <<'EOF'
import sys
t0, t1 = float(sys.argv[2]), float(sys.argv[3])
cpu, rss, n = 0.0, 0, 0
try:
    lines = open(sys.argv[1]).read().split("\n")
except OSError:
    lines = []
for l in lines:
    f = l.split()
    if len(f) != 6 or f[2] == "postgres" or not t0 <= float(f[0]) <= t1:
        continue
    cpu += float(f[3]) + float(f[4])
    rss = max(rss, int(f[5]))
    n += 1
print("%.2f %d %d" % (cpu, rss, n))
EOF
}

# Every 200 ms: "epoch lsn flush": the server's WAL position and the newest
# position a streaming client (pg_receivewal, Cairn's included) has flushed;
# with ARCHIVED, a fourth column: pg_stat_archiver.last_archived_wal.
sample_server() {  # sample_server OUT [ARCHIVED]
  local archived=""
  [[ -z ${2:-} ]] || archived=", (SELECT coalesce(last_archived_wal, '-') FROM pg_stat_archiver)"
  (cd /tmp && printf '%s\n' "SELECT extract(epoch FROM clock_timestamp()), pg_current_wal_lsn() - '0/0',
      coalesce((SELECT max(flush_lsn - '0/0') FROM pg_stat_replication), 0)$archived" '\watch 0.2' |
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
# position when its newest upload was read; command, pgbackrest: the end of
# the newest archived segment, 16 MiB segments).
lag_stats() {  # lag_stats MODE LOAD_END SERVER [UPLOADS] -> "p50 p99 max"
  python3 - "$@" <<'EOF'
import bisect, re, sys
mode, end = sys.argv[1], float(sys.argv[2])
del sys.argv[1:3]
rows = [l.split() for l in open(sys.argv[1])]
ncol = 4 if mode in ("command", "pgbackrest") else 3
srv = sorted(tuple(map(float, r[:3])) for r in rows if len(r) == ncol)
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
elif ncol == 4:
    # The archive holds everything up to the end of the newest archived
    # segment (a .partial, .history or .backup name leaves it where it was).
    arc, pos = [], 0
    for r in sorted((r for r in rows if len(r) == 4), key=lambda r: float(r[0])):
        if re.fullmatch(r"[0-9A-F]{24}", r[3]):
            pos = int(r[3][8:16], 16) * 2**32 + (int(r[3][16:24], 16) + 1) * 2**24
        arc.append((float(r[0]), pos))
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
# The server's WAL rate during a run, from its samples: "MiB/s s_per_segment".
wal_rate() {  # wal_rate SERVER LOAD_END
  python3 - "$1" "$2" <<'EOF'
import sys
end = float(sys.argv[2])
s = sorted(tuple(map(float, l.split()[:2])) for l in open(sys.argv[1]) if len(l.split()) >= 3)
s = [x for x in s if x[0] <= end]
rate = (s[-1][1] - s[0][1]) / (s[-1][0] - s[0][0])
print("%.2f %.1f" % (rate / 1048576, 16777216 / rate if rate else float("inf")))
EOF
}

declare -A TPS LAG STORED CPU RSS RATE FAILED
for mode in $ORDER; do
  set_archiving "$mode"
  # Every run starts right after a checkpoint (a restart makes one): the
  # same full-page writes in each, and no timed checkpoint within a run
  # shorter than checkpoint_timeout (5 min).
  q "CHECKPOINT" >/dev/null
  note "run: $mode ($DURATION s, $CLIENTS clients)"
  archiver=""
  arch_pid=""
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
    command | pgbackrest)
      # The run starts with everything before it archived.
      switch_and_wait || die "$mode: the archive_command does not archive: $(tail -n 3 "$PGD/server.log")"
      arch_pid=$(archiver_pid) || die "no archiver process"
      cpu0=$(children_cpu "$arch_pid")
      failed0=$(q "SELECT failed_count FROM pg_stat_archiver")
      t0=$(date +%s.%N)
      if [[ $mode == command ]]; then needle="$BIN -c $CMD_CFG wal push"; else needle="--config=$PGBR_CONF"; fi
      rss_pid=$(sample_rss "$needle" "$BENCH_DIR/rss.$mode")
      BG+=("$rss_pid")
      ;;
  esac
  srv_pid=$(sample_server "$BENCH_DIR/server.$mode" ${arch_pid:+archived})
  arc_pid=""
  [[ $mode != cairn ]] || arc_pid=$(sample_uploads "$spool" "$BENCH_DIR/uploads.$mode")
  BG+=("$srv_pid" ${arc_pid:+"$arc_pid"})
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
  elif [[ -n $arch_pid ]]; then
    # The WAL of the run, the segment it ended in included, archived; then
    # the archive_command processes are done (pgBackRest's asynchronous
    # ones included).
    switch_and_wait || die "$mode: the archive did not catch up: $(tail -n 3 "$PGD/server.log")"
    if [[ $mode == pgbackrest ]]; then
      for _ in $(seq 600); do pgrep -f -- "--config=$PGBR_CONF" >/dev/null || break; sleep 0.1; done
      ! pgrep -f -- "--config=$PGBR_CONF" >/dev/null || die "pgbackrest processes still run a minute after the archive caught up"
    fi
    kill "$rss_pid" 2>/dev/null || true
    [[ $(archiver_pid) == "$arch_pid" ]] || die "$mode: the archiver process changed during the run"
    cpu1=$(children_cpu "$arch_pid")
    read -r rcpu rrss rn < <(reaped "$t0" "$(date +%s.%N)")
    [[ $mode == pgbackrest ]] || rcpu=0 rrss=0
    CPU[$mode]=$(python3 -c "print('%.1f' % ($cpu1 - $cpu0 + $rcpu))")
    RSS[$mode]=$(python3 - "$BENCH_DIR/rss.$mode" "$rrss" <<'EOF'
import sys
kb = [int(l.split()[1]) for l in open(sys.argv[1]) if len(l.split()) == 2] + [int(sys.argv[2])]
print(max(kb) // 1024)
EOF
)
    FAILED[$mode]=$(($(q "SELECT failed_count FROM pg_stat_archiver") - failed0))
    if [[ $mode == command ]]; then STORED[$mode]=$(du -sb "$CW/repo" | cut -f1); else STORED[$mode]=$(du -sb "$PGBR/repo/archive" | cut -f1); fi
    LAG[$mode]=$(lag_stats "$mode" "$(cat "$BENCH_DIR/end.$mode")" "$BENCH_DIR/server.$mode")
    RATE[$mode]=$(wal_rate "$BENCH_DIR/server.$mode" "$(cat "$BENCH_DIR/end.$mode")")
    note "$mode: archiver children $cpu0 -> $cpu1 s; detached processes reaped: $rn ($rcpu s); failed archive_command calls: ${FAILED[$mode]}"
  fi
done
WAL_BYTES=$(q "SELECT pg_current_wal_lsn() - '0/0'")

mib() { python3 -c "print('%.0f MiB' % ($1 / 1048576))"; }
echo "pgbench scale $SCALE, $CLIENTS clients, $DURATION s per run; $(nproc) cores; WAL written in all runs: $(mib "$WAL_BYTES")"
echo
echo "| archiving | TPS | TPS lost | lag p50 | lag p99 | lag max | WAL stored | archiver CPU | archiver peak RSS |"
echo "|---|---|---|---|---|---|---|---|---|"
! has_mode none || printf '| none | %.0f | – | – | – | – | – | – | – |\n' "${TPS[none]}"
for mode in cairn command pgbackrest receivewal; do
  has_mode "$mode" || continue
  read -r p50 p99 max <<<"${LAG[$mode]}"
  lost=–
  ! has_mode none || lost=$(python3 -c "print('%.1f%%' % (100 * (1 - ${TPS[$mode]} / ${TPS[none]})))")
  printf '| %s | %.0f | %s | %s s | %s s | %s s | %s | %s s | %s MiB |\n' "$mode" "${TPS[$mode]}" "$lost" "$p50" "$p99" \
    "$max" "$(mib "${STORED[$mode]}")" "${CPU[$mode]}" "${RSS[$mode]}"
done
notes=()
if has_mode command || has_mode pgbackrest; then
  rates=""
  for mode in command pgbackrest; do
    has_mode "$mode" || continue
    read -r mibs segs <<<"${RATE[$mode]}"
    rates+="${rates:+, }$mode $mibs MiB/s (a segment every $segs s)"
  done
  notes+=("command, pgbackrest: archive_timeout = 0 (the default). The archive holds the WAL up to the end of the newest completed segment; the lag is the time a 16 MiB segment takes to fill plus its archiving. WAL rate during the runs: $rates. The unfinished segment is not archived until it fills, however long that takes on a quiet server: the RPO of archive_command. archive_timeout = 60, as operators often set, would not change these numbers (segments complete sooner under this load) but bounds that wait at about 60 s, at the cost of a 16 MiB segment a minute on a quiet server.")
  notes+=("command, pgbackrest: lag from pg_stat_archiver.last_archived_wal, sampled with the server's WAL position every 200 ms: the archive holds everything up to the end of that segment; the lag at a sample is its time minus the time of the first server sample past that end. Each run starts with everything before it archived (pg_switch_wal, waited for).")
  notes+=("command, pgbackrest: CPU is what the archive_command processes used: the cutime+cstime the postmaster's archiver process gathered from the commands it ran and waited for (/proc/PID/stat, fields 16 and 17) from the start of the run until the run's WAL, its last segment included (pg_switch_wal), was archived. Peak RSS is the largest VmHWM seen in /proc, sampled every 100 ms, of a process running the archive_command (best effort: a process that lives under 100 ms can be missed).")
fi
if has_mode pgbackrest; then
  notes+=("pgbackrest: with archive-async, archive-push returns (and PostgreSQL counts the segment archived) once the asynchronous process has pushed the segment into the repository and left an .ok file in the spool; that process takes every .ready segment at once, so the repository can hold more than pg_stat_archiver says (the lag is an upper bound). The asynchronous process and its process-max=2 workers detach from the archiver (a double fork): their CPU (user+sys, workers included) and peak RSS come from the rusage of each as the subreaper running the server reaps it. Its repository is not encrypted (repo1-cipher-type none); Cairn's is.")
fi
[[ -z ${FAILED[command]:-} || ${FAILED[command]} == 0 ]] || notes+=("command: ${FAILED[command]} archive_command calls failed (pg_stat_archiver.failed_count)")
[[ -z ${FAILED[pgbackrest]:-} || ${FAILED[pgbackrest]} == 0 ]] || notes+=("pgbackrest: ${FAILED[pgbackrest]} archive_command calls failed (pg_stat_archiver.failed_count)")
if ((${#notes[@]})); then
  echo
  printf -- '- %s\n' "${notes[@]}"
fi
python3 - "$BENCH_DIR/results.json" "$ORDER" <<EOF
import json, sys
order = sys.argv[2].split()
tps = {$(for m in $ORDER; do printf '"%s": %s, ' "$m" "${TPS[$m]}"; done)}
lag = {$(for m in "${!LAG[@]}"; do printf '"%s": "%s", ' "$m" "${LAG[$m]}"; done)}
stored = {$(for m in "${!STORED[@]}"; do printf '"%s": %s, ' "$m" "${STORED[$m]}"; done)}
cpu = {$(for m in "${!CPU[@]}"; do printf '"%s": %s, ' "$m" "${CPU[$m]}"; done)}
rss = {$(for m in "${!RSS[@]}"; do printf '"%s": %s, ' "$m" "${RSS[$m]}"; done)}
json.dump({"scale": $SCALE, "clients": $CLIENTS, "duration_s": $DURATION, "order": order,
           "tps": tps, "lag_p50_p99_max_s": lag, "stored_bytes": stored, "cpu_s": cpu, "peak_rss_mib": rss},
          open(sys.argv[1], "w"), indent=1)
EOF
