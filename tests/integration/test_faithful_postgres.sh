#!/usr/bin/env bash
# Faithful PostgreSQL restores: a real PostgreSQL 15 (started here, WAL
# archiving on with a safe archive_command) holding a rich schema nobody tuned
# for Cairn: many column types, extensions, large objects, roles and grants,
# per-role-per-database settings, sequences, partitions, an unlogged table,
# a materialized view, a subscription. Each restore is compared with the
# source by PostgreSQL's own tools (pg_dump, sorted pg_dumpall).
#  - logical new-instance, overwrite, and disaster recovery onto an empty
#    server with the original names (the same service pointed at it)
#  - ALTER ROLE ... IN DATABASE settings survive all three
#  - an overwrite whose configured database is missing on the server: the
#    safety backup of nothing is not an error
#  - physical: an unlogged table with rows validates (structure only);
#    a new instance gets its subscriptions disabled; an overwrite promotes onto
#    a new timeline, so archiving keeps working, and keeps the server's log file
#  - a validation failure after an overwrite says what state the service is in
#
# Usage: bash test_faithful_postgres.sh /path/to/cairn     (needs root: runuser)
source "$(dirname "$0")/lib.sh" "$@"
source "$(dirname "$0")/pg_lib.sh"

[[ $(id -u) == 0 ]] || die "this test needs root (it runs PostgreSQL as user postgres)"
id postgres >/dev/null 2>&1 || die "user postgres does not exist (apt-get install postgresql)"
pg_require_bins || die "PostgreSQL 15 server binaries are missing"

PGD=$TMP/pg
PGPW="pg secret 1"
mkdir -p "$PGD/archive"
chown -R postgres:postgres "$PGD"
printf '%s\n' "$PGPW" >"$PGD/initpw"
chown postgres "$PGD/initpw"
pg_cluster_init "$PGD" --pwfile="$PGD/initpw" --auth-local=trust --auth-host=scram-sha-256 || die "initdb"
cat >>"$PGD/data/postgresql.conf" <<EOF
archive_mode = on
archive_command = 'test ! -f $PGD/archive/%f && cp %p $PGD/archive/%f'
EOF
pg_cluster_start "$PGD" || die "start the test cluster"
PORT=$PG_PORT
SOCK=$PG_SOCK
printf '%s\n' "$PGPW" >"$TMP/pgpw"

q() { psql_at "$SOCK" "$PORT" "$1" "$2"; }
qp() { psql_at "$SOCK" "$1" "$2" "$3"; }   # qp PORT DB SQL (socket dir of the main cluster)
# pg_dump of one database without the per-run \restrict key.
dumpdb() {  # dumpdb SOCK PORT DB
  (cd /tmp && "$PG_BIN/pg_dump" -h "$1" -p "$2" -U postgres -d "$3") | grep -Ev '^\\(un)?restrict '
}
# The whole cluster as pg_dumpall prints it, sorted; the postgres role's own
# line (its password differs between clusters) left out.
dumpall_sorted() {  # dumpall_sorted SOCK PORT
  (cd /tmp && "$PG_BIN/pg_dumpall" -h "$1" -p "$2" -U postgres) |
    grep -Ev '^\\(un)?restrict |^ALTER ROLE postgres WITH|^--|^$' | LC_ALL=C sort
}
role_db_settings() {  # role_db_settings PORT DB: per-role settings in DB
  qp "$1" postgres "select coalesce(string_agg(pg_get_userbyid(s.setrole) || ':' || array_to_string(s.setconfig, ';'),
    ' ' order by 1), '') from pg_db_role_setting s join pg_database d on d.oid = s.setdatabase
    where d.datname = '$2' and s.setrole <> 0"
}
json_of() { json "$1" <<<"$OUT"; }

