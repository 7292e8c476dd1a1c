"""Helpers for tests that drive a real `cairn serve` (no assertions here).

    d = Daemon(cairn, config_path, data_dir)     # data_dir = server.data_dir of the config
    d.start()                                     # waits for /api/v1/health
    api = d.client(token)                         # Bearer client; d.token(name, role) makes one
    status, body, headers = api.get("/api/v1/services")
    d.stop() / d.kill()                           # SIGTERM and wait / SIGKILL

Only the Python standard library: the tests run on a fresh Debian.
"""

import http.client
import json
import os
import signal
import socket
import subprocess
import time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Response:
    def __init__(self, status, body, headers):
        self.status = status
        self.raw = body
        self.headers = headers
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return "HTTP %d %s" % (self.status, self.raw[:300])


class Client:
    def __init__(self, port, token=None, cookie=None, csrf=None):
        self.port = port
        self.token = token
        self.cookie = cookie
        self.csrf = csrf

    def request(self, method, path, body=None, headers=None, raw=False, timeout=30):
        h = dict(headers or {})
        if self.token:
            h["Authorization"] = "Bearer " + self.token
        if self.cookie:
            h["Cookie"] = self.cookie
        if self.csrf and method in ("POST", "DELETE"):
            h.setdefault("X-CSRF-Token", self.csrf)
        data = None
        if body is not None:
            data = body if raw else json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=data, headers=h)
            r = conn.getresponse()
            return Response(r.status, r.read(), {k.lower(): v for k, v in r.getheaders()})
        finally:
            conn.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body if body is not None else {}, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def wait_job(self, job_id, timeout=120, until=None):
        """Polls a job until it ended (or `until(job)` holds); returns it."""
        deadline = time.time() + timeout
        job = None
        while time.time() < deadline:
            r = self.get("/api/v1/jobs/%d" % job_id)
            if r.status == 200:
                job = r.json
                if until is not None:
                    if until(job):
                        return job
                elif job["status"] not in ("queued", "running"):
                    return job
            time.sleep(0.2)
        raise AssertionError("job %d did not get there in %d s: %s" % (job_id, timeout, job))


# Unique per test process: marks the job processes of this test's daemons.
RUN_TAG = "%d-%d" % (os.getpid(), int(time.time() * 1000))


class Daemon:
    def __init__(self, cairn, config, data_dir, log=None):
        self.cairn = cairn
        self.config = config
        self.data_dir = data_dir
        self.log = log or os.path.join(os.path.dirname(config), "serve.log")
        self.proc = None
        self.port = None

    def start(self, port=None, timeout=30):
        self.port = port or self.port or free_port()
        logf = open(self.log, "ab")
        # The tag is inherited by the daemon's job processes, so a test counts
        # only its own: CI runs other daemons' tests at the same time.
        env = dict(os.environ, CAIRN_TEST_RUN=RUN_TAG)
        self.proc = subprocess.Popen(
            [self.cairn, "-c", self.config, "serve", "--listen", "127.0.0.1:%d" % self.port],
            stdout=logf, stderr=subprocess.STDOUT, start_new_session=True, env=env)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("cairn serve exited with %d: %s" % (self.proc.returncode, self.tail()))
            try:
                r = Client(self.port).get("/api/v1/health", timeout=2)
                if r.status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError("cairn serve did not answer in %d s: %s" % (timeout, self.tail()))

    def tail(self, n=2000):
        try:
            with open(self.log, "rb") as f:
                return f.read()[-n:].decode(errors="replace")
        except OSError:
            return ""

    def stop(self, timeout=60):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("cairn serve did not stop within %d s of SIGTERM" % timeout)
        return self.proc.returncode if self.proc else None

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def admin_password(self):
        with open(os.path.join(self.data_dir, "initial-admin-password")) as f:
            return f.readline().strip()

    def token(self, name, role):
        out = subprocess.run([self.cairn, "-c", self.config, "token", "create", name, "--role", role],
                             check=True, capture_output=True, text=True).stdout
        return out.strip().splitlines()[-1]

    def client(self, token=None):
        return Client(self.port, token=token)

    def session(self, password=None):
        c = Client(self.port)
        r = c.post("/api/v1/session", {"password": password or self.admin_password()})
        if r.status != 200:
            raise AssertionError("sign-in failed: %r" % r)
        cookie = r.headers.get("set-cookie", "").split(";")[0]
        return Client(self.port, cookie=cookie, csrf=r.json["csrf_token"])


def _proc_fields(pid, name):
    """The NUL-separated fields of /proc/PID/NAME; None when the process is gone."""
    try:
        with open("/proc/%s/%s" % (pid, name), "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return None


def job_processes():
    """Pids of running `cairn __job` processes started by this test's daemons."""
    tag = ("CAIRN_TEST_RUN=" + RUN_TAG).encode()
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        if b"__job" in (_proc_fields(pid, "cmdline") or []) and tag in (_proc_fields(pid, "environ") or []):
            out.append(int(pid))
    return out


def _pgid(pid):
    stat = _proc_fields(pid, "stat")
    if not stat:
        return None
    # The command name sits in parentheses and may hold spaces: fields count after it.
    fields = stat[0].rsplit(b")", 1)[-1].split()
    return int(fields[2]) if len(fields) > 2 else None


def group_processes(pgid):
    """Pids of running processes in process group PGID (a job and the tools it runs)."""
    return [int(pid) for pid in filter(str.isdigit, os.listdir("/proc")) if _pgid(pid) == pgid]


def job_running(tool):
    """Pid of this test's job process whose group runs TOOL (e.g. pg_dump), or None.

    Other jobs (a 2 s schedule) may run at the same moment; the tool tells them apart."""
    for pid in job_processes():
        for member in group_processes(pid):
            argv = _proc_fields(member, "cmdline") or []
            if argv and os.path.basename(argv[0].decode(errors="replace")) == tool:
                return pid
    return None
