#!/usr/bin/env bash
# Repository operations:
#  - forget --keep-last 2 --dry-run lists keep/remove and changes nothing;
#    forget with no rule is refused; forget --keep-daily --dry-run works
#  - forget --keep-last 2 --prune removes snapshots and shrinks the repository
#  - forget (no prune) leaves data; prune afterwards frees it; check --read-data
#  - key add / list / remove / passwd (env and --new-password-file)
#  - two concurrent backups into one repository
#  - stats --json
#  - a config with an unknown format version is refused by name
#
# Usage: bash test_repo_ops.sh /path/to/cairn
source "$(dirname "$0")/lib.sh" "$@"

R="$TMP/repo"
S="$TMP/src"
V="$TMP/versions"
mkdir -p "$S/sub" "$V"
make_random "$S/const.bin" $((4 * 1024 * 1024))
echo "constant" >"$S/sub/const.txt"
must_ok "init" repo init --repo "$R"

# backup_version N: new random var.bin, saved as $V/var.N; prints nothing
declare -a SNAPS=()
backup_version() {
  local n=$1
  make_random "$S/var.bin" $((4 * 1024 * 1024))
  cp "$S/var.bin" "$V/var.$n"
  must_ok "backup $n" repo backup --repo "$R" "$S"
  SNAPS[$n]=$(grep -Eo '[0-9a-f]{64}' <<<"$OUT" | head -1 || true)
  sleep 1.1   # distinct snapshot times
}
dump_eq() {  # dump_eq DESC REPO SNAP PATH EXPECTED_FILE
  cx_out "$TMP/.dumped" repo dump --repo "$2" "$3" "$4"
  if [[ $RC == 0 ]] && cmp -s "$TMP/.dumped" "$5"; then ok "$1"; else
    fail "$1" "$(_rc_detail)"; fi
  rm -f "$TMP/.dumped"
}
ids_of() {  # ids_of REPO -> ids oldest first, space separated
  snapshot_ids "$1" | tr '\n' ' ' | sed 's/ $//'
}

for n in 1 2 3 4 5; do backup_version "$n"; done
assert_eq "${SNAPS[1]} ${SNAPS[2]} ${SNAPS[3]} ${SNAPS[4]} ${SNAPS[5]}" "$(ids_of "$R")" "five snapshots listed oldest..newest"

# ---------------------------------------------------------------- forget --dry-run
before=$(repo_manifest "$R")
cx repo forget --repo "$R" --keep-last 2 --dry-run
assert_rc 0 "forget --keep-last 2 --dry-run"
text="$OUT
$ERR"
assert_imatch 'keep' "$text" "dry-run output says what it keeps"
assert_imatch 'remov' "$text" "dry-run output says what it removes"
missing=""
for n in 1 2 3 4 5; do names_object "${SNAPS[$n]}" "$text" || missing+=" ${SNAPS[$n]:0:12}"; done
assert_eq "" "$missing" "dry-run output names all five snapshots (id or >= 8-char prefix)"
assert_eq "$before" "$(repo_manifest "$R")" "dry-run changed nothing in the repository"
assert_eq 5 "$(snapshot_count "$R")" "dry-run: still five snapshots"

expect_fail 1 '' "forget with no keep rule is refused" repo forget --repo "$R"
assert_eq "$before" "$(repo_manifest "$R")" "refused forget changed nothing"
cx repo forget --repo "$R" --keep-daily 1 --dry-run
assert_rc 0 "forget --keep-daily 1 --dry-run"
assert_eq "$before" "$(repo_manifest "$R")" "--keep-daily dry-run changed nothing"