# ---------------------------------------------------------------- the rich schema
for sql in "create role owner_r login password 'owner pw'" "create role reader nologin" \
  "create role writer login password 'writer pw' in role reader" "create database rich owner owner_r" \
  "create database other" "alter database rich set work_mem = '3MB'" \
  "alter role reader in database rich set statement_timeout = '5s'" \
  "alter role writer in database rich set search_path = app, public" "comment on database rich is 'the rich one'"; do
  q postgres "$sql" >/dev/null || die "roles and databases: $sql"
done
q rich "
create extension hstore; create extension citext; create extension pgcrypto;
create schema app authorization owner_r;
create type app.mood as enum ('sad', 'ok', 'happy');
create domain app.posint as int check (value > 0);
create table app.kinds (id bigserial primary key, i2 smallint, i4 int, i8 bigint, n numeric(20,6), r real, d double precision,
  money_v money, t text, vc varchar(20), ch char(4), b boolean, by bytea, dt date, tm time, tmz timetz, ts timestamp,
  tstz timestamptz, iv interval, u uuid, j json, jb jsonb, x xml, arr int[], tarr text[], ip inet, cidr_v cidr, mac macaddr,
  pt point, bx box, rng int4range, tsr tstzrange, bits bit(5), vbits varbit(9), h hstore, ci citext, m app.mood,
  p app.posint, tsv tsvector);
insert into app.kinds (i2, i4, i8, n, r, d, money_v, t, vc, ch, b, by, dt, tm, tmz, ts, tstz, iv, u, j, jb, x, arr, tarr, ip,
  cidr_v, mac, pt, bx, rng, tsr, bits, vbits, h, ci, m, p, tsv)
select g, g * 1000, g::bigint * 1000000000, g / 7.0, 1.0 / g, 1.0 / (g + 0.5), g * 1.25, repeat('x', g % 50) || E'\n\t\"',
  'vc' || g, 'c' || (g % 10), g % 2 = 0, gen_random_bytes(16), date '2020-01-01' + g, time '12:00' + g * interval '1 min',
  timetz '12:00+02', timestamp '2020-01-01' + g * interval '1 hour', timestamptz '2020-01-01 00:00+00' + g * interval '1 sec',
  g * interval '1 day 2 hours', gen_random_uuid(), json_build_object('g', g), jsonb_build_object('a', array[g, g]),
  xmlparse(content '<a>' || g || '</a>'), array[g, -g], array['a' || g, null], '10.0.0.1'::inet + g, '10.1.0.0/16',
  '08:00:2b:01:02:03', point(g, -g), box(point(0, 0), point(g, g)), int4range(g, g + 10), tstzrange(now(), null),
  (g % 32)::bit(5), (g % 512)::bit(9)::varbit, hstore('k', g::text), 'CaSe' || g, (array['sad','ok','happy'])[1 + g % 3]::app.mood,
  g, to_tsvector('simple', 'word' || g)
from generate_series(1, 500) g;
create table app.events (id int, at date not null, v text) partition by range (at);
create table app.events_2024 partition of app.events for values from ('2024-01-01') to ('2025-01-01');
create table app.events_2025 partition of app.events for values from ('2025-01-01') to ('2026-01-01');
insert into app.events select g, date '2024-06-01' + g, 'e' || g from generate_series(1, 400) g;
create unlogged table app.cache (k text primary key, v text);
insert into app.cache select 'k' || g, md5(g::text) from generate_series(1, 300) g;
create sequence app.counter start 100 increment 7;
select nextval('app.counter') from generate_series(1, 5);
create materialized view app.summary as select m, count(*) from app.kinds group by m;
create view app.recent as select id, t from app.kinds where id > 400;
create function app.double_it(x int) returns int language sql immutable as 'select x * 2';
create table app.audit (id serial, what text);
create function app.log_it() returns trigger language plpgsql as \$\$ begin insert into app.audit (what) values (tg_op); return new; end \$\$;
create trigger kinds_log after insert on app.kinds for each row execute function app.log_it();
select lo_from_bytea(0, 'large object one'), lo_from_bytea(0, decode(repeat('ab', 5000), 'hex'));
grant usage on schema app to reader;
grant select on all tables in schema app to reader;
grant insert, update (t) on app.kinds to writer;
revoke all on app.audit from public;
comment on table app.kinds is 'every kind of column';
alter table app.kinds owner to owner_r;
create publication pub_kinds for table app.kinds;
create subscription sub_elsewhere connection 'host=127.0.0.1 port=1 dbname=nowhere connect_timeout=1'
  publication p with (connect = false);
