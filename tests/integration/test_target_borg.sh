#!/usr/bin/env bash
# Borg targets through the CLI: a local borg repository and an ssh:// one behind
# a private sshd on 127.0.0.1. Volume and SQLite services back up to them,
# restore as new instances equal to the source, every point's archives are
# visible to borg itself, retention keeps or removes whole restore points, check
# passes, and wrong passphrase / unreachable server / missing repository fail
# with one line naming the cause.
source "$(dirname "$0")/lib.sh" "$@"
source "$(dirname "$0")/sshd_lib.sh"

command -v borg >/dev/null || die "borg is not installed (apt-get install borgbackup)"
command -v sqlite3 >/dev/null || die "sqlite3 is not installed (apt-get install sqlite3)"

sshd_start "$TMP/sshd" || die "start sshd on 127.0.0.1"
ok "sshd listens on 127.0.0.1:$SSHD_PORT"
DEAD_PORT=$(sshd_free_port)
mkdir -p "$TMP/remote"
chown "$SSHD_USER:" "$TMP/remote"

DATA=$TMP/srv/app
mkdir -p "$DATA/uploads/deep"
echo "first" >"$DATA/uploads/a.txt"
head -c 1500000 /dev/urandom >"$DATA/uploads/deep/blob.bin"
ln -s a.txt "$DATA/uploads/link"
DB=$TMP/app.db
sqlite3 "$DB" "PRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);
  WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<20000)
  INSERT INTO t SELECT x, hex(randomblob(16)) FROM c;" >/dev/null
echo "borg passphrase for tests" >"$TMP/pass"
REMOTE="ssh://$SSHD_USER@127.0.0.1:$SSHD_PORT$TMP/remote/repo"

cat >"$TMP/cairn.yaml" <<YAML
targets:
  local:
    type: borg
    location: $TMP/borg-local
    password_file: $TMP/pass
    retention: {keep_last: 2}
  offsite:
    type: borg
    location: $REMOTE
    password_file: $TMP/pass
    ssh_command: "$SSHD_SSH"
    compression: lz4
  wrongpw:
    type: borg
    location: $TMP/borg-local
    password: not-the-passphrase
  unreachable:
    type: borg
    location: ssh://$SSHD_USER@127.0.0.1:$DEAD_PORT$TMP/remote/repo
    password_file: $TMP/pass
    ssh_command: "$SSHD_SSH"
  missing:
    type: borg
    location: $TMP/no-such-repo
    password_file: $TMP/pass
services:
  app:
    type: volume
    paths: [$DATA/uploads]
    targets: [local, offsite]
  db:
    type: sqlite
    path: $DB
    targets: [local, offsite]
  app-wrongpw:
    type: volume
    paths: [$DATA/uploads]
    targets: [wrongpw]
  app-unreachable:
    type: volume
    paths: [$DATA/uploads]
    targets: [unreachable]
  app-missing:
    type: volume
    paths: [$DATA/uploads]
    targets: [missing]
YAML
chmod 600 "$TMP/cairn.yaml"  # it holds passwords (cairn warns otherwise)
C=(-c "$TMP/cairn.yaml")

# borg itself, with the passphrase and key/cache directory Cairn uses.
borg_env() {
  BORG_PASSPHRASE=$(cat "$TMP/pass") BORG_BASE_DIR=$XDG_CACHE_HOME/cairn/borg BORG_RSH=$SSHD_SSH \
    BORG_RELOCATED_REPO_ACCESS_IS_OK=yes "$@"
}
archives() { borg_env borg list --short "$1" 2>"$TMP/borg.err" | sort; }
sum_tree() {
  (cd "$1" && find . -printf '%y %p %s %m %l\n' | sort && find . -type f -print0 | sort -z | xargs -0 sha256sum)
}
field() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }

# ---------------------------------------------------------------- (a) local borg repository
STATE1=$(sum_tree "$DATA/uploads")
must_ok "backup volume service to the local borg target" "${C[@]}" backup app --target local --json
P1=$(field 'd["point_id"]' <<<"$OUT")
PART1=$(field 'd["parts"][0]["name"]' <<<"$OUT")
assert_match '^[0-9a-f]{16}$' "$P1" "backup prints the restore point id"
assert_exists "$TMP/borg-local/config" "the borg repository was created on first backup"
LIST=$(archives "$TMP/borg-local")
assert_eq "app.$P1.$PART1 app.$P1.manifest" "$(tr '\n' ' ' <<<"$LIST" | sed 's/ $//')" "borg list shows the point's part archive and its manifest"
MANIFEST=$(borg_env borg extract --stdout "$TMP/borg-local::app.$P1.manifest" cairn-manifest.json 2>/dev/null || true)
assert_eq "$P1" "$(field 'd["point_id"]' <<<"$MANIFEST" 2>/dev/null)" "the manifest archive holds the point's manifest"
TIMES=$(borg_env borg list --format '{time}{NL}' "$TMP/borg-local" | sort -u | wc -l)
assert_eq 1 "$TIMES" "all archives of a point share one timestamp"

DB_STATE1=$(sqlite3 "$DB" "select count(*), sum(length(v)), max(id) from t")
must_ok "backup sqlite service to the local borg target" "${C[@]}" backup db --target local --json
PDB=$(field 'd["point_id"]' <<<"$OUT")
assert_match '"kind":"stream"' "$OUT" "the sqlite part is a stream"

expect_ok "backups json" "${C[@]}" backups app --json
FIRST=$(field '" ".join([d["points"][0][k] if k != "targets" else str(d["points"][0][k])
                          for k in ("id", "status", "targets")])' <<<"$OUT")
assert_eq "$P1 complete ['local']" "$FIRST" "backups lists the point on the borg target as complete"

echo "second" >>"$DATA/uploads/a.txt"
sqlite3 "$DB" "delete from t where id % 3 = 0; insert into t(v) values('after');"
expect_ok "restore volume new-instance from local borg" \
  "${C[@]}" restore app latest --mode new-instance --target local --as "$TMP/copy-local" --json
assert_match '"ok":true' "$OUT" "validation of the volume restore passed"
assert_eq "$STATE1" "$(sum_tree "$TMP/copy-local")" "restored files equal the source at backup time"
expect_ok "restore sqlite new-instance from local borg" \
  "${C[@]}" restore db "$PDB" --mode new-instance --target local --as "$TMP/db-copy.db" --json
assert_match '"ok":true' "$OUT" "validation of the sqlite restore passed"
assert_eq "$DB_STATE1" "$(sqlite3 "$TMP/db-copy.db" "select count(*), sum(length(v)), max(id) from t" 2>&1)" \
  "restored database holds the backed-up rows"
assert_eq "ok" "$(sqlite3 "$TMP/db-copy.db" "pragma integrity_check" 2>&1)" "restored database passes integrity_check"

# ---------------------------------------------------------------- (b) ssh:// repository
STATE2=$(sum_tree "$DATA/uploads")
must_ok "backup volume service over ssh" "${C[@]}" backup app --target offsite --json
P2=$(field 'd["point_id"]' <<<"$OUT")
LIST=$(archives "$REMOTE")
assert_eq "app.$P2.$PART1 app.$P2.manifest" "$(tr '\n' ' ' <<<"$LIST" | sed 's/ $//')" "borg list over ssh shows the point's archives"
assert_eq "$SSHD_USER" "$(stat -c %U "$TMP/remote/repo/config" 2>&1)" "the repository was written by the ssh user"
must_ok "backup sqlite service over ssh" "${C[@]}" backup db --target offsite --json
PDB2=$(field 'd["point_id"]' <<<"$OUT")
echo "third" >>"$DATA/uploads/a.txt"
expect_ok "restore volume new-instance over ssh" \
  "${C[@]}" restore app "$P2" --mode new-instance --target offsite --as "$TMP/copy-ssh" --json
assert_match '"ok":true' "$OUT" "validation of the ssh restore passed"
assert_eq "$STATE2" "$(sum_tree "$TMP/copy-ssh")" "files restored over ssh equal the source at backup time"
expect_ok "restore sqlite new-instance over ssh" \
  "${C[@]}" restore db "$PDB2" --mode new-instance --target offsite --as "$TMP/db-copy-ssh.db"
assert_eq "$(sqlite3 "$DB" "select count(*), sum(length(v)) from t")" \
  "$(sqlite3 "$TMP/db-copy-ssh.db" "select count(*), sum(length(v)) from t" 2>&1)" \
  "database restored over ssh holds the rows"
