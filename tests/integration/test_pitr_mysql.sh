#!/usr/bin/env bash
# Point-in-time recovery of MariaDB (docs/pitr.md) against a real server:
#  - `cairn wal stream` archives the binary logs (mariadb-binlog --raw
#    --stop-never) into the repository as pieces: finished files whole, the
#    file being written every 2 s
#  - a physical backup records where its binary log continues; `wal status`
#    shows the window from it
#  - `restore --at T` replays to T (a row committed one second later is not
#    there), `--at latest` replays everything archived
#  - kill -9 of the streamer and a restart of the server leave no gap; a
#    piece removed by hand is a gap, and a time past it is refused
#  - forget removes binary logs no kept base backup needs
#
# Usage: bash test_pitr_mysql.sh /path/to/cairn     (needs root: runs mariadbd as mysql)
source "$(dirname "$0")/lib.sh" "$@"
source "$(dirname "$0")/mysql_lib.sh"

[[ $(id -u) == 0 ]] || die "this test needs root (it runs MariaDB as user mysql)"
mdb_require_bins || die "MariaDB binaries are missing"
command -v mariadb-binlog >/dev/null || die "mariadb-binlog is missing (apt-get install mariadb-client)"

MDIR=$TMP/mdb
mdb_init "$MDIR" || die "mariadb-install-db"
BINLOG_OPTS=(--log-bin=mysql-bin --server-id=1 --binlog-format=ROW)
mdb_start "$MDIR" "${BINLOG_OPTS[@]}" || die "start MariaDB"
q() { mdb "$MDB_SOCK" app -e "$1"; }
mdb "$MDB_SOCK" -e "CREATE DATABASE app" || die "create database"
q "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(40)); INSERT INTO t SELECT seq, CONCAT('base ', seq) FROM seq_1_to_100" ||
  die "fill"

printf 'pitr repo pw\n' >"$TMP/pass"
chmod 600 "$TMP/pass"
CFG=$TMP/cairn.yaml
write_config() {  # write_config KEEP_LAST
  cat >"$CFG" <<EOF
targets:
  local:
    location: $TMP/repo
    password_file: $TMP/pass
    retention: {keep_last: $1}
services:
  db:
    type: mysql
    method: physical
    archive: stream
    socket: $MDB_SOCK
    user: root
    targets: [local]
    temp_dir: $TMP
EOF
}
write_config 10
now_utc() { python3 -c 'import datetime; print(datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))'; }
copy_count() {  # copy_count SOCKET: rows of app.t in a restored copy
  mariadb --no-defaults --socket="$1" -uroot -N -B app -e "SELECT COUNT(*) FROM t"
}
restored_rows() {  # restored_rows AT DESC ROWS ROWS_DESC: restore --at AT as a new instance, count, stop it
  local sock pid
  cx -c "$CFG" restore db --at "$1" --mode new-instance --json
  assert_rc 0 "$2"
  sock=$(json 'd["connection"]["socket"]' <<<"$OUT")
  pid=$(json 'd["connection"]["pid"]' <<<"$OUT")
  on_exit "mdb_stop_pid '$pid'"
  assert_eq "$3" "$(copy_count "$sock")" "$4"
  RESTORED=$OUT
  mdb_stop_pid "$pid"
}
start_streamer() {
  "$CAIRN" -c "$CFG" wal stream db --mark-current-every 1 >>"$TMP/stream.log" 2>&1 &
  STREAMER=$!
  on_exit "kill $STREAMER 2>/dev/null || true"
}
status_json() { "$CAIRN" -c "$CFG" wal status db --json 2>/dev/null; }
# The archive is current when its newest piece ends where the server's
# binary log ends.
server_end() { mdb "$MDB_SOCK" -e "SHOW MASTER STATUS" | awk '{printf "%s.%016x", $1, $2}'; }
archived_to_end() {
  local want
  want=$(server_end)
  status_json | python3 -c '
import json, sys
want = sys.argv[1]
file, end = want.rsplit(".", 1)
head = json.load(sys.stdin)[0]["head"] or ""
sys.exit(0 if head.startswith(file + ".") and head.endswith("-" + end) else 1)' "$want"
}