" >/dev/null || die "create the rich schema"
q other "create table t (id int primary key, v text); insert into t select g, 'o' || g from generate_series(1, 50) g;" \
  >/dev/null || die "create the other database"

CFG=$TMP/cairn.yaml
write_config() {  # write_config PORT FILE
  cat >"$2" <<EOF
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
    port: $1
    password_file: $TMP/pgpw
    databases: [rich, other]
  pgphys:
    type: postgres
    targets: [local]
    method: physical
    socket: $SOCK
    port: $1
    data_dir: $PGD/data
    temp_dir: $TMP
EOF
  chmod 600 "$2"  # it holds passwords (cairn warns otherwise)
}
write_config "$PORT" "$CFG"

# ---------------------------------------------------------------- logical: new instance
RICH_BEFORE=$(dumpdb "$SOCK" "$PORT" rich)
SETTINGS_BEFORE=$(role_db_settings "$PORT" rich)
assert_match 'reader:statement_timeout=5s' "$SETTINGS_BEFORE" "the source has per-role settings in rich"
must_ok "logical backup of the rich schema" -c "$CFG" backup pg --json
P1=$(json_of 'd["point_id"]')
cx -c "$CFG" restore pg "$P1" --mode new-instance --as copy --json
assert_rc 0 "logical new-instance restore of the rich schema"
assert_eq "true true" "$(json_of '"%s %s" % (str(d["validation"]["ok"]).lower(), str(d["validation"]["exact"]).lower())')" \
  "new instance: validation ok and exact"
assert_eq "$RICH_BEFORE" "$(dumpdb "$SOCK" "$PORT" rich_copy | sed 's/rich_copy/rich/g')" \
  "new instance equals the source (pg_dump)"
assert_eq "$SETTINGS_BEFORE" "$(role_db_settings "$PORT" rich_copy)" \
  "new instance keeps the ALTER ROLE ... IN DATABASE settings"
assert_eq "work_mem=3MB" "$(q postgres "select array_to_string(setconfig, ';') from pg_db_role_setting s
  join pg_database d on d.oid = s.setdatabase where d.datname = 'rich_copy' and s.setrole = 0")" \
  "new instance keeps the database's own settings"
assert_eq "f" "$(q rich_copy "select subenabled from pg_subscription s join pg_database d on d.oid = s.subdbid
  where d.datname = 'rich_copy'")" "new instance: the copied subscription is disabled (pg_dump's connect = false)"

# ---------------------------------------------------------------- logical: overwrite (and a missing database)
q rich "delete from app.kinds where id > 250; update app.events set v = 'changed'; alter role reader in database rich reset all" \
  >/dev/null
q postgres "drop database other" >/dev/null
cx -c "$CFG" restore pg "$P1" --mode overwrite --yes --json
assert_rc 0 "overwrite while a configured database is missing (its safety backup holds nothing of it)"
assert_match '^[0-9a-f]{16}$' "$(json_of 'd["safety_point_id"] or ""')" "the safety backup was taken"
assert_eq "$RICH_BEFORE" "$(dumpdb "$SOCK" "$PORT" rich)" "overwrite brought rich back exactly (pg_dump)"
assert_eq "50" "$(q other "select count(*) from t")" "overwrite recreated the missing database"
assert_eq "$SETTINGS_BEFORE" "$(role_db_settings "$PORT" rich)" \
  "overwrite keeps the ALTER ROLE ... IN DATABASE settings"

