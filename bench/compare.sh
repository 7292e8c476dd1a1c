#!/usr/bin/env bash
# Compare Cairn with restic and borg on the same generated dataset, in one run.
#
# For every tool (in TOOLS order) and every repetition (REPEAT):
#   fresh copy of the dataset -> init -> initial backup -> unchanged re-backup
#   -> 1% mutation (bench/mutate_dataset.py) -> backup -> full restore of the
#   latest snapshot into an empty dir -> verify the restored tree (untimed).
# Each timed step records wall time, user+sys CPU, peak RSS (/usr/bin/time)
# and, after backups, the repository size (du -sb).  Results: markdown on
# stdout, JSON in $RESULTS.  Medians over REPEAT runs.
#
# Environment (all optional):
#   TOOLS="cairn restic borg"   tools to run, in this order (drop one to skip it)
#   CAIRN=<repo>/build/cairn     Cairn binary
#   BENCH_DIR=/tmp/cairn-bench   work dir (dataset, repos, restores, logs)
#   SIZE_MIB=1024 SEED=1         dataset parameters (bench/gen_dataset.py)
#   DATASET=$BENCH_DIR/dataset-<SIZE_MIB>m-s<SEED>   pristine dataset (reused if complete)
#   REPEAT=1                     runs per tool; the table shows medians
#   RESULTS=$BENCH_DIR/results.json
#   VERIFY=1                     compare restored tree with the source (untimed)
#   DROP_CACHES=1                sync + drop page cache at the points described in docs/benchmarks.md
#   KEEP=0                       1 = keep the last run's repos/restores/src
#   BENCH_FS=auto                where each tool run's source copy, repository and restore live:
#                                loop = a fresh ext4 file system (loop device on an image in BENCH_DIR)
#                                per tool run; dir = a directory in BENCH_DIR; auto = loop when
#                                running as root and losetup works, else dir. See fresh_run_fs.
#   ALL_RUNS=                    non-empty = medians over all runs; by default runs during which
#                                other processes used noticeable CPU are left out (if others remain)
#   CAIRN_PASSWORD / RESTIC_PASSWORD / BORG_PASSPHRASE  default to a fixed bench password
#   BACKEND=local                local: repositories in BENCH_DIR; s3: in an S3 server on
#                                loopback (bench/s3rver_bench.js: npm s3rver@3.7.1, installed
#                                into $BENCH_DIR/s3rver) for cairn and restic (borg has no S3
#                                backend). Repository size = the server's stored bytes.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CAIRN=${CAIRN:-$HERE/../build/cairn}
BENCH_DIR=${BENCH_DIR:-/tmp/cairn-bench}
SIZE_MIB=${SIZE_MIB:-1024}
SEED=${SEED:-1}
REPEAT=${REPEAT:-1}
BACKEND=${BACKEND:-local}
if [ "$BACKEND" = s3 ]; then TOOLS=${TOOLS:-"cairn restic"}; else TOOLS=${TOOLS:-"cairn restic borg"}; fi
VERIFY=${VERIFY:-1}
DROP_CACHES=${DROP_CACHES:-1}
KEEP=${KEEP:-0}

die() { echo "compare.sh: error: $*" >&2; exit 1; }
note() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# ---- sanity checks -------------------------------------------------------------------
BENCH_DIR=$(realpath -m -- "$BENCH_DIR")
case "$BENCH_DIR" in
  /|/bin|/boot|/dev|/etc|/home|/lib*|/proc|/root|/run|/sbin|/sys|/tmp|/usr|/var|/work|/work/main)
    die "BENCH_DIR=$BENCH_DIR is too dangerous (the script deletes things under it)";;
