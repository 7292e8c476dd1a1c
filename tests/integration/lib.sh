# shellcheck shell=bash
# Assertion helpers shared by tests/integration/test_*.sh.
#
# A script does:   source "$(dirname "$0")/lib.sh" "$@"
# and gets:
#   CAIRN            absolute path of the binary under test (first argument)
#   TMP              a private temp dir (mode 755), removed on exit
#   TEST_NAME        script name without .sh
#   CAIRN_PASSWORD   exported default password ($PW)
# Running cairn:
#   cx ARGS...       runs "$CAIRN" ARGS with a timeout; sets RC, OUT, ERR and
#                    never trips set -e. A crash (signal, exit >= 128) is
#                    recorded as a failure on the spot.
#   cx_in FILE ARGS  same, with stdin from FILE.
#   cx_out FILE ARGS same, with stdout written to FILE (binary-safe; OUT empty).
# Assertions (each counts one pass or one fail; none aborts the script):
#   expect_ok DESC ARGS...                 cx ARGS, expect exit 0
#   expect_fail CODE REGEX DESC ARGS...    cx ARGS, expect exit CODE and a
#                                          single-line stderr matching REGEX
#                                          (grep -Ei)
#   assert_rc CODE DESC                    check RC of the last cx
#   assert_eq EXPECTED GOT DESC, assert_ne, assert_lt A B DESC, assert_le,
#   assert_match REGEX TEXT DESC, assert_nomatch REGEX TEXT DESC,
#   assert_cmd DESC CMD...                 CMD must exit 0
#   assert_single_line_err DESC            stderr of last cx is exactly 1 line
# Setup steps that must work for the rest to make sense:
#   must_ok DESC ARGS...                   like expect_ok but aborts on failure
#   die MSG                                record a failure and finish now
# End:
#   finish                                 prints "NAME: P passed, F failed"
#                                          and exits 0 only if F == 0.

set -euo pipefail

TEST_NAME=$(basename "$0" .sh)
LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PASSED=0
FAILED=0
FAILURES=()
CLEANUP=()
BG_PIDS=()

