#!/usr/bin/env bash
# Faithful MariaDB restores: a real MariaDB 10.11 (started here) holding a
# rich schema nobody tuned for Cairn: many column types (FLOAT included),
# generated and invisible columns, foreign keys, partitions, views, routines,
# triggers, an event that names its database, a sequence, a system-versioned
# table, a MyISAM table in a database of its own, users with table and column
# grants, a role, an admin account. Each restore is compared with the source
# by MariaDB's own tools (mariadb-dump, CHECKSUM TABLE, SHOW GRANTS).
#  - FLOAT values survive bit-exact, and the fingerprint hashes the server's
#    values (a rounded copy would not validate)
#  - one MyISAM table makes only its own database structure-only, and says why
#    (backup, backups, --json); a physical point of an idle server is exact
#  - a new-instance copy gets its events disabled (and says so): nothing it
#    holds writes into the original
#  - overwrite brings back the exact state with the events as they were
#  - disaster recovery onto an empty server with restore_users: accounts,
#    roles and grants are rebuilt after the databases, the server's own root
#    is left alone, and the report says what was applied; the safety backup
#    of a server that lacks the configured databases is no error
#  - root over TCP without a password: the error points at the socket
#
# Usage: bash test_faithful_mysql.sh /path/to/cairn     (needs root: mariadbd --user=mysql)
source "$(dirname "$0")/lib.sh" "$@"
source "$(dirname "$0")/mysql_lib.sh"

[[ $(id -u) == 0 ]] || die "this test needs root (mariadbd runs as user mysql)"
mdb_require_bins || die "MariaDB binaries are missing"