esac
[[ "$REPEAT" =~ ^[1-9][0-9]*$ ]] || die "REPEAT must be a positive integer (got '$REPEAT')"
[[ "$SIZE_MIB" =~ ^[0-9]+$ ]] || die "SIZE_MIB must be an integer (got '$SIZE_MIB')"
DATASET=$(realpath -m -- "${DATASET:-$BENCH_DIR/dataset-${SIZE_MIB}m-s${SEED}}")
RESULTS=$(realpath -m -- "${RESULTS:-$BENCH_DIR/results.json}")
[ -x /usr/bin/time ] || die "/usr/bin/time not found (apt-get install time)"
command -v python3 >/dev/null || die "python3 not found"
read -r -a TOOL_LIST <<<"$TOOLS"
[ "${#TOOL_LIST[@]}" -gt 0 ] || die "TOOLS is empty"
for t in "${TOOL_LIST[@]}"; do
  case "$t" in
    cairn)
      [ -x "$CAIRN" ] || die "Cairn binary not found or not executable: $CAIRN (build it, set CAIRN=..., or run with TOOLS=\"restic borg\")"
      CAIRN=$(realpath -- "$CAIRN");;
    restic) command -v restic >/dev/null || die "restic not found (apt-get install restic, or drop it from TOOLS)";;
    borg) command -v borg >/dev/null || die "borg not found (apt-get install borgbackup, or drop it from TOOLS)"
          [ "$BACKEND" = local ] || die "borg has no S3 backend; drop it from TOOLS with BACKEND=s3";;
    *) die "unknown tool '$t' in TOOLS (known: cairn restic borg)";;
  esac
done

export CAIRN_PASSWORD=${CAIRN_PASSWORD:-cairn-bench-password}
export RESTIC_PASSWORD=${RESTIC_PASSWORD:-cairn-bench-password}
export BORG_PASSPHRASE=${BORG_PASSPHRASE:-cairn-bench-password}
# Everything one tool run creates lives under RUN_DIR (see fresh_run_fs).
RUN_DIR=$BENCH_DIR/run
export BORG_BASE_DIR=$RUN_DIR/borg-base
export RESTIC_CACHE_DIR=$RUN_DIR/cache/restic
export XDG_CACHE_HOME=$RUN_DIR/cache/xdg
export BORG_RELOCATED_REPO_ACCESS_IS_OK=yes
export BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=no

SRC=$RUN_DIR/src
LOGS=$BENCH_DIR/logs
RAW=$BENCH_DIR/raw.tsv
EXTRA=$BENCH_DIR/extra.tsv
mkdir -p "$BENCH_DIR" "$LOGS"

DROP_WARNED=0
drop_caches() {
  sync
  [ "$DROP_CACHES" = 1 ] || return 0
  if ! { echo 3 > /proc/sys/vm/drop_caches; } 2>/dev/null; then
    if [ "$DROP_WARNED" = 0 ]; then
      note "warning: cannot write /proc/sys/vm/drop_caches (not root?); results will be noisier"
      DROP_WARNED=1
    fi
  fi
}

CLK_TCK=$(getconf CLK_TCK)
# Busy CPU time of the whole machine so far, in clock ticks (user+nice+system+irq+softirq+steal).
cpu_busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9; exit}' /proc/stat; }
# With BACKEND=s3: CPU ticks the S3 server used so far, and the bytes it has
# received and sent and the requests it served ("R S Q"); "0" and "0 0 0" otherwise.
server_ticks() {
  if [ -n "${S3_PID:-}" ]; then awk '{print $14+$15}' "/proc/$S3_PID/stat"; else echo 0; fi
}
server_traffic() {  # runs in a subshell: the request token is made fresh, not counted
  if [ -z "${S3_PID:-}" ]; then echo "0 0 0"; return; fi
  local token i line
  token=$(date +%s%N)
  echo "stats $token" >&9
  for i in $(seq 200); do
    line=$(grep -m 1 "^stats $token " "$BENCH_DIR/s3.log" || true)
    [ -n "$line" ] && break
    sleep 0.02
  done
  [ -n "$line" ] || die "the S3 server did not answer a stats request"
  python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["received"], d["sent"], d["requests"])' "${line#stats $token }"
}

# Read a tree once so the timed step starts with a warm page cache.
# (GNU tar skips reading file data when writing to /dev/null, hence the cat.)
warm() { tar cf - -C "$1" . | cat > /dev/null; }

# A fresh file system for every tool run. On ext4 without a journal (this
# machine's /tmp) a deleted inode is not reused for 60 s, or 360 s while its
# inode-table block is dirty, and the allocator checks every such inode on
# each allocation (recently_deleted() in fs/ext4/ialloc.c): creating the 70k
# files of a restore after the previous run's 140k were deleted cost 6-14 s of
# system time instead of 1.5, more for whichever tool came sooner after the
# deletions. With BENCH_FS=loop each tool run gets a new ext4 (with journal,
# inode tables initialised at mkfs so no background thread runs during the
# steps) on a loop device with direct I/O (no second page cache for the image).
BENCH_FS=${BENCH_FS:-auto}
RUN_IMAGE=$BENCH_DIR/run.img
if [ "$BENCH_FS" = auto ]; then
  if [ "$(id -u)" = 0 ] && command -v losetup >/dev/null && command -v mkfs.ext4 >/dev/null; then BENCH_FS=loop; else BENCH_FS=dir; fi