expect_fail 1 'archive: stream needs method: physical' "archive: stream on a logical MariaDB service is refused at load" \
  -c <(sed 's/method: physical/method: logical/' "$CFG") config check

start_streamer
wait_for 30 grep -q 'streaming the binary logs' "$TMP/stream.log" || fail "the streamer started" "$(cat "$TMP/stream.log")"
BEFORE_BASE=$(now_utc)
sleep 1
must_ok "a physical base backup" -c "$CFG" backup db --json
BASE=$(json 'd["point_id"]' <<<"$OUT")

# A logical point records, per database, where the binary log stood at that
# database's snapshot (a repository of its own: the points above stay alone).
sed -e "s#location: .*#location: $TMP/repo-logical#" -e 's/method: physical/method: logical/' -e '/archive: stream/d' \
  "$CFG" >"$TMP/logical.yaml"
read -r LOG_FILE LOG_POS < <(mdb "$MDB_SOCK" -e "SHOW MASTER STATUS" | cut -f1,2)
must_ok "a logical backup" -c "$TMP/logical.yaml" backup db --json
LPID=$(json 'd["point_id"]' <<<"$OUT")
cx repo snapshots --repo "$TMP/repo-logical" --password-file "$TMP/pass" --json
RECORDED=$(python3 -c '
import json, sys
for s in json.loads(sys.stdin.read()):
    if (s.get("service") or {}).get("point_id") == sys.argv[1]:
        for d in s["service"]["source"]["databases"]:
            if d["name"] == "app":
                print(d.get("binlog_file", "-"), d.get("binlog_pos", "-"))
' "$LPID" <<<"$OUT" 2>&1 || true)
assert_eq "$LOG_FILE $LOG_POS" "$RECORDED" "a logical point records the binary log position of its database's snapshot"

q "INSERT INTO t SELECT seq, CONCAT('a ', seq) FROM seq_101_to_200" || fail "insert a"
sleep 1.5
T1=$(now_utc)
sleep 1.5
q "DELETE FROM t WHERE id <= 50; INSERT INTO t SELECT seq, CONCAT('b ', seq) FROM seq_201_to_300" || fail "delete"
mdb "$MDB_SOCK" -e "FLUSH BINARY LOGS" # finishes a file: it is archived whole and leaves the spool
q "INSERT INTO t VALUES (301, 'after the rotation')" || fail "insert 301"
wait_for 20 archived_to_end || true

cx -c "$CFG" wal status db --json
assert_rc 0 "wal status: a complete archive"
assert_eq "$BASE" "$(json 'd[0]["from_point"]' <<<"$OUT")" \
  "the window starts at the physical base backup (it recorded where its binary log continues)"
assert_eq "[]" "$(json 'd[0]["gaps"]' <<<"$OUT")" "no gap"
assert_match '^mysql-bin\.[0-9]{6}\.[0-9a-f]{16}-[0-9a-f]{16}$' "$(json 'd[0]["head"]' <<<"$OUT")" "the head names a binary log piece"
assert_cmd "the newest piece ends where the server's binary log ends (RPO: seconds)" archived_to_end
cx -c "$CFG" wal status db
assert_match 'recoverable from .* to .*archive lag' "$OUT" "the human form states the window and the lag"
assert_match 'archived mysql-bin\.[0-9]{6}' "$(cat "$TMP/stream.log")" "the finished file was archived and left the spool"
assert_eq 1 "$(find "$TMP/cairn-wal-db" -name 'mysql-bin.*' | wc -l)" "only the file being written stays in the spool"

# ---------------------------------------------------------------- new instance at T1
restored_rows "$T1" "restore --at T1 as a new instance" 200 \
  "the copy holds what was there at T1 (200 rows), not the DELETE 1.5 s after it"
assert_match 'point-in-time' "$(json 'd["validation"]' <<<"$RESTORED")" "the validation says what it proved for a point in time"

# An idle server: nothing is uploaded, but the archive's end moves on (the
# streamer marks it current), so a time after the last write is in the window.
sleep 3
# 1.5 s ago: the head is marked current every second here (every 30 s by
# default), so the window ends up to a second before now.
IDLE=$(python3 -c 'import datetime; print((datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=1.5)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))')
TO=$(status_json | json 'd[0]["to"]' || true)
assert_eq yes "$(python3 -c "
import datetime, sys
to = datetime.datetime.fromisoformat(sys.argv[1][:26].rstrip('Z') + '+00:00')
print('yes' if (datetime.datetime.now(datetime.timezone.utc) - to).total_seconds() < 2.5 else 'no')" "$TO" 2>&1)" \
  "the window of an idle server ends within seconds of now ($TO)"
restored_rows "$IDLE" "restore --at a time after the last write (idle for 3 s)" 251 \
  "it replays everything archived, across the rotation, the file being written included"

# ---------------------------------------------------------------- outside the window
expect_fail 1 'no base backup before .*recoverable window' "a time before the base backup names the window" \
  -c "$CFG" restore db --at "$BEFORE_BASE" --mode new-instance
expect_fail 1 'after the newest archived WAL.*recoverable window' "a time after the archive names the window" \
  -c "$CFG" restore db --at 2099-01-01T00:00:00Z --mode new-instance
expect_fail 1 'cannot be restored in place' "an overwrite from a physical MariaDB point is refused before anything happens" \
  -c "$CFG" restore db --at latest --mode overwrite --yes

# ---------------------------------------------------------------- kill -9 and a server restart: no gap
kill -9 "$STREAMER"
wait "$STREAMER" 2>/dev/null || true
q "INSERT INTO t VALUES (302, 'while the streamer was dead')" || fail "insert 302"
mdb_stop "$MDIR"
mdb_start "$MDIR" "${BINLOG_OPTS[@]}" || die "restart MariaDB"
q "INSERT INTO t VALUES (303, 'after the server restart')" || fail "insert 303"
start_streamer
wait_for 30 archived_to_end || true
cx -c "$CFG" wal status db --json
assert_eq "[]" "$(json 'd[0]["gaps"]' <<<"$OUT")" "after kill -9 of the streamer and a server restart: no gap"
assert_eq "$BASE" "$(json 'd[0]["from_point"]' <<<"$OUT")" "the window still starts at the base backup"
restored_rows latest "restore --at latest after the restarts" 253 \
  "every row, those written while the streamer was dead included, is recovered"

# ---------------------------------------------------------------- a replay that fails leaves nothing behind
# The same tools, but a mariadb-binlog that fails: the server restored from
# the base backup must not be left running as if it were the result.
mkdir -p "$TMP/badbin"
for f in /usr/bin/mariadb* /usr/sbin/mariadb* /usr/bin/mysql* /usr/bin/mbstream /usr/sbin/mysqld; do [[ -e $f ]] && ln -sf "$f" "$TMP/badbin/"; done
for t in mariadb-binlog mysqlbinlog; do
  rm -f "$TMP/badbin/$t"
  printf '#!/bin/sh
echo "%s: simulated replay failure" >&2
exit 1
' "$t" >"$TMP/badbin/$t"
  chmod 755 "$TMP/badbin/$t"
done
sed 's#^    temp_dir: .*#&\n    bin_dir: '"$TMP"'/badbin#' "$CFG" >"$TMP/badbin.yaml"
DIRS_BEFORE=$(find "$TMP" -maxdepth 1 -type d | sort)
RUNNING_BEFORE=$({ pgrep -f -- "mariadb[d].*--datadir=$TMP/" || true; } | sort)
expect_fail 1 'point-in-time recovery failed; the new instance was stopped and removed.*simulated replay failure' \
  "a failed replay is an error that says the new instance is gone" -c "$TMP/badbin.yaml" restore db --at latest --mode new-instance
assert_eq "$RUNNING_BEFORE" "$({ pgrep -f -- "mariadb[d].*--datadir=$TMP/" || true; } | sort)" "no server is left running"
assert_eq "$DIRS_BEFORE" "$(find "$TMP" -maxdepth 1 -type d | sort)" "and no new instance directory is left"

kill -TERM "$STREAMER"
wait "$STREAMER"
assert_eq 0 "$?" "the streamer ends with 0 on SIGTERM after its last upload"

# ---------------------------------------------------------------- a gap
# The second binary log file's pieces go: the archive has a hole between
# the base backup and now.
SECOND=$(find "$TMP/repo/wal/db" -type f -name 'mysql-bin.*' -printf '%f\n' | sed 's/\.[0-9a-f]\{16\}-.*//' | sort -u | sed -n 2p)
[[ -n $SECOND ]] || fail "a second binary log file is archived" "$(ls "$TMP/repo/wal/db")"
find "$TMP/repo/wal/db" -type f -name "$SECOND.*" -delete
cx -c "$CFG" wal status db --json
assert_match "$SECOND" "$(json 'd[0]["gaps"]' <<<"$OUT")" "a removed binary log is reported as a gap"
assert_eq "null" "$(json 'd[0]["from_point"]' <<<"$OUT")" "and no base backup has a complete window any more"
expect_fail 1 "has a gap after base backup .*missing mysql-bin" "a recovery across the gap is refused before anything is restored, naming the gap" \
  -c "$CFG" restore db --at latest --mode new-instance

# ---------------------------------------------------------------- retention follows the base backups
must_ok "a second base backup" -c "$CFG" backup db
FILES_BEFORE=$(status_json | json 'd[0]["files"]' || true)
write_config 1
must_ok "forget keeps the newest base backup" -c "$CFG" forget db
cx -c "$CFG" wal status db --json
assert_lt "$(json 'd[0]["files"]' <<<"$OUT")" "$FILES_BEFORE" "binary logs older than the kept base backup were removed"
assert_eq "[]" "$(json 'd[0]["gaps"]' <<<"$OUT")" "the gap went with them: the window starts at the kept base backup"
assert_ne "$BASE" "$(json 'd[0]["from_point"]' <<<"$OUT")" "and the window now starts at the kept base backup"

# ---------------------------------------------------------------- cairn serve: the streamer, the window, the alert
SPORT=$(mdb_free_port)
printf 'server:\n  listen: 127.0.0.1:%s\n  data_dir: %s\nalerts:\n  archive_lag_seconds: 10\n' "$SPORT" "$TMP/daemon" >>"$CFG"
"$CAIRN" -c "$CFG" serve >"$TMP/serve.log" 2>&1 &
DAEMON=$!
on_exit "kill $DAEMON 2>/dev/null || true"
streamers() { { pgrep -f -- "$CFG wal strea[m] db" || true; } | wc -l; }
has_streamer() { [[ $(streamers) -ge 1 ]]; }
wait_for 30 has_streamer || true
assert_eq 1 "$(streamers)" "the daemon runs one binary log streamer for the MariaDB service"
TOKEN=$("$CAIRN" -c "$CFG" token create pitr --role read | grep -o 'cairn_[A-Za-z0-9_-]*' | head -1)
api() { curl -s -H "Authorization: Bearer $TOKEN" "$@"; }
pitr_shown() { api "http://127.0.0.1:$SPORT/api/v1/services/db" | grep -q '"pitr":{'; }
kill -HUP "$DAEMON"  # reload and sync: the window is computed by the sync
wait_for 60 pitr_shown || true
assert_match '^20' "$(api "http://127.0.0.1:$SPORT/api/v1/services/db" | json 'd["pitr"]["window_start"]')" \
  "the service shows its recoverable window"
# The server goes away: the streamer cannot receive, the archive falls behind.
mdb_stop "$MDIR"
behind() { api "http://127.0.0.1:$SPORT/api/v1/alerts?state=open" | grep -q '"rule":"archive_behind"'; }
wait_for 60 behind || true
ALERTS=$(api "http://127.0.0.1:$SPORT/api/v1/alerts?state=open")
assert_match '"rule":"archive_behind".*"service":"db"|"service":"db".*"rule":"archive_behind"' "$ALERTS" \
  "an archive that falls behind (server down) raises archive_behind"
mdb_start "$MDIR" "${BINLOG_OPTS[@]}" || die "restart MariaDB"
resolved() { ! behind; }
wait_for 90 resolved || true
assert_cmd "it resolves once the streamer is current again" resolved
kill -TERM "$DAEMON"
wait "$DAEMON" || true
assert_eq 0 "$(streamers)" "stopping the daemon stops its streamer"

finish
