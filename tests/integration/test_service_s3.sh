#!/usr/bin/env bash
# A service with a local and an S3 target (the signature-verifying S3 server
# on loopback): per-target credentials from the config, backup to both, copy,
# restore from S3, retention and check on S3, an independent client (rclone)
# sees Cairn's objects, wrong credentials, and the S3 server dying mid-backup.
source "$(dirname "$0")/lib.sh" "$@"
ROOT=$(cd "$LIB_DIR/../.." && pwd)

command -v node >/dev/null || die "node is not installed (scripts/setup.sh installs nodejs)"
MODS=${CAIRN_S3RVER_DIR:-/tmp/cairn-s3rver}
if [ ! -f "$MODS/node_modules/@20minutes/s3rver/package.json" ]; then
  mkdir -p "$MODS"
  ( cd "$MODS" && { [ -f package.json ] || echo '{"name":"cairn-s3rver","private":true}' > package.json; } &&
    flock "$MODS/.lock" npm install --no-audit --no-fund @20minutes/s3rver@5.0.0 >/dev/null 2>&1 ) ||
    die "npm install @20minutes/s3rver failed"
fi

start_s3() {  # start_s3 DATA_DIR -> S3_PID, S3_PORT
  rm -f "$TMP/s3.log"
  mkfifo "$TMP/s3.in.$1" 2>/dev/null || true
  NODE_PATH=$MODS/node_modules node --openssl-legacy-provider "$ROOT/tests/s3/s3server.js" \
    "$TMP/s3data" "${S3_PORT:-0}" cairnkey cairnsecret bkt <"$TMP/s3.in.$1" >"$TMP/s3.log" 2>&1 &
  S3_PID=$!
  exec {S3_IN}>"$TMP/s3.in.$1"
  for _ in $(seq 100); do grep -q '^listening' "$TMP/s3.log" 2>/dev/null && break; sleep 0.1; done
  S3_PORT=$(sed -n 's/^listening .*:\([0-9]*\)$/\1/p' "$TMP/s3.log")
  [ -n "$S3_PORT" ] || die "S3 server did not start: $(cat "$TMP/s3.log")"
}
start_s3 1
on_exit 'kill $S3_PID 2>/dev/null'

mkdir -p "$TMP/data/sub"
head -c 3000000 /dev/urandom > "$TMP/data/sub/big.bin"
for i in $(seq 50); do echo "file $i" > "$TMP/data/f$i.txt"; done
printf '[default]\naccess_key_id = cairnkey\nsecret_access_key = cairnsecret\n' > "$TMP/s3.cred"
chmod 600 "$TMP/s3.cred"
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY CAIRN_S3_CREDENTIALS_FILE
write_conf() {  # write_conf FILE CREDFILE
  cat > "$1" <<YAML
targets:
  local: {location: $TMP/repo, password: local-pw}
  cloud:
    location: s3:http://127.0.0.1:$S3_PORT/bkt/cairn/app
    password: cloud-pw
    s3_credentials_file: $2
    retention: {keep_last: 2}
services:
  app: {type: volume, paths: [$TMP/data], targets: [local, cloud]}
YAML
  chmod 600 "$1"  # it holds passwords (cairn warns otherwise)
}
write_conf "$TMP/c.yaml" "$TMP/s3.cred"
C=(-c "$TMP/c.yaml")
tree_sum() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }

must_ok "backup to local and S3" "${C[@]}" backup app --json
# One capture, every target: stored locally, sent to S3 as the same point.
assert_eq '{"cloud": "copied", "local": "stored"}' "$(json 'd["result"]["targets"]' <<<"$OUT")" \
  "captured once into local, copied to S3"
must_ok "backup to local only" "${C[@]}" backup app --target local --json
expect_ok "backups" "${C[@]}" backups app --json
assert_eq 2 "$(printf '%s' "$OUT" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["points"]))')" "two points"
assert_eq '[["cloud", "local"], ["local"]]' "$(json 'sorted(sorted(p["targets"]) for p in d["points"])' <<<"$OUT")" \
  "the first on both targets, the second on local"
