#!/usr/bin/env bash
# Fault injection against the real binary:
#  A. kill -9 during a ~300 MiB backup: check passes, no partial snapshot, the
#     stale lock does not block, the next backup succeeds and restores intact.
#  B. kill -9 during prune (at several points of a measured prune run): check
#     passes, a second prune completes, check --read-data passes and the kept
#     snapshots restore intact.
#  C. flipped bytes in a pack, an index file, a snapshot file and a key file
#     (each in its own copy of a good repository): check (--read-data for the
#     pack) exits non-zero, names the object and says "corrupt"; restore and
#     dump from the repository with the bad pack fail clearly.
#  E. kill -9 during `key passwd` (right after the new key file appears, right
#     after the old one is removed, and at a fixed delay): the repository still
#     opens with the old or the new password and check passes.
#  D. locks: a backup blocked on stdin holds a lock; prune meanwhile either is
#     refused ("locked") or leaves the repository consistent; a backup killed
#     with -9 while holding its lock leaves a stale lock that does not block
#     anything; a live exclusive lock (a prune stopped with SIGSTOP) makes a
#     backup fail with exit 1 and "locked".
#
# Usage: bash test_faults.sh /path/to/cairn
source "$(dirname "$0")/lib.sh" "$@"

KILL_WHEN="$LIB_DIR/kill_when.py"

# dump_eq DESC REPO SNAP PATH EXPECTED_FILE
dump_eq() {
  cx_out "$TMP/.dumped" repo dump --repo "$2" "$3" "$4"
  if [[ $RC == 0 ]] && cmp -s "$TMP/.dumped" "$5"; then ok "$1"; else
    fail "$1" "$(_rc_detail)
dumped $(stat -c %s "$TMP/.dumped" 2>/dev/null || echo 0) bytes, expected $(stat -c %s "$5") bytes"; fi
  rm -f "$TMP/.dumped"
}

# ================================================================ A. kill -9 during backup
log "A. kill -9 during backup"
RA="$TMP/repo-a"
SMALL="$TMP/small-src"
BIG="$TMP/big-src"
mkdir -p "$SMALL" "$BIG/d1" "$BIG/d2"
echo "small" >"$SMALL/s.txt"
for i in $(seq 1 15); do make_random "$BIG/d1/f$i.bin" $((10 * 1024 * 1024)); done
for i in $(seq 1 15); do make_random "$BIG/d2/g$i.bin" $((10 * 1024 * 1024)); done
for i in $(seq 1 50); do echo "small file $i" >"$BIG/d2/s$i.txt"; done
must_ok "A: init" repo init --repo "$RA"
must_ok "A: a first small backup" repo backup --repo "$RA" "$SMALL"
SNAP_SMALL=$(grep -Eo '[0-9a-f]{64}' <<<"$OUT" | head -1 || true)

set +e
kw=$(python3 "$KILL_WHEN" "$RA" packs-added:2 KILL -- "$CAIRN" repo backup --repo "$RA" "$BIG")
krc=$?
set -e
log "kill_when: $kw"
if [[ $krc == 137 ]]; then ok "A: backup was killed by SIGKILL mid-run (after 2 new packs)"; else
  fail "A: backup was killed by SIGKILL mid-run" "helper exit $krc: $kw; fault not exercised"; fi