# ---------------------------------------------------------------- forget --prune
size_before=$(data_bytes "$R")
cx repo forget --repo "$R" --keep-last 2 --prune
assert_rc 0 "forget --keep-last 2 --prune"
assert_eq "${SNAPS[4]} ${SNAPS[5]}" "$(ids_of "$R")" "forget --keep-last 2 kept the two newest snapshots"
size_after=$(data_bytes "$R")
log "data: $size_before -> $size_after bytes"
# three 4 MiB var.bin versions are gone
assert_le $((size_after + 3 * 4 * 1024 * 1024 * 9 / 10)) "$size_before" "forget --prune freed the removed snapshots' data (>= 10.8 MiB)"
for n in 1 2 3; do assert_not_exists "$R/snapshots/${SNAPS[$n]}" "snapshot file $n deleted"; done
expect_ok "check --read-data after forget --prune" repo check --repo "$R" --read-data
dump_eq "kept snapshot 4 var.bin intact" "$R" "${SNAPS[4]}" "$S/var.bin" "$V/var.4"
dump_eq "kept snapshot 5 var.bin intact" "$R" "${SNAPS[5]}" "$S/var.bin" "$V/var.5"
dump_eq "kept snapshot 4 const.bin intact" "$R" "${SNAPS[4]}" "$S/const.bin" "$S/const.bin"
expect_fail 1 '' "restore of a forgotten snapshot is refused" repo restore --repo "$R" "${SNAPS[1]}" --target "$TMP/gone"

# ---------------------------------------------------------------- forget then prune
for n in 6 7 8; do backup_version "$n"; done
size_before=$(data_bytes "$R")
cx repo forget --repo "$R" --keep-last 1
assert_rc 0 "forget --keep-last 1 (without --prune)"
assert_eq "${SNAPS[8]}" "$(ids_of "$R")" "only the newest snapshot remains listed"
assert_eq "$size_before" "$(data_bytes "$R")" "forget without --prune does not touch data/"
cx repo prune --repo "$R"
assert_rc 0 "prune after forget"
size_after=$(data_bytes "$R")
log "data: $size_before -> $size_after bytes"
assert_le $((size_after + 4 * 4 * 1024 * 1024 * 9 / 10)) "$size_before" "prune freed the forgotten snapshots' data (>= 14.4 MiB)"
# what remains: const.bin + var.8 (8 MiB random) plus metadata
assert_lt "$size_after" $((10 * 1024 * 1024)) "after prune the repository holds little more than the kept data (< 10 MiB)"
expect_ok "check --read-data after prune" repo check --repo "$R" --read-data
cx repo restore --repo "$R" latest --target "$TMP/r-latest"
assert_rc 0 "restore latest after prune"
compare_trees "restored latest identical to the source" "$S" "$TMP/r-latest$S"
rm -rf "$TMP/r-latest"
cx repo prune --repo "$R"
assert_rc 0 "a second prune with nothing to do"
assert_eq "$size_after" "$(data_bytes "$R")" "a second prune changes no data"

# ---------------------------------------------------------------- keys
PW2="second password"
PW3="third password"
PW1B="first password, changed"
printf '%s\n' "$PW3" >"$TMP/pw3"
printf '%s\n' "$PW3" >"$TMP/pw3-login"

cx repo key list --repo "$R" --json
assert_rc 0 "key list --json"
assert_eq 1 "$(json 'len(d)' <<<"$OUT")" "one key after init"
K1=$(json 'd[0]["id"]' <<<"$OUT")
assert_eq true "$(json 'd[0]["current"]' <<<"$OUT")" "the only key is current"
assert_match '^[0-9a-f]{64}$' "$K1" "key id is 64 hex chars"

CAIRN_NEW_PASSWORD="$PW2" expect_ok "key add (new password from CAIRN_NEW_PASSWORD)" repo key add --repo "$R"
cx repo key list --repo "$R" --json
assert_eq 2 "$(json 'len(d)' <<<"$OUT")" "two keys after key add"
CAIRN_PASSWORD="$PW2" cx repo key list --repo "$R" --json
assert_rc 0 "the new password opens the repository"
K2=$(json '[k["id"] for k in d if k["current"]][0]' <<<"$OUT")
assert_ne "$K1" "$K2" "with the new password, the new key is the current one"
CAIRN_PASSWORD="$PW2" dump_eq "the new key reads the data" "$R" latest "$S/var.bin" "$V/var.8"