expect_ok "backups lists both targets" "${C[@]}" backups app --json
python3 - "$OUT" "$P1" "$P2" <<'PY' || fail "backups shows P1 on local and P2 on offsite, both complete"
import json, sys
pts = {p["id"]: p for p in json.loads(sys.argv[1])["points"]}
assert pts[sys.argv[2]]["targets"] == ["local"] and pts[sys.argv[3]]["targets"] == ["offsite"], pts
assert all(p["status"] == "complete" and p["size"] > 1500000 for p in pts.values()), pts
PY
ok "backups shows each point on its borg target"

# ---------------------------------------------------------------- (b2) overwrite from a borg target
# The same restore modes as from a Cairn repository: a safety point first (on
# the borg target), then exactly the backed-up state, validated.
DB_AT=$(sqlite3 "$DB" "select count(*), sum(length(v)), max(id), group_concat(id) from t")
VOL_AT=$(sum_tree "$DATA/uploads")
must_ok "sqlite backup over ssh for an overwrite" "${C[@]}" backup db --target offsite --json
PDBO=$(field 'd["point_id"]' <<<"$OUT")
must_ok "volume backup over ssh for an overwrite" "${C[@]}" backup app --target offsite --json
PVO=$(field 'd["point_id"]' <<<"$OUT")
sqlite3 "$DB" "delete from t where id % 2 = 0; insert into t(v) values('replaced');"
DB_CHANGED=$(sqlite3 "$DB" "select count(*), sum(length(v)), max(id), group_concat(id) from t")
echo "changed" >"$DATA/uploads/a.txt"
rm "$DATA/uploads/deep/blob.bin"
echo "new" >"$DATA/uploads/new.txt"
VOL_CHANGED=$(sum_tree "$DATA/uploads")
expect_ok "overwrite sqlite from the ssh borg target" \
  "${C[@]}" restore db "$PDBO" --mode overwrite --yes --target offsite --json
assert_match '"ok":true' "$OUT" "the sqlite overwrite from borg validated"
SAFETY_DB=$(field 'd["safety_point_id"]' <<<"$OUT")
assert_eq "$DB_AT" "$(sqlite3 "$DB" "select count(*), sum(length(v)), max(id), group_concat(id) from t")" \
  "overwrite from borg brought back exactly the backed-up rows"
assert_eq "ok" "$(sqlite3 "$DB" "pragma integrity_check")" "the overwritten database passes integrity_check"
expect_ok "overwrite volume from the ssh borg target" \
  "${C[@]}" restore app "$PVO" --mode overwrite --yes --target offsite --json
assert_match '"ok":true' "$OUT" "the volume overwrite from borg validated"
SAFETY_VOL=$(field 'd["safety_point_id"]' <<<"$OUT")
assert_eq "$VOL_AT" "$(sum_tree "$DATA/uploads")" "overwrite from borg brought back exactly the backed-up files"
assert_eq 0 "$(ls -A "$DATA" | grep -c cairn || true)" "no staging left beside the volume"
expect_ok "backups db on the ssh target" "${C[@]}" backups db --target offsite --json
python3 - "$OUT" "$SAFETY_DB" <<'PY' || fail "the sqlite safety point is on the borg target, kind safety"
import json, sys
pts = {p["id"]: p for p in json.loads(sys.argv[1])["points"]}
assert pts[sys.argv[2]]["kind"] == "safety" and pts[sys.argv[2]]["targets"] == ["offsite"], pts
PY
ok "the sqlite safety point is on the borg target, kind safety"
expect_ok "restore the sqlite safety point" \
  "${C[@]}" restore db "$SAFETY_DB" --mode new-instance --target offsite --as "$TMP/db-undo.db"
assert_eq "$DB_CHANGED" "$(sqlite3 "$TMP/db-undo.db" "select count(*), sum(length(v)), max(id), group_concat(id) from t")" \
  "the sqlite safety point holds the replaced rows"
expect_ok "restore the volume safety point" \
  "${C[@]}" restore app "$SAFETY_VOL" --mode new-instance --target offsite --as "$TMP/vol-undo"