log "after kill: $(lock_count "$RA") lock file(s), $(pack_count "$RA") pack files, $(find "$RA/index" -type f | wc -l) index files"
expect_ok "A: check passes after kill -9 during backup (stale lock of a dead process ignored)" repo check --repo "$RA"
cx repo snapshots --repo "$RA" --json
assert_rc 0 "A: snapshots works after the kill"
assert_eq "[\"$SNAP_SMALL\"]" "$(json '[s["id"] for s in d]' <<<"$OUT")" "A: no partial snapshot: only the earlier snapshot is listed"
assert_eq 1 "$(find "$RA/snapshots" -type f | wc -l)" "A: only one file under snapshots/"
cx repo backup --repo "$RA" "$BIG"
assert_rc 0 "A: the next backup of the same tree succeeds"
SNAP_BIG=$(grep -Eo '[0-9a-f]{64}' <<<"$OUT" | head -1 || true)
cx repo restore --repo "$RA" "$SNAP_BIG" --target "$TMP/ra-restore"
assert_rc 0 "A: restore of the new snapshot"
compare_trees "A: restored tree identical to the source" "$BIG" "$TMP/ra-restore$BIG"
rm -rf "$TMP/ra-restore"
expect_ok "A: check --read-data passes" repo check --repo "$RA" --read-data
dump_eq "A: the earlier snapshot is intact" "$RA" "$SNAP_SMALL" "$SMALL/s.txt" "$SMALL/s.txt"
expect_ok "A: prune reclaims what the killed backup left" repo prune --repo "$RA"
expect_ok "A: check --read-data after prune" repo check --repo "$RA" --read-data
assert_eq "" "$(layout_violations "$RA")" "A: after prune no stray (temp/partial) files remain under data/ index/ snapshots/"

# A2: kill -9 while an object is being written (a temp file exists in data/),
# in a fresh repository so that the backup has packs to write: the
# half-written file must not stay in the repository forever.
RA2="$TMP/repo-a2"
must_ok "A2: init" repo init --repo "$RA2"
set +e
kw=$(python3 "$KILL_WHEN" "$RA2" stray-file KILL -- "$CAIRN" repo backup --repo "$RA2" "$BIG")
krc=$?
set -e
log "kill_when: $kw; stray files now: $(layout_violations "$RA2" | tr '\n' ' ')"
if [[ $krc == 137 ]]; then
  ok "A2: backup killed while writing an object"
  expect_ok "A2: check passes" repo check --repo "$RA2"
  expect_ok "A2: prune" repo prune --repo "$RA2"
  expect_ok "A2: a second prune" repo prune --repo "$RA2"
  assert_eq "" "$(layout_violations "$RA2")" "A2: after prune the half-written file is gone (only <64-hex> objects remain)"
else
  fail "A2: backup killed while writing an object" "helper exit $krc: $kw; fault not exercised"
fi
rm -rf "$RA2"
rm -rf "$RA" "$BIG"

# ================================================================ B. kill -9 during prune
log "B. kill -9 during prune"
RB="$TMP/repo-b"
PS="$TMP/prune-src"
mkdir -p "$PS/sub" "$TMP/versions"
make_random "$PS/keep.bin" $((4 * 1024 * 1024))   # shares backup 1's pack with var.1 -> repacked
must_ok "B: init" repo init --repo "$RB"
for i in 1 2 3 4 5 6; do
  make_random "$PS/var.bin" $((8 * 1024 * 1024))
  make_random "$PS/sub/small$i.bin" 100000
  echo "version $i" >"$PS/sub/version.txt"
  cp "$PS/var.bin" "$TMP/versions/var.$i"
  cp "$PS/sub/version.txt" "$TMP/versions/version.$i"
  must_ok "B: backup $i" repo backup --repo "$RB" "$PS"
  sleep 1.1   # distinct snapshot times
done
mapfile -t BSNAPS < <(snapshot_ids "$RB")
assert_eq 6 "${#BSNAPS[@]}" "B: six snapshots"
must_ok "B: forget --keep-last 2 (no prune)" repo forget --repo "$RB" --keep-last 2
KEEP5=${BSNAPS[4]}
KEEP6=${BSNAPS[5]}
cp -a "$RB" "$TMP/repo-b-pristine"

