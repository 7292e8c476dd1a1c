#!/usr/bin/env bash
# Error handling: each failure exits 1 with exactly one clear line on stderr.
#  - wrong / missing password (env and --password-file)
#  - repository that does not exist, a directory that is not a repository
#  - init twice
#  - unknown snapshot id, unknown path in dump, `latest` in an empty repo
#  - bad command-line usage
#  - unreadable source file -> exit 3, snapshot still written, rest restorable.
#    Root can read mode-000 files (CAP_DAC_OVERRIDE), so the backup runs as
#    user nobody via `setpriv --reuid/--regid --clear-groups`, which drops all
#    capabilities on the uid change; the test first verifies that nobody really
#    cannot read the file.
#  - full disk: the repository on a 30 MiB tmpfs, a 60 MiB backup -> exit 1
#    "disk full"/"no space"; the repository stays consistent (check passes);
#    after prune frees the orphaned data a smaller backup succeeds.
#
# Usage: bash test_errors.sh /path/to/cairn      (needs root: mount, setpriv)
source "$(dirname "$0")/lib.sh" "$@"

[[ $(id -u) == 0 ]] || die "this test needs root (tmpfs mount, setpriv)"

REPO="$TMP/repo"
SRC="$TMP/src"
mkdir -p "$SRC/sub"
echo hello >"$SRC/hello.txt"
make_random "$SRC/sub/data.bin" 200000
must_ok "repo init" repo init --repo "$REPO"
must_ok "first backup" repo backup --repo "$REPO" "$SRC"
SNAP=$(grep -Eo '[0-9a-f]{64}' <<<"$OUT" | head -1 || true)
[[ -n $SNAP ]] || die "backup prints the snapshot id" "stdout: $OUT"

# ---------------------------------------------------------------- passwords
CAIRN_PASSWORD="wrong password" expect_fail 1 'password' "wrong password: snapshots refused, message mentions password" \
  repo snapshots --repo "$REPO" --json
CAIRN_PASSWORD="wrong password" expect_fail 1 'password' "wrong password: backup refused" \
  repo backup --repo "$REPO" "$SRC"
CAIRN_PASSWORD="wrong password" expect_fail 1 'password' "wrong password: restore refused" \
  repo restore --repo "$REPO" latest --target "$TMP/never"
assert_not_exists "$TMP/never" "wrong password: restore wrote nothing"
CAIRN_PASSWORD="" expect_fail 1 'password' "empty password refused" \
  repo snapshots --repo "$REPO" --json
assert_eq 1 "$(ls "$REPO/snapshots" | wc -l)" "wrong-password backup wrote no snapshot"

printf '%s\n' "$PW" >"$TMP/pwfile"
printf '%s\n' "not it" >"$TMP/badpwfile"
CX_WRAP=(env -u CAIRN_PASSWORD)
expect_ok "--password-file with the right password works (no env)" repo snapshots --repo "$REPO" --json --password-file "$TMP/pwfile"
expect_fail 1 'password' "--password-file with a wrong password refused" repo snapshots --repo "$REPO" --json --password-file "$TMP/badpwfile"
expect_fail 1 'password' "--password-file that does not exist refused" repo snapshots --repo "$REPO" --json --password-file "$TMP/no-such-pwfile"
CX_TIMEOUT=30 expect_fail 1 'password' "no password at all (no env, no file, stdin not a tty): refused, no hang" \
  repo snapshots --repo "$REPO" --json
CX_WRAP=()

# ---------------------------------------------------------------- missing / not a repository
expect_fail 1 'does not exist|not a cairn repository' "missing repository: snapshots" \
  repo snapshots --repo "$TMP/no-such-repo" --json
expect_fail 1 'does not exist|not a cairn repository' "missing repository: backup" \
  repo backup --repo "$TMP/no-such-repo" "$SRC"
expect_fail 1 'does not exist|not a cairn repository' "missing repository: check" \
  repo check --repo "$TMP/no-such-repo"
assert_not_exists "$TMP/no-such-repo" "commands on a missing repository do not create it"

mkdir -p "$TMP/plain/sub"
echo "just a file" >"$TMP/plain/file.txt"
before=$(cd "$TMP/plain" && find . | sort | md5sum)
expect_fail 1 'not a cairn repository|does not exist' "plain directory: snapshots refused" \
  repo snapshots --repo "$TMP/plain" --json
expect_fail 1 'not a cairn repository|does not exist' "plain directory: backup refused" \
  repo backup --repo "$TMP/plain" "$SRC"
assert_eq "$before" "$(cd "$TMP/plain" && find . | sort | md5sum)" "plain directory left untouched"
mkdir "$TMP/emptydir"
expect_fail 1 'not a cairn repository|does not exist' "empty directory: snapshots refused" \
  repo snapshots --repo "$TMP/emptydir" --json

# ---------------------------------------------------------------- init twice
before=$(repo_manifest "$REPO")
expect_fail 1 'exist|already|initiali|not empty' "init on an existing repository refused" repo init --repo "$REPO"
assert_eq "$before" "$(repo_manifest "$REPO")" "refused init changed nothing in the repository"
assert_eq 1 "$(snapshot_count "$REPO")" "repository still usable after refused init"

