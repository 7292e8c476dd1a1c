#!/usr/bin/env python3
"""Run a command and signal it when the repository reaches a given state.

Usage: kill_when.py REPO CONDITION SIGNAL -- CMD ARGS...

Polls REPO's object names (published objects only: names of 64 hex digits
under data/, index/, snapshots/, locks/, keys/) as fast as it can and sends SIGNAL
(KILL or STOP) to CMD as soon as CONDITION holds:

  delay:MS          MS milliseconds after the start
  new-lock          a lock object appeared
  new-pack          a pack appeared
  packs-added:N     N packs appeared
  new-index         an index object appeared
  index-deleted     an index object that existed at the start is gone
  pack-deleted      a pack that existed at the start is gone
  packs-deleted:F   a fraction F (0..1) of the packs that existed at the start
                    is gone (at least one)
  new-key           a key file appeared under keys/
  key-deleted       a key file that existed at the start is gone
  stray-file        a file whose name is not 64 hex digits (an object being
                    written) exists under data/, index/ or snapshots/

Prints one line: "signalled PID after CONDITION at T ms" or "exited RC before
CONDITION at T ms" (then exits 200). With SIGNAL=KILL it then waits for CMD and
exits with 137. With STOP it leaves CMD stopped, waits for it (the caller
resumes it with kill -CONT PID) and finally prints "rc N" with CMD's exit
status; run it in the background with stdout to a file and poll that file.
"""
import os
import re
import signal
import subprocess
import sys
import time

HEX64 = re.compile(r"^[0-9a-f]{64}$")


def objects(repo, kind):
    root = os.path.join(repo, kind)
    out = set()
    try:
        if kind == "data":
            for sub in os.listdir(root):
                try:
                    for n in os.listdir(os.path.join(root, sub)):
                        if HEX64.match(n):
                            out.add(n)
                except (NotADirectoryError, FileNotFoundError):
                    pass
        else:
            out = {n for n in os.listdir(root) if HEX64.match(n)}
    except FileNotFoundError:
        pass
    return out


def has_stray(repo):
    for kind in ("data", "index", "snapshots"):
        for dirpath, _dirs, files in os.walk(os.path.join(repo, kind)):
            for n in files:
                if not HEX64.match(n):
                    return True
    return False


def main():
    if len(sys.argv) < 6 or sys.argv[4] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    repo, cond, sig = sys.argv[1], sys.argv[2], sys.argv[3]
    cmd = sys.argv[5:]
    signum = {"KILL": signal.SIGKILL, "STOP": signal.SIGSTOP}[sig]
    packs0 = objects(repo, "data")
    index0 = objects(repo, "index")
    locks0 = objects(repo, "locks")
    keys0 = objects(repo, "keys")

    name, _, arg = cond.partition(":")

    def holds(elapsed_ms):
        if name == "delay":
            return elapsed_ms >= float(arg)
        if name == "new-lock":
            return bool(objects(repo, "locks") - locks0)
        if name == "new-pack":
            return bool(objects(repo, "data") - packs0)
        if name == "packs-added":
            return len(objects(repo, "data") - packs0) >= int(arg)
        if name == "new-index":
            return bool(objects(repo, "index") - index0)
        if name == "index-deleted":
            return bool(index0 - objects(repo, "index"))
        if name == "pack-deleted":
            return bool(packs0 - objects(repo, "data"))
        if name == "packs-deleted":
            gone = len(packs0 - objects(repo, "data"))
            return gone >= max(1, int(len(packs0) * float(arg)))
        if name == "new-key":
            return bool(objects(repo, "keys") - keys0)
        if name == "key-deleted":
            return bool(keys0 - objects(repo, "keys"))
        if name == "stray-file":
            return has_stray(repo)
        raise SystemExit("unknown condition " + cond)

    start = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=open(os.devnull, "w"))
    deadline = start + 120
    while True:
        ms = (time.monotonic() - start) * 1000
        rc = p.poll()
        if rc is not None:
            print("exited %d before %s at %d ms" % (rc, cond, ms), flush=True)
            return 200
        if holds(ms):
            os.kill(p.pid, signum)
            print("signalled %d after %s at %d ms" % (p.pid, cond, ms), flush=True)
            break
        if time.monotonic() > deadline:
            os.kill(p.pid, signum)
            print("signalled %d after timeout waiting for %s" % (p.pid, cond), flush=True)
            break
    rc = p.wait()
    if signum == signal.SIGKILL:
        return 137 if rc == -9 else rc
    print("rc %d" % (128 - rc if rc < 0 else rc), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
