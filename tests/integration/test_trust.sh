#!/usr/bin/env bash
# Trust (docs/architecture.md, "What a backup may trust"): the real binary on
# the cases the adversarial test of Cairn found. Each block failed on the
# code before its fix.
source "$(dirname "$0")/lib.sh" "$@"

SRC=$TMP/src
mkdir -p "$SRC/sub"
for i in 1 2 3 4; do make_random "$SRC/sub/f$i.bin" $((900 * 1024)); done
echo hello >"$SRC/small.txt"
R=$TMP/repo
must_ok "init" repo init --repo "$R"
must_ok "first backup" repo backup --repo "$R" --json "$SRC"

# ---------------------------------------------------------------- lost data
log "a lost pack is stored again, never built upon"
biggest=$(find "$R/data" -type f -printf '%s %p\n' | sort -n | tail -1 | cut -d' ' -f2)
rm -f "$biggest"
cx repo backup --repo "$R" --json "$SRC"
assert_rc 0 "backup after a lost pack succeeds"
added=$(json "d['bytes_added']" <<<"$OUT")
[[ $added -gt 0 ]] && ok "the lost data is stored again ($added bytes)" || fail "the lost data is stored again" "bytes_added=$added"
cx repo restore --repo "$R" latest --target "$TMP/out1"
assert_rc 0 "the new snapshot restores"
compare_trees "the new snapshot restores exactly" "$SRC" "$TMP/out1$SRC"
cx repo check --repo "$R"
assert_rc 1 "check reports the missing pack"
assert_match "prune" "$OUT" "check names the repair for a pack nobody needs any more"
must_ok "prune drops the missing pack's entries" repo prune --repo "$R"
expect_ok "check is clean after prune" repo check --repo "$R" --read-data

log "a truncated pack with --force"
victim=$(find "$R/data" -type f -printf '%s %p\n' | sort -n | tail -1 | cut -d' ' -f2)
truncate -s $(($(stat -c %s "$victim") / 2)) "$victim"
cx repo backup --repo "$R" --force --json "$SRC"
assert_rc 0 "backup --force after a truncated pack"
cx repo restore --repo "$R" latest --target "$TMP/out2"
assert_rc 0 "its snapshot restores"
compare_trees "and exactly" "$SRC" "$TMP/out2$SRC"

log "a snapshot that lost data: check names it and the repair"
R2=$TMP/repo2
must_ok "init 2" repo init --repo "$R2" --pack-size 1
must_ok "backup 2" repo backup --repo "$R2" "$SRC"
# The last data pack written (not the small tree pack) holds the end of sub/f4.bin only.
rm -f $(find "$R2/data" -type f -size +100k -printf '%T@ %p\n' | sort -n | tail -1 | cut -d' ' -f2)
cx repo check --repo "$R2"
assert_rc 1 "check fails"
assert_match "snapshot [0-9a-f]{8} .*cannot be restored" "$OUT" "check names the damaged snapshot"
assert_match "repair snapshots" "$OUT" "check names the repair command"
cx repo restore --repo "$R2" latest --target "$TMP/out3"
assert_rc 1 "restore of the damaged snapshot exits 1"
assert_match "^damaged: " "$ERR" "restore names each damaged file"
assert_cmd "the intact small file is restored" cmp "$SRC/small.txt" "$TMP/out3$SRC/small.txt"
cx repo repair snapshots --repo "$R2" --json
assert_rc 0 "repair snapshots"
repaired=$(json "d['repaired'][0]['repaired']" <<<"$OUT")
cx repo snapshots --repo "$R2" --json
assert_match '"repaired"' "$OUT" "the repaired copy is tagged"
cx repo restore --repo "$R2" "$repaired" --target "$TMP/out4"
assert_rc 0 "the repaired snapshot restores"
assert_match "\.damaged" "$(find "$TMP/out4" -name '*.damaged')" "lost files come back as marked empty files"

log "a damaged index file and a damaged snapshot object degrade, and repair index rebuilds"
R3=$TMP/repo3
must_ok "init 3" repo init --repo "$R3"
must_ok "backup a" repo backup --repo "$R3" "$SRC"
echo more >"$SRC/more.txt"
must_ok "backup b" repo backup --repo "$R3" "$SRC"
first_snap=$(ls -tr "$R3/snapshots" | head -1)
flip_byte "$R3/snapshots/$first_snap" 40
cx repo snapshots --repo "$R3"
assert_rc 1 "snapshots lists the intact one and exits 1"
assert_match "$first_snap" "$ERR" "and names the damaged snapshot"
assert_match "more.txt|/" "$OUT" "the intact snapshot is listed"
cx repo restore --repo "$R3" latest --target "$TMP/out5"
assert_rc 0 "restore of the intact snapshot works"
expect_ok "backup works" repo backup --repo "$R3" "$SRC"
expect_fail 1 "$first_snap" "prune refuses, naming the damaged snapshot" repo prune --repo "$R3"
expect_ok "forget by id removes it" repo forget --repo "$R3" "${first_snap:0:8}"
expect_ok "prune works again" repo prune --repo "$R3"
idx=$(find "$R3/index" -type f | head -1)
flip_byte "$idx" 30
cx repo restore --repo "$R3" latest --target "$TMP/out6"
[[ $RC -lt 128 ]] && ok "restore with a damaged index file does not crash" || fail "restore with a damaged index file"
expect_fail 1 "repair index" "prune refuses with a damaged index file" repo prune --repo "$R3"
must_ok "repair index" repo repair index --repo "$R3"
expect_ok "check --read-data is clean after repair index" repo check --repo "$R3" --read-data