expect_ok "key add --new-password-file" repo key add --repo "$R" --new-password-file "$TMP/pw3"
CX_WRAP=(env -u CAIRN_PASSWORD)
cx repo key list --repo "$R" --json --password-file "$TMP/pw3-login"
CX_WRAP=()
assert_rc 0 "the third key opens the repository via --password-file"
assert_eq 3 "$(json 'len(d)' <<<"$OUT")" "three keys"
K3=$(json '[k["id"] for k in d if k["current"]][0]' <<<"$OUT")
assert_match '^[0-9a-f]{64}$' "$K3" "third key id"

cx repo key remove --repo "$R" "$K3"
assert_rc 0 "key remove (another key)"
cx repo key list --repo "$R" --json
assert_eq 2 "$(json 'len(d)' <<<"$OUT")" "two keys after remove"
CAIRN_PASSWORD="$PW3" expect_fail 1 'password' "the removed key's password no longer works" repo snapshots --repo "$R" --json

expect_fail 1 '' "removing the current key is refused" repo key remove --repo "$R" "$K1"
cx repo key list --repo "$R" --json
assert_eq 2 "$(json 'len(d)' <<<"$OUT")" "still two keys after the refused remove"
expect_fail 1 '' "removing an unknown key id is refused" repo key remove --repo "$R" "$(printf 'f%.0s' {1..64})"

CAIRN_NEW_PASSWORD="$PW1B" expect_ok "key passwd" repo key passwd --repo "$R"
expect_fail 1 'password' "the old password stops working after passwd" repo snapshots --repo "$R" --json
CAIRN_PASSWORD="$PW1B" expect_ok "the changed password works" repo snapshots --repo "$R" --json
CAIRN_PASSWORD="$PW1B" dump_eq "data readable with the changed password" "$R" latest "$S/var.bin" "$V/var.8"
CAIRN_PASSWORD="$PW2" expect_ok "the other key is unaffected by passwd" repo snapshots --repo "$R" --json
CAIRN_PASSWORD="$PW1B" cx repo key list --repo "$R" --json
assert_eq 2 "$(json 'len(d)' <<<"$OUT")" "passwd keeps the number of keys"
export CAIRN_PASSWORD="$PW1B"

# ---------------------------------------------------------------- concurrent backups
RC2="$TMP/repo-concurrent"
must_ok "init (concurrency repo)" repo init --repo "$RC2"
T1="$TMP/tree1"
T2="$TMP/tree2"
mkdir -p "$T1/d" "$T2/d"
make_random "$TMP/shared.bin" $((12 * 1024 * 1024))
cp "$TMP/shared.bin" "$T1/shared.bin"
cp "$TMP/shared.bin" "$T2/shared.bin"
make_random "$T1/own.bin" $((20 * 1024 * 1024))
make_random "$T2/own.bin" $((20 * 1024 * 1024))
for i in $(seq 1 200); do echo "t1 file $i" >"$T1/d/f$i"; echo "t2 file $i" >"$T2/d/f$i"; done
n_conc_ok=0
for round in 1 2; do
  "$CAIRN" repo backup --repo "$RC2" "$T1" >"$TMP/c1.out" 2>"$TMP/c1.err" &
  p1=$!
  "$CAIRN" repo backup --repo "$RC2" "$T2" >"$TMP/c2.out" 2>"$TMP/c2.err" &
  p2=$!
  BG_PIDS+=("$p1" "$p2")
  set +e; wait "$p1"; r1=$?; wait "$p2"; r2=$?; set -e
  if [[ $r1 == 0 && $r2 == 0 ]]; then
    ok "round $round: two concurrent backups both succeed"
    n_conc_ok=$((n_conc_ok + 2))
  else
    fail "round $round: two concurrent backups both succeed" "backup 1: exit $r1, stderr: $(cat "$TMP/c1.err")
