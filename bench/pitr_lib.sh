# shellcheck shell=bash
# What bench/pitr_lag.sh and bench/pitr_restore.sh share (no assertions).
# Needs die and note from the sourcing script.

# pgBackRest is a Debian package: installed when missing, as the tests do
# for their servers.
require_pgbackrest() {
  command -v pgbackrest >/dev/null && return 0
  note "installing the Debian package pgbackrest"
  apt-get install -y -qq pgbackrest >/dev/null 2>&1 ||
    die "pgbackrest is missing and 'apt-get install pgbackrest' failed: install the Debian package pgbackrest"
}

# Every 100 ms, the peak RSS (VmHWM) of every process whose command line
# holds NEEDLE: "pid kB" each time one grows. A process is recognised in
# its first 0.5 s (it may not have exec'd yet when first seen).
sample_rss() {  # sample_rss NEEDLE OUT (NEEDLE in the environment: not in its own command line)
  NEEDLE=$1 python3 - >"$2" <<'EOF' &
import os, sys, time
needle = os.environ["NEEDLE"].encode()
tries, peak = {}, {}
while True:
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        pid = int(d)
        if pid not in peak:
            if tries.get(pid, 5) == 0:
                continue
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    cmd = f.read().replace(b"\0", b" ")
            except OSError:
                cmd = b""
            if needle not in cmd:
                tries[pid] = tries.get(pid, 5) - 1
                continue
            peak[pid] = 0
        try:
            with open("/proc/%d/status" % pid) as f:
                for l in f:
                    if l.startswith("VmHWM:"):
                        kb = int(l.split()[1])
                        if kb > peak[pid]:
                            peak[pid] = kb
                            print(pid, kb, flush=True)
                        break
        except OSError:
            del peak[pid]
    time.sleep(0.1)
EOF
  echo $!
}
