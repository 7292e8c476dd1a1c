#!/usr/bin/env bash
# PostgreSQL service: a real PostgreSQL 15 started by this test (user postgres,
# free port on 127.0.0.1, socket dir under $TMP, scram-sha-256 over TCP and
# trust on the socket).
#  - logical backup -> new-instance restore equals the source (pg_dump of both),
#    validation passes, the original is byte-for-byte untouched
#  - a backup taken while pgbench writes is consistent: exact fingerprint,
#    validation passes after restore, and the backup really was mid-write
#  - overwrite brings back the exact backed-up state, takes a safety backup,
#    leaves no staging databases behind
#  - physical backup -> new server on a new port with the same data; physical
#    overwrite swaps the data directory and restarts the server
#  - errors: unreachable port, wrong password, missing client tools, a client
#    older than the server, unknown point id, new-instance name taken
#
# Usage: bash test_service_postgres.sh /path/to/cairn     (needs root: runuser)
source "$(dirname "$0")/lib.sh" "$@"
source "$(dirname "$0")/pg_lib.sh"

[[ $(id -u) == 0 ]] || die "this test needs root (it runs PostgreSQL as user postgres)"
id postgres >/dev/null 2>&1 || die "user postgres does not exist (apt-get install postgresql)"
pg_require_bins || die "PostgreSQL 15 server binaries are missing"

PGD=$TMP/pg
PGPW="pg secret 1"
mkdir -p "$PGD"
chown postgres:postgres "$PGD"
printf '%s\n' "$PGPW" >"$PGD/initpw"
chown postgres "$PGD/initpw"
pg_cluster_init "$PGD" --pwfile="$PGD/initpw" --auth-local=trust --auth-host=scram-sha-256 ||
  die "initdb of the test cluster"
pg_cluster_start "$PGD" || die "start the test cluster"
PORT=$PG_PORT
SOCK=$PG_SOCK
printf '%s\n' "$PGPW" >"$TMP/pgpw"
printf 'wrong password\n' >"$TMP/badpw"

q() { psql_at "$SOCK" "$PORT" "$1" "$2"; }   # q DB SQL, over the trust socket
# A plain dump for comparisons; \restrict lines carry a random key per run.
dumpdb() {  # dumpdb SOCK PORT DB
  (cd /tmp && "$PG_BIN/pg_dump" -h "$1" -p "$2" -U postgres -d "$3") | grep -Ev '^\\(un)?restrict '
}
validation() { json '"%s %s" % (str(d["validation"]["ok"]).lower(), str(d["validation"]["exact"]).lower())'; }
dbnames() { q postgres "select string_agg(datname, ',' order by datname) from pg_database"; }

# ---------------------------------------------------------------- data
q postgres "create role appuser login password 'app pw'" >/dev/null
q postgres "create database app owner appuser" >/dev/null
q postgres "alter database app set search_path = app, public" >/dev/null
q postgres "create database bench" >/dev/null
q app "
create schema app authorization appuser;
create type app.mood as enum ('sad', 'ok', 'happy');
create table app.items (id serial primary key, name text not null, created timestamptz default now(),
  price numeric(10,2), ratio float8, mood app.mood, doc json, tags jsonb, nums int[], blob bytea, span interval);
insert into app.items (name, price, ratio, mood, doc, tags, nums, blob, span)
  select 'item ' || g, g * 1.25, g / 7.0, (array['sad','ok','happy'])[1 + g % 3]::app.mood,
         json_build_object('g', g), jsonb_build_object('even', g % 2 = 0), array[g, g * 2], decode(md5(g::text), 'hex'),
         make_interval(secs => g)
  from generate_series(1, 2000) g;
create table public.\"Odd|Name\" (k text primary key, v text);
insert into public.\"Odd|Name\" values ('a', 'x'), ('b', null);
create view app.cheap as select id, name from app.items where price < 10;
create index on app.items (name);
alter table app.items owner to appuser;
" >/dev/null || die "create test data"
(cd /tmp && "$PG_BIN/pgbench" -h "$SOCK" -p "$PORT" -U postgres -i -s 1 -q bench >/dev/null 2>&1) || die "pgbench -i"

