#!/usr/bin/env bash
# Point-in-time recovery of PostgreSQL fed by archive_command (docs/pitr.md,
# `archive: command`) against a real server:
#  - archive_command = cairn wal push: PostgreSQL archives through Cairn, as
#    its own user, into a repository that user can reach
#  - pushing again is harmless, other content under an archived name is
#    refused, base backup labels are skipped, a bad name is an error
#  - restore --at T and --at latest from that archive
#  - restore_command = cairn wal get in a recovery PostgreSQL runs itself;
#    not archived = exit 1, an unreadable target = exit 126 (fatal to
#    recovery, which must not end early on an incomplete archive)
#  - the daemon watches the archiver: a failing archive_command raises
#    archive_behind, which resolves once archiving works again
#
# Usage: bash test_pitr_command.sh /path/to/cairn     (needs root: runuser)
source "$(dirname "$0")/lib.sh" "$@"
source "$(dirname "$0")/pg_lib.sh"

[[ $(id -u) == 0 ]] || die "this test needs root (it runs PostgreSQL as user postgres)"
pg_require_bins || die "PostgreSQL 15 server binaries are missing"
[[ -x $PG_BIN/pg_basebackup ]] || die "pg_basebackup is missing"

# The server runs cairn as postgres: the binary, the configuration, the
# password and the repository must be reachable by that user.
mkdir -p "$TMP/bin"
cp "$CAIRN" "$TMP/bin/cairn"
chmod 755 "$TMP/bin/cairn"
BIN=$TMP/bin/cairn
W=$TMP/cw
mkdir -p "$W"
chown postgres:postgres "$W"
chmod 700 "$W"
printf 'command repo pw\n' >"$W/pass"
chown postgres:postgres "$W/pass"
chmod 600 "$W/pass"
pg_as "$BIN" repo init -r "$W/repo" --password-file "$W/pass" -q >/dev/null || die "repo init as postgres"

PGD=$TMP/pg
mkdir -p "$PGD"
chown postgres:postgres "$PGD"
pg_cluster_init "$PGD" || die "initdb"
CFG=$W/cairn.yaml
write_config() {  # write_config ARCHIVE_MODE [extra yaml appended]
  cat >"$CFG" <<EOF
targets:
  local:
    location: $W/repo
    password_file: $W/pass
services:
  pg:
    type: postgres
    method: physical
    archive: $1
    socket: $PG_SOCK
    port: $PG_PORT
    data_dir: $PGD/data
    targets: [local]
    temp_dir: $TMP
EOF
  chown postgres:postgres "$CFG"
  chmod 600 "$CFG"
}
write_config command
cat >>"$PGD/data/postgresql.conf" <<EOF
archive_mode = on
archive_command = '$BIN -c $CFG wal push pg %p'
EOF
pg_cluster_start "$PGD" || die "start PostgreSQL"
q() { psql_at "$PG_SOCK" "$PG_PORT" app "$1"; }
psql_at "$PG_SOCK" "$PG_PORT" postgres "create database app" >/dev/null || die "create database"
q "create table t (id int primary key, v text); insert into t select g, 'base ' || g from generate_series(1, 100) g" \
  >/dev/null || die "fill"
now_utc() { python3 -c 'import datetime; print(datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))'; }
copy_count() { (cd /tmp && "$PG_BIN/psql" -XAtq -h 127.0.0.1 -p "$1" -U postgres -d app -c "select count(*) from t"); }
stop_copy() { pg_as "$PG_BIN/pg_ctl" -D "$1" -m fast -w stop >/dev/null 2>&1 || true; }
archived() { q "select coalesce(last_archived_wal, '') from pg_stat_archiver"; }
# switch_and_wait: completes the current segment and waits until PostgreSQL archived it.
switch_and_wait() {
  local seg
  seg=$(q "select pg_walfile_name(pg_current_wal_lsn())")
  q "select pg_switch_wal()" >/dev/null
  is_archived() { [[ $(archived) > "$seg" || $(archived) == "$seg" ]]; }
  wait_for 60 is_archived || true
  [[ $(archived) == "$seg" || $(archived) > "$seg" ]]
}

# ---------------------------------------------------------------- configuration
expect_fail 1 'archive: command needs method: physical' "archive: command on a logical service is refused at load" \
  -c <(sed 's/method: physical/method: logical/' "$CFG") config check
expect_fail 1 "archive: command is PostgreSQL's archive_command" "archive: command on a MariaDB service is refused" \
  -c <(printf 'targets:\n  l:\n    location: %s\n    password_file: %s\nservices:\n  m:\n    type: mysql\n    method: physical\n    archive: command\n' "$W/repo" "$W/pass") config check
write_config stream
expect_fail 1 'does not archive with archive: command' "wal push of a service that streams is refused" \
  -c "$CFG" wal push pg /nonexistent/000000010000000000000001