backup 2: exit $r2, stderr: $(cat "$TMP/c2.err")"
  fi
  if [[ $round == 1 ]]; then
    # second round: change the private files so both write new data again
    make_random "$T1/own.bin" $((20 * 1024 * 1024))
    make_random "$T2/own.bin" $((20 * 1024 * 1024))
  fi
done
assert_eq "$n_conc_ok" "$(snapshot_count "$RC2")" "every successful concurrent backup left one snapshot"
expect_ok "check --read-data after concurrent backups" repo check --repo "$RC2" --read-data
# Restore the newest snapshot of each tree and compare with the source.
for t in 1 2; do
  tree_var=T$t
  tree=${!tree_var}
  cx repo snapshots --repo "$RC2" --json
  sid=$(python3 -c '
import json, sys
snaps = [s for s in json.loads(sys.stdin.read()) if s["paths"] == [sys.argv[1]]]
print(sorted(snaps, key=lambda s: s["time"])[-1]["id"] if snaps else "")
' "$tree" <<<"$OUT")
  cx repo restore --repo "$RC2" "$sid" --target "$TMP/rc-$t"
  assert_rc 0 "restore the newest snapshot of tree $t"
  if cmp -s "$TMP/rc-$t$tree/own.bin" "$tree/own.bin" && cmp -s "$TMP/rc-$t$tree/shared.bin" "$TMP/shared.bin" \
     && diff -r "$tree/d" "$TMP/rc-$t$tree/d" >/dev/null; then
    ok "tree $t restored intact from the concurrent backup"
  else
    fail "tree $t restored intact from the concurrent backup" "content differs under $TMP/rc-$t$tree"
  fi
  rm -rf "$TMP/rc-$t"
done

# ---------------------------------------------------------------- stats
cx repo stats --repo "$R" --json
assert_rc 0 "stats --json"
STATS=$OUT
if is_json "$STATS" && [[ $(json 'type(d).__name__' <<<"$STATS") == dict ]]; then
  ok "stats --json prints a JSON object"
  nnum=$(json 'len([v for v in d.values() if isinstance(v, (int, float)) and not isinstance(v, bool)])' <<<"$STATS")
  assert_le 2 "$nnum" "stats --json has numeric fields ($nnum)"
  assert_eq 0 "$(json 'len([v for v in d.values() if isinstance(v, (int, float)) and not isinstance(v, bool) and v < 0])' <<<"$STATS")" \
    "stats: no negative numbers"
  assert_le 1 "$(json 'len([v for v in d.values() if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0])' <<<"$STATS")" \
    "stats: some numbers are positive for a non-empty repository"
  log "stats: $STATS"
else
  fail "stats --json prints a JSON object" "$(_short "$STATS")"
fi

# ---------------------------------------------------------------- unknown format version
RV="$TMP/repo-version"
cp -a "$R" "$RV"
if vmsg=$(python3 - "$RV/config" 2>&1 <<'EOF'
import json, sys
p = sys.argv[1]
try:
    with open(p) as f:
        c = json.load(f)
except Exception as e:
    sys.exit("config is not JSON: %s" % e)
if "version" not in c:
    sys.exit("config has no version field")
c["version"] = 99
with open(p, "w") as f:
    json.dump(c, f)
EOF
); then
  before=$(repo_manifest "$RV")
  expect_fail 1 'version' "config version 99: snapshots refused naming the version" repo snapshots --repo "$RV" --json
  expect_fail 1 'version' "config version 99: backup refused naming the version" repo backup --repo "$RV" "$S"
  expect_fail 1 'version' "config version 99: check refused naming the version" repo check --repo "$RV"
  assert_eq "$before" "$(repo_manifest "$RV")" "refused commands changed nothing"
else
  fail "config is plain JSON with a version field" "could not edit $RV/config: $vmsg"
fi

finish