# ---------------------------------------------------------------- unknown ids and paths
expect_fail 1 'snapshot|deadbeef|not found|no match' "restore of an unknown snapshot id (prefix) refused" \
  repo restore --repo "$REPO" deadbeefdeadbeef --target "$TMP/r-unknown"
assert_not_exists "$TMP/r-unknown/$SRC" "unknown snapshot restore wrote nothing"
expect_fail 1 'snapshot|0000000|not found|no match' "dump from an unknown full snapshot id refused" \
  repo dump --repo "$REPO" "$(printf '0%.0s' {1..64})" "$SRC/hello.txt"
expect_fail 1 'snapshot|not found|invalid|no match' "non-hex snapshot id refused" \
  repo restore --repo "$REPO" "not-an-id!" --target "$TMP/r-unknown"
expect_fail 1 'not found|no such|does not exist|nosuchfile' "dump of a path not in the snapshot refused" \
  repo dump --repo "$REPO" "$SNAP" "$SRC/nosuchfile"
must_ok "init an empty repository" repo init --repo "$TMP/emptyrepo"
expect_fail 1 'snapshot|latest|no ' "restore latest from an empty repository refused" \
  repo restore --repo "$TMP/emptyrepo" latest --target "$TMP/r-empty"
assert_eq 0 "$(snapshot_count "$TMP/emptyrepo")" "snapshots of an empty repository is an empty list"

# ---------------------------------------------------------------- command-line usage
expect_fail 1 '' "unknown option refused with one line, exit 1" repo snapshots --repo "$REPO" --no-such-option
expect_fail 1 'repo' "missing --repo refused with one line, exit 1" repo snapshots --json
expect_fail 1 '' "backup with nonexistent source path refused" repo backup --repo "$REPO" "$TMP/no-such-source"
for bad in 0% 150% abc -5%; do
  expect_fail 1 '' "check --read-data-subset $bad refused" repo check --repo "$REPO" --read-data-subset "$bad"
done
assert_eq 1 "$(snapshot_count "$REPO")" "failed backups wrote no snapshot"

# ---------------------------------------------------------------- unreadable source file (exit 3)
UR="$TMP/unreadable"
mkdir -p "$UR/sub"
make_random "$UR/a-before.bin" 300000
echo "secret" >"$UR/m-secret" && chmod 000 "$UR/m-secret"
make_random "$UR/z-after.bin" 300000
echo "nested" >"$UR/sub/nested.txt"
NOBODY_HOME="$TMP/nobody-home"
mkdir -p "$NOBODY_HOME" "$TMP/nobody-repo-parent"
chown nobody:nogroup "$NOBODY_HOME" "$TMP/nobody-repo-parent"
AS_NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$NOBODY_HOME" XDG_CACHE_HOME="$NOBODY_HOME/.cache")
# nobody may not be able to reach the binary where it is (e.g. under a 0700
# dir): run a world-executable copy for the nobody steps.
mkdir -p "$TMP/bin"
cp "$CAIRN" "$TMP/bin/cairn"
chmod 755 "$TMP/bin" "$TMP/bin/cairn"
CAIRN_ROOT=$CAIRN
if "${AS_NOBODY[@]}" cat "$UR/m-secret" >/dev/null 2>&1; then
  fail "setup: user nobody cannot read a mode-000 file" "setpriv did not drop privileges; cannot test unreadable files"
elif ! "${AS_NOBODY[@]}" cat "$UR/a-before.bin" >/dev/null 2>&1; then
  fail "setup: user nobody can read the other source files" "nobody cannot read $UR/a-before.bin"