# ---------------------------------------------------------------- config
mkdir -p "$TMP/emptybin" "$TMP/oldbin"
ln -s "$PG_BIN/psql" "$TMP/oldbin/psql"
ln -s "$PG_BIN/pg_dumpall" "$TMP/oldbin/pg_dumpall"
printf '#!/bin/sh\necho "pg_dump (PostgreSQL) 13.11"\n' >"$TMP/oldbin/pg_dump"
chmod 755 "$TMP/oldbin/pg_dump"
mkdir -p "$TMP/badrestore"
for t in psql pg_dump pg_dumpall; do ln -s "$PG_BIN/$t" "$TMP/badrestore/$t"; done
cat >"$TMP/badrestore/pg_restore" <<'EOF'
#!/bin/sh
if [ "$1" = --version ]; then echo "pg_restore (PostgreSQL) 15.18"; exit 0; fi
head -c 100000 >/dev/null
echo "pg_restore: error: simulated failure" >&2
exit 1
EOF
chmod 755 "$TMP/badrestore/pg_restore"
# Tools that note their environment, and whether their password file holds
# the password, before they run the real program.
mkdir -p "$TMP/spybin"
for t in psql pg_dump pg_dumpall pg_restore; do
  cat >"$TMP/spybin/$t" <<EOF
#!/bin/sh
{ echo "== \$0"; env; [ -n "\$PGPASSFILE" ] && grep -qF "$PGPW" "\$PGPASSFILE" && echo PASSFILE_HOLDS_IT; } >>"$TMP/spy.log"
exec "$PG_BIN/$t" "\$@"
EOF
  chmod 755 "$TMP/spybin/$t"
done
DOWN_PORT=$(pg_free_port)
CFG=$TMP/cairn.yaml
cat >"$CFG" <<EOF
targets:
  local:
    type: repository
    location: $TMP/repo
    password: "$PW"
services:
  pg:
    type: postgres
    targets: [local]
    host: 127.0.0.1
    port: $PORT
    password_file: $TMP/pgpw
    databases: [app, bench]
  pgapp:
    type: postgres
    targets: [local]
    host: $SOCK
    port: $PORT
    databases: app
  pgphys:
    type: postgres
    targets: [local]
    method: physical
    host: $SOCK
    port: $PORT
    data_dir: $PGD/data
    temp_dir: $TMP
  badrestore:
    type: postgres
    targets: [local]
    host: $SOCK
    port: $PORT
    databases: [app, bench]
    bin_dir: $TMP/badrestore
  down:
    type: postgres
    targets: [local]
    port: $DOWN_PORT
  badpw:
    type: postgres
    targets: [local]
    host: 127.0.0.1
    port: $PORT
    password_file: $TMP/badpw
  spy:
    type: postgres
    targets: [local]
    host: 127.0.0.1
    port: $PORT
    password_file: $TMP/pgpw
    databases: [app]
    bin_dir: $TMP/spybin
  notools:
    type: postgres
    targets: [local]
    host: $SOCK
    port: $PORT
    bin_dir: $TMP/emptybin
  oldtools:
    type: postgres
    targets: [local]
    host: $SOCK
    port: $PORT
    bin_dir: $TMP/oldbin
EOF
chmod 600 "$CFG"  # it holds passwords (cairn warns otherwise)

# ---------------------------------------------------------------- logical backup + new instance
must_ok "logical backup of app and bench" -c "$CFG" backup pg --json
P1=$(json 'd["point_id"]' <<<"$OUT")
assert_eq "globals,db.app,db.bench" "$(json '",".join(p["name"] for p in d["parts"])' <<<"$OUT")" \
  "parts: globals, then one per database"
