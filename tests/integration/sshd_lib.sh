# shellcheck shell=bash disable=SC2034  # SSHD_* are set for the caller
# A private sshd on 127.0.0.1 for tests (borg over ssh:// and the like); no assertions here.
#
#   source tests/integration/sshd_lib.sh
#   sshd_start DIR [USER]   starts /usr/sbin/sshd on a free port with its host key, config and log
#                           under DIR, for USER (default borgtest, created when missing) logging
#                           in with a fresh key; sets
#                             SSHD_PORT  the port
#                             SSHD_USER  the login user
#                             SSHD_KEY   the client's private key
#                             SSHD_SSH   an ssh command line for it (BORG_RSH, a borg target's ssh_command)
#                           and, when lib.sh is loaded, registers sshd_stop with on_exit.
#   sshd_stop DIR           stops that sshd by its pid and removes the key from authorized_keys
#   sshd_free_port          prints a free TCP port on 127.0.0.1 (nothing listens on it)
#
# Several tests may run at once (ctest -j): each has its own sshd, port and key, and
# only appends/removes its own line in the shared user's authorized_keys, under flock.
# A missing /usr/sbin/sshd is an error, never a skip.

sshd_free_port() {
  python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'
}

_sshd_keys() {  # _sshd_keys USER CMD: edits USER's authorized_keys under a lock
  local user=$1 cmd=$2 home
  home=$(getent passwd "$user" | cut -d: -f6)
  install -d -m 700 -o "$user" -g "$user" "$home/.ssh"
  (
    flock 9
    touch "$home/.ssh/authorized_keys"
    chown "$user:$user" "$home/.ssh/authorized_keys"
    chmod 600 "$home/.ssh/authorized_keys"
    eval "$cmd"
  ) 9>"$home/.ssh/.cairn-test.lock"
}

sshd_start() {
  local dir=$1 user=${2:-borgtest}
  [[ -x /usr/sbin/sshd ]] || { echo "/usr/sbin/sshd is missing (apt-get install openssh-server)" >&2; return 1; }
  mkdir -p "$dir"
  chmod 700 "$dir"
  # Two tests creating the user at once: the loser's useradd fails, the user exists anyway.
  id "$user" >/dev/null 2>&1 || useradd -m -s /bin/bash "$user" 2>/dev/null || id "$user" >/dev/null || return 1
  # useradd leaves the account locked ('!'), which sshd refuses with UsePAM no.
  if [[ $(getent shadow "$user" | cut -d: -f2) == '!'* ]]; then usermod -p '*' "$user"; fi
  mkdir -p /run/sshd
  chmod 755 /run/sshd
  rm -f "$dir/host_ed25519" "$dir/client_ed25519"
  ssh-keygen -q -t ed25519 -N '' -f "$dir/host_ed25519" || return 1
  local tag
  tag="cairn-itest-$(basename "$dir")-$$-$RANDOM"
  ssh-keygen -q -t ed25519 -N '' -C "$tag" -f "$dir/client_ed25519" || return 1
  echo "$tag" >"$dir/key_tag"
  echo "$user" >"$dir/user"
  _sshd_keys "$user" "cat '$dir/client_ed25519.pub' >> \"\$home/.ssh/authorized_keys\"" || return 1

  local attempt port
  for attempt in 1 2 3; do
    port=$(sshd_free_port)
    cat >"$dir/sshd_config" <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $dir/host_ed25519
PidFile $dir/sshd.pid
AuthorizedKeysFile .ssh/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin no
AllowUsers $user
Subsystem sftp internal-sftp
EOF
    /usr/sbin/sshd -t -f "$dir/sshd_config" || return 1
    # The absolute path is required: sshd re-executes itself for each connection.
    /usr/sbin/sshd -D -e -f "$dir/sshd_config" 2>>"$dir/sshd.log" &
    echo $! >"$dir/sshd.bgpid"
    if declare -F on_exit >/dev/null && [[ $attempt == 1 ]]; then on_exit "sshd_stop '$dir'"; fi
    SSHD_PORT=$port
    SSHD_USER=$user
    SSHD_KEY=$dir/client_ed25519
    SSHD_SSH="ssh -i $SSHD_KEY -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
    SSHD_SSH+=" -o LogLevel=ERROR -o ConnectTimeout=10"
    local i
    for i in $(seq 100); do
      if $SSHD_SSH -p "$port" "$user@127.0.0.1" true 2>/dev/null; then return 0; fi
      kill -0 "$(cat "$dir/sshd.bgpid")" 2>/dev/null || break   # exited: port taken meanwhile, try another
      sleep 0.1
    done
    _sshd_kill "$dir"
  done
  echo "sshd did not come up on 127.0.0.1 (log: $dir/sshd.log):" >&2
  tail -n 5 "$dir/sshd.log" >&2
  return 1
}

_sshd_kill() {
  local pid
  pid=$(cat "$1/sshd.bgpid" 2>/dev/null) || return 0
  # Only our own sshd: the pid must still run sshd with our config.
  if [[ -n $pid ]] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$1/sshd_config"; then
    kill "$pid" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$1/sshd.bgpid"
}

sshd_stop() {
  local dir=$1 tag user
  _sshd_kill "$dir"
  tag=$(cat "$dir/key_tag" 2>/dev/null) || return 0
  user=$(cat "$dir/user")
  _sshd_keys "$user" "sed -i '/ $tag\$/d' \"\$home/.ssh/authorized_keys\""
  rm -f "$dir/key_tag"
}