MD=$TMP/m
mdb_init "$MD" || die "mariadb-install-db"
mdb_start "$MD" --event-scheduler=OFF || die "start MariaDB"
SOCK=$MDB_SOCK
PORT=$MDB_PORT
ADMINPW="admin pw 1"
printf '%s\n' "$ADMINPW" >"$TMP/adminpw"
m() { mdb "$SOCK" --default-character-set=utf8mb4 "$@"; }
json_of() { json "$1" <<<"$OUT"; }
dumpdb() {  # dumpdb SOCK DB: data and definitions, events without their status
  mariadb-dump --no-defaults --socket="$1" -uroot --skip-dump-date --routines --events --triggers --hex-blob \
    --skip-comments "$2" | sed -E 's/ (ENABLE|DISABLE) DO / DO /; s/AUTO_INCREMENT=[0-9]+ //'
}
checksums() {  # checksums SOCK DB: CHECKSUM TABLE of every base table (history rows are not carried, see docs)
  local t out=""
  for t in $(mdb "$1" -e "select table_name from information_schema.tables where table_schema='$2'
      and table_type = 'BASE TABLE' order by table_name"); do
    out+="$t $(mdb "$1" -e "checksum table \`$2\`.\`$t\`" | cut -f2) "
  done
  echo "$out"
}
# SHOW GRANTS, sorted, with column lists in a fixed order (the server keeps them in hash order).
grants() {  # grants SOCK ACCOUNT
  mdb "$1" -e "show grants for $2" | python3 -c '
import re, sys
for l in sorted(sys.stdin.read().splitlines()):
    print(re.sub(r"\(([^()]*)\)", lambda m: "(" + ", ".join(sorted(m.group(1).split(", "))) + ")", l))'
}
floats() { mdb "$1" -e "select group_concat(hex(cast(cast(f as double) as binary)) order by id) from \`$2\`.measures"; }

# ---------------------------------------------------------------- the rich schema
m -e "
create database shop character set utf8mb4 collate utf8mb4_unicode_ci;
create database legacy;
create user admin@'%' identified by '$ADMINPW';
grant all privileges on *.* to admin@'%' with grant option;
create user app@'127.0.0.1' identified by 'app pw';
create role r1;
" || die "databases and accounts"
m shop -e "
create table kinds (id int unsigned auto_increment primary key, ti tinyint, si smallint, mi mediumint, bi bigint unsigned,
  de decimal(30,10), fl float, db double, bt bit(7), ch char(5), vc varchar(40), tx text, la varchar(20) character set latin1,
  bl blob, vb varbinary(16), dt date, dtm datetime(6), ts timestamp(3) null, tm time(2), yr year, en enum('a','b','c d'),
  st set('x','y','z'), js json, gm point, uu uuid, ip inet6, gen int as (ti * 2) virtual, gens varchar(50) as (upper(vc)) stored,
  hid int invisible default 7, key (vc), check (si >= -1000));
insert into kinds (ti, si, mi, bi, de, fl, db, bt, ch, vc, tx, la, bl, vb, dt, dtm, ts, tm, yr, en, st, js, gm, uu, ip)
select seq % 100, seq, seq * 7, 18446744073709551615 - seq, seq / 7, seq / 7, seq / 7e0, seq % 128, 'c', concat('v', seq, '😀'),
  concat('line1\nline2\t', repeat('é', seq % 20)), 'é', unhex(md5(seq)), unhex('00ff'), '2024-01-01' + interval seq day,
  '2024-01-01 00:00:00.123456' + interval seq second, '2024-06-01 12:00:00.5' + interval seq minute,
  sec_to_time(seq) + interval 0.25 second, 2000 + seq % 100, elt(1 + seq % 3, 'a', 'b', 'c d'), 'x,z',
  json_object('k', seq, 'a', json_array(1, 2)), point(seq, -seq), uuid(), concat('::', hex(seq))
from seq_1_to_300;
insert into kinds (id, fl, vc) values (0, null, ''), (1000, -0.0, 'zero');
create table measures (id int primary key, f float, g double as (f * 2) stored, note varchar(20));
insert into measures (id, f, note) values (1, 1/7, 'one seventh'), (2, 3.4028234e38, 'max'), (3, 1.17549435e-38, 'min'),
  (4, -123.456789, 'neg'), (5, null, 'null'), (6, 0.1, 'tenth');
create table measures_nokey (f float, n int);
insert into measures_nokey values (0.3333333, 1), (0.3333333, 1), (2.7182817, 2);
create table parent (id int primary key, name varchar(10)) engine=InnoDB;
create table child (id int primary key, parent_id int, foreign key (parent_id) references parent(id) on delete cascade);
insert into parent select seq, concat('p', seq) from seq_1_to_20;
insert into child select seq, 1 + seq % 20 from seq_1_to_60;
create table logbook (id int auto_increment primary key, what varchar(40), at timestamp default current_timestamp);
create table events_by_year (id int, y int, primary key (id, y)) partition by range (y)
  (partition p1 values less than (2020), partition p2 values less than maxvalue);
insert into events_by_year select seq, 2010 + seq % 20 from seq_1_to_100;
create table history (id int primary key, v int) with system versioning;
insert into history values (1, 1), (2, 2); update history set v = 3 where id = 1;
create sequence order_no start with 1000 increment by 5;
create table ticks (id int auto_increment primary key, src varchar(64), at timestamp(6) default current_timestamp(6));
create view cheap as select id, vc from kinds where de < 10;
create view cheaper as select * from cheap where id < 5;
create function twice(x int) returns int deterministic return x * 2;
create procedure add_log(w varchar(40)) insert into logbook (what) values (w);
create trigger kinds_ins after insert on kinds for each row insert into logbook (what) values (concat('kinds ', new.id));
create event tick on schedule every 1 second do insert into shop.ticks (src) values (database());
" || die "the rich schema"
m legacy -e "create table old (id int primary key, v varchar(10)) engine=MyISAM;
  insert into old select seq, concat('o', seq) from seq_1_to_30;
  create table newer (id int primary key, f float) engine=InnoDB; insert into newer values (1, 2/3);" || die "legacy"
m -e "
grant select, insert on shop.* to r1;
grant r1 to app@'127.0.0.1';
set default role r1 for app@'127.0.0.1';
grant select (id, vc), update (vc) on shop.kinds to app@'127.0.0.1';
grant select on shop.measures to app@'127.0.0.1';
grant execute on procedure shop.add_log to app@'127.0.0.1';
" || die "grants"
SHOP_DUMP=$(dumpdb "$SOCK" shop)
SHOP_SUMS=$(checksums "$SOCK" shop)
LEGACY_SUMS=$(checksums "$SOCK" legacy)
SHOP_FLOATS=$(floats "$SOCK" shop)
GRANTS_APP=$(grants "$SOCK" "app@'127.0.0.1'")
GRANTS_R1=$(grants "$SOCK" r1)

CFG=$TMP/cairn.yaml
write_config() {  # write_config PORT SOCK FILE
  cat >"$3" <<EOF
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
    port: $1
    user: admin
    password_file: $TMP/adminpw
    databases: [shop, legacy]
    restore_users: true
  myphys:
    type: mysql
    targets: [local]
    method: physical
    socket: $2
    user: root
    temp_dir: $TMP
  rootcp:
    type: mysql
    targets: [local]
    host: 127.0.0.1
    port: $1
EOF
  chmod 600 "$3"  # it holds passwords (cairn warns otherwise)
}
write_config "$PORT" "$SOCK" "$CFG"

# ---------------------------------------------------------------- backup: exactness and its reasons
must_ok "logical backup of the rich schema" -c "$CFG" backup my --json
P1=$(json_of 'd["point_id"]')
assert_eq "true" "$(json_of 'str(d["fingerprint"]["exact"]).lower()')" \
  "one MyISAM table does not make the other databases inexact"
assert_match '^legacy: not transactional.*old \(MyISAM\)$' "$(json_of '"\n".join(d["inexact_reasons"])')" \
  "backup --json says why legacy is structure-only, and only legacy"
assert_match 'rows\.shop' "$(json_of '",".join(p["name"] for p in d["parts"])')" \
  "the FLOAT tables' rows are a part of their own"
cx -c "$CFG" backups my
assert_match 'fingerprint structure-only for legacy: not transactional' "$OUT" "backups says why a point is inexact"

# ---------------------------------------------------------------- new instance
cx -c "$CFG" restore my "$P1" --mode new-instance --as copy --json
assert_rc 0 "new-instance restore of the rich schema"
assert_eq "true true legacy" "$(json_of '"%s %s %s" % (str(d["validation"]["ok"]).lower(),
  str(d["validation"]["exact"]).lower(), ",".join(d["validation"]["structure_only"]))')" \
  "validation exact except for legacy, which is structure-only"
assert_eq "$SHOP_FLOATS" "$(floats "$SOCK" shop_copy)" "FLOAT values are bit-exact in the copy"
assert_eq "$SHOP_SUMS" "$(checksums "$SOCK" shop_copy)" "CHECKSUM TABLE of every table equals the source"
assert_eq "$LEGACY_SUMS" "$(checksums "$SOCK" legacy_copy)" "CHECKSUM TABLE of the MyISAM database equals the source"
assert_eq "$SHOP_DUMP" "$(dumpdb "$SOCK" shop_copy)" "the copy equals the source (mariadb-dump)"
assert_match 'events disabled in the copy: shop_copy.tick' "$(json_of 'd["summary"]')" "the copy says its events are disabled"
assert_eq "DISABLED" "$(m -e "select status from information_schema.events where event_schema = 'shop_copy'")" \
  "the copy's event is disabled"
m -e "set global event_scheduler = on"
sleep 2.5
m -e "set global event_scheduler = off"
assert_lt 0 "$(m -e "select count(*) from shop.ticks where src = 'shop'")" "the original's event runs"
assert_eq "0" "$(m -e "select count(*) from shop.ticks where src = 'shop_copy'")" \
  "nothing in the copy wrote into the original"
m -e "delete from shop.ticks"
SHOP_DUMP=$(dumpdb "$SOCK" shop)

# ---------------------------------------------------------------- overwrite
must_ok "backup before the overwrite" -c "$CFG" backup my --json
P2=$(json_of 'd["point_id"]')
m shop -e "update measures set f = f + 1; delete from kinds where id > 100; drop view cheaper; alter event tick disable"
cx -c "$CFG" restore my "$P2" --mode overwrite --yes --json
assert_rc 0 "overwrite restore of the rich schema"
assert_eq "true" "$(json_of 'str(d["validation"]["ok"]).lower()')" "overwrite validates"
assert_eq "$SHOP_FLOATS" "$(floats "$SOCK" shop)" "overwrite: FLOAT values are bit-exact"
assert_eq "$(echo "$SHOP_SUMS" | sed 's/ticks [0-9]*/ticks X/')" "$(checksums "$SOCK" shop | sed 's/ticks [0-9]*/ticks X/')" \
  "overwrite: CHECKSUM TABLE equals the source"
assert_eq "$SHOP_DUMP" "$(dumpdb "$SOCK" shop)" "overwrite brought back the exact state (mariadb-dump)"
assert_eq "ENABLED" "$(m -e "select status from information_schema.events where event_schema = 'shop'")" \
  "overwrite: the event is enabled again, as it was in the backup"
assert_eq "" "$(m -e "show databases" | grep cairn || true)" "no staging databases left"

# ---------------------------------------------------------------- disaster recovery onto an empty server
MD2=$TMP/m2
mdb_init "$MD2" || die "mariadb-install-db of the empty server"
mdb_start "$MD2" || die "start the empty server"
mdb "$MDB_SOCK" -e "create user admin@'%' identified by '$ADMINPW'; grant all privileges on *.* to admin@'%' with grant option"
write_config "$MDB_PORT" "$MDB_SOCK" "$TMP/dr.yaml"
cx -c "$TMP/dr.yaml" restore my "$P2" --mode overwrite --yes --json
assert_rc 0 "disaster recovery with restore_users onto an empty server (the admin account has ALL WITH GRANT OPTION)"
assert_match '^[0-9a-f]{16}$' "$(json_of 'd["safety_point_id"] or ""')" \
  "its safety backup holds nothing of the missing databases, and is no error"
assert_match 'users: [0-9]+ created \(.*app@127\.0\.0\.1.*\).*root@localhost.*every statement applied' \
  "$(json_of 'd["summary"]')" "the report names the accounts created and those left alone"
assert_eq "$SHOP_DUMP" "$(dumpdb "$MDB_SOCK" shop)" "the recovered server's shop equals the source (mariadb-dump)"
assert_eq "$SHOP_FLOATS" "$(floats "$MDB_SOCK" shop)" "the recovered FLOAT values are bit-exact"
assert_eq "$GRANTS_APP" "$(grants "$MDB_SOCK" "app@'127.0.0.1'")" \
  "the recovered app account has its grants (table, column, routine, role)"
assert_eq "$GRANTS_R1" "$(grants "$MDB_SOCK" r1)" "the recovered role has its grants"
assert_eq "1" "$(mariadb --no-defaults -h127.0.0.1 -P"$MDB_PORT" -uapp -p'app pw' -N -B -e "select count(*) > 0 from shop.measures")" \
  "the recovered app account logs in with its password and reads"

# ---------------------------------------------------------------- physical
must_ok "physical backup of an idle server with a MyISAM table" -c "$CFG" backup myphys --json
P3=$(json_of 'd["point_id"]')
assert_eq "true []" "$(json_of '"%s %s" % (str(d["fingerprint"]["exact"]).lower(), json.dumps(d["inexact_reasons"]))')" \
  "a physical point of an unchanged server is exact, MyISAM or not"
cx -c "$CFG" restore myphys "$P3" --mode new-instance --as phys --json
assert_rc 0 "physical new-instance restore validates"
PHYS_PID=$(json_of 'd["connection"]["pid"]')
on_exit "mdb_stop_pid '$PHYS_PID'"
assert_eq "OFF" "$(mdb "$TMP/phys/mysqld.sock" -e "select @@event_scheduler")" \
  "the physical copy runs with its event scheduler off"
assert_match 'event scheduler is off' "$(json_of 'd["summary"]')" "and says so"
mdb_stop_pid "$PHYS_PID"

# ---------------------------------------------------------------- connection errors
expect_fail 1 'refused user root over TCP.*set socket: /run/mysqld/mysqld.sock' \
  "root over TCP without a password: the error points at the socket" -c "$CFG" backup rootcp

finish
