#!/usr/bin/env python3
"""`cairn serve` end to end: a real daemon, real services (PostgreSQL, SQLite,
volumes), its REST API over real HTTP with every role, scheduled backups,
catch-up after a stop, cancel mid-backup, kill -9 mid-job, a target down,
and a storm of malformed requests.

    python3 tests/integration/daemon_test.py build/cairn
"""

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import hashlib
import hmac
import http.client
import http.server
import socket

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cairn_daemon import Client, Daemon, free_port, group_processes, job_processes, job_running  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CAIRN = os.path.abspath(sys.argv[1])
TMP = tempfile.mkdtemp(prefix="cairn-daemon-")
os.chmod(TMP, 0o755)
PASSED, FAILED = 0, []


def check(cond, desc, detail=""):
    global PASSED
    if cond:
        PASSED += 1
        print("ok   - " + desc)
    else:
        FAILED.append(desc)
        print("FAIL - %s %s" % (desc, str(detail)[:600]))
    return cond


def sh(cmd, **kw):
    return subprocess.run(["bash", "-c", cmd], check=True, capture_output=True, text=True, **kw).stdout


# ------------------------------------------------------------------ services

PG_DIR = os.path.join(TMP, "pg")
os.makedirs(PG_DIR)
PG_PORT = int(sh('source "%s/pg_lib.sh"; pg_cluster_init "%s" && pg_cluster_start "%s" && echo $PG_PORT'
                 % (HERE, PG_DIR, PG_DIR)).strip())
PG_SOCK = os.path.join(PG_DIR, "sock")


def psql(db, sql):
    return sh('source "%s/pg_lib.sh"; psql_at "%s" %d %s "%s"' % (HERE, PG_SOCK, PG_PORT, db, sql)).strip()


def cleanup():
    for pid in job_processes():
        os.kill(pid, signal.SIGKILL)
    try:
        sh('source "%s/pg_lib.sh"; pg_cluster_stop "%s"' % (HERE, PG_DIR))
    except Exception as e:  # noqa: BLE001
        print("stopping PostgreSQL: %s" % e)
    if not os.environ.get("KEEP_TMP"):
        shutil.rmtree(TMP, ignore_errors=True)


