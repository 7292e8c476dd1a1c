#!/usr/bin/env bash
# The main job on embedded defaults: a demo service (an SQLite database with
# an attachments directory) and a local repository target. Back it up, change
# it, back it up again, list the history, restore the first restore point as
# a new instance and then in place (after an automatic safety backup), with
# each restore validated against the fingerprint taken at backup time, and
# check the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
CAIRN=${CAIRN:-$PWD/build/cairn}
WORK=${CAIRN_DEMO_DIR:-$(mktemp -d /tmp/cairn-demo.XXXXXX)}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
DB=$WORK/service/notes.db
FILES=$WORK/service/attachments

step() { printf '\n== %s\n' "$*"; }
notes() { sqlite3 "$DB" "select count(*) || ' notes, last: ' || coalesce(max(title), '-') from notes"; }

step "preparing the demo service in $WORK/service"
mkdir -p "$FILES"
sqlite3 "$DB" "PRAGMA journal_mode=WAL;
  CREATE TABLE notes(id INTEGER PRIMARY KEY, title TEXT, body TEXT);
  WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM n WHERE x < 20000)
  INSERT INTO notes SELECT x, printf('note %05d', x), hex(randomblob(64)) FROM n;" >/dev/null
for i in $(seq 1 20); do head -c 100000 /dev/urandom > "$FILES/scan-$i.bin"; done
notes

echo demo-repository-password > "$WORK/repo.pass"
chmod 600 "$WORK/repo.pass"
cat > "$WORK/cairn.yaml" <<YAML
# Written by scripts/demo.sh; see examples/cairn.yaml for every option.
targets:
  local:
    type: repository
    location: repository
    password_file: repo.pass
    retention: {keep_last: 10}
services:
  notes:
    type: sqlite
    path: service/notes.db
    volumes: [$FILES]
    targets: [local]
YAML
C=(-c "$WORK/cairn.yaml")

step "cairn service list"
"$CAIRN" "${C[@]}" service list
step "cairn backup notes (the repository is created on first use)"
"$CAIRN" "${C[@]}" backup notes
FIRST=$("$CAIRN" "${C[@]}" backups notes --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["points"][-1]["id"])')

step "changing the service: 500 notes deleted, one attachment replaced"
sqlite3 "$DB" "DELETE FROM notes WHERE id > 19500"
head -c 100000 /dev/urandom > "$FILES/scan-1.bin"
notes
step "cairn backup notes (only the changed data is stored)"
"$CAIRN" "${C[@]}" backup notes
step "cairn backups notes"
"$CAIRN" "${C[@]}" backups notes

step "cairn restore notes $FIRST --mode new-instance (the original stays as it is)"
"$CAIRN" "${C[@]}" restore notes "$FIRST" --mode new-instance --as notes-restored.db
sqlite3 "$WORK/service/notes-restored.db" "select 'new instance: ' || count(*) || ' notes' from notes"
notes

step "cairn restore notes $FIRST --mode overwrite --yes (a safety backup is taken first)"
"$CAIRN" "${C[@]}" restore notes "$FIRST" --mode overwrite --yes
notes
step "cairn backups notes (the safety point holds the replaced state)"
"$CAIRN" "${C[@]}" backups notes

step "cairn check --read-data"
"$CAIRN" "${C[@]}" check --read-data
printf '\ndemo finished; everything is in %s (configuration: %s)\n' "$WORK" "$WORK/cairn.yaml"