killed=0
for cond in new-lock new-pack new-index index-deleted pack-deleted packs-deleted:0.5 delay:50; do
  W="$TMP/repo-b-kill"
  rm -rf "$W"
  cp -a "$TMP/repo-b-pristine" "$W"
  set +e
  kw=$(python3 "$KILL_WHEN" "$W" "$cond" KILL -- "$CAIRN" repo prune --repo "$W")
  krc=$?
  set -e
  if [[ $krc == 137 ]]; then
    killed=$((killed + 1))
    log "prune killed after $cond ($kw): $(pack_count "$W") packs, $(find "$W/index" -type f | wc -l) index files, $(lock_count "$W") lock(s)"
  else
    log "prune not killed at $cond: $kw (this prune never reached that state)"
    rm -rf "$W"
    continue
  fi
  expect_ok "B[$cond]: check passes after kill -9 during prune" repo check --repo "$W"
  mapfile -t left < <(snapshot_ids "$W")
  assert_eq "$KEEP5 $KEEP6" "${left[*]}" "B[$cond]: the two kept snapshots are still listed"
  expect_ok "B[$cond]: a second prune completes" repo prune --repo "$W"
  expect_ok "B[$cond]: check --read-data passes" repo check --repo "$W" --read-data
  dump_eq "B[$cond]: kept snapshot 5 var.bin intact" "$W" "$KEEP5" "$PS/var.bin" "$TMP/versions/var.5"
  dump_eq "B[$cond]: kept snapshot 6 var.bin intact" "$W" "$KEEP6" "$PS/var.bin" "$TMP/versions/var.6"
  dump_eq "B[$cond]: kept snapshot 5 keep.bin intact" "$W" "$KEEP5" "$PS/keep.bin" "$PS/keep.bin"
  cx repo restore --repo "$W" "$KEEP6" --target "$TMP/rb-restore"
  assert_rc 0 "B[$cond]: restore of the newest kept snapshot"
  compare_trees "B[$cond]: newest kept snapshot restores identical" "$PS" "$TMP/rb-restore$PS"
  assert_eq "" "$(layout_violations "$W")" "B[$cond]: after the second prune no stray files remain"
  rm -rf "$TMP/rb-restore" "$W"
done
assert_le 4 "$killed" "B: prune was killed in at least 4 distinct states ($killed)"
rm -rf "$TMP/repo-b-pristine"

# ================================================================ C. flipped bytes
log "C. flipped bytes"
RC_GOOD="$TMP/repo-c"
CS="$TMP/corrupt-src"
mkdir -p "$CS"
make_random "$CS/big.bin" $((6 * 1024 * 1024))
echo "small one" >"$CS/small.txt"
must_ok "C: init" repo init --repo "$RC_GOOD"
must_ok "C: backup 1" repo backup --repo "$RC_GOOD" "$CS"
echo "changed" >>"$CS/small.txt"
must_ok "C: backup 2" repo backup --repo "$RC_GOOD" "$CS"
expect_ok "C: the good repository passes check --read-data" repo check --repo "$RC_GOOD" --read-data

# flip_case KIND RELPATH CHECK_ARGS...
flip_case() {
  local kind=$1 rel=$2; shift 2
  local W="$TMP/repo-c-$kind" id
  rm -rf "$W"
  cp -a "$RC_GOOD" "$W"
  id=$(basename "$rel")
  flip_byte "$W/$rel"
  cx repo check --repo "$W" "$@"
  local text="$OUT
$ERR"
  if [[ $RC != 0 ]] && ((RC < 128)); then ok "C[$kind]: check${*:+ $*} fails on a flipped byte in $rel"; else
    fail "C[$kind]: check${*:+ $*} fails on a flipped byte in $rel" "$(_rc_detail)"; fi
  if names_object "$id" "$text" || grep -Fq -- "$rel" <<<"$text"; then ok "C[$kind]: check output names the object ($id)"; else
    fail "C[$kind]: check output names the object ($id)" "$(_rc_detail)"; fi
  assert_imatch 'corrupt' "$text" "C[$kind]: check output says corrupt"
}

