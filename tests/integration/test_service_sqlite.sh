#!/usr/bin/env bash
# SQLite service: a backup taken while a writer keeps inserting is consistent,
# new-instance and overwrite restores (the latter under an open connection),
# error cases. Needs the sqlite3 CLI and python3's sqlite3 module.
source "$(dirname "$0")/lib.sh" "$@"

command -v sqlite3 >/dev/null 2>&1 || die "the sqlite3 CLI is installed (apt-get install sqlite3)"
python3 -c 'import sqlite3' 2>/dev/null || die "python3 has the sqlite3 module"

APP=$TMP/app
mkdir -p "$APP"
DB=$APP/app.db
python3 - "$DB" <<'EOF'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.executescript("""
PRAGMA journal_mode=WAL;
PRAGMA user_version=3;
CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT UNIQUE, score REAL);
CREATE TABLE orders(id INTEGER PRIMARY KEY AUTOINCREMENT, user_id INTEGER REFERENCES users(id), total REAL, note TEXT, doc BLOB);
CREATE TABLE settings(key TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TABLE events(id INTEGER PRIMARY KEY, kind TEXT, payload BLOB);
CREATE TABLE totals(n INTEGER NOT NULL);
INSERT INTO totals VALUES(0);
CREATE INDEX orders_user ON orders(user_id);
CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 500;
CREATE TRIGGER orders_note AFTER INSERT ON orders WHEN new.note IS NULL
  BEGIN UPDATE orders SET note = 'auto' WHERE id = new.id; END;
""")
c.execute("BEGIN")
for i in range(1, 5001):
    c.execute("INSERT INTO users VALUES(?, ?, ?, ?)", (i, "user %d" % i, "u%d@example.com" % i, i * 0.25))
for i in range(1, 15001):
    c.execute("INSERT INTO orders(user_id, total, note, doc) VALUES(?, ?, ?, randomblob(64))",
              (i % 5000 + 1, (i * 37) % 1000 + 0.5, None if i % 3 else "note %d" % i))
c.executemany("INSERT INTO settings VALUES(?, ?)", [("theme", "dark"), ("limit", 10), ("ratio", 0.75), ("blob", b"\x00\x01")])
c.execute("COMMIT")
EOF
assert_eq "wal" "$(sqlite3 "$DB" 'PRAGMA journal_mode')" "test database is in WAL mode"

# A writer that inserts one event per transaction and keeps totals.n equal to
# count(events): any restore that breaks the invariant is not a snapshot.
cat >"$TMP/writer.py" <<'EOF'
import os, sqlite3, sys
db, stop, progress = sys.argv[1:4]
c = sqlite3.connect(db, timeout=30, isolation_level=None)
n = 0
while not os.path.exists(stop):
    c.execute("BEGIN IMMEDIATE")
    c.execute("INSERT INTO events(kind, payload) VALUES('tick', randomblob(300))")
    c.execute("UPDATE totals SET n = n + 1")
    c.execute("COMMIT")
    n += 1
    if n % 20 == 0:
        with open(progress + ".tmp", "w") as f: f.write(str(n))
        os.replace(progress + ".tmp", progress)
with open(progress, "w") as f: f.write(str(n))
EOF

printf '%s\n' "$PW" >"$TMP/repo.pw"
head -c 20000 /dev/urandom >"$APP/junk.db"
CFG=$TMP/cairn.yaml
cat >"$CFG" <<EOF
targets:
  local:
    type: repository
    location: $TMP/repo
    password_file: $TMP/repo.pw
services:
  app:
    type: sqlite
    path: $DB
    targets: [local]
  missing:
    type: sqlite
    path: $APP/nope.db
    targets: [local]
  junk:
    type: sqlite
    path: $APP/junk.db
    targets: [local]
EOF
chmod 600 "$CFG"  # it holds passwords (cairn warns otherwise)

progress() { cat "$TMP/progress" 2>/dev/null || echo 0; }
progress_at_least() { (($(progress) >= $1)); }