assert_eq "true" "$(json 'd["fingerprint"]["exact"]' <<<"$OUT")" "logical fingerprint is exact"
assert_eq "2000" "$(json 'd["fingerprint"]["items"]["app.app.items"]["rows"]' <<<"$OUT")" "fingerprint counts app.items"
assert_eq "15" "$(json 'd["server_version"].split(".")[0]' <<<"$OUT")" "server_version recorded"
assert_match '^[0-9]+$' "$(json 'd["fingerprint"]["items"]["app.public.Odd|Name"]["checksum"].lstrip("-")' <<<"$OUT")" \
  "fingerprint has a checksum for a table with an odd name"

APP_BEFORE=$(dumpdb "$SOCK" "$PORT" app)
BENCH_BEFORE=$(dumpdb "$SOCK" "$PORT" bench)
must_ok "new-instance restore of the logical backup" -c "$CFG" restore pg "$P1" --mode new-instance --json
assert_eq "true true" "$(validation <<<"$OUT")" \
  "new-instance: validation ok and exact"
NEW_APP=$(json '[x for x in d["connection"]["databases"] if x.startswith("app_")][0]' <<<"$OUT")
NEW_BENCH=$(json '[x for x in d["connection"]["databases"] if x.startswith("bench_")][0]' <<<"$OUT")
assert_match '^app_restored_' "$NEW_APP" "new-instance database named app_<suffix>"
assert_eq "$APP_BEFORE" "$(dumpdb "$SOCK" "$PORT" "$NEW_APP")" "restored app equals the source (pg_dump)"
assert_eq "$BENCH_BEFORE" "$(dumpdb "$SOCK" "$PORT" "$NEW_BENCH")" "restored bench equals the source (pg_dump)"
assert_eq "$APP_BEFORE" "$(dumpdb "$SOCK" "$PORT" app)" "new-instance left the original app untouched"
assert_eq "$BENCH_BEFORE" "$(dumpdb "$SOCK" "$PORT" bench)" "new-instance left the original bench untouched"
assert_eq "appuser" "$(q postgres "select pg_get_userbyid(datdba) from pg_database where datname = '$NEW_APP'")" \
  "restored database keeps its owner"
assert_match 'search_path=app, public' "$(q postgres "select array_to_string(setconfig, ';') from pg_db_role_setting s
  join pg_database d on d.oid = s.setdatabase where d.datname = '$NEW_APP'")" "restored database keeps its settings"

# ---------------------------------------------------------------- the password never in a child's environment
must_ok "a backup whose password authenticates over TCP" -c "$CFG" backup spy --json
SPY=$(cat "$TMP/spy.log" 2>/dev/null || true)
assert_match '== .*pg_dump' "$SPY" "the tools ran (through the spy)"
assert_nomatch "$PGPW|PGPASSWORD" "$SPY" "no tool's environment holds the password"
assert_match 'PASSFILE_HOLDS_IT' "$SPY" "they read it from a password file (PGPASSFILE)"
SPYFILE=$(grep -o 'PGPASSFILE=.*' "$TMP/spy.log" | head -1 | cut -d= -f2- || true)
assert_not_exists "${SPYFILE:-/nonexistent}" "the password file is gone once the command ended"

# ---------------------------------------------------------------- consistent backup under load
(cd /tmp && exec "$PG_BIN/pgbench" -h "$SOCK" -p "$PORT" -U postgres -c 2 -T 5 -n bench >"$TMP/pgbench.log" 2>&1) &
BENCH_PID=$!
BG_PIDS+=("$BENCH_PID")
wait_for 10 bash -c "[[ \$(cd /tmp && '$PG_BIN/psql' -XAtq -h '$SOCK' -p $PORT -U postgres -d bench \
  -c 'select count(*) from pgbench_history') -gt 50 ]]" || fail "pgbench writes before the backup starts"