PACK_REL=$(cd "$RC_GOOD" && find data -type f -printf '%s %p\n' | sort -n | tail -1 | cut -d' ' -f2)
INDEX_REL=$(cd "$RC_GOOD" && find index -type f -printf '%s %p\n' | sort -n | tail -1 | cut -d' ' -f2)
SNAP_REL=$(cd "$RC_GOOD" && find snapshots -type f | head -1)
KEY_REL=$(cd "$RC_GOOD" && find keys -type f | head -1)
flip_case pack "$PACK_REL" --read-data
flip_case index "$INDEX_REL"
flip_case snapshot "$SNAP_REL"
flip_case key "$KEY_REL"

# restore and dump from the repository with the flipped pack byte
W="$TMP/repo-c-pack"
cx repo restore --repo "$W" latest --target "$TMP/rc-restore"
if [[ $RC == 1 ]]; then ok "C[pack]: restore from a corrupt pack exits 1"; else
  fail "C[pack]: restore from a corrupt pack exits 1" "$(_rc_detail)"; fi
assert_imatch 'corrupt' "$ERR" "C[pack]: restore error says corrupt"
if [[ -f $TMP/rc-restore$CS/big.bin ]] && [[ $(stat -c %s "$TMP/rc-restore$CS/big.bin") == $(stat -c %s "$CS/big.bin") ]] \
   && ! cmp -s "$TMP/rc-restore$CS/big.bin" "$CS/big.bin" && [[ $RC == 0 ]]; then
  fail "C[pack]: restore never writes wrong data silently" "big.bin restored with wrong content and exit 0"
else
  ok "C[pack]: restore never writes wrong data silently"
fi
cx_out "$TMP/rc-dump" repo dump --repo "$W" latest "$CS/big.bin"
if [[ $RC == 1 ]]; then ok "C[pack]: dump of the affected file exits 1"; else
  fail "C[pack]: dump of the affected file exits 1" "$(_rc_detail)
dump output $(stat -c %s "$TMP/rc-dump") bytes; equals source: $(cmp -s "$TMP/rc-dump" "$CS/big.bin" && echo yes || echo no)"; fi
assert_imatch 'corrupt' "$ERR" "C[pack]: dump error says corrupt"
expect_fail 1 'corrupt' "C[pack]: check --read-data-subset 100% also finds it" repo check --repo "$W" --read-data-subset 100%
rm -rf "$TMP/rc-restore" "$TMP/rc-dump" "$TMP"/repo-c-*

# A pack cut in half or missing is found by a plain check (the index promises
# blobs past the end / in a missing file); restore then fails. A pack that only
# lost its last 100 bytes (its header) still has every indexed blob, so only
# check --read-data (content hash) must find it.
for kind in halved missing tail100; do
  W="$TMP/repo-c-$kind"
  cp -a "$RC_GOOD" "$W"
  id=$(basename "$PACK_REL")
  case $kind in
    halved) truncate -s $(($(stat -c %s "$W/$PACK_REL") / 2)) "$W/$PACK_REL"; check_args=() ;;
    missing) rm -f "$W/$PACK_REL"; check_args=() ;;
    tail100) truncate -s -100 "$W/$PACK_REL"; check_args=(--read-data) ;;
  esac
  cx repo check --repo "$W" "${check_args[@]}"
  if [[ $RC != 0 ]] && ((RC < 128)); then ok "C[$kind pack]: check${check_args[*]:+ ${check_args[*]}} fails"; else
    fail "C[$kind pack]: check${check_args[*]:+ ${check_args[*]}} fails" "$(_rc_detail)"; fi
  if names_object "$id" "$OUT