else
  NREPO="$TMP/nobody-repo-parent/repo"
  CX_WRAP=("${AS_NOBODY[@]}"); CAIRN="$TMP/bin/cairn"
  cx repo init --repo "$NREPO"
  assert_rc 0 "init a repository as user nobody"
  cx repo backup --repo "$NREPO" "$UR"
  CX_WRAP=(); CAIRN=$CAIRN_ROOT
  assert_rc 3 "backup with an unreadable file exits 3"
  assert_match 'm-secret' "$ERR" "backup reports the unreadable file on stderr"
  USNAP=$(grep -Eo '[0-9a-f]{64}' <<<"$OUT" | head -1 || true)
  assert_match '^[0-9a-f]{64}$' "$USNAP" "backup with an unreadable file still prints a snapshot id"
  assert_eq 1 "$(snapshot_count "$NREPO")" "the snapshot was written"
  cx repo restore --repo "$NREPO" latest --target "$TMP/r-unreadable"
  assert_rc 0 "restore the snapshot with the unreadable file left out"
  for f in a-before.bin z-after.bin sub/nested.txt; do
    if cmp -s "$UR/$f" "$TMP/r-unreadable$UR/$f"; then ok "readable file $f restored intact"; else
      fail "readable file $f restored intact" "missing or different: $TMP/r-unreadable$UR/$f"; fi
  done
  expect_ok "check passes on the repository with the partial snapshot" repo check --repo "$NREPO" --read-data

  # an unreadable directory: also reported, snapshot still written
  mkdir -p "$UR/lockeddir" && echo x >"$UR/lockeddir/inside" && chmod 000 "$UR/lockeddir"
  CX_WRAP=("${AS_NOBODY[@]}"); CAIRN="$TMP/bin/cairn"
  cx repo backup --repo "$NREPO" "$UR"
  CX_WRAP=(); CAIRN=$CAIRN_ROOT
  assert_rc 3 "backup with an unreadable directory exits 3"
  assert_match 'lockeddir' "$ERR" "backup reports the unreadable directory on stderr"
  assert_eq 2 "$(snapshot_count "$NREPO")" "the snapshot with the unreadable directory was written"
  chmod 755 "$UR/lockeddir"

  # --json with an unreadable file whose name is not valid UTF-8: still exit 3
  # and one JSON object on stdout (the warning must not break the JSON).
  UR2="$TMP/unreadable2"
  mkdir -p "$UR2"
  echo ok >"$UR2/good.txt"
  echo x >"$UR2/bad-"$'\xff'"-name" && chmod 000 "$UR2/bad-"$'\xff'"-name"
  CX_WRAP=("${AS_NOBODY[@]}"); CAIRN="$TMP/bin/cairn"
  cx repo backup --repo "$NREPO" --json "$UR2"
  CX_WRAP=(); CAIRN=$CAIRN_ROOT
  assert_rc 3 "backup --json with an unreadable non-UTF-8 name exits 3"
  if is_json "$OUT" && [[ $(json 'd["snapshot_id"]' <<<"$OUT") =~ ^[0-9a-f]{64}$ ]]; then
    ok "backup --json with an unreadable non-UTF-8 name prints its JSON object"
  else
    fail "backup --json with an unreadable non-UTF-8 name prints its JSON object" "$(_rc_detail)"
  fi
  assert_match 'bad-' "$ERR" "the unreadable non-UTF-8 name is reported on stderr"
fi

# ---------------------------------------------------------------- full disk
SMALL="$TMP/small"
mkdir -p "$SMALL"
if ! mount -t tmpfs -o size=30m tmpfs "$SMALL"; then
  fail "setup: mount a 30 MiB tmpfs" "mount failed; cannot test a full disk"
else
  on_exit "umount -l '$SMALL'"
  FREPO="$SMALL/repo"
  must_ok "init a repository on a 30 MiB tmpfs" repo init --repo "$FREPO"
  BIG="$TMP/big"
  mkdir -p "$BIG"
  for i in 1 2 3; do make_random "$BIG/part$i.bin" $((20 * 1024 * 1024)); done
  cx repo backup --repo "$FREPO" "$BIG"
  check_failure 1 'disk full|no space' "backup of 60 MiB into a 30 MiB filesystem: exit 1, one line, 'disk full'/'no space'"
  log "after the failed backup: $(df -k --output=used,avail "$SMALL" | tail -1 | awk '{print $1 " KiB used, " $2 " KiB free"}'); $(pack_count "$FREPO") pack files"
  assert_eq 0 "$(find "$FREPO/snapshots" -type f 2>/dev/null | wc -l)" "no snapshot file written by the failed backup"
  expect_ok "check passes right after the disk-full failure" repo check --repo "$FREPO"
  assert_eq 0 "$(snapshot_count "$FREPO")" "snapshots lists no snapshot after the disk-full failure"
  expect_ok "prune after the disk-full failure (frees orphaned data)" repo prune --repo "$FREPO"
  log "after prune: $(df -k --output=used,avail "$SMALL" | tail -1 | awk '{print $1 " KiB used, " $2 " KiB free"}'); $(pack_count "$FREPO") pack files"
  SMALLSRC="$TMP/smallsrc"
  mkdir -p "$SMALLSRC"
  make_random "$SMALLSRC/five.bin" $((5 * 1024 * 1024))
  echo tiny >"$SMALLSRC/tiny.txt"
  expect_ok "a smaller backup succeeds once there is space" repo backup --repo "$FREPO" "$SMALLSRC"
  expect_ok "check --read-data passes after recovery" repo check --repo "$FREPO" --read-data
  cx repo restore --repo "$FREPO" latest --target "$TMP/r-small"
  assert_rc 0 "restore after recovery"
  compare_trees "restored small backup is identical" "$SMALLSRC" "$TMP/r-small$SMALLSRC"
  umount -l "$SMALL" || true

  # restore of 60 MiB into a 30 MiB target filesystem
  must_ok "init a repository for the restore-to-full-disk case" repo init --repo "$TMP/bigrepo"
  must_ok "back up the 60 MiB tree" repo backup --repo "$TMP/bigrepo" "$BIG"
  mount -t tmpfs -o size=30m tmpfs "$SMALL"
  cx repo restore --repo "$TMP/bigrepo" latest --target "$SMALL/target"
  check_failure 1 'disk full|no space' "restore of 60 MiB into a 30 MiB filesystem: exit 1, one line, 'disk full'/'no space'"
  umount -l "$SMALL" || true
fi

finish
