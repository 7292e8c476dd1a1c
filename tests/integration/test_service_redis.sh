#!/usr/bin/env bash
# Redis service: backup over the replication protocol, new-instance restore,
# overwrite of a live server through a staging replica sync, error cases.
# Needs redis-server and redis-cli 7 (a missing binary fails the test).
source "$(dirname "$0")/lib.sh" "$@"
source "$(dirname "$0")/redis_lib.sh"

redis_require_bins || die "redis-server and redis-cli are installed"

PORT=$(redis_free_port)
redis_start "$TMP/src" "$PORT" || die "start the source redis-server on port $PORT"
ok "source redis-server on port $PORT"

# ---------------------------------------------------------------- data: every type, two databases
for i in $(seq 1 2000); do echo "SET key:$i value-$i"; done | rcli "$PORT" >/dev/null
{
  echo "HSET user:1 name alice email alice@example.com visits 42"
  for i in $(seq 1 300); do echo "HSET bighash field$i v$i"; done       # hashtable encoding
  echo "RPUSH queue job1 job2 job3 job2"
  echo "SADD tags red green blue"
  for i in $(seq 1 300); do echo "SADD bigset member$i"; done           # hashtable encoding
  echo "ZADD board 10 ann 20.5 bob -3 cid 1e10 dan"
  echo "SET session:abc token EX 3600"
  echo "HSET expiring f v"
  echo "EXPIRE expiring 7200"
  echo "XADD events 1-1 type login user alice"
  echo "XADD events 2-1 type logout user alice"
  echo "SET \"key with spaces\" \"value with\\nnewline\""
} | rcli "$PORT" >/dev/null
{
  echo "SET other:1 one"
  echo "RPUSH other:list x y"
  echo "SET other:ttl z PX 5000000"
} | rcli "$PORT" -n 2 >/dev/null
assert_eq "db0=2010" "$(redis_dbsizes "$PORT" | tr ' ' '\n' | grep '^db0=')" "source db0 holds the test keys"
assert_eq "db2=3" "$(redis_dbsizes "$PORT" | tr ' ' '\n' | grep '^db2=')" "source db2 holds the test keys"

# Password-protected server for the auth cases.
PW_PORT=$(redis_free_port)
PW_SECRET='pa ss"word'
redis_start "$TMP/pwsrv" "$PW_PORT" || die "start the password-protected redis-server"
rcli "$PW_PORT" config set requirepass "$PW_SECRET" >/dev/null  # not on the server's command line
REDIS_PW=$PW_SECRET rcli "$PW_PORT" set guarded yes >/dev/null
printf '%s\n' "$PW_SECRET" >"$TMP/redis.pw"
printf 'not the password\n' >"$TMP/wrong.pw"
DOWN_PORT=$(redis_free_port)

# A redis-cli that notes its environment before it runs the real one (found
# beside the service's redis_server setting).
mkdir -p "$TMP/rspy"
ln -s "$(command -v redis-server)" "$TMP/rspy/redis-server"
cat >"$TMP/rspy/redis-cli" <<EOF
#!/bin/sh
{ echo "== redis-cli \$*"; env; } >>"$TMP/rspy.log"
exec "$(command -v redis-cli)" "\$@"
EOF
chmod 755 "$TMP/rspy/redis-cli"

printf '%s\n' "$PW" >"$TMP/repo.pw"
mkdir -p "$TMP/scratch"
CFG=$TMP/cairn.yaml
cat >"$CFG" <<EOF
targets:
  local:
    type: repository
    location: $TMP/repo
    password_file: $TMP/repo.pw
services:
  cache:
    type: redis
    host: 127.0.0.1
    port: $PORT
    temp_dir: $TMP/scratch
    targets: [local]
  secure:
    type: redis
    port: $PW_PORT
    password_file: $TMP/redis.pw
    temp_dir: $TMP/scratch
    targets: [local]
  spy:
    type: redis
    port: $PW_PORT
    password_file: $TMP/redis.pw
    redis_server: $TMP/rspy/redis-server
    temp_dir: $TMP/scratch
    targets: [local]
  wrongpw:
    type: redis
    port: $PW_PORT
    password_file: $TMP/wrong.pw
    targets: [local]
  nopw:
    type: redis
    port: $PW_PORT
    targets: [local]
  down:
    type: redis
    port: $DOWN_PORT
    targets: [local]
EOF
chmod 600 "$CFG"  # it holds passwords (cairn warns otherwise)

D0=$(redis_digest "$PORT")
S0=$(redis_dbsizes "$PORT")
assert_match '^db0 keys=2010 sha=' "$D0" "independent digest sees db0"

