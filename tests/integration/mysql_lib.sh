# shellcheck shell=bash
# MariaDB server helpers for tests and benchmarks (no assertions here).
#
#   source tests/integration/mysql_lib.sh
#   mdb_require_bins            fails (message on stderr) when a server or client binary is missing
#   mdb_free_port               prints a free TCP port on 127.0.0.1
#   mdb_init DIR                mariadb-install-db into DIR/data (owned by mysql), root logs in
#                               through unix_socket; sets MDB_PORT (free), MDB_SOCK, MDB_DATA
#   mdb_start DIR [OPTION...]   mariadbd --no-defaults --user=mysql [OPTION...] on 127.0.0.1:$MDB_PORT and
#                               DIR/mysqld.sock in the background, waits for ping (registers
#                               mdb_stop with on_exit when lib.sh is loaded)
#   mdb_stop DIR                mariadb-admin shutdown, then waits for the pid to go (no-op when
#                               not running)
#   mdb_stop_pid PID            stops a server by pid (SIGTERM, waits up to 30 s): servers that
#                               cairn started for a new-instance restore
#   mdb SOCK [ARGS...]          the mariadb client as root over SOCK, --no-defaults, -N -B
#
# Servers run with a small buffer pool and redo log so that start, backup and
# shutdown stay fast. A missing binary is an error, never a skip.

MDB_SERVER=${MDB_SERVER:-/usr/sbin/mariadbd}

mdb_require_bins() {
  local b
  if [[ ! -x $MDB_SERVER ]]; then
    echo "MariaDB server $MDB_SERVER is missing (apt-get install mariadb-server)" >&2
    return 1
  fi
  for b in mariadb mariadb-dump mariadb-admin mariadb-install-db mariadb-backup mbstream; do
    if ! command -v "$b" >/dev/null; then
      echo "MariaDB tool $b is missing (apt-get install mariadb-server mariadb-backup)" >&2
      return 1
    fi
  done
  id mysql >/dev/null 2>&1 || { echo "user mysql does not exist (apt-get install mariadb-server)" >&2; return 1; }
}

mdb_free_port() {
  python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'
}

mdb_init() {
  local dir=$1
  mdb_require_bins || return 1
  mkdir -p "$dir"
  chown mysql:mysql "$dir"
  mariadb-install-db --no-defaults --user=mysql --datadir="$dir/data" \
    --auth-root-authentication-method=socket --skip-test-db >"$dir/install.log" 2>&1 ||
    { tail -n 20 "$dir/install.log" >&2; return 1; }
  MDB_PORT=$(mdb_free_port)
  # shellcheck disable=SC2034  # MDB_SOCK and MDB_DATA are for the scripts that source this file
  MDB_SOCK=$dir/mysqld.sock
  # shellcheck disable=SC2034
  MDB_DATA=$dir/data
  echo "$MDB_PORT" >"$dir/port"
}

mdb_start() {
  local dir=$1 port
  shift
  port=$(cat "$dir/port")
  "$MDB_SERVER" --no-defaults --user=mysql --datadir="$dir/data" --port="$port" --bind-address=127.0.0.1 \
    --socket="$dir/mysqld.sock" --pid-file="$dir/mysqld.pid" --log-error="$dir/mysqld.err" \
    --innodb-buffer-pool-size=64M --innodb-log-file-size=16M --skip-name-resolve "$@" >/dev/null 2>&1 &
  echo $! >"$dir/bgpid"
  if declare -F on_exit >/dev/null; then on_exit "mdb_stop '$dir'"; fi
  local _
  for _ in $(seq 300); do
    mariadb-admin --no-defaults --socket="$dir/mysqld.sock" -uroot ping >/dev/null 2>&1 && return 0
    kill -0 "$(cat "$dir/bgpid")" 2>/dev/null || break
    sleep 0.1
  done
  tail -n 20 "$dir/mysqld.err" >&2
  return 1
}

mdb_stop() {
  local dir=$1 pid
  [[ -f $dir/bgpid ]] || return 0
  pid=$(cat "$dir/bgpid")
  kill -0 "$pid" 2>/dev/null || return 0
  mariadb-admin --no-defaults --socket="$dir/mysqld.sock" -uroot shutdown >/dev/null 2>&1 || kill "$pid" 2>/dev/null
  mdb_wait_gone "$pid"
}

mdb_wait_gone() {
  local pid=$1 _
  for _ in $(seq 300); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null
  return 1
}

mdb_stop_pid() {
  local pid=$1
  [[ $pid =~ ^[0-9]+$ ]] || return 0
  # Only a mariadbd: never signal a recycled pid that belongs to something else.
  [[ $(cat "/proc/$pid/comm" 2>/dev/null) == mariadbd ]] || return 0
  kill "$pid" 2>/dev/null
  mdb_wait_gone "$pid"
}

mdb() {  # mdb SOCK [ARGS...]
  local sock=$1; shift
  mariadb --no-defaults --socket="$sock" -uroot -N -B "$@"
}
