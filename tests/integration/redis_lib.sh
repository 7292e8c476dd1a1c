# shellcheck shell=bash
# Redis server helpers for tests (no assertions here).
#
#   source tests/integration/redis_lib.sh
#   redis_require_bins                       redis-server and redis-cli are installed (else error)
#   redis_free_port                          prints a free TCP port on 127.0.0.1
#   redis_start DIR PORT [redis-server options...]
#                                            starts a daemonized redis-server keeping all state in DIR
#                                            (diskless-sync delay 0, no snapshots), waits for PING and
#                                            registers a stop with on_exit when lib.sh is loaded
#   redis_stop DIR                           stops the server started in DIR (by its pid; no-op when gone)
#   rcli PORT ARGS...                        redis-cli -p PORT ARGS (password from REDIS_PW when set)
#   redis_digest PORT [PASSWORD]             one line per non-empty database: "dbN keys=K sha=HEX", a
#                                            content digest computed here (independent of Cairn's): name,
#                                            type, TTL yes/no and value of every key, sets and hashes sorted
#   redis_dbsizes PORT                       "dbN=SIZE" for databases 0-15, space separated
#
# A missing server binary is an error, never a skip.

redis_require_bins() {
  local b
  for b in redis-server redis-cli; do
    command -v "$b" >/dev/null 2>&1 || { echo "$b is missing (apt-get install redis-server)" >&2; return 1; }
  done
}

redis_free_port() {
  python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'
}

rcli() {
  local port=$1; shift
  if [[ -n ${REDIS_PW:-} ]]; then
    REDISCLI_AUTH=$REDIS_PW redis-cli -p "$port" "$@"
  else
    redis-cli -p "$port" "$@"
  fi
}

redis_start() {  # redis_start DIR PORT [options...]
  local dir=$1 port=$2; shift 2
  redis_require_bins || return 1
  mkdir -p "$dir"
  redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --dbfilename dump.rdb --save "" --appendonly no \
    --repl-diskless-sync-delay 0 --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" "$@" ||
    { cat "$dir/redis.log" >&2 2>/dev/null; return 1; }
  if declare -F on_exit >/dev/null; then on_exit "redis_stop '$dir'"; fi
  local i
  for i in $(seq 200); do
    if redis-cli -p "$port" ping 2>/dev/null | grep -Eq 'PONG|NOAUTH'; then return 0; fi
    sleep 0.05
  done
  echo "redis-server on port $port did not start:" >&2
  tail -n 5 "$dir/redis.log" >&2
  return 1
}

redis_stop() {  # redis_stop DIR
  local dir=$1 pid i
  [[ -f $dir/redis.pid ]] || return 0
  pid=$(cat "$dir/redis.pid" 2>/dev/null) || return 0
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
  # Only our own server: its command line names its port and the pid file lives in DIR.
  grep -q redis-server "/proc/$pid/cmdline" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null
  for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.05; done
  kill -KILL "$pid" 2>/dev/null
  return 0
}

redis_dbsizes() {  # redis_dbsizes PORT
  local port=$1 db out=()
  for db in $(seq 0 15); do out+=("db$db=$(rcli "$port" -n "$db" dbsize)"); done
  echo "${out[*]}"
}

redis_digest() {  # redis_digest PORT [PASSWORD]
  python3 - "$1" "${2:-}" <<'EOF'
import hashlib, socket, sys

port, password = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port), timeout=30)
f = s.makefile("rb")

def call(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    s.sendall(out)
    return read()

def read():
    line = f.readline()[:-2]
    t, rest = line[:1], line[1:]
    if t == b"+": return rest
    if t == b"-": raise RuntimeError(rest.decode())
    if t == b":": return int(rest)
    if t == b"$":
        n = int(rest)
        if n < 0: return None
        data = f.read(n + 2)[:-2]
        return data
    if t == b"*":
        n = int(rest)
        return None if n < 0 else [read() for _ in range(n)]
    raise RuntimeError("bad reply %r" % line)

def canon(v):
    if isinstance(v, list): return b"[" + b",".join(canon(x) for x in v) + b"]"
    if v is None: return b"nil"
    if isinstance(v, int): return b"i%d" % v
    return b"s%d:%s" % (len(v), v)

if password:
    call("AUTH", password)
info = call("INFO", "keyspace").decode()
dbs = sorted(int(l.split(":")[0][2:]) for l in info.splitlines() if l.startswith("db"))
for db in dbs:
    call("SELECT", db)
    keys, cursor = set(), b"0"
    while True:
        cursor, batch = call("SCAN", cursor, "COUNT", 500)
        keys.update(batch)
        if cursor == b"0": break
    entries = []
    for k in sorted(keys):
        t = call("TYPE", k)
        if t == b"none": continue
        ttl = call("PTTL", k) >= 0
        if t == b"string": v = call("GET", k)
        elif t == b"list": v = call("LRANGE", k, 0, -1)
        elif t == b"set": v = sorted(call("SMEMBERS", k))
        elif t == b"zset": v = call("ZRANGE", k, 0, -1, "WITHSCORES")
        elif t == b"hash":
            h = call("HGETALL", k)
            v = sorted([h[i], h[i + 1]] for i in range(0, len(h), 2))
        elif t == b"stream": v = call("XRANGE", k, "-", "+")
        else: v = call("DUMP", k)
        entries.append(canon([k, t, b"ttl" if ttl else b"-", v]))
    print("db%d keys=%d sha=%s" % (db, len(entries), hashlib.sha256(b"\n".join(entries)).hexdigest()[:32]))
EOF
}