# ---------------------------------------------------------------- backup
must_ok "backup of the redis service" -c "$CFG" backup cache --json
BACKUP_JSON=$OUT
P1=$(json 'd["point_id"]' <<<"$BACKUP_JSON")
assert_match '^[0-9a-f]{16}$' "$P1" "backup --json names the restore point"
assert_eq '["rdb"]' "$(json '[p["name"] for p in d["parts"]]' <<<"$BACKUP_JSON")" "one part: rdb"
assert_eq "dump.rdb" "$(json 'd["parts"][0]["file"]' <<<"$BACKUP_JSON")" "stored as dump.rdb"
assert_eq "true" "$(json 'd["fingerprint"]["exact"]' <<<"$BACKUP_JSON")" "fingerprint of an idle server is exact"
assert_eq '{"db0": 2008, "db2": 2}' "$(json '{k: v["keys"] for k, v in d["fingerprint"]["items"].items()}' <<<"$BACKUP_JSON")" \
  "fingerprint counts the keys without a TTL per database"
assert_match '^7\.' "$(json 'd["server_version"]' <<<"$BACKUP_JSON")" "server version recorded"
RDB_BYTES=$(json 'd["parts"][0]["bytes"]' <<<"$BACKUP_JSON")
assert_eq "$D0" "$(redis_digest "$PORT")" "backup leaves the data unchanged"

# ---------------------------------------------------------------- new instance
cx -c "$CFG" restore cache "$P1" --mode new-instance --as "$TMP/inst1" --json
assert_rc 0 "new-instance restore"
on_exit "redis_stop '$TMP/inst1'"
R1=$OUT
assert_eq "true" "$(json 'd["validation"]["ok"] and d["validation"]["exact"]' <<<"$R1")" "new instance validated (exact)"
assert_eq "$TMP/inst1" "$(json 'd["connection"]["dir"]' <<<"$R1")" "new instance lives in the --as directory"
IPORT=$(json 'd["connection"]["port"]' <<<"$R1")
assert_match '^[0-9]+$' "$IPORT" "new instance reports its port"
assert_match "redis-cli -p $IPORT shutdown nosave" "$(json 'd["stop_hint"]' <<<"$R1")" "stop hint names the port"
assert_eq "$D0" "$(redis_digest "$IPORT")" "new instance: content digest equals the source's"
assert_eq "$S0" "$(redis_dbsizes "$IPORT")" "new instance: DBSIZE of every database equals the source's"
assert_eq "$D0" "$(redis_digest "$PORT")" "new-instance restore leaves the original untouched"
assert_eq "OK" "$(rcli "$IPORT" set writable yes)" "new instance accepts writes"
assert_eq "$RDB_BYTES" "$(stat -c %s "$TMP/inst1/dump.rdb")" "restored dump.rdb has the stored size"
# The stored RDB ends with its own CRC-64 (no diskless-transfer EOF mark left behind).
assert_cmd "stored RDB ends with a valid CRC-64" python3 - "$TMP/inst1/dump.rdb" <<'EOF'
import sys
P = 0x95AC9329AC4BC9B5
T = []
for i in range(256):
    c = i
    for _ in range(8): c = (c >> 1) ^ P if c & 1 else c >> 1
    T.append(c)
d = open(sys.argv[1], "rb").read()
c = 0
for x in d[:-8]: c = T[(c ^ x) & 0xff] ^ (c >> 8)
sys.exit(0 if d[:5] == b"REDIS" and d[-9] == 0xFF and c == int.from_bytes(d[-8:], "little") else 1)
EOF

# Default naming under the service's temp_dir, on a requested port.
WANT_PORT=$(redis_free_port)
cx -c "$CFG" restore cache "$P1" --mode new-instance --port "$WANT_PORT" --json
assert_rc 0 "new-instance restore on a requested port"
IDIR2=$(json 'd["connection"]["dir"]' <<<"$OUT")
[[ -d $IDIR2 ]] && on_exit "redis_stop '$IDIR2'"
assert_eq "$WANT_PORT" "$(json 'd["connection"]["port"]' <<<"$OUT")" "new instance listens on --port"
assert_match "^$TMP/scratch/cairn-redis-restored_" "$IDIR2" "default directory: temp_dir/cairn-redis-<suffix>"
assert_eq "$D0" "$(redis_digest "$WANT_PORT")" "second new instance has the same content"
redis_stop "$IDIR2"

expect_fail 1 "already exists" "new instance into a non-empty directory is refused" \
  -c "$CFG" restore cache "$P1" --mode new-instance --as "$TMP/inst1"
expect_fail 1 "in use" "new instance on a port in use is refused" \
  -c "$CFG" restore cache "$P1" --mode new-instance --as "$TMP/inst3" --port "$PORT"
assert_not_exists "$TMP/inst3/dump.rdb" "refused restore leaves no files"

