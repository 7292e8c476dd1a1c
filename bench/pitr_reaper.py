# A subreaper for the PITR benchmarks (bench/pitr_lag.sh, bench/pitr_restore.sh):
#   python3 pitr_reaper.py LOG READY CMD...
# runs CMD (pg_ctl start), writes its exit code to READY, then reaps every
# process that was left to it (pgBackRest's asynchronous archive-push and
# archive-get detach with a double fork, so no process of the server waits
# for them and their CPU time would be lost) and appends to LOG one line per
# process: "epoch pid comm user_s sys_s maxrss_kB" (its rusage, the
# processes it waited for included).
import ctypes, os, subprocess, sys, time
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
log, ready, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
rc = subprocess.call(cmd)
with open(ready, "w") as f:
    f.write("%d\n" % rc)
with open(log, "a", buffering=1) as out:
    while True:
        try:
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOWAIT)
        except ChildProcessError:
            break  # the postmaster and everything it left behind are gone
        if info is None:
            continue
        try:
            with open("/proc/%d/comm" % info.si_pid) as f:
                comm = f.read().strip() or "?"
        except OSError:
            comm = "?"
        _, _, ru = os.wait4(info.si_pid, 0)
        out.write("%.3f %d %s %.3f %.3f %d\n" % (time.time(), info.si_pid, comm, ru.ru_utime, ru.ru_stime, ru.ru_maxrss))