# ---------------------------------------------------------------- logical: disaster recovery onto an empty server
DR=$TMP/dr
mkdir -p "$DR"
chown postgres:postgres "$DR"
pg_cluster_init "$DR" --pwfile="$PGD/initpw" --auth-local=trust --auth-host=scram-sha-256 || die "initdb of the empty server"
pg_cluster_start "$DR" || die "start the empty server"
DR_PORT=$PG_PORT
write_config "$DR_PORT" "$TMP/dr.yaml"
cx -c "$TMP/dr.yaml" restore pg "$P1" --mode overwrite --yes --json
assert_rc 0 "disaster recovery: the same service, pointed at an empty server, restored with --mode overwrite"
q rich_copy "alter subscription sub_elsewhere set (slot_name = none); drop subscription sub_elsewhere" >/dev/null
q postgres "drop database rich_copy" >/dev/null
q postgres "drop database other_copy" >/dev/null
assert_eq "" "$(diff <(dumpall_sorted "$SOCK" "$PORT") <(dumpall_sorted "$DR/sock" "$DR_PORT"))" \
  "the recovered server equals the source (sorted pg_dumpall: roles, grants, settings, databases)"

# ---------------------------------------------------------------- physical
ARCH_SEG=$(q postgres "select pg_walfile_name(pg_switch_wal())")
wait_for 20 bash -c "[[ \$(cd /tmp && '$PG_BIN/psql' -XAtq -h '$SOCK' -p $PORT -U postgres -d postgres \
  -c 'select last_archived_wal >= '\\'$ARCH_SEG\\'' from pg_stat_archiver') == t ]]" || fail "WAL archiving works before"
q rich "alter subscription sub_elsewhere enable" >/dev/null
must_ok "physical backup of a cluster whose unlogged table holds rows" -c "$CFG" backup pgphys --json
P2=$(json_of 'd["point_id"]')
assert_eq '{"persistence": "unlogged"}' "$(json_of 'json.dumps(d["fingerprint"]["items"]["rich.app.cache"])')" \
  "physical fingerprint: the unlogged table is structure only"
NEWPORT=$(pg_free_port)
cx -c "$CFG" restore pgphys "$P2" --mode new-instance --port "$NEWPORT" --json
assert_rc 0 "physical new-instance restore of a cluster with unlogged rows validates"
NEWDIR=$(json_of 'd["connection"]["data_dir"]')
[[ -d $NEWDIR ]] && on_exit "pg_as '$PG_BIN/pg_ctl' -D '$NEWDIR' -m immediate -w stop"
assert_match 'subscriptions were disabled.*rich.sub_elsewhere' "$(json_of 'd["summary"]')" \
  "physical new instance says it disabled the copy's subscription"
assert_eq "f" "$(psql_at "$NEWDIR" "$NEWPORT" rich "select subenabled from pg_subscription s join pg_database d on d.oid = s.subdbid where d.datname = 'rich'")" \
  "physical new instance: the subscription is disabled in the copy"
assert_eq "t" "$(q rich "select subenabled from pg_subscription s join pg_database d on d.oid = s.subdbid where d.datname = 'rich'")" \
  "the original's subscription stays enabled"
pg_as "$PG_BIN/pg_ctl" -D "$NEWDIR" -m fast -w stop >/dev/null 2>&1
q rich "alter subscription sub_elsewhere disable" >/dev/null

q rich "insert into app.events values (9999, '2024-07-01', 'after the physical backup')" >/dev/null
LOG_LINES=$(wc -l <"$PGD/server.log")
cx -c "$CFG" restore pgphys "$P2" --mode overwrite --yes --json
assert_rc 0 "physical overwrite of a cluster with unlogged rows validates"
assert_eq "0" "$(q rich "select count(*) from app.events where id = 9999")" "physical overwrite brought back the backup"
assert_match '^0000000[2-9]' "$(q postgres "select pg_walfile_name(pg_current_wal_lsn())")" \
  "physical overwrite promoted the cluster onto a new timeline"