try:
    psql("postgres", "CREATE DATABASE app")
    psql("app", "CREATE TABLE t (id int primary key, v text); INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1,5000) g")
    psql("postgres", "CREATE DATABASE big")
    # About 30 MB of dump: with bandwidth_limit 1M the backup takes ~30 s.
    psql("big", "CREATE TABLE b (id int, v text); INSERT INTO b SELECT g, md5(g::text) || md5((g+1)::text) FROM generate_series(1,400000) g")

    SQLITE = os.path.join(TMP, "app.db")
    with sqlite3.connect(SQLITE) as c:
        c.execute("PRAGMA journal_mode=WAL")
        c.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        c.executemany("INSERT INTO notes (body) VALUES (?)", [("note %d" % i,) for i in range(1000)])

    VOL = os.path.join(TMP, "vol")
    os.makedirs(os.path.join(VOL, "docs"))
    with open(os.path.join(VOL, "docs", "readme.txt"), "w") as f:
        f.write("hello from the volume\n")
    with open(os.path.join(VOL, "data.bin"), "wb") as f:
        f.write(os.urandom(300000))

    with open(os.path.join(TMP, "pw"), "w") as f:
        f.write("repo-password\n")
    os.chmod(os.path.join(TMP, "pw"), 0o600)
    # A path below a regular file can never be a directory: that target is down.
    with open(os.path.join(TMP, "not-a-dir"), "w") as f:
        f.write("x")

    DATA = os.path.join(TMP, "data")
    CONFIG = os.path.join(TMP, "cairn.yaml")

    # A webhook receiver and a notification command: what the channels got.
    HOOK = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            HOOK.append((dict(self.headers), body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    hook_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook_server.serve_forever, daemon=True).start()
    HOOK_SECRET = b"hook secret 42"
    with open(os.path.join(TMP, "hook.secret"), "wb") as f:
        f.write(HOOK_SECRET + b"\n")
    os.chmod(os.path.join(TMP, "hook.secret"), 0o600)
    CMD_OUT = os.path.join(TMP, "cmd-notifications.jsonl")
    with open(os.path.join(TMP, "notify.sh"), "w") as f:
        f.write("#!/bin/sh\ncat >> %s\necho >> %s\n" % (CMD_OUT, CMD_OUT))
    os.chmod(os.path.join(TMP, "notify.sh"), 0o755)
    # A port nothing listens on: a channel that always fails.
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    DEAD_PORT = probe.getsockname()[1]
    probe.close()

    def write_config(files_schedule="{every: 2s}"):
        with open(CONFIG, "w") as f:
            f.write("""
targets:
  local:
    type: repository
    location: {tmp}/repo
    password_file: {tmp}/pw
    retention: {{keep_last: 20}}
  second:
    type: repository
    location: {tmp}/repo2
    password_file: {tmp}/pw
  down:
    type: repository
    location: {tmp}/not-a-dir/repo
    password_file: {tmp}/pw
services:
  files:
    type: volume
    path: {vol}
    targets: [local, second]
    schedule: {sched}
  notes:
    type: sqlite
    path: {sqlite}
    targets: [local]
  pg:
    type: postgres
    host: {sock}
    port: {port}
    databases: [app]
    targets: [local]
  slow:
    type: postgres
    host: {sock}
    port: {port}
    databases: [big]
    bandwidth_limit: 1M
    targets: [local]
  split:
    type: volume
    path: {vol}/docs
    targets: [local, down]
server:
  data_dir: {data}
notifications:
  - type: webhook
    name: hook
    url: http://127.0.0.1:{hookport}/cairn
    secret_file: {tmp}/hook.secret
  - type: command
    name: cmd
    command: {tmp}/notify.sh
    services: [split]
  - type: webhook
    name: dead
    url: http://127.0.0.1:{deadport}/nothing
    min_severity: critical
""".format(tmp=TMP, vol=VOL, sqlite=SQLITE, sock=PG_SOCK, port=PG_PORT, data=DATA, sched=files_schedule,
           hookport=hook_server.server_address[1], deadport=DEAD_PORT))
        os.chmod(CONFIG, 0o600)

    write_config()
    d = Daemon(CAIRN, CONFIG, DATA)
    d.start()
    admin = d.client(d.token("ops-admin", "admin"))
    operate = d.client(d.token("ops-operate", "operate"))
    read = d.client(d.token("ops-read", "read"))
    anon = d.client()

    # ---------------------------------------------------------------- auth

    r = anon.get("/api/v1/health")
    check(r.status == 200 and r.json["status"] == "ok", "health answers without credentials", r)
    r = anon.get("/api/v1/services")
    check(r.status == 401 and "error" in r.json, "services without credentials: 401 with a JSON error", r)
    check(d.client("cairn_wrong").get("/api/v1/services").status == 401, "a wrong token: 401")
    check(anon.get("/metrics").status == 401, "/metrics needs credentials")
    r = read.get("/metrics")
    check(r.status == 200 and "cairn_jobs_running" in r.raw.decode(), "/metrics with a read token", r)

    # ---------------------------------------------------------------- scheduled backups happen

    time.sleep(5)
    r = read.get("/api/v1/jobs?service=files&kind=backup")
    sched = [j for j in r.json["jobs"] if j["trigger"] == "schedule" and j["status"] == "succeeded"]
    check(len(sched) >= 2, "a 2 s schedule ran by itself at least twice in 5 s", [j["status"] for j in r.json["jobs"]])
    files = read.get("/api/v1/services/files").json
    check(files["health"]["state"] == "healthy" and files["last_backup"]["targets"] == ["local", "second"],
          "the scheduled point is on both targets and the service is healthy", files)
    check(files["next_run"] is not None and files["schedule"]["every"] == "2s", "next run and schedule shown", files)

    # ---------------------------------------------------------------- roles

    check(read.post("/api/v1/services/notes/backups").status == 403, "read may not back up")
    r = operate.post("/api/v1/services/notes/backups")
    check(r.status == 202 and isinstance(r.json.get("job_id"), int), "operate backs up now: 202 with a job id", r)
    job = operate.wait_job(r.json["job_id"])
    check(job["status"] == "succeeded" and job["trigger"] == "api" and job["point_id"], "the API backup succeeded", job)
    r = admin.post("/api/v1/services/pg/backups", {"target": "local"})
    job = admin.wait_job(r.json["job_id"])
    check(job["status"] == "succeeded" and job["targets"] == ["local"], "admin backs up pg to one target", job)
    check(admin.post("/api/v1/services/pg/backups", {"target": "nope"}).status == 400, "an unknown target: 400")
    check(admin.post("/api/v1/services/nope/backups").status == 404, "an unknown service: 404")
    check(admin.post("/api/v1/services/pg/backups", {"targte": "local"}).status == 400, "an unknown field: 400")
    check(admin.request("POST", "/api/v1/services/pg/backups", b"{not json", raw=True).status == 400, "bad JSON: 400")

    # ---------------------------------------------------------------- points, history, calendar, files

    r = read.get("/api/v1/services/pg/backups?limit=1")
    pt = r.json["points"][0]
    check(r.status == 200 and pt["kind"] == "manual" and pt["parts"] and pt["parts"][0]["kind"] == "stream",
          "points list with parts", r)
    r = read.get("/api/v1/services/pg/backups/" + pt["id"][:6])
    check(r.status == 200 and r.json["id"] == pt["id"] and r.json["manifest"]["service"] == "pg",
          "a point by prefix, with its manifest", r)
    check(read.get("/api/v1/services/pg/backups/ffffffff").status == 404, "an unknown point: 404")
    check(read.get("/api/v1/services/pg/backups/zz").status == 404, "a malformed point id: 404")
    r = read.get("/api/v1/services/files/history?days=1")
    check(r.status == 200 and len(r.json["points"]) >= 2, "history has the points", r)
    r = read.get("/api/v1/calendar?days=7&tz=Europe/Berlin")
    cal = {s["name"]: s["cells"] for s in r.json["services"]} if r.status == 200 else {}
    check(r.status == 200 and len(r.json["days"]) == 7 and cal.get("files", [""])[-1] == "ok", "calendar: today is ok", r)
    check(read.get("/api/v1/calendar?tz=Mars/Olympus").status == 400, "calendar with an unknown zone: 400")
    r = read.get("/api/v1/services/files/backups/latest/files?path=/")
    check(r.status == 200 and [e["name"] for e in r.json["entries"]] == [VOL.lstrip("/")], "files root lists the volume", r)
    r = read.get("/api/v1/services/files/backups/latest/files?path=" + VOL + "/docs")
    check(r.status == 200 and r.json["entries"][0]["name"] == "readme.txt", "a folder of the volume", r)
    r = read.get("/api/v1/services/files/backups/latest/files/content?path=" + VOL + "/data.bin")
    with open(os.path.join(VOL, "data.bin"), "rb") as f:
        check(r.status == 200 and r.raw == f.read(), "a file downloads byte for byte", r.status)
    check("attachment" in r.headers.get("content-disposition", ""), "as an attachment")
    check(read.get("/api/v1/services/files/backups/latest/files/content?path=/etc/passwd").status == 404,
          "a host path that is not in the point: 404")
    check(read.get("/api/v1/services/files/backups/latest/files?path=" + VOL + "/../..").status == 400,
          "a path with '..': 400")
    check(read.get("/api/v1/services/pg/backups/latest/files?path=/").status == 404,
          "a point without files parts: 404")

    # ---------------------------------------------------------------- restores

    r = operate.post("/api/v1/services/pg/restores", {"point": "latest", "mode": "new-instance", "as": "app_copy"})
    check(r.status == 202, "operate restores as a new instance", r)
    job = operate.wait_job(r.json["job_id"])
    check(job["status"] == "succeeded" and job["result"]["validation"]["ok"], "new-instance restore validated", job)
    check(psql("app_copy", "SELECT count(*) FROM t") == "5000", "the new database has the rows")
    r = operate.post("/api/v1/services/pg/restores", {"mode": "overwrite", "confirm": "pg"})
    check(r.status == 403, "operate may not overwrite", r)
    r = admin.post("/api/v1/services/pg/restores", {"mode": "overwrite"})
    check(r.status == 409, "overwrite without confirm: 409", r)
    psql("app", "DELETE FROM t WHERE id > 10")
    r = admin.post("/api/v1/services/pg/restores", {"mode": "overwrite", "confirm": "pg"})
    job = admin.wait_job(r.json["job_id"])
    check(job["status"] == "succeeded" and job["result"]["safety_point_id"], "overwrite after a safety backup", job)
    check(psql("app", "SELECT count(*) FROM t") == "5000", "the overwrite brought the rows back")
    r = read.get("/api/v1/services/pg/backups")
    check(any(p["kind"] == "safety" for p in r.json["points"]), "the safety point is listed")

    # ---------------------------------------------------------------- jobs, logs, schedules, alerts

    r = read.get("/api/v1/jobs?kind=restore&limit=2")
    check(r.status == 200 and len(r.json["jobs"]) == 2 and all(j["kind"] == "restore" for j in r.json["jobs"]),
          "jobs filtered by kind", r)
    check(read.get("/api/v1/jobs?kind=nap").status == 400, "an unknown kind: 400")
    check(read.get("/api/v1/jobs?limit=0").status == 400, "limit 0: 400")
    r = read.get("/api/v1/jobs/%d/log" % job["id"])
    check(r.status == 200 and r.json["done"] and len(r.json["lines"]) > 0, "a job's log", r)
    check(read.get("/api/v1/jobs/999999").status == 404, "an unknown job: 404")
    check(operate.post("/api/v1/jobs/%d/cancel" % job["id"]).status == 409, "cancel of an ended job: 409")
    r = read.get("/api/v1/schedules")
    keys = [s["key"] for s in r.json["schedules"]]
    check([k for k in keys if k.startswith("backup:")] == ["backup:files"], "schedules list the backup task", r)
    check({"verify:pg", "verify:notes", "verify:slow"} <= set(keys) and "verify:files" not in keys,
          "databases get a daily restore drill by default, volumes none", keys)
    check(read.post("/api/v1/schedules/backup:files/pause").status == 403, "read may not pause")
    r = operate.post("/api/v1/schedules/backup:files/pause")
    check(r.status == 200 and r.json["paused"] and r.json["next_runs"] == [], "operate pauses a schedule", r)
    n_before = len(read.get("/api/v1/jobs?service=files&limit=500").json["jobs"])
    time.sleep(4.5)
    n_after = len(read.get("/api/v1/jobs?service=files&limit=500").json["jobs"])
    check(n_after == n_before, "a paused schedule runs nothing", (n_before, n_after))
    r = operate.post("/api/v1/schedules/backup:files/resume")
    check(r.status == 200 and not r.json["paused"], "resume", r)
    check(operate.post("/api/v1/schedules/backup:nope/pause").status == 404, "an unknown schedule: 404")
    r = read.get("/api/v1/alerts")
    check(r.status == 200 and isinstance(r.json["alerts"], list), "alerts list", r)
    check(operate.post("/api/v1/alerts/999999/ack").status == 404, "ack of an unknown alert: 404")
    r = read.get("/api/v1/config")
    check(r.status == 200 and r.json["ok"] and r.json["file"] == CONFIG, "config status", r)

    # ---------------------------------------------------------------- sessions and CSRF

    s = d.session()
    r = s.get("/api/v1/services")
    check(r.status == 200, "a dashboard session reads", r)
    r = Client(d.port, cookie=s.cookie).post("/api/v1/services/notes/backups")
    check(r.status == 403, "a session POST without the CSRF token: 403", r)
    r = s.post("/api/v1/services/notes/backups")
    check(r.status == 202, "with it: 202", r)
    s.wait_job(r.json["job_id"])

    # ---------------------------------------------------------------- events

    events = []

    def listen():
        conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=20)
        conn.request("GET", "/api/v1/events", headers={"Authorization": "Bearer " + read.token})
        resp = conn.getresponse()
        deadline = time.time() + 15
        while time.time() < deadline:
            line = resp.fp.readline()
            if not line:
                break
            events.append(line.decode())
            if any('"status":"succeeded"' in e and '"service":"notes"' in e for e in events):
                break
        conn.close()

    t = threading.Thread(target=listen)
    t.start()
    time.sleep(0.5)
    r = operate.post("/api/v1/services/notes/backups")
    operate.wait_job(r.json["job_id"])
    t.join()
    check(any(e.startswith("event: job") for e in events) and
          any('"status":"succeeded"' in e and '"service":"notes"' in e for e in events),
          "the event stream carries the job to its end", events[:10])

    # ---------------------------------------------------------------- one target down: partial

    r = operate.post("/api/v1/services/split/backups")
    job = operate.wait_job(r.json["job_id"])
    check(job["status"] == "partial" and job["result"]["targets"]["local"] == "stored"
          and job["result"]["targets"]["down"].startswith("failed"), "one target down makes the run partial", job)
    m = read.get("/metrics").raw.decode()
    check('cairn_backup_last_status{service="split",target="down"} 0' in m and
          'cairn_backup_last_status{service="split",target="local"} 1' in m, "metrics per target", m[-1500:])
    svc = read.get("/api/v1/services/split").json
    check(not svc["health"]["complete"]["ok"] and "down" in svc["health"]["complete"]["detail"],
          "health: complete names the missing target", svc["health"])

    # ---------------------------------------------------------------- alerts: partial, unreachable, ack

    alerts = read.get("/api/v1/alerts?state=open").json["alerts"]
    partial = [a for a in alerts if a["rule"] == "job_failed" and a["service"] == "split" and a["target"] == "down"]
    check(len(partial) == 1 and partial[0]["severity"] == "warning" and "missing on target down" in partial[0]["message"],
          "a partial backup opens a warning that names the target missing the point", alerts)
    down = [a for a in alerts if a["rule"] == "target_unreachable" and a["target"] == "down"]
    check(len(down) == 1 and down[0]["severity"] == "critical" and down[0]["hint"],
          "the sync's unreadable target opens a critical alert with what to do", alerts)
    m = read.get("/metrics").raw.decode()
    crit = len([a for a in read.get("/api/v1/alerts?state=open").json["alerts"] if a["severity"] == "critical"])
    check(crit >= 1 and ('cairn_alerts_open{severity="critical"} %d' % crit) in m,
          "cairn_alerts_open counts them", ([l for l in m.splitlines() if "alerts_open" in l], alerts))
    check(read.post("/api/v1/alerts/%d/ack" % down[0]["id"]).status == 403 if down else False, "read may not ack")
    r = operate.post("/api/v1/alerts/%d/ack" % down[0]["id"]) if down else None
    check(r is not None and r.status == 200 and r.json["acked_at"] and r.json["acked_by"], "operate acks an alert", r)

    # ---------------------------------------------------------------- notifications of those alerts

    def hook_events(pred):
        return [json.loads(b) for h, b in HOOK if pred(json.loads(b))]

    deadline = time.time() + 15
    while time.time() < deadline and not hook_events(lambda e: e["alert"] and e["alert"]["service"] == "split"):
        time.sleep(0.2)
    got = hook_events(lambda e: e["event"] == "opened" and e["alert"] and e["alert"]["service"] == "split")
    check(len(got) == 1 and got[0]["alert"]["rule"] == "job_failed" and got[0]["alert"]["target"] == "down",
          "the webhook got the partial backup's alert, once", [json.loads(b) for h, b in HOOK][:5])
    sig_ok = [hmac.compare_digest(h.get("X-Cairn-Signature", ""),
                                  "sha256=" + hmac.new(HOOK_SECRET, b, hashlib.sha256).hexdigest()) for h, b in HOOK]
    check(sig_ok and all(sig_ok), "every webhook body carries a valid X-Cairn-Signature", [h for h, b in HOOK][:2])
    wait_for = time.time() + 10
    while time.time() < wait_for and not (os.path.exists(CMD_OUT) and "job_failed" in open(CMD_OUT).read()):
        time.sleep(0.2)
    cmd_lines = [json.loads(l) for l in open(CMD_OUT).read().splitlines() if l.strip()] if os.path.exists(CMD_OUT) else []
    check(cmd_lines and all(e["alert"]["service"] == "split" for e in cmd_lines),
          "the command channel got the alert on stdin, only for its service", cmd_lines[:3])
    check(operate.post("/api/v1/notifications/test", {"channel": 0}).status == 403, "operate may not send a test")
    n = len(HOOK)
    r = admin.post("/api/v1/notifications/test", {"channel": 0})
    check(r.status == 202 and len(HOOK) == n + 1 and json.loads(HOOK[-1][1])["event"] == "test",
          "a test notification reaches the webhook at once", r)
    r = admin.post("/api/v1/notifications/test", {"channel": 2})
    check(r.status == 500 and "dead" in r.json.get("error", ""), "a failing channel's test names it", r)
    check(admin.post("/api/v1/notifications/test", {"channel": 9}).status == 400, "a channel that does not exist: 400")

    # ---------------------------------------------------------------- a restore drill through the API

    r = operate.post("/api/v1/services/notes/verify", {})
    check(r.status == 202, "operate starts a restore drill", r)
    job = operate.wait_job(r.json["job_id"], timeout=60)
    check(job["status"] == "succeeded" and job["kind"] == "drill" and job["result"]["passed"]
          and "integrity_check: ok" in job["result"]["check"], "the drill of notes passed its check", job)
    pt = read.get("/api/v1/services/notes/backups/" + job["point_id"]).json
    check(pt.get("verified") and pt["verified"]["outcome"] == "passed", "the point shows it was verified restorable", pt)
    svc = read.get("/api/v1/services/notes").json
    check(svc["health"]["verified"]["ok"], "health: verified", svc["health"])
    out = subprocess.run([CAIRN, "-c", CONFIG, "backups", "notes", "--json"], capture_output=True, text=True)
    pts = json.loads(out.stdout)["points"] if out.returncode == 0 else []
    check(any(p["id"] == job["point_id"] and p["verified"] and p["verified"]["duration_s"] > 0 for p in pts),
          "cairn backups shows the point verified restorable", out.stdout[-600:] + out.stderr[-300:])
    time.sleep(1.1)
    out = subprocess.run([CAIRN, "-c", CONFIG, "verify", "notes"], capture_output=True, text=True)
    after = read.get("/api/v1/services/notes/backups/" + job["point_id"]).json
    check(out.returncode == 0 and after.get("verified") and after["verified"]["at"] > pt["verified"]["at"],
          "a drill by hand is recorded in the daemon's catalog too", (out.returncode, out.stderr[-300:], after.get("verified")))
    check(not [a for a in read.get("/api/v1/alerts?state=open").json["alerts"] if a["rule"] == "drill_failed"],
          "no drill alert after a passed drill")

    # ---------------------------------------------------------------- cancel mid-backup

    r = operate.post("/api/v1/services/slow/backups")
    jid = r.json["job_id"]
    job = operate.wait_job(jid, timeout=60, until=lambda j: j["status"] == "running" and j["progress"]
                           and j["progress"].get("bytes_done", 0) > 1000000)
    check(job["progress"]["phase"] in ("capturing", "storing"), "a running job shows its progress", job["progress"])
    r2 = operate.post("/api/v1/services/slow/backups")
    check(r2.status == 409, "a second backup of the same service: 409", r2)
    slow_pid = job_running("pg_dump")
    check(slow_pid is not None, "the backup runs pg_dump in its job's process group", job_processes())
    t0 = time.time()
    check(operate.post("/api/v1/jobs/%d/cancel" % jid).status == 202, "cancel accepted")
    job = operate.wait_job(jid, timeout=30)
    check(job["status"] == "cancelled" and time.time() - t0 < 12, "the job stopped, cancelled, within seconds",
          (job["status"], time.time() - t0))
    time.sleep(0.5)
    # Only this job's group: the 2 s schedule of another service may be running a job now.
    left = group_processes(slow_pid) if slow_pid else []
    check(slow_pid and not left, "no process of the cancelled job is left", left)
    check(not [p for p in read.get("/api/v1/services/slow/backups").json["points"]], "the cancelled backup made no point")
    out = subprocess.run([CAIRN, "-c", CONFIG, "check", "--target", "local"], capture_output=True, text=True)
    check(out.returncode == 0, "the repository checks clean after the cancel", out.stderr)

    # ---------------------------------------------------------------- catch-up after a stop

    d.stop()
    time.sleep(7)  # three or four fires of the 2 s schedule pass while the daemon is down
    d.start()
    time.sleep(1.5)
    jobs = read.get("/api/v1/jobs?service=files&limit=500").json["jobs"]
    catch = [j for j in jobs if j["trigger"] == "catch_up"]
    check(len(catch) == 1 and catch[0]["missed"] >= 3, "the fires missed while stopped ran once, as one catch-up",
          [(j["trigger"], j["missed"], j["queued_at"]) for j in jobs[:6]])
    time.sleep(4.5)
    jobs = read.get("/api/v1/jobs?service=files&limit=500").json["jobs"]
    after = [j for j in jobs if j["trigger"] == "schedule" and j["queued_at"] > catch[0]["queued_at"]]
    check(len([j for j in jobs if j["trigger"] == "catch_up"]) == 1 and len(after) >= 1,
          "then the schedule goes on as usual", [(j["trigger"], j["queued_at"]) for j in jobs[:6]])

    # ---------------------------------------------------------------- kill -9 mid-job

    r = operate.post("/api/v1/services/slow/backups")
    jid = r.json["job_id"]
    operate.wait_job(jid, timeout=60, until=lambda j: j["status"] == "running" and j["progress"]
                     and j["progress"].get("bytes_done", 0) > 500000)
    d.kill()
    deadline = time.time() + 15
    while job_processes() and time.time() < deadline:
        time.sleep(0.2)
    check(not job_processes(), "the job process dies with the killed daemon", job_processes())
    d.start()
    job = read.get("/api/v1/jobs/%d" % jid).json
    check(job["status"] == "interrupted" and "daemon stopped" in (job["error"] or ""),
          "after the restart the job is interrupted, with the reason", job)
    r = operate.post("/api/v1/services/slow/backups")
    check(r.status == 202, "a new backup may start", r)
    job = operate.wait_job(r.json["job_id"], timeout=120)
    check(job["status"] == "succeeded", "and succeeds with no manual step", job)
    out = subprocess.run([CAIRN, "-c", CONFIG, "check", "--target", "local"], capture_output=True, text=True)
    check(out.returncode == 0, "the repository checks clean after the kill", out.stdout + out.stderr)
    out = subprocess.run(["sqlite3", os.path.join(DATA, "catalog.db"), "PRAGMA integrity_check"],
                         capture_output=True, text=True)
    check(out.stdout.strip() == "ok" or shutil.which("sqlite3") is None, "the catalog is intact", out.stdout)

    # ---------------------------------------------------------------- config reload

    write_config(files_schedule="{every: 1h}")
    os.kill(d.proc.pid, signal.SIGHUP)
    time.sleep(1)
    r = read.get("/api/v1/services/files")
    check(r.json["schedule"]["every"] == "1h", "SIGHUP reloads the configuration", r.json["schedule"])
    with open(CONFIG, "a") as f:
        f.write("bogus_key: 1\n")
    time.sleep(3.5)  # the daemon notices the file changed
    r = read.get("/api/v1/config")
    check(r.status == 200 and not r.json["ok"] and "bogus_key" in r.json["error"],
          "a bad file is not applied; the error is shown", r)
    check(read.get("/api/v1/services").status == 200, "the last good configuration stays in force")
    write_config(files_schedule="{every: 1h}")

    # ---------------------------------------------------------------- malformed requests

    rnd = random.Random(7)
    methods = ["GET", "POST", "DELETE", "PUT", "PATCH", "OPTIONS", "HEAD", "BREW"]
    paths = ["/api/v1/services", "/api/v1/services/%2e%2e/backups", "/api/v1/services/files/backups/latest/files?path=/../../etc",
             "/api/v1/jobs/-1", "/api/v1/jobs/00001", "/api/v1/jobs/99999999999999999999999", "/api/v1/services/\xff",
             "/api/v1/services/files/restores", "/api/v1/events?x=1", "/metrics?format=1", "/../../etc/passwd",
             "/api/v1/services/files/backups/latest/files/content?path=%00", "/api/v1/calendar?days=99999",
             "/api/v1/session", "/api/v1/schedules/%0a/pause", "/" + "a" * 5000]
    bodies = [b"", b"{}", b"[]", b"null", b"{\"point\": 1}", b"\xff\xfe", b"{" * 100 + b"}" * 100, b"x" * 70000,
              json.dumps({"mode": "overwrite", "confirm": "files", "point": "zzzz"}).encode(), b"{\"a\":\"\\ud800\"}"]
    bad5xx = []
    import socket as socketlib
    from concurrent.futures import ThreadPoolExecutor

    def one(i):
        r = random.Random(i)
        path = r.choice(paths).encode("utf-8", "surrogateescape")
        body = r.choice(bodies)
        token = r.choice([admin.token, read.token, "junk"])
        head = b"%s %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n" % (
            r.choice(methods).encode(), path, token.encode(), len(body))
        if r.random() < 0.2:
            # (A chunked header with a plain body leaves the server waiting for
            # the rest until its read timeout: that is the right answer too.)
            head += r.choice([b"Content-Encoding: gzip\r\n", b"Transfer-Encoding: chunked\r\n",
                              b"Cookie: cairn_session=\xff\r\n", b"X-Junk: " + b"y" * 9000 + b"\r\n"])
        try:
            with socketlib.create_connection(("127.0.0.1", d.port), timeout=15) as sock:
                sock.sendall(head + b"Connection: close\r\n\r\n" + body)
                data = b""
                while True:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0
            if status >= 500 and status != 503:
                return (path[:60], status)
        except OSError:
            pass  # the server may close a connection it refuses; it must keep answering others
        return None

    with ThreadPoolExecutor(16) as pool:
        bad5xx = [x for x in pool.map(one, range(1500)) if x]
    check(not bad5xx, "1500 malformed requests: no 5xx", bad5xx[:5])
    r = anon.get("/api/v1/health")
    check(r.status == 200, "and the daemon still answers", r)

    rc = d.stop()
    check(rc == 0, "SIGTERM stops the daemon cleanly", rc)
finally:
    if "d" in globals():
        d.kill()
    cleanup()

print("daemon_test: %d passed, %d failed" % (PASSED, len(FAILED)))
for f in FAILED:
    print("  failed: " + f)
sys.exit(1 if FAILED else 0)