fi
case "$BENCH_FS" in loop|dir) ;; *) die "BENCH_FS must be auto, loop or dir (got '$BENCH_FS')";; esac
release_run_fs() {
  if mountpoint -q "$RUN_DIR"; then
    local dev
    dev=$(findmnt -n -o SOURCE --target "$RUN_DIR")
    umount "$RUN_DIR" || die "cannot unmount $RUN_DIR"
    case "$dev" in /dev/loop*) losetup -d "$dev" 2>/dev/null || true;; esac
  fi
  rm -f -- "$RUN_IMAGE"
}
fresh_run_fs() {
  if [ "$BENCH_FS" = dir ]; then
    rm -rf -- "$RUN_DIR"
    mkdir -p "$RUN_DIR"
    return
  fi
  release_run_fs
  local mib dev
  mib=$(( $(du -sm -- "$DATASET" | cut -f1) * 4 + 1024 ))   # source, repository, restore, slack
  truncate -s "${mib}M" "$RUN_IMAGE"
  mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$RUN_IMAGE" || die "mkfs.ext4 $RUN_IMAGE failed"
  dev=$(losetup --direct-io=on -f --show "$RUN_IMAGE") || die "losetup $RUN_IMAGE failed (BENCH_FS=dir avoids loop devices)"
  mkdir -p "$RUN_DIR"
  mount "$dev" "$RUN_DIR" || { losetup -d "$dev"; die "cannot mount $dev on $RUN_DIR"; }
}

on_exit() {
  if [ -n "${S3_PID:-}" ]; then kill "$S3_PID" 2>/dev/null || true; fi
  if [ "$KEEP" != 1 ]; then release_run_fs; rm -rf -- "$RUN_DIR"; fi
}
trap on_exit EXIT