# ---------------------------------------------------------------- overwrite
{
  echo "SET key:1 changed"
  echo "DEL queue"
  echo "SADD tags purple"
  echo "SET brand:new key"
} | rcli "$PORT" >/dev/null
rcli "$PORT" -n 2 flushdb >/dev/null
rcli "$PORT" -n 5 set stray 1 >/dev/null
DCHANGED=$(redis_digest "$PORT")
assert_ne "$D0" "$DCHANGED" "the changes are visible before the overwrite"
cx -c "$CFG" restore cache "$P1" --mode overwrite --yes --json
assert_rc 0 "overwrite restore of the live server"
OW=$OUT
assert_eq "true" "$(json 'd["validation"]["ok"]' <<<"$OW")" "overwrite validated"
assert_eq "$D0" "$(redis_digest "$PORT")" "overwrite: content digest is the backed-up one"
assert_eq "$S0" "$(redis_dbsizes "$PORT")" "overwrite: DBSIZE per database is the backed-up one (db5 gone, db2 back)"
assert_eq "value-1" "$(rcli "$PORT" get key:1)" "overwrite: changed key is back"
assert_eq "role:master" "$(rcli "$PORT" info replication | tr -d '\r' | grep '^role:')" "live server is a primary again"
assert_eq "" "$(rcli "$PORT" config get masterauth | tr -d '\r' | sed -n 2p)" "masterauth restored to its previous value"
assert_eq "OK" "$(rcli "$PORT" set after:restore 1)" "live server accepts writes after the overwrite"
rcli "$PORT" del after:restore >/dev/null
SAFETY=$(json 'd["safety_point_id"]' <<<"$OW")
assert_match '^[0-9a-f]{16}$' "$SAFETY" "overwrite took a safety backup"
cx -c "$CFG" backups cache --json
assert_eq "safety" "$(json '[p["kind"] for p in d["points"] if p["id"] == "'"$SAFETY"'"][0]' <<<"$OUT")" \
  "backups --json lists the safety point with kind safety"
assert_eq "" "$(find "$TMP/scratch" -maxdepth 1 -name "*staging*")" "staging server directory removed"

# The safety point holds the replaced state: restore it as a new instance.
cx -c "$CFG" restore cache "$SAFETY" --mode new-instance --as "$TMP/inst-safety" --json
assert_rc 0 "safety point restores"
on_exit "redis_stop '$TMP/inst-safety'"
assert_eq "$DCHANGED" "$(redis_digest "$(json 'd["connection"]["port"]' <<<"$OUT")")" "safety point = state before overwrite"
redis_stop "$TMP/inst-safety"

# Keys with a TTL that expire before the restore do not fail validation.
rcli "$PORT" -n 9 set short:lived x PX 1500 >/dev/null
rcli "$PORT" -n 9 set long:lived y >/dev/null
must_ok "backup with a soon-expiring key" -c "$CFG" backup cache --json
P3=$(json 'd["point_id"]' <<<"$OUT")
sleep 2
cx -c "$CFG" restore cache "$P3" --mode new-instance --as "$TMP/inst-ttl" --json
assert_rc 0 "restore after a key's TTL ran out passes validation"
on_exit "redis_stop '$TMP/inst-ttl'"
assert_eq "1" "$(rcli "$(json 'd["connection"]["port"]' <<<"$OUT")" -n 9 dbsize)" "the expired key is gone, the other one is there"
redis_stop "$TMP/inst-ttl"
rcli "$PORT" -n 9 flushdb >/dev/null

# ---------------------------------------------------------------- passwords
expect_fail 1 "password" "wrong password: exit 1, one line" -c "$CFG" backup wrongpw
assert_nomatch "not the password" "$ERR" "the wrong password is not echoed"
expect_fail 1 "requires a password" "no password for a protected server: exit 1, one line" -c "$CFG" backup nopw
must_ok "backup of the password-protected server" -c "$CFG" backup secure --json
cx -c "$CFG" restore secure latest --mode new-instance --as "$TMP/inst-pw" --json
assert_rc 0 "new instance of the password-protected server"
on_exit "redis_stop '$TMP/inst-pw'"
PPORT=$(json 'd["connection"]["port"]' <<<"$OUT")
assert_eq "true" "$(json 'd["validation"]["ok"]' <<<"$OUT")" "protected new instance validated"
assert_match "NOAUTH" "$(redis-cli -p "$PPORT" get guarded 2>&1)" "new instance keeps the password requirement"
assert_eq "yes" "$(REDIS_PW=$PW_SECRET rcli "$PPORT" get guarded)" "new instance opens with the service's password"
assert_nomatch "$PW_SECRET" "$(ps -eo args)" "the password appears on no command line"
must_ok "backup of the protected server through a redis-cli that notes its environment" -c "$CFG" backup spy
assert_match '== redis-cli .*--rdb' "$(cat "$TMP/rspy.log" 2>/dev/null || true)" "redis-cli --rdb ran"
assert_nomatch "$PW_SECRET|REDISCLI_AUTH" "$(cat "$TMP/rspy.log" 2>/dev/null || true)" \
  "the password is in no environment of redis-cli (it reads it on stdin)"
assert_eq "600" "$(stat -c %a "$TMP/inst-pw/redis.conf")" "config file with requirepass is private"
redis_stop "$TMP/inst-pw"

# ---------------------------------------------------------------- other errors
expect_fail 1 "cannot connect.*connection refused" "unreachable server: exit 1, one line" -c "$CFG" backup down
expect_fail 1 "" "unknown restore point: exit 1" -c "$CFG" restore cache ffffffffffffffff --mode new-instance
assert_imatch "ffffffffffffffff|not found|no restore point" "$ERR" "unknown point named in the error"
assert_eq "$D0" "$(redis_digest "$PORT")" "failed commands leave the source untouched"

finish