write_config command

# ---------------------------------------------------------------- archiving through PostgreSQL
must_ok "a physical base backup" -c "$CFG" backup pg --json
BASE=$(json 'd["point_id"]' <<<"$OUT")
switch_and_wait || fail "PostgreSQL archives through cairn wal push" "$(tail -5 "$PGD/server.log")"
assert_eq 0 "$(q 'select failed_count from pg_stat_archiver')" "no archive_command call failed"
ls "$W/repo/wal/pg" >/dev/null 2>&1 && ok "the WAL is in the repository" || fail "the WAL is in the repository"

q "insert into t select g, 'a ' || g from generate_series(101, 200) g" >/dev/null
sleep 1.5
T1=$(now_utc)
sleep 1.5
q "delete from t where id <= 50; insert into t select g, 'b ' || g from generate_series(201, 300) g" >/dev/null
switch_and_wait || fail "the segment with the DELETE is archived" "$(tail -5 "$PGD/server.log")"
q "insert into t values (301, 'never archived')" >/dev/null  # stays in the current segment

cx -c "$CFG" wal status pg --json
assert_rc 0 "wal status: a complete archive"
assert_eq "$BASE" "$(json 'd[0]["from_point"]' <<<"$OUT")" "the window starts at the base backup"
assert_eq "[]" "$(json 'd[0]["gaps"]' <<<"$OUT")" "no gap"

# ---------------------------------------------------------------- wal push by hand
SEG=$(archived)
RC=0
pg_as "$BIN" -c "$CFG" wal push pg "$PGD/data/pg_wal/$SEG" >/dev/null 2>&1 || RC=$?
assert_eq 0 "$RC" "pushing an archived segment again is harmless"
head -c 16777216 /dev/urandom >"$TMP/$SEG"
expect_fail 1 'archived already with other content' "other content under an archived name is refused" \
  -c "$CFG" wal push pg "$TMP/$SEG"
printf 'START WAL LOCATION: 0/2000028\n' >"$TMP/000000010000000000000002.00000028.backup"
cx -c "$CFG" wal push pg "$TMP/000000010000000000000002.00000028.backup" --json
assert_rc 0 "a base backup's label file is accepted"
assert_eq true "$(json 'd["skipped"]' <<<"$OUT")" "and skipped"
expect_fail 1 'not a WAL file name' "a file that is no WAL is refused" -c "$CFG" wal push pg "$CFG"
expect_fail 1 'cannot read' "a missing file is an error" -c "$CFG" wal push pg "$TMP/000000010000000000000077"

# ---------------------------------------------------------------- wal get
cx -c "$CFG" wal get pg "$SEG" "$TMP/got"
assert_rc 0 "wal get writes an archived segment"
if [[ -f $PGD/data/pg_wal/$SEG ]]; then
  assert_eq "$(sha "$PGD/data/pg_wal/$SEG")" "$(sha "$TMP/got")" "byte for byte"
else
  assert_eq 16777216 "$(stat -c %s "$TMP/got")" "a whole segment"
fi
expect_fail 1 'not in the archive' "a file not archived: exit 1 (the end of recovery)" \
  -c "$CFG" wal get pg 0000000100000000000000FE "$TMP/none"
assert_not_exists "$TMP/none" "and nothing is written"
sed "s#location: $W/repo#location: $TMP/gone#" "$CFG" >"$TMP/gone.yaml"
cx -c "$TMP/gone.yaml" wal get pg "$SEG" "$TMP/none"
assert_rc 126 "an unreadable target: exit 126, which stops PostgreSQL's recovery"
assert_match 'cannot tell whether .* is archived' "$ERR" "and says why"

# ---------------------------------------------------------------- restore --at from this archive
cx -c "$CFG" restore pg --at "$T1" --mode new-instance --json
assert_rc 0 "restore --at T1 as a new instance"
P1=$(json 'd["connection"]["port"]' <<<"$OUT")
assert_eq 200 "$(copy_count "$P1")" "the copy is the database at T1"
stop_copy "$(json 'd["connection"]["data_dir"]' <<<"$OUT")"
cx -c "$CFG" restore pg --at latest --mode new-instance --json
assert_rc 0 "restore --at latest"
P2=$(json 'd["connection"]["port"]' <<<"$OUT")
assert_eq 250 "$(copy_count "$P2")" "latest holds what was archived; the unswitched segment is not (the mode's RPO)"
stop_copy "$(json 'd["connection"]["data_dir"]' <<<"$OUT")"

# ---------------------------------------------------------------- PostgreSQL's own recovery with wal get
# A base backup without WAL (-X none): every segment comes from restore_command.
MAN=$TMP/manual
mkdir -p "$MAN"
chown postgres:postgres "$MAN"
pg_as "$PG_BIN/pg_basebackup" -h "$PG_SOCK" -p "$PG_PORT" -U postgres -D "$MAN/data" -X none >/dev/null 2>&1 ||
  fail "pg_basebackup -X none"