cx -c "$CFG" backup pg --json
assert_rc 0 "backup while pgbench -c 2 writes"
P2=$(json 'd["point_id"]' <<<"$OUT")
assert_eq "true" "$(json 'd["fingerprint"]["exact"]' <<<"$OUT")" "backup under load: fingerprint exact"
HIST_AT_BACKUP=$(json 'd["fingerprint"]["items"]["bench.public.pgbench_history"]["rows"]' <<<"$OUT")
STILL_RUNNING=no
kill -0 "$BENCH_PID" 2>/dev/null && STILL_RUNNING=yes
assert_eq "yes" "$STILL_RUNNING" "pgbench was still writing when the backup ended"
wait "$BENCH_PID" || fail "pgbench run" "$(tail -n 3 "$TMP/pgbench.log")"
HIST_FINAL=$(q bench "select count(*) from pgbench_history")
assert_lt 0 "$HIST_AT_BACKUP" "backup under load saw some of pgbench's writes"
assert_lt "$HIST_AT_BACKUP" "$HIST_FINAL" "pgbench kept writing after the backup's snapshot"
cx -c "$CFG" restore pg "$P2" --mode new-instance --as underload --json
assert_rc 0 "restore of the backup taken under load"
assert_eq "true true" "$(validation <<<"$OUT")" \
  "backup under load: validation exact and ok after restore"
assert_eq "$HIST_AT_BACKUP" "$(q bench_underload "select count(*) from pgbench_history")" \
  "restored pgbench_history has the rows of the backup's snapshot"
assert_eq "$(q bench_underload "select sum(abalance) from pgbench_accounts")" \
  "$(q bench_underload "select sum(delta) from pgbench_history")" \
  "restored bench is transactionally consistent (sum of balances = sum of history deltas)"

# ---------------------------------------------------------------- overwrite
must_ok "backup before overwrite" -c "$CFG" backup pg --json
P3=$(json 'd["point_id"]' <<<"$OUT")
APP_P3=$(dumpdb "$SOCK" "$PORT" app)
BENCH_P3=$(dumpdb "$SOCK" "$PORT" bench)
q app "delete from app.items where id > 1000; create table app.extra (x int); insert into app.extra values (1)" \
  >/dev/null
q bench "update pgbench_accounts set abalance = abalance + 1 where aid < 100" >/dev/null
assert_ne "$APP_P3" "$(dumpdb "$SOCK" "$PORT" app)" "app changed after the backup"
cx -c "$CFG" restore pg "$P3" --mode overwrite --yes --json
assert_rc 0 "overwrite restore"
assert_eq "true" "$(json 'd["validation"]["ok"]' <<<"$OUT")" "overwrite: validation ok"
SAFETY=$(json 'd["safety_point_id"]' <<<"$OUT")
assert_eq "$APP_P3" "$(dumpdb "$SOCK" "$PORT" app)" "overwrite brought back the backed-up app exactly"
assert_eq "$BENCH_P3" "$(dumpdb "$SOCK" "$PORT" bench)" "overwrite brought back the backed-up bench exactly"
assert_nomatch 'cairn' "$(dbnames)" "no staging or old databases left after overwrite"
cx -c "$CFG" backups pg --json
assert_eq "safety" "$(json '[p["kind"] for p in d["points"] if p["id"] == "'"$SAFETY"'"][0]' <<<"$OUT")" \
  "the overwrite's safety backup is listed with kind safety"
cx -c "$CFG" restore pg "$SAFETY" --mode new-instance --as safety --json
assert_rc 0 "the safety backup restores"
assert_eq "0" "$(q app_safety "select count(*) from app.items where id > 1000")" \
  "safety backup holds the pre-overwrite state"

# A restore that fails before the swap leaves the originals as they were.
must_ok "backup for the failing overwrite" -c "$CFG" backup badrestore --json
P6=$(json 'd["point_id"]' <<<"$OUT")
q app "insert into app.items (name) values ('changed after backup')" >/dev/null
APP_NOW=$(dumpdb "$SOCK" "$PORT" app)
expect_fail 1 'simulated failure.*nothing was changed' "overwrite whose pg_restore fails: one clear line" \
  -c "$CFG" restore badrestore "$P6" --mode overwrite --yes --no-safety-backup