expect_ok "copy local -> cloud" "${C[@]}" copy app --from local --to cloud --json
assert_match '"copied":\["[0-9a-f]{16}"\]' "$OUT" "the local point was copied to S3"
expect_ok "restore from S3" "${C[@]}" restore app latest --target cloud --mode new-instance --as "$TMP/restored"
assert_eq "$(tree_sum "$TMP/data")" "$(tree_sum "$TMP/restored")" "restored from S3 equals the source"
expect_ok "check S3 target" "${C[@]}" check --target cloud --read-data

# An independent client lists and reads what Cairn wrote.
if command -v rclone >/dev/null; then
  RC=(env -u AWS_CA_BUNDLE rclone --config /dev/null --retries 1 --low-level-retries 1)
  REMOTE=":s3,provider=Other,access_key_id=cairnkey,secret_access_key=cairnsecret,endpoint='http://127.0.0.1:$S3_PORT',force_path_style=true:bkt/cairn/app"
  LISTED=$("${RC[@]}" lsf -R --files-only "$REMOTE" 2>&1 || true)
  assert_match '^config$' "$LISTED" "rclone lists the repository config"
  assert_match '^snapshots/[0-9a-f]{64}$' "$LISTED" "rclone lists snapshot objects"
  assert_eq "$(printf '%s\n' "$LISTED" | grep -c '^snapshots/')" 2 "two snapshots in S3, both sent from local"
else
  fail "rclone is not installed (scripts/setup.sh installs it)"
fi

# retention on the S3 target only
must_ok "third backup to S3" "${C[@]}" backup app --target cloud
expect_ok "forget on S3" "${C[@]}" forget app --target cloud --json
assert_match '"remove":\[\{' "$OUT" "keep_last 2 removes one S3 point"
expect_ok "check S3 after prune" "${C[@]}" check --target cloud --read-data

# wrong credentials: one line, no secret in it
printf 'access_key_id = cairnkey\nsecret_access_key = not-the-secret\n' > "$TMP/bad.cred"
write_conf "$TMP/bad.yaml" "$TMP/bad.cred"
expect_fail 1 "SignatureDoesNotMatch|signature|403" "wrong S3 secret" -c "$TMP/bad.yaml" backup app --target cloud
assert_nomatch "not-the-secret" "$ERR$OUT" "the secret is not printed"
write_conf "$TMP/nocred.yaml" "$TMP/missing.cred"
expect_fail 1 "cannot read S3 credentials file" "missing credentials file" -c "$TMP/nocred.yaml" backup app --target cloud

# The S3 server dies in the middle of a backup: clear error, no point, and
# after it is back the target checks clean and the next backup works.
head -c 60000000 /dev/urandom > "$TMP/data/sub/large.bin"
"$CAIRN" "${C[@]}" backup app --target cloud >"$TMP/mid.out" 2>"$TMP/mid.err" &
BK=$!
for _ in $(seq 100); do [ -n "$(find "$TMP/s3data/bkt/cairn/app/data" -newer "$TMP/mid.out" -type f 2>/dev/null | head -n 1)" ] && break; sleep 0.05; done
kill -9 $S3_PID
wait $BK && RCB=0 || RCB=$?
assert_eq 1 "$RCB" "backup fails when the S3 server dies"
assert_eq 1 "$(wc -l < "$TMP/mid.err")" "one line of error"
start_s3 2
expect_ok "backups after the failure" "${C[@]}" backups app --target cloud --json
assert_eq 2 "$(printf '%s' "$OUT" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["points"]))')" "no point from the failed backup"
expect_ok "check after the failure" "${C[@]}" check --target cloud
expect_ok "next backup succeeds" "${C[@]}" backup app --target cloud
expect_ok "check after the next backup" "${C[@]}" check --target cloud --read-data
finish
