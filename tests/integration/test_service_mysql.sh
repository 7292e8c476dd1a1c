#!/usr/bin/env bash
# MariaDB service: a real MariaDB 10.11 started by this test (--no-defaults,
# --user=mysql, free port on 127.0.0.1, socket and datadir under $TMP; root
# logs in through unix_socket, user cairn with a password over TCP).
#  - logical backup -> new-instance restore equals the source (CHECKSUM TABLE
#    and row counts per table, mariadb-dump of both), validation passes,
#    routines / triggers / events / views survive and work, the original is
#    untouched
#  - a backup taken while a client writes is exact: validation passes after
#    restore and the backup really was mid-write
#  - overwrite brings back the exact backed-up state, takes a safety backup,
#    leaves no staging or old databases behind
#  - physical backup -> new server on a new port with the same data; physical
#    overwrite is refused with a pointer to new-instance
#  - errors: unreachable port, wrong password, missing client tool, unknown
#    point id, new-instance name taken
#
# Usage: bash test_service_mysql.sh /path/to/cairn     (needs root: mariadbd --user=mysql)
source "$(dirname "$0")/lib.sh" "$@"
source "$(dirname "$0")/mysql_lib.sh"

[[ $(id -u) == 0 ]] || die "this test needs root (it runs MariaDB as user mysql)"
mdb_require_bins || die "MariaDB server and tools are missing"

MD=$TMP/mdb
mdb_init "$MD" || die "mariadb-install-db of the test server"
mdb_start "$MD" || die "start the test server"
SOCK=$MDB_SOCK
PORT=$MDB_PORT
MYPW="cairn pw 1"
printf '%s\n' "$MYPW" >"$TMP/mypw"
printf 'not-the-pw-9731\n' >"$TMP/badpw"

