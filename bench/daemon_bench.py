#!/usr/bin/env python3
"""`cairn serve` at scale: a catalog seeded with 200 services, 1,000,000 jobs
and 500,000 restore points (bench/catalog_bench.cc seeds it), a real daemon on
it, and the figures docs/benchmarks.md reports:

  - p50/p99 of the services list, a service's first page of restore points,
    its history and the jobs list, over keep-alive HTTP (target p99 < 20 ms);
  - /metrics (target < 50 ms);
  - the daemon's idle RSS (target < 40 MB) and idle CPU over 60 s (< 0.1%);
  - 50 concurrent event-stream clients: every one receives a job's events.

    cmake --build build --target cairn cairn_catalog_bench
    python3 bench/daemon_bench.py [--dir DIR] [--reuse] [--iterations N] [--idle S]

The targets of the configuration point below a missing directory, so the
daemon's sync finds them "missing" and leaves the seeded cache as it is; the
jobs the benchmark asks for fail at once (nothing to back up), which is all
the event-stream part needs.
"""

import argparse
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from cairn_daemon import Daemon  # noqa: E402


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def timed(conn, token, path, n):
    times = []
    size = 0
    for _ in range(n):
        t0 = time.perf_counter()
        conn.request("GET", path, headers={"Authorization": "Bearer " + token, "Accept-Encoding": "gzip"})
        r = conn.getresponse()
        body = r.read()
        times.append((time.perf_counter() - t0) * 1000)
        if r.status != 200:
            raise SystemExit("%s: HTTP %d %s" % (path, r.status, body[:200]))
        size = len(body)
    times.sort()
    return {"p50": statistics.median(times), "p99": times[min(len(times) - 1, int(len(times) * 0.99))],
            "max": times[-1], "bytes": size}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default="")
    ap.add_argument("--reuse", action="store_true", help="use the catalog already seeded in --dir")
    ap.add_argument("--iterations", type=int, default=400)
    ap.add_argument("--idle", type=int, default=60)
    ap.add_argument("--services", type=int, default=200)
    ap.add_argument("--jobs", type=int, default=1000000)
    ap.add_argument("--points", type=int, default=500000)
    a = ap.parse_args()
    cairn = os.path.join(ROOT, "build", "cairn")
    seeder = os.path.join(ROOT, "build", "cairn_catalog_bench")
    work = a.dir or tempfile.mkdtemp(prefix="cairn-daemon-bench-")
    data = os.path.join(work, "data")
    os.makedirs(data, exist_ok=True)
    if not a.reuse:
        t0 = time.time()
        subprocess.run(["nice", seeder, "--dir", data, "--services", str(a.services), "--jobs", str(a.jobs),
                        "--points", str(a.points), "--iterations", "1", "--keep", "--skip-prune"],
                       check=True, stdout=subprocess.DEVNULL)
        print("seeded %d services, %d jobs, %d points in %.0f s" % (a.services, a.jobs, a.points, time.time() - t0))
    config = os.path.join(work, "cairn.yaml")
    with open(config, "w") as f:
        f.write("targets:\n")
        for t in ("local", "s3"):
            f.write("  %s:\n    type: repository\n    location: %s/missing/%s\n    password: bench\n" % (t, work, t))
        f.write("services:\n")
        for i in range(a.services):
            f.write("  svc-%03d:\n    type: volume\n    path: %s/missing/svc-%03d\n    targets: [local%s]\n"
                    "    schedule: {every: 1h}\n" % (i, work, i, ", s3" if i % 4 == 0 else ""))
        f.write("server:\n  data_dir: %s\n" % data)
    os.chmod(config, 0o600)

    d = Daemon(cairn, config, data, log=os.path.join(work, "serve.log"))
    d.start(timeout=120)
    token = d.token("bench-%d" % os.getpid(), "operate")
    time.sleep(5)  # the start-up sync and the first scheduled fires
    pid = d.proc.pid

    # The first scheduled run of every service fails at once (no such path):
    # wait for the queue to drain so the measurements see an idle daemon.
    conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=30)
    deadline = time.time() + 600
    while time.time() < deadline:
        conn.request("GET", "/api/v1/jobs?status=queued&limit=1", headers={"Authorization": "Bearer " + token})
        r = conn.getresponse()
        body = json.loads(r.read())
        if not body["jobs"]:
            break
        time.sleep(1)

    results = {}
    for name, path in [("GET /api/v1/services (200 services)", "/api/v1/services"),
                       ("GET /api/v1/services/{name}", "/api/v1/services/svc-007"),
                       ("GET /api/v1/services/{name}/backups (first page)", "/api/v1/services/svc-007/backups"),
                       ("GET /api/v1/services/{name}/history?days=30", "/api/v1/services/svc-007/history?days=30"),
                       ("GET /api/v1/jobs (first page)", "/api/v1/jobs"),
                       ("GET /api/v1/jobs?service={name}", "/api/v1/jobs?service=svc-007"),
                       ("GET /api/v1/alerts", "/api/v1/alerts"),
                       ("GET /metrics", "/metrics")]:
        results[name] = timed(conn, token, path, a.iterations)
    conn.close()

    # Idle: RSS now, CPU over the next `idle` seconds.
    time.sleep(5)
    rss_idle = rss_kib(pid)
    hz = os.sysconf("SC_CLK_TCK")
    t0, c0 = time.time(), cpu_ticks(pid)
    time.sleep(a.idle)
    cpu_pct = 100.0 * (cpu_ticks(pid) - c0) / hz / (time.time() - t0)

    # 50 event-stream clients; one job's events must reach every one.
    n_clients = 50
    got = [0] * n_clients
    ready = threading.Barrier(n_clients + 1)
    done = threading.Event()
    first_seen = [None] * n_clients

    def client(i):
        c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=60)
        c.request("GET", "/api/v1/events", headers={"Authorization": "Bearer " + token})
        r = c.getresponse()
        r.fp.readline()  # ": connected"
        ready.wait()
        while not done.is_set():
            line = r.fp.readline()
            if not line:
                break
            if line.startswith(b"data:") and b'"kind":"backup"' in line:
                got[i] += 1
                if first_seen[i] is None:
                    first_seen[i] = time.perf_counter()
                if b'"status":"failed"' in line:
                    break
        c.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(n_clients)]
    for t in threads:
        t.start()
    ready.wait()
    rss_sse = rss_kib(pid)
    c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=30)
    t_post = time.perf_counter()
    c.request("POST", "/api/v1/services/svc-011/backups", body=b"{}",
              headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    c.getresponse().read()
    for t in threads:
        t.join(60)
    done.set()
    delivered = sum(1 for g in got if g > 0)
    latency = max((f - t_post) * 1000 for f in first_seen if f) if delivered else float("nan")
    d.stop()

    print("\n| request | p50 ms | p99 ms | max ms | body bytes |\n|---|---:|---:|---:|---:|")
    for name, r in results.items():
        print("| %s | %.2f | %.2f | %.2f | %d |" % (name, r["p50"], r["p99"], r["max"], r["bytes"]))
    print("\n| figure | value |\n|---|---:|")
    print("| idle RSS | %.1f MiB |" % (rss_idle / 1024))
    print("| idle CPU over %d s | %.3f %% |" % (a.idle, cpu_pct))
    print("| RSS with %d event streams | %.1f MiB |" % (n_clients, rss_sse / 1024))
    print("| event streams that got the job's events | %d of %d |" % (delivered, n_clients))
    print("| slowest first event after the POST | %.1f ms |" % latency)
    if not a.dir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
