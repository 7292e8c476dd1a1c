# shellcheck shell=bash
# PostgreSQL server helpers for tests and benchmarks (no assertions here).
#
#   source tests/integration/pg_lib.sh
#   pg_cluster_init DIR [initdb options...]   initdb DIR/data as user postgres, socket dir DIR/sock,
#                                             a free port; sets PG_PORT, PG_SOCK, PG_DATA
#   pg_cluster_start DIR                      pg_ctl -w start (registers a stop with on_exit when lib.sh is loaded)
#   pg_cluster_stop DIR                       pg_ctl -m fast stop (no-op when not running)
#   pg_as CMD...                              runs CMD as postgres from /tmp (initdb/pg_ctl refuse root)
#   pg_free_port                              prints a free TCP port on 127.0.0.1
#   psql_at SOCK PORT DB SQL                  psql -XAtq as postgres over the socket, prints the result
#
# Test clusters run with fsync off and autovacuum off: an autovacuum ANALYZE during a
# physical backup takes a transaction id, which makes that backup's fingerprint
# (correctly) inexact; tests want a deterministic answer.
# PG_BIN is the server's bin directory (default /usr/lib/postgresql/15/bin); a missing
# server binary is an error, never a skip.

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

pg_as() { (cd /tmp && runuser -u postgres -- "$@"); }

pg_free_port() {
  python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'
}

pg_require_bins() {
  local b
  for b in initdb pg_ctl postgres psql pg_dump pg_restore pgbench; do
    [[ -x $PG_BIN/$b ]] && continue
    echo "PostgreSQL binary $PG_BIN/$b is missing (apt-get install postgresql)" >&2
    return 1
  done
  return 0
}

# pg_cluster_init DIR [initdb options...]: options default to --auth=trust.
pg_cluster_init() {
  local dir=$1; shift
  pg_require_bins || return 1
  mkdir -p "$dir/sock"
  chown postgres:postgres "$dir" "$dir/sock"
  local opts=("$@")
  ((${#opts[@]})) || opts=(--auth=trust)
  pg_as "$PG_BIN/initdb" -D "$dir/data" -U postgres -E UTF8 --locale=C.UTF-8 --no-sync "${opts[@]}" \
    >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; return 1; }
  # Results for the caller.
  # shellcheck disable=SC2034
  PG_PORT=$(pg_free_port)
  # shellcheck disable=SC2034
  PG_SOCK=$dir/sock
  # shellcheck disable=SC2034
  PG_DATA=$dir/data
  cat >>"$dir/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$dir/sock'
fsync = off
synchronous_commit = off
full_page_writes = off
max_wal_size = 2GB
autovacuum = off
EOF
  echo "$PG_PORT" >"$dir/port"
}

pg_cluster_start() {
  local dir=$1
  pg_as "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null ||
    { tail -n 5 "$dir/server.log" >&2; return 1; }
  if declare -F on_exit >/dev/null; then on_exit "pg_cluster_stop '$dir'"; fi
}

pg_cluster_stop() {
  local dir=$1
  [[ -f $dir/data/postmaster.pid ]] || return 0
  pg_as "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
}

psql_at() {  # psql_at SOCK PORT DB SQL
  (cd /tmp && "$PG_BIN/psql" -XAtq -v ON_ERROR_STOP=1 -h "$1" -p "$2" -U postgres -d "$3" -c "$4")
}