q() { mdb "$SOCK" "$@"; }   # q [DB] -e SQL, as root over the socket
# Per table of DB: "name rows checksum" (CHECKSUM TABLE), sorted by name.
checksums() {  # checksums SOCK DB
  local sock=$1 db=$2 t
  mdb "$sock" -e "select table_name from information_schema.tables where table_schema='$db'
                  and table_type='BASE TABLE' order by table_name" | while IFS= read -r t; do
    printf '%s %s %s\n' "$t" "$(mdb "$sock" "$db" -e "select count(*) from \`$t\`")" \
      "$(mdb "$sock" -e "checksum table \`$db\`.\`$t\`" | cut -f2)"
  done
}
# A dump for comparisons: no comments (they name the database), definers kept.
dumpdb() {  # dumpdb SOCK DB (an event's status left out: a new-instance copy has its events disabled)
  mariadb-dump --no-defaults --socket="$1" -uroot --skip-dump-date --skip-comments --routines --events --triggers "$2" |
    sed -E 's/ PRESERVE (ENABLE|DISABLE) DO / PRESERVE DO /'
}
# "ok exact" of a restore's --json output, e.g. "true true".
validation() { json '"%s %s" % (str(d["validation"]["ok"]).lower(), str(d["validation"]["exact"]).lower())'; }
dbnames() { q -e "select group_concat(schema_name order by schema_name) from information_schema.schemata"; }

# ---------------------------------------------------------------- data
q -e "create user cairn@'127.0.0.1' identified by '$MYPW'; grant all on *.* to cairn@'127.0.0.1' with grant option;
      create database app character set utf8mb4 collate utf8mb4_unicode_ci; create database shop;" ||
  die "create users and databases"
# Unqualified names: triggers and routines keep their CREATE text, which must not name the database.
q app -e "
create table items (id int auto_increment primary key, name varchar(100) not null, price decimal(10,2), ratio double,
  created datetime(6), ts timestamp null, flag bit(3), data blob, kind enum('a','b','c'), tags set('x','y'),
  doc json, note text character set latin1) engine=InnoDB;
insert into items (name, price, ratio, created, ts, flag, data, kind, tags, doc, note)
  select concat('item ', seq), seq * 1.25, seq / 7, '2024-01-01' + interval seq second,
         from_unixtime(1700000000 + seq), seq % 8, unhex(md5(seq)), elt(1 + seq % 3, 'a', 'b', 'c'),
         if(seq % 2, 'x', 'x,y'), json_object('g', seq), if(seq % 5 = 0, null, concat('né ', seq))
  from seq_1_to_2000;
create table orders (id int primary key, item_id int, qty int,
  foreign key (item_id) references items(id)) engine=InnoDB;
create table audit (id int auto_increment primary key, msg varchar(100)) engine=InnoDB;
create table \`Odd Name\` (k varchar(10) primary key, v varchar(10));
insert into \`Odd Name\` values ('a', 'x'), ('b', null);
create view cheap as select id, name from items where price < 10;
create view cheap_names as select name from cheap;
create function double_it(x int) returns int deterministic return x * 2;
create procedure count_items(out n int) select count(*) into n from items;
create trigger orders_ai after insert on orders for each row insert into audit (msg) values (concat('order ', new.id));
create event purge_audit on schedule every 1 day do delete from audit where id < 0;
insert into orders values (1, 1, 3), (2, 5, 1);
" || die "create test data in app"
q shop -e "
create table big (id int primary key, v varchar(64), n int) engine=InnoDB;
insert into big select seq, md5(seq), seq from seq_1_to_200000;
create table log (id int auto_increment primary key, n int) engine=InnoDB;
create sequence ticket start with 100;
select nextval(ticket);
" >/dev/null || die "create test data in shop"

# ---------------------------------------------------------------- config
mkdir -p "$TMP/emptybin"
DOWN_PORT=$(mdb_free_port)
CFG=$TMP/cairn.yaml
cat >"$CFG" <<EOF
targets:
  local:
    type: repository
    location: $TMP/repo
    password: "$PW"
services:
  my:
    type: mysql
    targets: [local]
    host: 127.0.0.1
    port: $PORT
    user: cairn
    password_file: $TMP/mypw
  myapp:
    type: mysql
    targets: [local]
    socket: $SOCK
    databases: [app]
  myphys:
    type: mysql
    targets: [local]
    method: physical
    socket: $SOCK
    temp_dir: $TMP
  down:
    type: mysql
    targets: [local]
    port: $DOWN_PORT
  badpw:
    type: mysql
    targets: [local]
    host: 127.0.0.1
    port: $PORT
    user: cairn
    password_file: $TMP/badpw
  limited:
    type: mysql
    targets: [local]
    host: 127.0.0.1
    port: $PORT
    user: limited
    password_file: $TMP/mypw
    databases: [app]
    users: false
  notools:
    type: mysql
    targets: [local]
    socket: $SOCK
    bin_dir: $TMP/emptybin
EOF
chmod 600 "$CFG"  # it holds passwords (cairn warns otherwise)

# ---------------------------------------------------------------- logical backup + new instance
APP_CS=$(checksums "$SOCK" app)
SHOP_CS=$(checksums "$SOCK" shop)
APP_DUMP=$(dumpdb "$SOCK" app)
SHOP_DUMP=$(dumpdb "$SOCK" shop)
must_ok "logical backup of all databases over TCP with a password" -c "$CFG" backup my --json
P1=$(json 'd["point_id"]' <<<"$OUT")
assert_nomatch "$MYPW" "$OUT$ERR" "the password appears nowhere in the output"
assert_eq "users,db.app,db.shop" "$(json '",".join(p["name"] for p in d["parts"])' <<<"$OUT")" \
  "parts: users, then one per database (system databases left out)"
assert_eq "true" "$(json 'd["fingerprint"]["exact"]' <<<"$OUT")" "logical fingerprint is exact"
assert_eq "2000" "$(json 'd["fingerprint"]["items"]["app.items"]["rows"]' <<<"$OUT")" "fingerprint counts app.items"
assert_eq "2" "$(json 'd["fingerprint"]["items"]["app.Odd Name"]["rows"]' <<<"$OUT")" \
  "fingerprint covers a table with a space"
assert_eq '{"events": 1, "routines": 2, "sequences": 0, "tables": 4, "triggers": 1, "views": 2}' \
  "$(json 'd["fingerprint"]["items"]["app"]' <<<"$OUT")" "fingerprint counts app's objects"
assert_match '^10\.11\.' "$(json 'd["server_version"]' <<<"$OUT")" "server_version recorded"

must_ok "new-instance restore of the logical backup" -c "$CFG" restore my "$P1" --mode new-instance --json
assert_eq "true true" "$(validation <<<"$OUT")" \
  "new-instance: validation ok and exact"
NEW_APP=$(json '[x for x in d["connection"]["databases"] if x.startswith("app_")][0]' <<<"$OUT")
NEW_SHOP=$(json '[x for x in d["connection"]["databases"] if x.startswith("shop_")][0]' <<<"$OUT")
assert_match '^app_restored_' "$NEW_APP" "new-instance database named app_<suffix>"
assert_eq "$APP_CS" "$(checksums "$SOCK" "$NEW_APP")" "restored app: same rows and CHECKSUM TABLE per table"
assert_eq "$SHOP_CS" "$(checksums "$SOCK" "$NEW_SHOP")" "restored shop: same rows and CHECKSUM TABLE per table"
assert_eq "$APP_DUMP" "$(dumpdb "$SOCK" "$NEW_APP")" "restored app equals the source (mariadb-dump)"
assert_eq "$SHOP_DUMP" "$(dumpdb "$SOCK" "$NEW_SHOP")" "restored shop equals the source (mariadb-dump)"
assert_eq "utf8mb4_unicode_ci" "$(q -e "select default_collation_name from information_schema.schemata
  where schema_name='$NEW_APP'")" "restored database keeps its default collation"
assert_eq "2000 10" "$(q "$NEW_APP" -e "call count_items(@n); select concat(@n, ' ', double_it(5))")" \
  "restored procedure and function work"
q "$NEW_APP" -e "insert into orders values (3, 7, 1)"
assert_eq "order 3" "$(q "$NEW_APP" -e "select msg from audit order by id desc limit 1")" "restored trigger fires"
assert_eq "purge_audit" "$(q -e "select event_name from information_schema.events where event_schema='$NEW_APP'")" \
  "restored event exists"
assert_eq "7" "$(q "$NEW_APP" -e "select count(*) from cheap_names")" "restored view on a view works"
assert_eq "$APP_CS" "$(checksums "$SOCK" app)" "new-instance left the original app untouched (checksums)"
assert_eq "$SHOP_DUMP" "$(dumpdb "$SOCK" shop)" "new-instance left the original shop untouched (dump)"
q -e "drop database \`$NEW_APP\`; drop database \`$NEW_SHOP\`"

# ---------------------------------------------------------------- consistent backup under load
rm -f "$TMP/stop-writer"
(
  i=0
  while [[ ! -e $TMP/stop-writer ]]; do
    i=$((i + 1))
    echo "begin; insert into shop.log (n) values ($i);
          update shop.big set n = n + 1 where id = $(((i * 7919) % 200000 + 1)); commit;"
    sleep 0.003
  done
) | mdb "$SOCK" >"$TMP/writer.log" 2>&1 &
WRITER=$!
BG_PIDS+=("$WRITER")
wait_for 10 bash -c "[[ \$(mariadb --no-defaults --socket='$SOCK' -uroot -NBe 'select count(*) from shop.log') \
  -gt 20 ]]" ||
  fail "the writer writes before the backup starts"
LOG_BEFORE=$(q -e "select count(*) from shop.log")
cx -c "$CFG" backup my --json
assert_rc 0 "backup while a client writes"
P2=$(json 'd["point_id"]' <<<"$OUT")
LOG_AFTER=$(q -e "select count(*) from shop.log")
LOG_AT_BACKUP=$(json 'd["fingerprint"]["items"]["shop.log"]["rows"]' <<<"$OUT")
assert_eq "true" "$(json 'd["fingerprint"]["exact"]' <<<"$OUT")" "backup under load: fingerprint exact"
touch "$TMP/stop-writer"
wait "$WRITER" || fail "writer" "$(tail -n 3 "$TMP/writer.log")"
assert_lt "$LOG_BEFORE" "$LOG_AT_BACKUP" "the backup saw writes made after it started"
assert_lt "$LOG_AT_BACKUP" "$LOG_AFTER" "the writer kept writing after the backup's snapshot"
cx -c "$CFG" restore my "$P2" --mode new-instance --as underload --json
assert_rc 0 "restore of the backup taken under load"
assert_eq "true true" "$(validation <<<"$OUT")" \
  "backup under load: exact validation passes after restore"
assert_eq "$LOG_AT_BACKUP" "$(q -e "select count(*) from shop_underload.log")" \
  "restored shop.log has the rows of the backup's snapshot"
assert_eq "$(q -e "select sum(n) - 200000 * 200001 div 2 from shop_underload.big")" \
  "$(q -e "select count(*) from shop_underload.log")" \
  "restored shop is transactionally consistent (one update per logged insert)"

# ---------------------------------------------------------------- overwrite
q -e "drop database app_underload; drop database shop_underload"
q app -e "delete from items where id > 1000; create table extra (x int); insert into extra values (1);
          drop view cheap_names; drop procedure count_items; drop trigger orders_ai;
          create function triple_it(x int) returns int deterministic return x * 3;"
q shop -e "update big set v = 'changed' where id < 100"
assert_ne "$APP_DUMP" "$(dumpdb "$SOCK" app)" "app changed after the backup"
cx -c "$CFG" restore my "$P1" --mode overwrite --yes --json
assert_rc 0 "overwrite restore"
assert_eq "true true" "$(validation <<<"$OUT")" \
  "overwrite: exact validation passes"
SAFETY=$(json 'd["safety_point_id"]' <<<"$OUT")
assert_match '^[0-9a-f]{16}$' "$SAFETY" "overwrite took a safety backup"
assert_eq "$APP_CS" "$(checksums "$SOCK" app)" "overwrite: app rows and checksums as backed up"
assert_eq "$SHOP_CS" "$(checksums "$SOCK" shop)" "overwrite: shop rows and checksums as backed up"
assert_eq "$APP_DUMP" "$(dumpdb "$SOCK" app)" "overwrite brought back app exactly (views, routines, triggers, events)"
assert_eq "$SHOP_DUMP" "$(dumpdb "$SOCK" shop)" "overwrite brought back shop exactly"
assert_eq "app,information_schema,mysql,performance_schema,shop,sys" "$(dbnames)" \
  "no staging or old databases left after overwrite"
assert_eq "2000" "$(q app -e "call count_items(@n); select @n")" "the overwritten app's procedure works"
cx -c "$CFG" backups my --json
assert_eq "safety" "$(json '[p["kind"] for p in d["points"] if p["id"] == "'"$SAFETY"'"][0]' <<<"$OUT")" \
  "the overwrite's safety backup is listed with kind safety"
cx -c "$CFG" restore my "$SAFETY" --mode new-instance --as safety --json
assert_rc 0 "the safety backup restores"
assert_eq "1000 1" "$(q -e "select concat((select count(*) from app_safety.items), ' ',
  (select count(*) from app_safety.extra))")" \
  "the safety backup holds the pre-overwrite state"
q -e "drop database app_safety; drop database shop_safety"

# ---------------------------------------------------------------- overwrite failing before the swap
# This account may create tables but not triggers or routines with another definer: the
# restore fails while filling the staging database.
q -e "create user limited@'127.0.0.1' identified by '$MYPW'; grant select, insert, update, delete, create, drop,
      alter, index, references, create view, show view, trigger, event, lock tables, reload on *.* to limited@'127.0.0.1'"
must_ok "backup with a limited account" -c "$CFG" backup limited --json
P_LIM=$(json 'd["point_id"]' <<<"$OUT")
q app -e "insert into audit (msg) values ('after the limited backup')"
APP_NOW=$(dumpdb "$SOCK" app)
expect_fail 1 'restoring database app into staging failed \(app is untouched\)' \
  "overwrite failing in the staging database: one clear line" \
  -c "$CFG" restore limited "$P_LIM" --mode overwrite --yes --no-safety-backup
assert_eq "$APP_NOW" "$(dumpdb "$SOCK" app)" "a failure before the swap leaves the original untouched"
assert_eq "app,information_schema,mysql,performance_schema,shop,sys" "$(dbnames)" \
  "a failure before the swap drops the staging database"
q app -e "delete from audit where msg = 'after the limited backup'"

# ---------------------------------------------------------------- errors
expect_fail 1 'cannot connect to MariaDB at 127\.0\.0\.1:[0-9]+: connection refused' \
  "unreachable port: one clear line" \
  -c "$CFG" backup down
expect_fail 1 'refused user cairn: access denied' "wrong password: one clear line" -c "$CFG" backup badpw
assert_nomatch 'not-the-pw-9731' "$OUT$ERR" "the password itself is not printed"
expect_fail 1 'mariadb not found in .*emptybin' "missing client tool (empty bin_dir): one clear line" \
  -c "$CFG" backup notools
expect_fail 1 'no restore point|not found|unknown' "unknown point id" \
  -c "$CFG" restore my 0123456789abcdef --mode new-instance
must_ok "single-database backup over the socket" -c "$CFG" backup myapp --json
P3=$(json 'd["point_id"]' <<<"$OUT")
BEFORE_NAMES=$(dbnames)
expect_fail 1 'database app already exists' "new-instance --as an existing database" \
  -c "$CFG" restore myapp "$P3" --mode new-instance --as app
q -e "create database shop_taken"
BEFORE_NAMES=$(dbnames)
expect_fail 1 'database shop_taken already exists' "new-instance name taken (one of several)" \
  -c "$CFG" restore my "$P1" --mode new-instance --as taken
assert_eq "$BEFORE_NAMES" "$(dbnames)" "a taken name is refused before anything is created"

# ---------------------------------------------------------------- physical
must_ok "physical backup" -c "$CFG" backup myphys --json
P4=$(json 'd["point_id"]' <<<"$OUT")
assert_eq "base" "$(json '",".join(p["name"] for p in d["parts"])' <<<"$OUT")" "physical: one part, base"
assert_eq "true" "$(json 'd["fingerprint"]["exact"]' <<<"$OUT")" "physical backup of an idle server is exact"
NEWPORT=$(mdb_free_port)
cx -c "$CFG" restore myphys "$P4" --mode new-instance --port "$NEWPORT" --json
assert_rc 0 "physical new-instance restore"
NEWPID=$(json 'd["connection"]["pid"]' <<<"$OUT")
on_exit "mdb_stop_pid '$NEWPID'"
NEWSOCK=$(json 'd["connection"]["socket"]' <<<"$OUT")
NEWDATA=$(json 'd["connection"]["data_dir"]' <<<"$OUT")
assert_eq "$NEWPORT" "$(json 'd["connection"]["port"]' <<<"$OUT")" "physical new instance listens on the requested port"
assert_eq "true" "$(json 'd["validation"]["ok"]' <<<"$OUT")" "physical new instance validates"
assert_match "^$TMP/" "$NEWDATA" "the new data directory is under the service's temp_dir"
assert_eq "mysql" "$(stat -c %U "$NEWDATA")" "the new data directory belongs to run_as"
assert_eq "$APP_CS" "$(checksums "$NEWSOCK" app)" "physical new instance: same app rows and checksums"
assert_eq "$SHOP_CS" "$(checksums "$NEWSOCK" shop)" "physical new instance: same shop rows and checksums"
assert_eq "2000" "$(mariadb --no-defaults -h127.0.0.1 -P"$NEWPORT" -ucairn -p"$MYPW" \
  -NBe 'select count(*) from app.items')" \
  "physical new instance answers on 127.0.0.1 with the original users"
assert_eq "$APP_CS" "$(checksums "$SOCK" app)" "physical restore left the original untouched"
mdb_stop_pid "$NEWPID"
expect_fail 1 'new-instance' "physical overwrite is refused with a pointer to new-instance" \
  -c "$CFG" restore myphys "$P4" --mode overwrite --yes --no-safety-backup

finish
