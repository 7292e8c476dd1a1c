#!/usr/bin/env bash
# Faithful Redis restores: a real Redis 7 (started here, DEBUG allowed for the
# comparison) holding every kind of key nobody tuned for Cairn: binary strings,
# counters, bitmaps, HyperLogLogs, small and large hashes, lists, sets
# (integers and strings) and sorted sets, geo sets, streams with consumer
# groups and pending entries, keys with a TTL, several databases. Each restore
# is compared with the source by Redis itself: DEBUG DIGEST per database,
# every key's absolute expire time (PEXPIRETIME) and the streams' groups.
#  - new-instance (its RDB is also loaded by a server of the test's own to
#    compare DEBUG DIGEST), overwrite after changes, and disaster recovery onto
#    an empty server with the original names (the same service pointed at it)
#  - writes to one database during the transfer make only that database
#    structure-only, and the point says why
#
# Usage: bash test_faithful_redis.sh /path/to/cairn
source "$(dirname "$0")/lib.sh" "$@"
source "$(dirname "$0")/redis_lib.sh"

redis_require_bins || die "Redis binaries are missing"
PORT=$(redis_free_port)
redis_start "$TMP/src" "$PORT" --enable-debug-command yes || die "start Redis"
r() { rcli "$PORT" "$@"; }
json_of() { json "$1" <<<"$OUT"; }

# What Redis itself says about a server: DEBUG DIGEST of every non-empty
# database, each key's absolute expire time, and each stream's groups.
state() {  # state PORT
  local port=$1 db key
  for db in $(seq 0 15); do
    [[ $(rcli "$port" -n "$db" dbsize) == 0 ]] && continue
    echo "db$db digest $(rcli "$port" -n "$db" debug digest)"
    for key in $(rcli "$port" -n "$db" --scan | LC_ALL=C sort); do
      echo "db$db $key expire=$(rcli "$port" -n "$db" pexpiretime "$key")"
      if [[ $(rcli "$port" -n "$db" type "$key") == stream ]]; then
        echo "db$db $key groups=$(rcli "$port" -n "$db" xinfo groups "$key" | tr '\n' ' ')"
      fi
    done
  done
}

# ---------------------------------------------------------------- every kind of key
{
  echo 'SET str:bin "a\x00b\xffc\r\n"'
  echo 'SET str:int 12345'
  echo 'SET str:float 3.14159265358979'
  echo 'SETBIT bitmap 1000 1'
  echo 'PFADD hll a b c d e f g'
  echo 'HSET hash:small f1 v1 f2 v2'
  echo 'RPUSH list:small a b c'
  echo 'SADD set:ints 1 2 3 300000'
  echo 'SADD set:strs x y z'
  echo 'ZADD zset:small 1 a 2.5 b -3 c'
  echo 'GEOADD geo 13.361389 38.115556 Palermo 15.087269 37.502669 Catania'
  echo 'SET ttl:far v PX 86400000'
  echo 'HSET ttl:hash f v'
  echo 'EXPIRE ttl:hash 7200'
  for i in $(seq 1 600); do
    echo "HSET hash:big f$i value-$i"
    echo "RPUSH list:big item-$i"
    echo "SADD set:big member-$i"
    echo "ZADD zset:big $i m$i"
    echo "XADD stream * n $i"
  done
  echo 'XGROUP CREATE stream readers 0'
  echo 'XREADGROUP GROUP readers alice COUNT 5 STREAMS stream >'
  echo 'XGROUP CREATE stream late $'
  echo 'SELECT 3'
  echo 'SET other:db "in db 3"'
  echo 'LPUSH other:list 1 2 3'
} | r >/dev/null || die "fill the source"
SRC_STATE=$(state "$PORT")
assert_match 'db3 digest [0-9a-f]{40}' "$SRC_STATE" "the source has data in db3"
assert_match 'stream groups=.*(readers.*late|late.*readers)' "$SRC_STATE" "the source has stream consumer groups"

