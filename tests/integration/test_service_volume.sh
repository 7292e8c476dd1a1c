#!/usr/bin/env bash
# Volume services through the configuration file: backup, history, restore as
# a new instance and in place (with the safety backup), hooks, several
# targets, retention per target, and the error paths.
source "$(dirname "$0")/lib.sh" "$@"

DATA=$TMP/srv/app
mkdir -p "$DATA/uploads/deep" "$TMP/other"
echo "first" > "$DATA/uploads/a.txt"
head -c 2000000 /dev/urandom > "$DATA/uploads/deep/blob.bin"
ln -s a.txt "$DATA/uploads/link"
echo "config v1" > "$TMP/other/app.conf"
echo pw > "$TMP/pw"
cat > "$TMP/cairn.yaml" <<YAML
targets:
  local:
    type: repository
    location: repo-local
    password_file: pw
    retention: {keep_last: 2}
  second:
    type: repository
    location: repo-second
    password: other-secret
services:
  app:
    type: volume
    paths: [$DATA/uploads, $TMP/other]
    targets: [local, second]
    pre_hook: "echo pre >> $TMP/hooks.log"
    post_hook: "echo post \$CAIRN_SERVICE >> $TMP/hooks.log"
  broken-hook:
    type: volume
    paths: [$DATA/uploads]
    targets: [local]
    pre_hook: "echo quiesce failed >&2; exit 4"
    post_hook: "echo post-after-failure >> $TMP/hooks.log"
  gone:
    type: volume
    paths: [$TMP/does-not-exist]
    targets: [local]
YAML
chmod 600 "$TMP/cairn.yaml"  # it holds passwords (cairn warns otherwise)
C=(-c "$TMP/cairn.yaml")
sum_tree() { (cd "$1" && find . -printf '%y %p %s %m %l\n' | sort && find . -type f -print0 | sort -z | xargs -0 sha256sum); }

expect_ok "service list" "${C[@]}" service list --json
assert_match '"name":"app"' "$OUT" "service list names the service"
assert_match '"type":"volume"' "$OUT" "service list gives the type"

must_ok "backup to both targets" "${C[@]}" backup app --json
# One capture, every target: one point (one id) on both, the service read once.
assert_eq '["local", "second"]' "$(json 'd["targets"]' <<<"$OUT")" "one restore point on both targets"
assert_eq '{"local": "stored", "second": "copied"}' "$(json 'd["result"]["targets"]' <<<"$OUT")" \
  "captured into the first target, copied to the second"
assert_eq "pre post app" "$(tr '\n' ' ' < "$TMP/hooks.log" | sed 's/ $//')" "pre and post hooks ran once, around the one capture"
BEFORE=$(sum_tree "$DATA/uploads")