if [[ $# -lt 1 || -z ${1:-} ]]; then
  echo "usage: bash $0 /path/to/cairn" >&2
  exit 2
fi
CAIRN=$(readlink -f -- "$1")
if [[ ! -x $CAIRN ]]; then
  echo "FAIL - cairn binary not found or not executable: $1"
  echo "$TEST_NAME: 0 passed, 1 failed"
  exit 1
fi

TMP=$(mktemp -d /tmp/cairn-itest.XXXXXX)
chmod 755 "$TMP"   # lets a non-root user (nobody) traverse it where a test needs that

# Keep any cache/config Cairn writes out of the real home.
export HOME="$TMP/home"
export XDG_CACHE_HOME="$TMP/home/.cache"
export XDG_CONFIG_HOME="$TMP/home/.config"
mkdir -p "$HOME"
PW="correct horse battery staple"
export CAIRN_PASSWORD="$PW"
export LC_ALL=C.UTF-8
unset CAIRN_NEW_PASSWORD CAIRN_REPOSITORY CAIRN_PASSWORD_FILE 2>/dev/null || true

# Per-command time limit (seconds) for one cairn invocation.
CX_TIMEOUT=${CX_TIMEOUT:-300}

FINISHED=0
LAST_ERR=""
_lib_cleanup() {
  local rc=$?
  set +e
  if [[ $FINISHED == 0 && $rc != 0 && $rc != 130 ]]; then
    # The script stopped on an unexpected error (set -e) before finish.
    FAILED=$((FAILED + 1))
    echo "FAIL - test script aborted unexpectedly (exit $rc)${LAST_ERR:+ at $LAST_ERR}"
    echo "$TEST_NAME: $PASSED passed, $FAILED failed"
  fi
  # Stop background processes this test started that are still running; a
  # pid is only signalled while it still runs our binary or helper (guards
  # against pid reuse).
  local p cmdline
  for p in "${BG_PIDS[@]}"; do
    cmdline=$( { tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null || true)
    if [[ -n $cmdline && ( $cmdline == *"$CAIRN"* || $cmdline == *"$LIB_DIR"* || $cmdline == *"$TMP"* ) ]]; then
      kill -CONT "$p" 2>/dev/null
      kill -9 "$p" 2>/dev/null
    fi
  done
  local i
  for ((i = ${#CLEANUP[@]} - 1; i >= 0; i--)); do
    eval "${CLEANUP[$i]}" >/dev/null 2>&1
  done
  if [[ -n ${KEEP_TMP:-} ]]; then
    echo "(kept $TMP)"
  else
    # Unmount anything a test left mounted below TMP before removing it.
    grep -o " ${TMP}[^ ]*" /proc/mounts 2>/dev/null | sort -r | while read -r m; do umount -l "$m"; done
    chattr -R -i "$TMP" >/dev/null 2>&1
    rm -rf "$TMP"
  fi
  exit $rc
}
trap _lib_cleanup EXIT
trap 'LAST_ERR="line $LINENO: $BASH_COMMAND"' ERR
trap 'echo "$TEST_NAME: interrupted"; exit 130' INT TERM

on_exit() { CLEANUP+=("$*"); }

log() { printf '%s\n' "# $*"; }

_short() {  # first lines of a text, indented, for failure details
  local text=$1 max=${2:-6}
  [[ -z $text ]] && { echo "    (empty)"; return; }
  printf '%s\n' "$text" | head -n "$max" | sed 's/^/    | /'
  local n
  n=$(printf '%s\n' "$text" | wc -l)
  ((n > max)) && echo "    | ... ($n lines)"
  return 0
}

ok() {
  PASSED=$((PASSED + 1))
  echo "ok   - $1"
}

fail() {  # fail DESC [DETAIL]
  FAILED=$((FAILED + 1))
  FAILURES+=("$1")
  echo "FAIL - $1"
  if [[ -n ${2:-} ]]; then printf '%s\n' "$2" | sed 's/^/       /'; fi
  return 0
}

finish() {
  FINISHED=1
  echo
  if ((FAILED > 0)); then
    echo "Failures in $TEST_NAME:"
    local f
    for f in "${FAILURES[@]}"; do echo "  - $f"; done
  fi
  echo "$TEST_NAME: $PASSED passed, $FAILED failed"
  if ((FAILED > 0)); then exit 1; fi
  exit 0
}

die() {
  fail "$1 (aborting: later steps depend on this)" "${2:-}"
  finish
}

# ---------------------------------------------------------------- running cairn
LAST_CMD=""
CX_WRAP=()   # a command prefix for cairn, e.g. (setpriv --reuid=65534 ...)
RC=0
OUT=""
ERR=""
_CX_SEQ=0

_cx_impl() {  # _cx_impl STDIN_FILE STDOUT_FILE ARGS...
  local in=$1 o=$2; shift 2
  _CX_SEQ=$((_CX_SEQ + 1))
  local e="$TMP/.cx.err" keep_out=1
  if [[ -z $o ]]; then o="$TMP/.cx.out"; keep_out=0; fi
  LAST_CMD="${CX_WRAP[*]:+${CX_WRAP[*]} }cairn $*"
  [[ -n ${CAIRN_TEST_VERBOSE:-} ]] && echo "  \$ $LAST_CMD" >&2
  set +e
  timeout -k 10 "$CX_TIMEOUT" "${CX_WRAP[@]}" "$CAIRN" "$@" <"$in" >"$o" 2>"$e"
  RC=$?
  set -e
  if ((keep_out)); then OUT=""; else OUT=$(cat "$o"); fi
  ERR=$(cat "$e")
  if ((RC == 124 || RC == 137)) && [[ -z ${CX_EXPECT_KILL:-} ]]; then
    fail "no hang: '$LAST_CMD' timed out after ${CX_TIMEOUT}s (rc $RC)" "$(_short "$ERR")"
  elif ((RC >= 128)); then
    fail "no crash: '$LAST_CMD' died with exit $RC (signal $((RC - 128)))" "$(_short "$ERR" 15)"
  fi
  return 0
}
cx() { _cx_impl /dev/null "" "$@"; }
cx_in() { local f=$1; shift; _cx_impl "$f" "" "$@"; }
cx_out() { local f=$1; shift; _cx_impl /dev/null "$f" "$@"; }   # stdout to FILE, OUT stays empty

_rc_detail() {
  echo "command: $LAST_CMD"
  echo "exit code: $RC"
  echo "stderr:"
  _short "$ERR" 10
  if [[ -n $OUT ]]; then echo "stdout:"; _short "$OUT" 6; fi
}

assert_rc() {  # assert_rc EXPECTED DESC
  if [[ $RC == "$1" ]]; then ok "$2"; else fail "$2" "expected exit $1, got $RC
$(_rc_detail)"; fi
}

expect_ok() {  # expect_ok DESC ARGS...
  local desc=$1; shift
  cx "$@"
  assert_rc 0 "$desc"
}

must_ok() {  # must_ok DESC ARGS...
  local desc=$1; shift
  cx "$@"
  if [[ $RC != 0 ]]; then die "$desc" "$(_rc_detail)"; fi
  ok "$desc"
}

_err_lines() { if [[ -z $ERR ]]; then echo 0; else printf '%s\n' "$ERR" | wc -l; fi; }

assert_single_line_err() {  # assert_single_line_err DESC
  local n
  n=$(_err_lines)
  if [[ $n == 1 ]]; then ok "$1"; else fail "$1" "expected exactly one line on stderr, got $n
$(_rc_detail)"; fi
}

# Checks one failing command: exit code, one line on stderr, message matches.
check_failure() {  # check_failure CODE REGEX DESC   (on the last cx)
  local code=$1 re=$2 desc=$3 problems=()
  [[ $RC == "$code" ]] || problems+=("expected exit $code, got $RC")
  local n
  n=$(_err_lines)
  [[ $n == 1 ]] || problems+=("expected exactly one line on stderr, got $n")
  if [[ -n $re ]] && ! grep -Eiq -- "$re" <<<"$ERR"; then
    problems+=("expected stderr to match /$re/ (case-insensitive)")
  fi
  if ((${#problems[@]} == 0)); then
    ok "$desc"
  else
    fail "$desc" "$(printf '%s\n' "${problems[@]}")
$(_rc_detail)"
  fi
}

expect_fail() {  # expect_fail CODE REGEX DESC ARGS...
  local code=$1 re=$2 desc=$3; shift 3
  cx "$@"
  check_failure "$code" "$re" "$desc"
}

assert_eq() {
  if [[ "$1" == "$2" ]]; then ok "$3"; else fail "$3" "expected: $1
got:      $2"; fi
}
assert_ne() {
  if [[ "$1" != "$2" ]]; then ok "$3"; else fail "$3" "expected something other than: $1"; fi
}
assert_lt() {  # integers: A < B
  if [[ $1 =~ ^-?[0-9]+$ && $2 =~ ^-?[0-9]+$ ]] && (($1 < $2)); then ok "$3"; else fail "$3" "expected $1 < $2"; fi
}
assert_le() {
  if [[ $1 =~ ^-?[0-9]+$ && $2 =~ ^-?[0-9]+$ ]] && (($1 <= $2)); then ok "$3"; else fail "$3" "expected $1 <= $2"; fi
}
assert_match() {  # assert_match REGEX TEXT DESC
  if grep -Eq -- "$1" <<<"$2"; then ok "$3"; else fail "$3" "expected to match /$1/, got:
$(_short "$2" 10)"; fi
}
assert_imatch() {  # case-insensitive
  if grep -Eiq -- "$1" <<<"$2"; then ok "$3"; else fail "$3" "expected to match /$1/ (case-insensitive), got:
$(_short "$2" 10)"; fi
}
assert_nomatch() {
  if ! grep -Eq -- "$1" <<<"$2"; then ok "$3"; else fail "$3" "expected NOT to match /$1/, got:
$(_short "$(grep -E -- "$1" <<<"$2")" 10)"; fi
}
assert_cmd() {  # assert_cmd DESC CMD...
  local desc=$1; shift
  local out rc
  set +e
  out=$("$@" 2>&1)
  rc=$?
  set -e
  if [[ $rc == 0 ]]; then ok "$desc"; else fail "$desc" "command failed (exit $rc): $*
$(_short "$out" 20)"; fi
}
assert_exists() { if [[ -e $1 || -L $1 ]]; then ok "$2"; else fail "$2" "expected path to exist: $1"; fi; }
assert_not_exists() { if [[ ! -e $1 && ! -L $1 ]]; then ok "$2"; else fail "$2" "expected path NOT to exist: $1"; fi; }

# ---------------------------------------------------------------- helpers
sha() { sha256sum -- "$1" | cut -d' ' -f1; }

# Random bytes, fast (openssl-free): urandom is fine up to a few hundred MiB.
make_random() {  # make_random FILE BYTES
  head -c "$2" /dev/urandom >"$1"
}

# json EXPR  — evaluates a Python expression over d = json.loads(stdin).
# Never fails: on a parse or evaluation error prints "<json error: ...>".
json() {
  python3 -c '
import json, sys
try:
    d = json.loads(sys.stdin.read())
    v = eval(sys.argv[1])
except Exception as e:
    print("<json error: %s: %s>" % (type(e).__name__, e))
    sys.exit(0)
if isinstance(v, bool): print("true" if v else "false")
elif isinstance(v, (list, dict)): print(json.dumps(v))
elif v is None: print("null")
else: print(v)
' "$1"
}

# is_json TEXT -> exit 0 if TEXT is one JSON value.
is_json() { python3 -c 'import json,sys; json.loads(sys.stdin.read())' <<<"$1" 2>/dev/null; }

# snapshot ids of REPO, oldest first (by time), one per line; uses --json.
snapshot_ids() {  # snapshot_ids REPO
  cx repo snapshots --repo "$1" --json
  if [[ $RC != 0 ]]; then
    fail "list snapshots of $1" "$(_rc_detail)"
    return 0
  fi
  python3 -c '
import json, sys
snaps = json.loads(sys.stdin.read())
for s in sorted(snaps, key=lambda s: s["time"]):
    print(s["id"])
' <<<"$OUT"
}

snapshot_count() {  # snapshot_count REPO
  cx repo snapshots --repo "$1" --json
  if [[ $RC != 0 ]]; then echo "error(rc=$RC)"; return 0; fi
  json 'len(d)' <<<"$OUT"
}

# Lists the repository's content (not locks/) as "path size sha256" lines.
repo_manifest() {  # repo_manifest REPO
  (cd "$1" && find . -path ./locks -prune -o -type f -print0 | sort -z | xargs -0 -r sha256sum)
}

# Bytes under REPO/data (pack files).
data_bytes() { find "$1/data" -type f -printf '%s\n' 2>/dev/null | awk '{s += $1} END {print s + 0}'; }
# Published objects only (64-hex names; a crashed writer may leave temp files).
pack_count() { find "$1/data" -type f -regextype posix-extended -regex '.*/[0-9a-f]{64}' 2>/dev/null | wc -l; }
lock_count() { find "$1/locks" -type f -regextype posix-extended -regex '.*/[0-9a-f]{64}' 2>/dev/null | wc -l; }
# Files under data/ index/ snapshots/ that do not follow the layout
# (data/<2 hex>/<64 hex>, index/<64 hex>, snapshots/<64 hex>), one per line.
layout_violations() {
  (cd "$1" && find data index snapshots -type f 2>/dev/null | grep -Ev '^(data/([0-9a-f]{2})/\2[0-9a-f]{62}|index/[0-9a-f]{64}|snapshots/[0-9a-f]{64})$' || true)
}

# Does the combined OUT+ERR name the object with id ID (full id or a prefix of
# at least 8 hex chars), or its path?
names_object() {  # names_object ID TEXT
  local id=$1 text=$2 tok
  grep -Fq -- "$id" <<<"$text" && return 0
  for tok in $(grep -Eo '[0-9a-f]{8,64}' <<<"$text" || true); do
    [[ $id == "$tok"* ]] && return 0
  done
  return 1
}

# Flips one bit of the byte at OFFSET (default: the middle) of FILE in place.
flip_byte() {  # flip_byte FILE [OFFSET]
  python3 - "$1" "${2:-}" <<'EOF'
import os, sys
p = sys.argv[1]
size = os.path.getsize(p)
off = int(sys.argv[2]) if sys.argv[2] else size // 2
mode = os.stat(p).st_mode
os.chmod(p, mode | 0o200)
with open(p, "r+b") as f:
    f.seek(off)
    b = f.read(1)
    f.seek(off)
    f.write(bytes([b[0] ^ 0x01]))
os.chmod(p, mode)
EOF
}

# Waits up to SECS for CMD to succeed (polls every 20 ms).
wait_for() {  # wait_for SECS CMD...
  local secs=$1; shift
  local deadline=$((SECONDS + secs))
  while ((SECONDS <= deadline)); do
    "$@" && return 0
    sleep 0.02
  done
  return 1
}

compare_trees() {  # compare_trees DESC SRC DST [compare_trees.py options...]
  local desc=$1 src=$2 dst=$3; shift 3
  local out rc
  set +e
  out=$(python3 "$LIB_DIR/compare_trees.py" "$@" "$src" "$dst" 2>&1)
  rc=$?
  set -e
  if [[ $rc == 0 ]]; then ok "$desc"; else fail "$desc" "$(_short "$out" 40)"; fi
}