CFG=$TMP/cairn.yaml
write_config() {  # write_config PORT FILE
  cat >"$2" <<EOF
targets:
  local:
    type: repository
    location: $TMP/repo
    password: "$PW"
services:
  cache:
    type: redis
    targets: [local]
    host: 127.0.0.1
    port: $1
    temp_dir: $TMP
EOF
  chmod 600 "$2"  # it holds passwords (cairn warns otherwise)
}
write_config "$PORT" "$CFG"
cat >>"$CFG" <<EOF
  slow:
    type: redis
    targets: [local]
    host: 127.0.0.1
    port: $PORT
    temp_dir: $TMP
    bandwidth_limit: 16k
EOF

must_ok "backup of every kind of key" -c "$CFG" backup cache --json
P1=$(json_of 'd["point_id"]')
assert_eq "true" "$(json_of 'str(d["fingerprint"]["exact"]).lower()')" "the backup of a quiet server is exact"

# ---------------------------------------------------------------- new instance
cx -c "$CFG" restore cache "$P1" --mode new-instance --as "$TMP/copy" --json
assert_rc 0 "new-instance restore validates"
CPORT=$(json_of 'd["connection"]["port"]')
assert_eq "$(redis_digest "$PORT")" "$(redis_digest "$CPORT")" "new instance: independent content digest equals the source's"
rcli "$CPORT" shutdown nosave >/dev/null 2>&1 || true
# The copy's RDB, loaded by a server that allows DEBUG.
mkdir -p "$TMP/copy2"
cp "$TMP/copy/dump.rdb" "$TMP/copy2/dump.rdb"
C2PORT=$(redis_free_port)
redis_start "$TMP/copy2" "$C2PORT" --enable-debug-command yes || die "start a server on the copy's RDB"
assert_eq "$SRC_STATE" "$(state "$C2PORT")" "new instance equals the source (DEBUG DIGEST, expire times, stream groups)"
redis_stop "$TMP/copy2"

# ---------------------------------------------------------------- overwrite
r del hash:big str:bin >/dev/null
r set new:key 1 >/dev/null
r xgroup destroy stream late >/dev/null
r -n 3 flushdb >/dev/null
r persist ttl:far >/dev/null
cx -c "$CFG" restore cache "$P1" --mode overwrite --yes --json
assert_rc 0 "overwrite restore validates"
assert_eq "$SRC_STATE" "$(state "$PORT")" "overwrite brought back the exact state (DEBUG DIGEST, expire times, stream groups)"

# ---------------------------------------------------------------- writes during the transfer: only that database is inexact
(for i in $(seq 1 400); do rcli "$PORT" -n 5 incr busy >/dev/null; sleep 0.02; done) &
WRITER=$!
BG_PIDS+=("$WRITER")
cx -c "$CFG" backup slow --json
assert_rc 0 "backup while db5 is written to (the transfer is slowed to 16 KB/s)"
kill "$WRITER" 2>/dev/null; wait "$WRITER" 2>/dev/null || true
P2=$(json_of 'd["point_id"]')
assert_eq "true db5: written to while the RDB was transferred" \
  "$(json_of '"%s %s" % (str(d["fingerprint"]["exact"]).lower(), "; ".join(d["inexact_reasons"]))')" \
  "only the database written to during the transfer is structure-only, and the point says why"
cx -c "$CFG" restore slow "$P2" --mode new-instance --as "$TMP/copy3" --json
assert_rc 0 "the point written to during its transfer restores and validates"
assert_eq "true db5" "$(json_of '"%s %s" % (str(d["validation"]["exact"]).lower(), ",".join(d["validation"]["structure_only"]))')" \
  "validation: db0 and db3 by value, db5 by name"
rcli "$(json_of 'd["connection"]["port"]')" shutdown nosave >/dev/null 2>&1 || true
r -n 5 flushdb >/dev/null

# ---------------------------------------------------------------- disaster recovery onto an empty server
DPORT=$(redis_free_port)
redis_start "$TMP/dr" "$DPORT" --enable-debug-command yes || die "start the empty server"
write_config "$DPORT" "$TMP/dr.yaml"
cx -c "$TMP/dr.yaml" restore cache "$P1" --mode overwrite --yes --json
assert_rc 0 "disaster recovery: the same service, pointed at an empty server, restored with --mode overwrite"
assert_eq "$SRC_STATE" "$(state "$DPORT")" "the recovered server equals the source (DEBUG DIGEST, expire times, stream groups)"

finish
