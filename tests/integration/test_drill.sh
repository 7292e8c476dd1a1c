#!/usr/bin/env bash
# Restore drills (docs/verification.md): `cairn verify` restores a point into
# a scratch instance, validates it, runs the engine's own check and removes
# everything again, without touching the service.
#  - a volume, a SQLite database, PostgreSQL (logical and physical), MariaDB
#    (logical) and Redis: a good point passes, the live service is untouched
#  - a flipped byte in a pack: the drill fails and names the pack
#  - a drill killed with -9 half-way leaves a server in its scratch
#    directory; the next drill stops it and removes the directory
#
# Usage: bash test_drill.sh /path/to/cairn     (needs root: runuser)
source "$(dirname "$0")/lib.sh" "$@"
source "$(dirname "$0")/pg_lib.sh"
source "$(dirname "$0")/mysql_lib.sh"
source "$(dirname "$0")/redis_lib.sh"

[[ $(id -u) == 0 ]] || die "this test needs root (it runs PostgreSQL as user postgres)"
pg_require_bins || die "PostgreSQL 15 server binaries are missing"
mdb_require_bins || die "MariaDB is missing"
redis_require_bins || die "Redis is missing"

SCRATCH=$TMP/scratch   # every service's temp_dir: the drills' scratch directories go here
mkdir -p "$SCRATCH"
leftovers() { find "$SCRATCH" -maxdepth 1 -name 'cairn-drill-*' | wc -l; }
# Processes (other than this shell's) whose working directory is below the scratch directory.
scratch_procs() {
  local n=0 p
  for p in /proc/[0-9]*; do
    [[ $(readlink "$p/cwd" 2>/dev/null) == "$SCRATCH"/* ]] && n=$((n + 1))
  done
  echo "$n"
}

# ---------------------------------------------------------------- the services
mkdir -p "$TMP/vol/sub"
echo hello >"$TMP/vol/a.txt"
make_random "$TMP/vol/sub/b.bin" 400000
sqlite3 "$TMP/app.db" "create table t(x); insert into t values (1),(2),(3);"

PGD=$TMP/pg
mkdir -p "$PGD"
chown postgres:postgres "$PGD"
pg_cluster_init "$PGD" || die "initdb"
pg_cluster_start "$PGD" || die "start PostgreSQL"
psql_at "$PG_SOCK" "$PG_PORT" postgres "create database shop" >/dev/null || die "create database"
psql_at "$PG_SOCK" "$PG_PORT" shop "create table orders(id serial primary key, item text);
  insert into orders(item) select 'item ' || g from generate_series(1, 5000) g; create index on orders(item);" \
  >/dev/null || die "fill shop"
PG_DBS_BEFORE=$(psql_at "$PG_SOCK" "$PG_PORT" postgres "select string_agg(datname, ',' order by datname) from pg_database")

MDD=$TMP/mdb
mdb_init "$MDD" || die "mariadb-install-db"
mdb_start "$MDD" || die "start MariaDB"
mdb "$MDB_SOCK" -e "create database shop; create table shop.orders(id int primary key, item varchar(40));
  insert into shop.orders values (1,'a'),(2,'b'),(3,'c');" || die "fill MariaDB"

RPORT=$(redis_free_port)
redis_start "$TMP/redis" "$RPORT" || die "start Redis"
rcli "$RPORT" set k1 v1 >/dev/null
rcli "$RPORT" hset h f1 x f2 y >/dev/null

printf 'drill repo pw\n' >"$TMP/pass"
chmod 600 "$TMP/pass"
CFG=$TMP/cairn.yaml
cat >"$CFG" <<EOF
targets:
  local:
    location: $TMP/repo
    password_file: $TMP/pass
services:
  files:
    type: volume
    paths: [$TMP/vol]
    targets: [local]
    temp_dir: $SCRATCH
  lite:
    type: sqlite
    path: $TMP/app.db
    targets: [local]
    temp_dir: $SCRATCH
  pglog:
    type: postgres
    socket: $PG_SOCK
    port: $PG_PORT
    databases: [shop]
    targets: [local]
    temp_dir: $SCRATCH
  pgphys:
    type: postgres
    method: physical
    socket: $PG_SOCK
    port: $PG_PORT
    data_dir: $PGD/data
    targets: [local]
    temp_dir: $SCRATCH
  my:
    type: mysql
    socket: $MDB_SOCK
    user: root
    databases: [shop]
    targets: [local]
    temp_dir: $SCRATCH
  cache:
    type: redis
    host: 127.0.0.1
    port: $RPORT
    targets: [local]
    temp_dir: $SCRATCH
EOF

for s in files lite pglog pgphys my cache; do
  must_ok "backup of $s" -c "$CFG" backup "$s"
done

# ---------------------------------------------------------------- good points pass
declare -A CHECK=([files]='read back 2 files' [lite]='integrity_check: ok' [pglog]='pg_amcheck' [pgphys]='pg_amcheck'
  [my]='mariadb-check' [cache]='redis-check-rdb')
for s in files lite pglog pgphys my cache; do
  cx -c "$CFG" verify "$s" --json
  assert_rc 0 "the drill of $s passes"
  assert_eq true "$(json 'd["passed"]' <<<"$OUT" 2>/dev/null)" "the drill of $s reports passed"
  assert_eq true "$(json 'd["validation"]["ok"]' <<<"$OUT" 2>/dev/null)" "the drill of $s validated the fingerprint"
  assert_imatch "${CHECK[$s]}" "$(json 'd["check"]' <<<"$OUT" 2>/dev/null)" "the drill of $s ran the engine's own check"
  assert_eq 0 "$(leftovers)" "the drill of $s removed its scratch directory"
  assert_eq 0 "$(scratch_procs)" "the drill of $s left no process behind"
done
assert_eq "$PG_DBS_BEFORE" \
  "$(psql_at "$PG_SOCK" "$PG_PORT" postgres "select string_agg(datname, ',' order by datname) from pg_database")" \
  "the PostgreSQL drills did not touch the live cluster's databases"
assert_eq 5000 "$(psql_at "$PG_SOCK" "$PG_PORT" shop "select count(*) from orders")" "the live table is intact"
assert_eq 3 "$(mdb "$MDB_SOCK" -e 'select count(*) from shop.orders')" "the MariaDB drill did not touch the live server"
expect_fail 1 'no restore point|not found|no point' "a drill of a point that does not exist fails clearly" \
  -c "$CFG" verify files ffffffffffffffff

# ---------------------------------------------------------------- a damaged point fails, naming the pack
cp -a "$TMP/repo" "$TMP/repo.good"
while IFS= read -r f; do flip_byte "$f"; done < <(find "$TMP/repo/data" -type f)
cx -c "$CFG" verify files
assert_rc 1 "a drill of a point whose packs are damaged fails"
assert_match 'restore drill failed: .*pack data/[0-9a-f]{2}/[0-9a-f]{64}' "$ERR" "the failure names the damaged pack"
assert_match 'validation: not reached' "$OUT" "the report does not claim a validation that did not run"
assert_eq 0 "$(leftovers)" "a failed drill removes its scratch directory too"
rm -rf "$TMP/repo"
mv "$TMP/repo.good" "$TMP/repo"

# ---------------------------------------------------------------- kill -9 half-way, then the next drill cleans up
"$CAIRN" -c "$CFG" verify pgphys >"$TMP/killed.out" 2>&1 &
VPID=$!
# Wait until the drill's scratch server runs, then kill the command outright.
wait_for 60 bash -c "[[ \$(find '$SCRATCH' -maxdepth 3 -name postmaster.pid 2>/dev/null | wc -l) -gt 0 ]]" ||
  fail "the physical drill started a scratch server" "$(cat "$TMP/killed.out")"
kill -9 "$VPID" 2>/dev/null
wait "$VPID" 2>/dev/null || true
assert_eq 1 "$(leftovers)" "a drill killed with -9 leaves its scratch directory (what the cleanup is for)"
assert_lt 0 "$(scratch_procs)" "and its scratch server still runs"
cx -c "$CFG" verify pgphys
assert_rc 0 "the next drill passes"
assert_match 'stopped|removed|left' "$ERR$OUT" "the next drill says it cleaned up what the killed one left"
assert_eq 0 "$(leftovers)" "no scratch directory is left"
assert_eq 0 "$(scratch_procs)" "no scratch server is left"

finish