# Remove everything a tool run leaves behind, then sync + drop caches.
clean_run_dirs() {
  fresh_run_fs
  if [ "$BACKEND" = s3 ]; then rm -rf -- "$S3_DIR"/bench/*; fi
  drop_caches
}

# ---- dataset ---------------------------------------------------------------------------
if [ -d "$DATASET" ] && [ -f "$DATASET.json" ]; then
  note "reusing dataset $DATASET"
else
  if [ -e "$DATASET" ]; then
    case "$DATASET" in
      "$BENCH_DIR"/*) note "removing incomplete dataset $DATASET"; rm -rf -- "$DATASET"; sync;;
      *) die "DATASET=$DATASET exists but $DATASET.json does not; not deleting a directory outside BENCH_DIR (remove it or generate it with bench/gen_dataset.py --json $DATASET.json)";;
    esac
  fi
  note "generating dataset ($SIZE_MIB MiB, seed $SEED) in $DATASET"
  python3 "$HERE/gen_dataset.py" --size-mib "$SIZE_MIB" --seed "$SEED" --json "$DATASET.json.tmp" "$DATASET" >&2 \
    || die "dataset generation failed"
  mv "$DATASET.json.tmp" "$DATASET.json"
fi

# ---- S3 server (BACKEND=s3) ---------------------------------------------------------------
S3_DIR=$BENCH_DIR/s3-data
S3_PID=
RESTIC_CACERT=()
start_s3() {
  local mods=$BENCH_DIR/s3rver
  if [ ! -f "$mods/node_modules/s3rver/package.json" ]; then
    note "installing s3rver into $mods"
    mkdir -p "$mods"
    echo '{"name": "cairn-bench-s3rver", "private": true}' >"$mods/package.json"
    (cd "$mods" && npm install --no-audit --no-fund s3rver@3.7.1 >/dev/null 2>&1) || die "npm install failed"
  fi
  rm -rf -- "$S3_DIR"; mkdir -p "$S3_DIR"
  mkfifo "$BENCH_DIR/s3.stdin"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$BENCH_DIR/s3-key.pem" -out "$BENCH_DIR/s3-cert.pem" \
    -days 7 -subj /CN=127.0.0.1 -addext "subjectAltName=IP:127.0.0.1" 2>/dev/null || die "openssl req failed"
  NODE_PATH=$mods/node_modules node "$HERE/s3rver_bench.js" \
    "$S3_DIR" 0 "$BENCH_DIR/s3-key.pem" "$BENCH_DIR/s3-cert.pem" bench <"$BENCH_DIR/s3.stdin" >"$BENCH_DIR/s3.log" 2>&1 &
  S3_PID=$!
  exec 9>"$BENCH_DIR/s3.stdin"   # the server exits when this closes (when the script ends)
  rm -f "$BENCH_DIR/s3.stdin"
  local i
  for i in $(seq 100); do grep -q '^listening' "$BENCH_DIR/s3.log" 2>/dev/null && break; sleep 0.1; done
  S3_PORT=$(sed -n 's/^listening .*:\([0-9]*\)$/\1/p' "$BENCH_DIR/s3.log")
  [ -n "$S3_PORT" ] || die "S3 server did not start: $(tail -n 3 "$BENCH_DIR/s3.log")"
  export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER CAIRN_S3_CA_BUNDLE=$BENCH_DIR/s3-cert.pem
  RESTIC_CACERT=(--cacert "$BENCH_DIR/s3-cert.pem")
  note "S3 server on 127.0.0.1:$S3_PORT (data in $S3_DIR)"
}
if [ "$BACKEND" = s3 ]; then
  command -v node >/dev/null || die "node not found (apt-get install nodejs npm)"
  start_s3
elif [ "$BACKEND" != local ]; then
  die "BACKEND must be local or s3 (got '$BACKEND')"
fi

# Where a tool's repository lives, and the directory whose size is its size.
repo_location() {
  if [ "$BACKEND" = s3 ]; then echo "s3:https://127.0.0.1:$S3_PORT/bench/$1"; else echo "$RUN_DIR/repo-$1"; fi
}
repo_dir() {
  if [ "$BACKEND" = s3 ]; then echo "$S3_DIR/bench/$1"; else echo "$RUN_DIR/repo-$1"; fi
}

# ---- tool commands ----------------------------------------------------------------------
# tool_cmd TOOL STEP REPO [RESTORE_DIR] -> prints nothing, sets CMD array
tool_cmd() {
  local tool=$1 step=$2 repo=$3 target=${4:-}
  case "$tool:$step" in
    cairn:init)      CMD=("$CAIRN" repo init --repo "$repo");;
    cairn:backup*)   CMD=("$CAIRN" repo backup --repo "$repo" --json "$SRC");;
    cairn:restore)   CMD=("$CAIRN" repo restore --repo "$repo" latest --target "$target");;
    restic:init)     CMD=(restic "${RESTIC_CACERT[@]}" init --repo "$repo");;
    restic:backup*)  CMD=(restic "${RESTIC_CACERT[@]}" backup --repo "$repo" --compression auto "$SRC");;
    restic:restore)  CMD=(restic "${RESTIC_CACERT[@]}" restore --repo "$repo" latest --target "$target");;
    borg:init)       CMD=(borg init -e repokey-blake2 "$repo");;
    borg:backup*)    CMD=(borg create --compression lz4 "$repo::$step" "$SRC");;
    borg:restore)    CMD=(env -C "$target" borg extract "$repo::backup-mutated");;
    *) die "internal: no command for $tool:$step";;
  esac
}

# timed TOOL REP STEP REPO -- CMD...: run under /usr/bin/time, append a row to $RAW.
timed() {
  local tool=$1 rep=$2 step=$3 repo=$4; shift 5
  local base=$LOGS/$tool-r$rep-$step rc=0 busy0 busy1 srv0 srv1 up0 down0 up1 down1 req0 req1
  read -r up0 down0 req0 < <(server_traffic)
  srv0=$(server_ticks)
  busy0=$(cpu_busy)
  /usr/bin/time -f '%e %U %S %M' -o "$base.time" "$@" >"$base.out" 2>"$base.err" || rc=$?
  # borg exits 1 for warnings (e.g. file changed while reading); anything else is an error.
  if [ "$rc" -ne 0 ] && ! { [ "$tool" = borg ] && [ "$rc" -eq 1 ]; }; then
    echo "compare.sh: $tool $step failed (exit $rc): $*" >&2
    echo "--- last lines of $base.err / .out:" >&2
    tail -n 15 "$base.err" >&2 || true
    tail -n 5 "$base.out" >&2 || true
    return 1
  fi
  local wall user sys rss repo_bytes=""
  busy1=$(cpu_busy)
  srv1=$(server_ticks)
  read -r up1 down1 req1 < <(server_traffic)
  read -r wall user sys rss < <(tail -n 1 "$base.time")
  # CPU seconds that other processes used on this machine during the step
  # (should be ~0); the S3 server's own share is part of the step, not a disturbance.
  local other server_cpu
  server_cpu=$(awk -v a="$srv0" -v b="$srv1" -v hz="$CLK_TCK" 'BEGIN{printf "%.2f", (b-a)/hz}')
  other=$(awk -v a="$busy0" -v b="$busy1" -v hz="$CLK_TCK" -v u="$user" -v s="$sys" -v srv="$server_cpu" \
    'BEGIN{o=(b-a)/hz-u-s-srv; if (o<0) o=0; printf "%.2f", o}')
  if [[ "$step" == backup* || "$step" == init ]]; then
    repo_bytes=$(du -sb -- "$(repo_dir "$tool")" 2>/dev/null | cut -f1 || echo 0)
  fi
  local net=("" "" "" "")
  if [ -n "${S3_PID:-}" ]; then net=("$server_cpu" $((up1 - up0)) $((down1 - down0)) $((req1 - req0))); fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$rep" "$step" "$wall" "$user" "$sys" "$rss" \
    "$repo_bytes" "$other" "${net[0]}" "${net[1]}" "${net[2]}" "${net[3]}" >>"$RAW"
  note "  $tool $step: ${wall}s wall, $(awk -v u="$user" -v s="$sys" 'BEGIN{printf "%.2f", u+s}')s cpu, $((rss / 1024)) MiB rss${repo_bytes:+, repo $((repo_bytes / 1000000)) MB}, other procs ${other}s cpu${S3_PID:+, S3 server ${server_cpu}s cpu, $(((up1 - up0) / 1000000)) MB up, $(((down1 - down0) / 1000000)) MB down, $((req1 - req0)) requests}"
}

extra() {  # tool rep key value(single line)
  printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$(printf '%s' "$4" | tr '\t\n' '  ')" >>"$EXTRA"
}

# Compare the restored tree with the source: content (diff -r) and metadata.
verify_restore() {
  local tool=$1 rep=$2 target=$3 marker root
  marker=$(find "$target" -maxdepth 12 -name DATASET.txt -print -quit 2>/dev/null || true)
  if [ -z "$marker" ]; then
    note "  VERIFY FAILED: no DATASET.txt (the dataset's root marker) found under $target"
    extra "$tool" "$rep" verify "missing-tree"
    return 0
  fi
  root=$(dirname "$marker")
  if ! diff -r --no-dereference -q "$SRC" "$root" >"$LOGS/$tool-r$rep-verify.diff" 2>&1; then
    note "  VERIFY FAILED: restored content differs ($(wc -l <"$LOGS/$tool-r$rep-verify.diff") lines in $LOGS/$tool-r$rep-verify.diff)"
    head -n 5 "$LOGS/$tool-r$rep-verify.diff" >&2
    extra "$tool" "$rep" verify "content-mismatch"
    return 0
  fi
  local meta_src meta_dst nmeta
  meta_src=$(cd "$SRC" && { find . -type f -printf '%P %s %m %T@\n'; find . -type d -printf '%P/ %m\n'; } | sort)
  meta_dst=$(cd "$root" && { find . -type f -printf '%P %s %m %T@\n'; find . -type d -printf '%P/ %m\n'; } | sort)
  nmeta=$(diff <(echo "$meta_src") <(echo "$meta_dst") | grep -c '^>' || true)
  if [ "$nmeta" -ne 0 ]; then
    diff <(echo "$meta_src") <(echo "$meta_dst") >"$LOGS/$tool-r$rep-verify-meta.diff" || true
    note "  verify: content OK, $nmeta entries with different size/mode/mtime (see $LOGS/$tool-r$rep-verify-meta.diff)"
    extra "$tool" "$rep" verify "content-ok-metadata-mismatch:$nmeta"
  else
    note "  verify: restored tree identical (content, modes, file mtimes)"
    extra "$tool" "$rep" verify "ok"
  fi
}

# One complete run of one tool.  Runs in a subshell with set -e active.
run_tool() {
  local tool=$1 rep=$2
  local repo target=$RUN_DIR/restore-$tool
  repo=$(repo_location "$tool")
  note "== $tool (run $rep/$REPEAT)"
  clean_run_dirs
  cp -a -- "$DATASET" "$SRC"
  drop_caches
  warm "$SRC"

  tool_cmd "$tool" init "$repo"; timed "$tool" "$rep" init "$repo" -- "${CMD[@]}"

  local step
  for step in backup-initial backup-unchanged backup-mutated; do
    if [ "$step" = backup-mutated ]; then
      python3 "$HERE/mutate_dataset.py" --seed "$SEED" "$SRC" >"$LOGS/$tool-r$rep-mutate.log"
      extra "$tool" "$rep" mutation "$(tail -n 1 "$LOGS/$tool-r$rep-mutate.log")"
    fi
    sync
    warm "$SRC"
    tool_cmd "$tool" "$step" "$repo"; timed "$tool" "$rep" "$step" "$repo" -- "${CMD[@]}"
    sync
    if [ "$tool" = cairn ]; then
      extra "$tool" "$rep" "$step-json" "$(jq -c . "$LOGS/$tool-r$rep-$step.out" 2>/dev/null || tr '\n' ' ' <"$LOGS/$tool-r$rep-$step.out")"
    fi
  done

  if [ "$tool" = cairn ]; then
    if "$CAIRN" repo stats --repo "$repo" --json >"$LOGS/$tool-r$rep-stats.json" 2>"$LOGS/$tool-r$rep-stats.err"; then
      extra "$tool" "$rep" stats "$(jq -c . "$LOGS/$tool-r$rep-stats.json" 2>/dev/null || tr '\n' ' ' <"$LOGS/$tool-r$rep-stats.json")"
    else
      note "  warning: cairn repo stats failed (see $LOGS/$tool-r$rep-stats.err)"
    fi
  fi

  # Restore: empty target, flushed disk, warm repository.
  mkdir -p "$target"
  drop_caches
  if [ "$BACKEND" = local ]; then warm "$repo"; else warm "$S3_DIR"; fi
  tool_cmd "$tool" restore "$repo" "$target"; timed "$tool" "$rep" restore "$repo" -- "${CMD[@]}"
  local t0 t1
  t0=$(date +%s.%N); sync; t1=$(date +%s.%N)
  extra "$tool" "$rep" restore-sync-seconds "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}')"

  if [ "$VERIFY" = 1 ]; then verify_restore "$tool" "$rep" "$target"; fi
}

# ---- main loop ---------------------------------------------------------------------------
: >"$RAW"
: >"$EXTRA"
{
  echo "started	$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  for t in "${TOOL_LIST[@]}"; do
    case "$t" in
      cairn) echo "version-cairn	$("$CAIRN" --version 2>/dev/null | head -n 1 || echo unknown) (source HEAD $(git -C "$HERE/.." rev-parse --short HEAD 2>/dev/null || echo unknown))";;
      restic) echo "version-restic	$(restic version | head -n 1)";;
      borg) echo "version-borg	$(borg --version | head -n 1)";;
    esac
  done
} >"$BENCH_DIR/meta.tsv"

load=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$load" 'BEGIN{exit !(l > 1.0)}'; then
  note "warning: 1-min load average is $load; other work on this machine will distort the timings"
fi

failed=()
for rep in $(seq 1 "$REPEAT"); do
  for tool in "${TOOL_LIST[@]}"; do
    set +e
    ( set -e; run_tool "$tool" "$rep" )
    rc=$?
    set -e
    if [ "$rc" -ne 0 ]; then
      note "!! $tool run $rep failed (exit $rc); logs in $LOGS"
      failed+=("$tool#$rep")
      extra "$tool" "$rep" failed "exit $rc"
    fi
  done
done
if [ "$KEEP" = 1 ]; then
  if [ "$BENCH_FS" = loop ]; then
    note "kept the last run in $RUN_DIR, a mounted loop file system (umount $RUN_DIR; losetup -D to release it)"
  else
    note "kept the last run in $RUN_DIR"
  fi
fi

python3 "$HERE/report.py" --raw "$RAW" --extra "$EXTRA" --meta "$BENCH_DIR/meta.tsv" \
  --dataset "$DATASET.json" --tools "${TOOL_LIST[*]}" --repeat "$REPEAT" --out "$RESULTS" \
  ${ALL_RUNS:+--all-runs}
note "results written to $RESULTS (logs in $LOGS)"
if [ "${#failed[@]}" -gt 0 ]; then
  note "some runs failed: ${failed[*]}"
  exit 1
fi