# ---------------------------------------------------------------- backup under writes
python3 "$TMP/writer.py" "$DB" "$TMP/stop" "$TMP/progress" &
WRITER=$!
BG_PIDS+=("$WRITER")
wait_for 30 progress_at_least 200 || die "the writer makes progress"
BEFORE=$(progress)
must_ok "backup while a writer keeps inserting" -c "$CFG" backup app --json
P1=$(json 'd["point_id"]' <<<"$OUT")
P1_JSON=$OUT
sleep 0.3
DURING=$(progress)
touch "$TMP/stop"
wait "$WRITER" || die "writer exits cleanly"
FINAL=$(progress)
assert_lt "$BEFORE" "$FINAL" "the writer kept inserting while the backup ran ($BEFORE -> $FINAL)"
assert_eq "true" "$(json 'd["fingerprint"]["exact"]' <<<"$P1_JSON")" "fingerprint is exact (taken in the snapshot)"
assert_eq '["db"]' "$(json '[p["name"] for p in d["parts"]]' <<<"$P1_JSON")" "one part: db"
assert_eq "app.db" "$(json 'd["parts"][0]["file"]' <<<"$P1_JSON")" "stored under the database's file name"
SNAP_EVENTS=$(json 'd["fingerprint"]["items"]["table events"]["rows"]' <<<"$P1_JSON")
assert_le "$BEFORE" "$SNAP_EVENTS" "snapshot holds the events written before the backup started"
assert_le "$SNAP_EVENTS" "$DURING" "snapshot holds no event written after the backup ended"

cx -c "$CFG" restore app "$P1" --mode new-instance --as restored_busy.db --json
assert_rc 0 "new-instance restore of the busy backup"
assert_eq "$APP/restored_busy.db" "$(json 'd["connection"]["path"]' <<<"$OUT")" "relative --as lands beside the original"
assert_eq "true" "$(json 'd["validation"]["ok"] and d["validation"]["exact"]' <<<"$OUT")" "validation ok and exact"
assert_eq "ok" "$(sqlite3 "$APP/restored_busy.db" 'PRAGMA integrity_check')" "restored database passes integrity_check"
assert_eq "$SNAP_EVENTS|$SNAP_EVENTS" "$(sqlite3 "$APP/restored_busy.db" 'SELECT count(*), (SELECT n FROM totals) FROM events')" \
  "restored database is a transaction-consistent snapshot (count(events) = totals.n)"
assert_eq "0" "$(sqlite3 "$APP/restored_busy.db" 'PRAGMA foreign_key_check' | wc -l)" "foreign keys intact"

# ---------------------------------------------------------------- quiet backup: exact content
sqlite3 "$DB" .dump >"$TMP/source.dump"
must_ok "backup of the quiet database" -c "$CFG" backup app --json
P2=$(json 'd["point_id"]' <<<"$OUT")
SHA_BEFORE=$(sha "$DB")
cx -c "$CFG" restore app "$P2" --mode new-instance --json
assert_rc 0 "new-instance restore with the default name"
NEW=$(json 'd["connection"]["path"]' <<<"$OUT")
assert_match "^$APP/app\.restored_[0-9_]+\.db$" "$NEW" "default name: beside the original, <name>.<suffix>.db"
sqlite3 "$NEW" .dump >"$TMP/restored.dump"
assert_cmd "restored .dump equals the source's" cmp "$TMP/source.dump" "$TMP/restored.dump"
assert_eq "3" "$(sqlite3 "$NEW" 'PRAGMA user_version')" "user_version restored"
assert_eq "wal" "$(sqlite3 "$NEW" 'PRAGMA journal_mode')" "journal mode restored (WAL)"
assert_eq "$SHA_BEFORE" "$(sha "$DB")" "new-instance restore leaves the original byte for byte untouched"
assert_eq "$(stat -c %a "$DB")" "$(stat -c %a "$NEW")" "new file gets the original's mode"

expect_fail 1 "already exists" "new instance onto an existing file is refused" \
  -c "$CFG" restore app "$P2" --mode new-instance --as restored_busy.db
assert_eq "ok" "$(sqlite3 "$APP/restored_busy.db" 'PRAGMA integrity_check')" "the existing file was not touched"