$ERR"; then ok "C[$kind pack]: check names the pack"; else fail "C[$kind pack]: check names the pack ($id)" "$(_rc_detail)"; fi
  if [[ $kind != tail100 ]]; then
    cx repo restore --repo "$W" latest --target "$TMP/rc-restore"
    if [[ $RC == 1 ]]; then ok "C[$kind pack]: restore exits 1"; else fail "C[$kind pack]: restore exits 1" "$(_rc_detail)"; fi
    # One line per file that lacks data (which blob, which pack), then the
    # one error line; every other file is restored.
    last=$(printf '%s\n' "$ERR" | tail -n 1)
    if [[ $last == cairn:* ]] && ! printf '%s\n' "$ERR" | grep -v '^cairn:' | grep -qv '^damaged: '; then
      ok "C[$kind pack]: restore names each damaged file, then one error line"
    else
      fail "C[$kind pack]: restore names each damaged file, then one error line" "$(_rc_detail)"
    fi
    assert_imatch "$id" "$ERR" "C[$kind pack]: restore names the pack"
    [[ ! -e $TMP/rc-restore$CS/big.bin ]] && ok "C[$kind pack]: no truncated file is left looking whole" ||
      fail "C[$kind pack]: no truncated file is left looking whole" "$(ls -l "$TMP/rc-restore$CS")"
  fi
  rm -rf "$W" "$TMP/rc-restore"
done

# ================================================================ D. locks
log "D. locks"
RD="$TMP/repo-d"
cp -a "$RC_GOOD" "$RD"
FIFO="$TMP/stdin.fifo"
make_random "$TMP/held.bin" $((1024 * 1024))

# D1: a live (non-exclusive) backup lock and a concurrent prune
mkfifo "$FIFO"
"$CAIRN" repo backup --repo "$RD" --stdin-name held.bin <"$FIFO" >"$TMP/d1.out" 2>"$TMP/d1.err" &
pid=$!
BG_PIDS+=("$pid")
exec 7>"$FIFO"
has_lock() { (($(lock_count "$RD") >= 1)); }
if wait_for 15 has_lock; then
  ok "D1: a running backup holds a lock file in locks/"
  cx repo prune --repo "$RD"
  if [[ $RC == 1 ]] && grep -Eiq 'locked' <<<"$ERR"; then
    ok "D1: prune during a live backup is refused with 'locked'"
  elif [[ $RC == 0 ]]; then
    ok "D1: prune during a live backup ran (must leave the backup's data intact; verified below)"
  else
    fail "D1: prune during a live backup is refused with 'locked' or succeeds" "$(_rc_detail)"
  fi
else
  fail "D1: a running backup holds a lock file in locks/" "no file appeared in $RD/locks within 15 s"
fi
cat "$TMP/held.bin" >&7 2>/dev/null || true   # (SIGPIPE if the backup died)
exec 7>&-
set +e; wait "$pid"; brc=$?; set -e
if [[ $brc == 0 ]]; then ok "D1: the stdin backup completes after its input ends"; else
  fail "D1: the stdin backup completes after its input ends" "exit $brc; stderr: $(cat "$TMP/d1.err")"; fi
HSNAP=$(grep -Eo '[0-9a-f]{64}' "$TMP/d1.out" | head -1 || true)
dump_eq "D1: the stdin snapshot's data is intact" "$RD" "${HSNAP:-latest}" held.bin "$TMP/held.bin"
expect_ok "D1: check --read-data passes" repo check --repo "$RD" --read-data
assert_eq 0 "$(lock_count "$RD")" "D1: no lock left behind by finished commands"
rm -f "$FIFO"

# D2: a backup killed with -9 while holding its lock leaves a stale lock
mkfifo "$FIFO"
"$CAIRN" repo backup --repo "$RD" --stdin-name killed.bin <"$FIFO" >"$TMP/d2.out" 2>"$TMP/d2.err" &
pid=$!
BG_PIDS+=("$pid")
exec 7>"$FIFO"
head -c 100000 /dev/urandom >&7 2>/dev/null || true
if wait_for 15 has_lock; then
  kill -9 "$pid"
  set +e; { wait "$pid"; } 2>/dev/null; set -e
  exec 7>&-
  assert_eq 1 "$(lock_count "$RD")" "D2: the killed backup left its (now stale) lock file"
  n_before=$(snapshot_count "$RD")
  expect_ok "D2: prune (exclusive) is not blocked by the stale lock" repo prune --repo "$RD"
  expect_ok "D2: backup is not blocked by the stale lock" repo backup --repo "$RD" "$CS"
  expect_ok "D2: check passes" repo check --repo "$RD"
  assert_eq $((n_before + 1)) "$(snapshot_count "$RD")" "D2: the killed backup added no snapshot"