assert_eq "$VOL_CHANGED" "$(sum_tree "$TMP/vol-undo")" "the volume safety point holds the replaced files"

# ---------------------------------------------------------------- (c) retention: whole points
must_ok "second local backup" "${C[@]}" backup app --target local --json
P3=$(field 'd["point_id"]' <<<"$OUT")
echo "fourth" >>"$DATA/uploads/a.txt"
STATE4=$(sum_tree "$DATA/uploads")
# Borg timestamps are whole seconds and keep_last is borg's "secondly" rule:
# two points in one second count once (docs/targets/borg.md). The points
# this test counts must be in different seconds.
sleep 1.1
must_ok "third local backup" "${C[@]}" backup app --target local --json
P4=$(field 'd["point_id"]' <<<"$OUT")
BEFORE=$(archives "$TMP/borg-local")
expect_ok "forget dry run" "${C[@]}" forget app --target local --dry-run --json
DECISIONS=$(field '[[r["id"] for r in d[0]["remove"]], [k["id"] for k in d[0]["keep"]]]' <<<"$OUT")
assert_eq "[['$P1'], ['$P4', '$P3']]" "$DECISIONS" "dry run removes the oldest point and keeps the 2 newest"
assert_eq "$BEFORE" "$(archives "$TMP/borg-local")" "dry run changed no archive"
expect_ok "forget" "${C[@]}" forget app --target local --json
assert_match "\"remove\":\[\{\"id\":\"$P1\"" "$OUT" "forget removed the oldest point"
AFTER=$(archives "$TMP/borg-local")
assert_nomatch "app\.$P1\." "$AFTER" "no archive of the removed point is left"
assert_match "db\.$PDB\.manifest" "$AFTER" "another service's point is untouched"
HALF=$(sed -n 's/^\(.*\.[0-9a-f]\{16\}\)\..*/\1/p' <<<"$AFTER" | sort -u | while read -r p; do
  grep -qx "$p.manifest" <<<"$AFTER" || echo "$p"; done)
assert_eq "" "$HALF" "no half point: every remaining point still has its manifest"
assert_eq "2" "$(grep -c '^app\..*\.manifest$' <<<"$AFTER")" "two app points remain"
expect_ok "restore the newest kept point" \
  "${C[@]}" restore app "$P4" --mode new-instance --target local --as "$TMP/copy-p4"
assert_eq "$STATE4" "$(sum_tree "$TMP/copy-p4")" "the newest kept point restores"
expect_ok "restore the older kept point" \
  "${C[@]}" restore app "$P3" --mode new-instance --target local --as "$TMP/copy-p3"
expect_fail 1 "no retention policy" "forget on a borg target without policy" "${C[@]}" forget app --target offsite

# ---------------------------------------------------------------- (d) check
expect_ok "check the local borg target (read data)" "${C[@]}" check --target local --read-data
expect_ok "check the ssh borg target" "${C[@]}" check --target offsite

# ---------------------------------------------------------------- (e) errors name the cause
expect_fail 1 "wrong passphrase for borg repository $TMP/borg-local" "wrong passphrase" "${C[@]}" backup app-wrongpw
assert_nomatch "not-the-passphrase" "$OUT$ERR" "the error does not echo the passphrase"
expect_fail 1 "cannot connect to borg repository ssh://.*:$DEAD_PORT.*connection refused" "unreachable ssh port" \
  "${C[@]}" backup app-unreachable
# Asked for by name, a missing repository is named as the cause.
expect_fail 1 "target missing: borg repository .*no-such-repo does not exist" "missing repository on restore" \
  "${C[@]}" restore app-missing latest --mode new-instance --target missing --as "$TMP/never"
assert_not_exists "$TMP/no-such-repo" "restore did not create the missing repository"
assert_not_exists "$TMP/never" "nothing restored from a missing repository"
cx "${C[@]}" check --target missing
assert_rc 1 "check of a missing borg repository fails"
assert_match "borg repository $TMP/no-such-repo does not exist" "$OUT$ERR" "check names the missing repository"
cx "${C[@]}" backups app --json
assert_nomatch "$(cat "$TMP/pass")" "$OUT$ERR$(cat "$TMP/sshd/sshd.log")" \
  "the passphrase is in no manifest, output or log"

finish