assert_eq "$APP_NOW" "$(dumpdb "$SOCK" "$PORT" app)" "failed overwrite left the original untouched"
assert_nomatch 'cairn' "$(dbnames)" "failed overwrite dropped its staging databases"

# ---------------------------------------------------------------- errors
expect_fail 1 'cannot connect.*connection refused' "unreachable port: one clear line" -c "$CFG" backup down
expect_fail 1 'password' "wrong password: one clear line" -c "$CFG" backup badpw
assert_nomatch 'wrong password' "$ERR" "the password itself is not printed"
expect_fail 1 'psql not found in bin_dir' "missing client tools (empty bin_dir)" -c "$CFG" backup notools
expect_fail 1 'pg_dump 13 is older than the server 15' "client older than the server" -c "$CFG" backup oldtools
expect_fail 1 'not found|unknown|no restore point|does not exist' "unknown point id" \
  -c "$CFG" restore pg 0123456789abcdef --mode new-instance
q postgres "create database bench_taken" >/dev/null
BEFORE_NAMES=$(dbnames)
expect_fail 1 'bench_taken.*already exists' "new-instance name taken" \
  -c "$CFG" restore pg "$P3" --mode new-instance --as taken
assert_eq "$BEFORE_NAMES" "$(dbnames)" "a taken name is refused before anything is created"
must_ok "single-database backup" -c "$CFG" backup pgapp --json
P4=$(json 'd["point_id"]' <<<"$OUT")
expect_fail 1 '"app".*already exists' "new-instance --as an existing database" \
  -c "$CFG" restore pgapp "$P4" --mode new-instance --as app

# ---------------------------------------------------------------- physical
must_ok "physical backup" -c "$CFG" backup pgphys --json
P5=$(json 'd["point_id"]' <<<"$OUT")
assert_eq "base" "$(json '",".join(p["name"] for p in d["parts"])' <<<"$OUT")" "physical: one part, base"
assert_eq "true" "$(json 'd["fingerprint"]["exact"]' <<<"$OUT")" "physical backup of an idle cluster is exact"
APP_P5=$(dumpdb "$SOCK" "$PORT" app)
NEWPORT=$(pg_free_port)
cx -c "$CFG" restore pgphys "$P5" --mode new-instance --port "$NEWPORT" --json
assert_rc 0 "physical new-instance restore"
NEWDIR=$(json 'd["connection"]["data_dir"]' <<<"$OUT")
[[ -d $NEWDIR ]] && on_exit "pg_as '$PG_BIN/pg_ctl' -D '$NEWDIR' -m immediate -w stop"
assert_eq "$NEWPORT" "$(json 'd["connection"]["port"]' <<<"$OUT")" "physical new instance listens on the requested port"
assert_eq "true" "$(json 'd["validation"]["ok"]' <<<"$OUT")" "physical new instance validates"
assert_eq "$APP_P5" "$(PGPASSWORD=$PGPW dumpdb 127.0.0.1 "$NEWPORT" app)" \
  "physical new instance answers on 127.0.0.1 with the same data"
assert_eq "700" "$(stat -c %a "$NEWDIR")" "new data directory has mode 700"
assert_eq "postgres" "$(stat -c %U "$NEWDIR")" "new data directory is owned by run_as"
pg_as "$PG_BIN/pg_ctl" -D "$NEWDIR" -m fast -w stop >/dev/null 2>&1

q app "insert into app.items (name) values ('after physical backup')" >/dev/null
cx -c "$CFG" restore pgphys "$P5" --mode overwrite --yes --json
assert_rc 0 "physical overwrite restore"
assert_eq "true" "$(json 'd["validation"]["ok"]' <<<"$OUT")" "physical overwrite validates"
assert_eq "$APP_P5" "$(dumpdb "$SOCK" "$PORT" app)" \
  "physical overwrite: server back on its port with the backed-up data"
assert_eq "" "$(ls -d "$PGD"/data.cairn-* 2>/dev/null)" "physical overwrite leaves no staging/old directories"

finish