SEG=$(q postgres "create table ttt(x int); insert into ttt values (1); select pg_walfile_name(pg_switch_wal())")
wait_for 20 bash -c "[[ \$(cd /tmp && '$PG_BIN/psql' -XAtq -h '$SOCK' -p $PORT -U postgres -d postgres \
  -c 'select last_archived_wal >= '\\'$SEG\\'' from pg_stat_archiver') == t ]]" ||
  fail "WAL archiving keeps working after a physical overwrite" "$(q postgres "select * from pg_stat_archiver")"
assert_eq "0" "$(q postgres "select failed_count from pg_stat_archiver")" "archive_command never failed after the overwrite"
assert_eq "" "$(ls "$PGD/data" | grep -i cairn || true)" "nothing of Cairn's (no cairn-start.log) in the data directory"
assert_match 'selected new timeline ID' "$(tail -n +"$LOG_LINES" "$PGD/server.log")" \
  "the restarted server logs into its own log file again (and it promoted)"
assert_eq "" "$(grep -E 'recovery_target|max_logical' "$PGD/data/postgresql.auto.conf" || true)" \
  "no recovery settings are left in postgresql.auto.conf"
# A second overwrite from the same (timeline 1) backup: the new timeline must
# be one the archive has not seen yet (its history file would collide).
cx -c "$CFG" restore pgphys "$P2" --mode overwrite --yes --json
assert_rc 0 "a second physical overwrite from the same backup"
assert_match '^0000000[3-9]' "$(q postgres "select pg_walfile_name(pg_current_wal_lsn())")" \
  "the second overwrite picked a timeline past the first one's"
SEG=$(q postgres "create table ttt2(x int); insert into ttt2 values (1); select pg_walfile_name(pg_switch_wal())")
wait_for 20 bash -c "[[ \$(cd /tmp && '$PG_BIN/psql' -XAtq -h '$SOCK' -p $PORT -U postgres -d postgres \
  -c 'select last_archived_wal >= '\\'$SEG\\'' from pg_stat_archiver') == t ]]" ||
  fail "WAL archiving keeps working after a second physical overwrite" "$(q postgres "select * from pg_stat_archiver")"
assert_eq "0" "$(q postgres "select failed_count from pg_stat_archiver")" "archive_command never failed after it either"

# ---------------------------------------------------------------- validation failure after an overwrite
mkdir -p "$TMP/lossy"
for t in psql pg_dump pg_dumpall pg_basebackup; do ln -s "$PG_BIN/$t" "$TMP/lossy/$t"; done
cat >"$TMP/lossy/pg_restore" <<EOF
#!/bin/sh
# A pg_restore that loses a row: stands in for any silent loss.
"$PG_BIN/pg_restore" "\$@" || exit \$?
[ "\$1" = --version ] && exit 0
for a in "\$@"; do db=\$a; done
"$PG_BIN/psql" -XAtq -d "\$db" -c "delete from t where id = 1" >/dev/null
EOF
chmod 755 "$TMP/lossy/pg_restore"
cat >>"$CFG" <<EOF
  lossy:
    type: postgres
    targets: [local]
    socket: $SOCK
    port: $PORT
    databases: [other]
    bin_dir: $TMP/lossy
EOF
must_ok "backup for the lossy overwrite" -c "$CFG" backup lossy --json
P3=$(json_of 'd["point_id"]')
expect_fail 1 'validation failed.*lossy now runs on the restored data.*safety restore point [0-9a-f]{16}' \
  "a validation failure after an overwrite says the restored data is in place and where the previous state is" \
  -c "$CFG" restore lossy "$P3" --mode overwrite --yes

finish