else
  kill -9 "$pid" 2>/dev/null || true
  set +e; { wait "$pid"; } 2>/dev/null; set -e
  exec 7>&-
  fail "D2: a running backup holds a lock file in locks/" "no file appeared in $RD/locks within 15 s"
fi
rm -f "$FIFO"

# D3: a live exclusive lock (prune stopped with SIGSTOP while holding it)
# Make prune have some work: forget all but one snapshot first.
must_ok "D3: forget --keep-last 1" repo forget --repo "$RD" --keep-last 1
python3 "$KILL_WHEN" "$RD" new-lock STOP -- "$CAIRN" repo prune --repo "$RD" >"$TMP/d3.state" &
helper=$!
BG_PIDS+=("$helper")
wait_for 60 grep -Eq '^(signalled|exited)' "$TMP/d3.state" || true
state=$(head -1 "$TMP/d3.state")
if [[ $state == signalled* ]]; then
  ppid_=$(awk '{print $2}' <<<"$state")
  BG_PIDS+=("$ppid_")
  log "prune (pid $ppid_) stopped while holding its lock: $state"
  expect_fail 1 'locked' "D3: backup while prune holds the exclusive lock fails with exit 1 and 'locked'" \
    repo backup --repo "$RD" "$CS"
  expect_fail 1 'locked' "D3: forget while prune holds the exclusive lock fails with 'locked'" \
    repo forget --repo "$RD" --keep-last 1
  kill -CONT "$ppid_"
  set +e; wait "$helper"; set -e
  assert_eq "rc 0" "$(grep '^rc' "$TMP/d3.state")" "D3: the stopped prune completes after SIGCONT"
  expect_ok "D3: check --read-data passes" repo check --repo "$RD" --read-data
  assert_eq 0 "$(lock_count "$RD")" "D3: no lock left behind"
else
  set +e; wait "$helper"; set -e
  fail "D3: catch prune while it holds its exclusive lock" "helper: $(cat "$TMP/d3.state"); fault not exercised"
fi

# ================================================================ E. kill -9 during key passwd
log "E. kill -9 during key passwd"
for cond in new-key key-deleted delay:40; do
  W="$TMP/repo-e"
  rm -rf "$W"
  cp -a "$RC_GOOD" "$W"
  set +e
  kw=$(CAIRN_NEW_PASSWORD="new pass" python3 "$KILL_WHEN" "$W" "$cond" KILL -- "$CAIRN" repo key passwd --repo "$W")
  krc=$?
  set -e
  if [[ $krc != 137 ]]; then
    log "passwd not killed at $cond: $kw"
  else
    log "passwd killed: $kw; keys now: $(ls "$W/keys" | wc -l)"
  fi
  CAIRN_PASSWORD="$PW" cx repo snapshots --repo "$W" --json
  old_rc=$RC
  CAIRN_PASSWORD="new pass" cx repo snapshots --repo "$W" --json
  new_rc=$RC
  if [[ $old_rc == 0 || $new_rc == 0 ]]; then
    ok "E[$cond]: the repository opens with the old or the new password (old: exit $old_rc, new: exit $new_rc)"
  else
    fail "E[$cond]: the repository opens with the old or the new password" "old password: exit $old_rc, new password: exit $new_rc; keys/: $(ls "$W/keys" | tr '\n' ' ')
$(_rc_detail)"
  fi
  if [[ $old_rc == 0 ]]; then use_pw=$PW; else use_pw="new pass"; fi
  CAIRN_PASSWORD="$use_pw" expect_ok "E[$cond]: check passes" repo check --repo "$W"
  rm -rf "$W"
done

finish