# ---------------------------------------------------------------- restore input
log "restore input and the target"
expect_fail 1 "nope.txt matches nothing" "--include that matches nothing" \
  repo restore --repo "$R" latest --target "$TMP/inc" --include "$SRC/nope.txt"
expect_fail 1 "must be an absolute path" "a relative --include" \
  repo restore --repo "$R" latest --target "$TMP/inc" --include "sub/f1.bin"
expect_fail 1 "keep-last -3 is not allowed" "--keep-last -3 is refused" repo forget --repo "$R" --keep-last -3
(umask 027 && "$CAIRN" repo restore --repo "$R" latest --target "$TMP/deep/new/target" >/dev/null 2>&1)
assert_eq 750 "$(stat -c %a "$TMP/deep/new")" "missing parents of the target honour the umask"
assert_eq "$(stat -c %a "$SRC/sub/f1.bin")" "$(stat -c %a "$TMP/deep/new/target$SRC/sub/f1.bin")" \
  "restored files keep their recorded mode"

log "restore from a repository the user cannot write"
if id nobody >/dev/null 2>&1; then
  chmod -R a+rX "$R" "$TMP"
  pwfile=$TMP/pw.nobody
  printf '%s\n' "$PW" >"$pwfile"
  chmod 644 "$pwfile"
  mkdir -p "$TMP/ro-out" && chown nobody "$TMP/ro-out"
  out=$(runuser -u nobody -- "$CAIRN" repo restore --repo "$R" latest --target "$TMP/ro-out/t" \
        --password-file "$pwfile" 2>&1) && rc=0 || rc=$?
  assert_eq 0 "$rc" "another user's repository restores (exit 0)"
  assert_match "reading without one" "$out" "with a warning that no lock was written"
  assert_cmd "and the data is there" cmp "$SRC/small.txt" "$TMP/ro-out/t$SRC/small.txt"
  chmod -R a+rX "$R3"
  out=$(runuser -u nobody -- "$CAIRN" repo check --repo "$R3" --no-lock --password-file "$pwfile" 2>&1) && rc=0 || rc=$?
  assert_eq 0 "$rc" "check --no-lock works without write access"
fi

# ---------------------------------------------------------------- config and secrets
log "configuration and secrets"
cat >"$TMP/c.yaml" <<YAML
targets:
  local: {location: $TMP/svc-repo, password: "$PW"}
services:
  app:
    type: volume
    paths: [$SRC]
    pre_hook: 'env > $TMP/hook-env'
YAML
cx -c "$TMP/c.yaml" service list
assert_match "readable by" "$ERR" "a readable config holding a password is warned about"
chmod 600 "$TMP/c.yaml"
must_ok "backup runs the hook" -c "$TMP/c.yaml" backup app
if grep -q "CAIRN_PASSWORD" "$TMP/hook-env"; then fail "hooks never see CAIRN_PASSWORD" "$(grep CAIRN_PASSWORD "$TMP/hook-env" | sed 's/=.*/=.../')"
else ok "hooks never see CAIRN_PASSWORD"; fi
printf 'targets: {t: {location: x, password: p}}\nservices: {db: {type: postgres, prot: 5432}}\n' >"$TMP/typo.yaml"
expect_fail 1 "did you mean 'port'" "a misspelt key fails at load" -c "$TMP/typo.yaml" service list
printf 'a: &x [*x]\n' >"$TMP/alias.yaml"
expect_fail 1 "self-referencing alias" "a self-referencing alias is an error, not a crash" -c "$TMP/alias.yaml" service list
printf 'targets:\n  t: {location: x, password: p}\n  t: {location: y, password: p}\n' >"$TMP/dup.yaml"
expect_fail 1 "duplicate key 't'" "a duplicate target name is an error" -c "$TMP/dup.yaml" service list
expect_fail 1 "is a directory" "-c DIR is an error" -c "$TMP" service list
expect_ok "config check prints what was understood" -c "$TMP/c.yaml" config check
assert_nomatch "$PW" "$OUT" "config check never prints a password"

finish