q "insert into t select g, 'm ' || g from generate_series(400, 449) g" >/dev/null
sleep 1.5
T2=$(now_utc)
sleep 1.5
q "delete from t" >/dev/null
switch_and_wait || fail "the DELETE is archived"
MPORT=$(pg_free_port)
cat >>"$MAN/data/postgresql.conf" <<EOF
port = $MPORT
archive_mode = off
restore_command = '$BIN -c $CFG wal get pg %f %p'
recovery_target_time = '$(sed 's/T/ /; s/Z$//' <<<"$T2") UTC'
recovery_target_action = 'promote'
EOF
sed -i "s#^unix_socket_directories.*#unix_socket_directories = '$MAN'#" "$MAN/data/postgresql.conf"
touch "$MAN/data/recovery.signal"
chown -R postgres:postgres "$MAN"
chmod 700 "$MAN/data"
pg_as "$PG_BIN/pg_ctl" -D "$MAN/data" -l "$MAN/server.log" -w -t 60 start >/dev/null 2>&1 ||
  fail "the recovery server starts" "$(tail -20 "$MAN/server.log")"
promoted() { [[ $(cd /tmp && "$PG_BIN/psql" -XAtq -h 127.0.0.1 -p "$MPORT" -U postgres -d app -c 'select pg_is_in_recovery()' 2>/dev/null) == f ]]; }
wait_for 60 promoted || true
assert_eq 301 "$(copy_count "$MPORT" 2>/dev/null)" "PostgreSQL recovers to T2 with restore_command = cairn wal get"
assert_match 'restored log file' "$(cat "$MAN/server.log")" "every segment came through wal get"
stop_copy "$MAN/data"

# ---------------------------------------------------------------- the daemon watches the archiver
SPORT=$(pg_free_port)
printf 'server:\n  listen: 127.0.0.1:%s\n  data_dir: %s\nalerts:\n  archive_lag_seconds: 10\n' "$SPORT" "$TMP/daemon" >>"$CFG"
"$CAIRN" -c "$CFG" serve >"$TMP/serve.log" 2>&1 &
DAEMON=$!
on_exit "kill $DAEMON 2>/dev/null || true"
TOKEN=$("$CAIRN" -c "$CFG" token create cmd --role operate | grep -o 'cairn_[A-Za-z0-9_-]*' | head -1)
api() { curl -s -H "Authorization: Bearer $TOKEN" "$@"; }
# The config path in the pattern: other tests' streamers may run beside this one.
watcher() { pgrep -f -- "$CFG wal strea[m] pg" >/dev/null; }
wait_for 30 watcher || true
watcher && ok "the daemon runs the archiver's watcher" || fail "the daemon runs the archiver's watcher" "$(tail -5 "$TMP/serve.log")"
must_ok "a base backup" -c "$CFG" backup pg
switch_and_wait || true
kill -HUP "$DAEMON"   # a sync: the window on the service page
lag_shown() { api "http://127.0.0.1:$SPORT/api/v1/services/pg" | grep -q '"lag_s":'; }
wait_for 60 lag_shown || true
LAG=$(api "http://127.0.0.1:$SPORT/api/v1/services/pg" | json 'd["pitr"]["lag_s"]')
assert_eq yes "$(python3 -c "print('yes' if float('$LAG') < 10 else 'no')" 2>/dev/null)" "a working archive_command lags seconds ($LAG s)"
# Break archiving: the server keeps the WAL and retries; the daemon alerts.
q "alter system set archive_command = 'false'" >/dev/null
q "select pg_reload_conf()" >/dev/null
q "insert into t values (1, 'while archiving fails')" >/dev/null
q "select pg_switch_wal()" >/dev/null
behind() { api "http://127.0.0.1:$SPORT/api/v1/alerts?state=open" | grep -q '"rule":"archive_behind"'; }
wait_for 60 behind || true
ALERTS=$(api "http://127.0.0.1:$SPORT/api/v1/alerts?state=open")
assert_match '"rule":"archive_behind"' "$ALERTS" "a failing archive_command raises archive_behind"
assert_match "archive_command fails for [0-9A-F]{24}" "$ALERTS" "the alert names the failing file"
q "alter system reset archive_command" >/dev/null
q "select pg_reload_conf()" >/dev/null
resolved() { ! behind; }
wait_for 90 resolved || true
behind && fail "the alert resolves once archiving works again" "$(api "http://127.0.0.1:$SPORT/api/v1/alerts?state=open")" ||
  ok "the alert resolves once archiving works again"
kill -TERM "$DAEMON"
wait "$DAEMON" || true
watcher && fail "stopping the daemon stops the watcher" || ok "stopping the daemon stops the watcher"

finish