# ---------------------------------------------------------------- overwrite under an open connection
sqlite3 "$DB" "DELETE FROM orders WHERE id % 2 = 0; DROP VIEW big_orders; CREATE TABLE junk(x); INSERT INTO junk VALUES(1);
               UPDATE settings SET value = 'light' WHERE key = 'theme'; PRAGMA user_version = 4;"
assert_ne "$(cat "$TMP/source.dump")" "$(sqlite3 "$DB" .dump)" "the changes are visible before the overwrite"
# An application connection that stays open across the restore.
cat >"$TMP/app_conn.py" <<'EOF'
import os, sqlite3, sys, time
db, ready, go, out = sys.argv[1:5]
c = sqlite3.connect(db, timeout=30, isolation_level=None)
before = c.execute("SELECT count(*) FROM orders").fetchone()[0]
open(ready, "w").close()
while not os.path.exists(go): time.sleep(0.02)
after = c.execute("SELECT count(*) FROM orders").fetchone()[0]
theme = c.execute("SELECT value FROM settings WHERE key = 'theme'").fetchone()[0]
with open(out, "w") as f: f.write("%d %d %s" % (before, after, theme))
EOF
python3 "$TMP/app_conn.py" "$DB" "$TMP/ready" "$TMP/go" "$TMP/conn.out" &
CONN=$!
BG_PIDS+=("$CONN")
wait_for 20 test -e "$TMP/ready" || die "application connection is open"
cx -c "$CFG" restore app "$P2" --mode overwrite --yes --json
assert_rc 0 "overwrite restore with an application connection open"
OW=$OUT
touch "$TMP/go"
wait "$CONN" || true
assert_eq "7500 15000 dark" "$(cat "$TMP/conn.out" 2>/dev/null)" "the open connection sees the restored data"
assert_eq "true" "$(json 'd["validation"]["ok"] and d["validation"]["exact"]' <<<"$OW")" "overwrite validated (exact)"
sqlite3 "$DB" .dump >"$TMP/after.dump"
assert_cmd "overwritten database .dump equals the backed-up one" cmp "$TMP/source.dump" "$TMP/after.dump"
assert_eq "ok" "$(sqlite3 "$DB" 'PRAGMA integrity_check')" "overwritten database passes integrity_check"
assert_eq "" "$(find "$APP" -maxdepth 1 -name "*cairn-*")" "no temporary files left beside the database"
SAFETY=$(json 'd["safety_point_id"]' <<<"$OW")
assert_match '^[0-9a-f]{16}$' "$SAFETY" "overwrite took a safety backup"
cx -c "$CFG" backups app --json
assert_eq "safety" "$(json '[p["kind"] for p in d["points"] if p["id"] == "'"$SAFETY"'"][0]' <<<"$OUT")" \
  "backups --json lists the safety point with kind safety"
cx -c "$CFG" restore app "$SAFETY" --mode new-instance --as safety.db --json
assert_rc 0 "safety point restores as a new instance"
assert_eq "4|1" "$(sqlite3 "$APP/safety.db" 'SELECT (SELECT user_version FROM pragma_user_version), count(*) FROM junk')" \
  "safety point holds the replaced state"

# ---------------------------------------------------------------- errors
expect_fail 1 "does not exist" "missing database file: exit 1, one line" -c "$CFG" backup missing
assert_not_exists "$APP/nope.db" "a missing database is not created by the backup"
expect_fail 1 "not an SQLite database" "not-a-database file: exit 1, one line" -c "$CFG" backup junk
expect_fail 1 "" "unknown restore point: exit 1, one line" -c "$CFG" restore app ffffffffffffffff --mode new-instance
assert_imatch "ffffffffffffffff|not found|no restore point" "$ERR" "unknown point named in the error"
SHA_NOW=$(sha "$DB")
expect_fail 1 "" "overwrite from an unknown point fails" -c "$CFG" restore app ffffffffffffffff --mode overwrite --yes
assert_eq "$SHA_NOW" "$(sha "$DB")" "a failed restore leaves the database untouched"

finish