must_ok "backup to one target" "${C[@]}" backup app --target local --json
P2=$(printf '%s' "$OUT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["point_id"])')
assert_match '"kind":"files"' "$OUT" "the parts are listed"

expect_ok "backups json" "${C[@]}" backups app --json
python3 - "$OUT" <<'PY' || fail "backups lists 2 points with targets and sizes"
import json, sys
j = json.loads(sys.argv[1]); pts = j["points"]
assert len(pts) == 2, pts
assert all(p["status"] == "complete" and p["size"] > 2000000 and p["kind"] == "manual" for p in pts)
assert sorted(len(p["targets"]) for p in pts) == [1, 2], [p["targets"] for p in pts]
assert {t for p in pts for t in p["targets"]} == {"local", "second"}
PY
ok "backups lists every point with its target"
expect_ok "backups table" "${C[@]}" backups app
assert_match "$P2" "$OUT" "table shows the point id"

# new-instance: a copy beside the original, original untouched
echo "second" >> "$DATA/uploads/a.txt"
CHANGED=$(sum_tree "$DATA/uploads")
expect_ok "restore new-instance" "${C[@]}" restore app "$P2" --mode new-instance --as "$TMP/copy" --json
assert_match '"ok":true' "$OUT" "validation passed"
assert_eq "$BEFORE" "$(sum_tree "$TMP/copy/uploads")" "new instance holds the backed-up files"
assert_eq "config v1" "$(cat "$TMP/copy/other/app.conf")" "second path restored beside it"
assert_eq "$CHANGED" "$(sum_tree "$DATA/uploads")" "new-instance left the original untouched"
expect_fail 1 "already exists" "new-instance name taken" "${C[@]}" restore app "$P2" --mode new-instance --as "$TMP/copy"

# overwrite: safety backup first, then exactly the backed-up state
expect_fail 1 "not confirmed" "overwrite needs --yes without a terminal" "${C[@]}" restore app "$P2" --mode overwrite
assert_eq "$CHANGED" "$(sum_tree "$DATA/uploads")" "unconfirmed overwrite changed nothing"
expect_ok "restore overwrite" "${C[@]}" restore app "$P2" --mode overwrite --yes --json
assert_match '"ok":true' "$OUT" "overwrite validated"
SAFETY=$(printf '%s' "$OUT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["safety_point_id"])')
assert_eq "$BEFORE" "$(sum_tree "$DATA/uploads")" "overwrite restored the backed-up state"
assert_eq 0 "$(ls -A "$DATA" | grep -c cairn || true)" "no staging left beside the volume"
expect_ok "backups after overwrite" "${C[@]}" backups app --json --target local
assert_match "\"id\":\"$SAFETY\",\"kind\":\"safety\"|\"kind\":\"safety\"" "$OUT" "the safety point is listed as kind safety"
expect_ok "restore the safety point" "${C[@]}" restore app "$SAFETY" --mode new-instance --as "$TMP/undo"
assert_eq "$CHANGED" "$(sum_tree "$TMP/undo/uploads")" "the safety point holds the replaced state"

# retention per target: local keeps 2, second has no policy
expect_ok "forget dry run" "${C[@]}" forget app --dry-run --json
assert_match '"remove":\[\{' "$OUT" "dry run names points to remove"
expect_ok "forget" "${C[@]}" forget app
expect_ok "backups after forget" "${C[@]}" backups app --json
python3 - "$OUT" <<'PY' || fail "retention kept 2 on local and all on second"
import json, sys
pts = json.loads(sys.argv[1])["points"]
assert sum("local" in p["targets"] for p in pts) == 2, pts
assert sum("second" in p["targets"] for p in pts) == 1, pts
PY
ok "retention applied per target"
expect_fail 1 "no retention policy" "forget on a target without policy" "${C[@]}" forget app --target second
expect_ok "check both targets" "${C[@]}" check --read-data

# copy: points move between repositories keeping their ids; only new data moves
expect_ok "copy local -> second" "${C[@]}" copy app --from local --to second --json
COPIED=$(printf '%s' "$OUT" | python3 -c 'import json,sys; j=json.load(sys.stdin); print(len(j["copied"]), j["bytes_copied"])')
assert_match '^[12] ' "$COPIED" "copy moved the points second lacked"
expect_ok "backups after copy" "${C[@]}" backups app --json
python3 - "$OUT" <<'PY' || fail "every local point is now on both targets"
import json, sys
pts = json.loads(sys.argv[1])["points"]
assert all("second" in p["targets"] for p in pts if "local" in p["targets"]), pts
PY
ok "copied points list both targets"
expect_ok "copy again" "${C[@]}" copy app --from local --to second --json
assert_match '"copied":\[\]' "$OUT" "a second copy finds nothing to do"
must_ok "backup after a change" "${C[@]}" backup app --target local --json
echo "a small change" >> "$DATA/uploads/a.txt"
must_ok "backup after a change" "${C[@]}" backup app --target local --json
expect_ok "incremental copy" "${C[@]}" copy app --from local --to second --json
BYTES=$(printf '%s' "$OUT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["bytes_copied"])')
assert_lt "$BYTES" 100000 "an incremental copy moves only the changed data, not the 2 MB blob ($BYTES bytes)"
expect_ok "restore from the copy" "${C[@]}" restore app latest --mode new-instance --target second --as "$TMP/from-second"
assert_eq "$(sum_tree "$DATA/uploads")" "$(sum_tree "$TMP/from-second/uploads")" "restore from the copied point"
expect_fail 1 "no restore point ffff" "copy of an unknown point" "${C[@]}" copy app ffffffff --from local --to second
expect_ok "check after copies" "${C[@]}" check --read-data

# disk full during a new-instance restore: one line, nothing left behind
mkdir -p "$TMP/small"
if mount -t tmpfs -o size=1m tmpfs "$TMP/small" 2>/dev/null; then
  on_exit "umount '$TMP/small'"
  expect_fail 1 "space" "restore into a full disk" "${C[@]}" restore app latest --mode new-instance --as "$TMP/small/copy"
  assert_eq "" "$(ls -A "$TMP/small")" "no partial copy or staging left on the full disk"
else
  fail "cannot mount a tmpfs for the disk-full test (needs root)"
fi

# an overwrite killed in the middle leaves the original as it was
head -c 40000000 /dev/urandom > "$DATA/uploads/deep/large.bin"
must_ok "backup with a large file" "${C[@]}" backup app --target local
LARGE_POINT=$(printf '%s' "$("$CAIRN" "${C[@]}" backups app --json --target local)" | python3 -c 'import json,sys; print(json.load(sys.stdin)["points"][-1]["id"])')
rm "$DATA/uploads/deep/large.bin"
echo "after the large backup" > "$DATA/uploads/a.txt"
STATE=$(sum_tree "$DATA/uploads")
"$CAIRN" "${C[@]}" restore app "$LARGE_POINT" --mode overwrite --yes --no-safety-backup >/dev/null 2>&1 &
RPID=$!
CAUGHT=no
for _ in $(seq 1000); do
  if [ -n "$(find "$TMP/srv" -path '*cairn-restore*' -name large.bin 2>/dev/null | head -n 1)" ]; then CAUGHT=yes; break; fi
  sleep 0.01
done
kill -9 $RPID 2>/dev/null || true
wait $RPID 2>/dev/null || true
assert_eq yes "$CAUGHT" "the overwrite was killed while extracting into staging"
assert_eq "$STATE" "$(sum_tree "$DATA/uploads")" "a killed overwrite left the original untouched"
expect_ok "overwrite after the interrupted one" "${C[@]}" restore app "$LARGE_POINT" --mode overwrite --yes --no-safety-backup
assert_eq 40000000 "$(stat -c %s "$DATA/uploads/deep/large.bin")" "the next overwrite completes"

# errors: each one line, nothing stored
expect_fail 1 "pre hook failed.*quiesce failed" "failing pre hook stops the backup" "${C[@]}" backup broken-hook
assert_eq 0 "$(grep -c post-after-failure "$TMP/hooks.log" || true)" "no post hook when the pre hook failed"
expect_fail 1 "does-not-exist" "missing volume path" "${C[@]}" backup gone
expect_fail 1 "no restore point 0123" "unknown point id" "${C[@]}" restore app 0123abcd --mode new-instance
expect_fail 1 "no service named 'nope'" "unknown service" "${C[@]}" backup nope
expect_fail 1 "has no target named 'x'" "unknown target" "${C[@]}" backup app --target x
expect_fail 1 "cannot read configuration file" "missing config" -c "$TMP/none.yaml" service list
printf 'services: {a: {type: pg}}\n' > "$TMP/bad.yaml"
expect_fail 1 "bad.yaml: service a: unknown type 'pg'" "bad config" -c "$TMP/bad.yaml" service list
sed 's/password: other-secret/password: wrong/' "$TMP/cairn.yaml" > "$TMP/wrongpw.yaml"
chmod 600 "$TMP/wrongpw.yaml"
expect_fail 1 "second.*password" "wrong password on a target" -c "$TMP/wrongpw.yaml" backup app --target second
expect_fail 1 "mode" "bad mode" "${C[@]}" restore app latest --mode sideways
finish
