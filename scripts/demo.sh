#!/usr/bin/env bash
# The main job on embedded defaults: a demo service (an SQLite database with
# an attachments directory) and a local repository target. Back it up, change
# it, back it up again, list the history, restore the first restore point as
# a new instance and then in place (after an automatic safety backup), with
# each restore validated against the fingerprint taken at backup time, and
# check the repository. Then the daemon: `cairn serve` backs the service up
# on a 5-second schedule by itself, and its REST API shows the history,
# backs up on request and serves the metrics; then it is stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
CAIRN=${CAIRN:-$PWD/build/cairn}
WORK=${CAIRN_DEMO_DIR:-$(mktemp -d /tmp/cairn-demo.XXXXXX)}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
DB=$WORK/service/notes.db
FILES=$WORK/service/attachments

step() { printf '\n== %s\n' "$*"; }
notes() { sqlite3 "$DB" "select count(*) || ' notes, last: ' || coalesce(max(title), '-') from notes"; }

step "preparing the demo service in $WORK/service"
mkdir -p "$FILES"
sqlite3 "$DB" "PRAGMA journal_mode=WAL;
  CREATE TABLE notes(id INTEGER PRIMARY KEY, title TEXT, body TEXT);
  WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM n WHERE x < 20000)
  INSERT INTO notes SELECT x, printf('note %05d', x), hex(randomblob(64)) FROM n;" >/dev/null
for i in $(seq 1 20); do head -c 100000 /dev/urandom > "$FILES/scan-$i.bin"; done
notes

echo demo-repository-password > "$WORK/repo.pass"
chmod 600 "$WORK/repo.pass"
cat > "$WORK/cairn.yaml" <<YAML
# Written by scripts/demo.sh; see examples/cairn.yaml for every option.
targets:
  local:
    type: repository
    location: repository
    password_file: repo.pass
    retention: {keep_last: 10}
services:
  notes:
    type: sqlite
    path: service/notes.db
    volumes: [$FILES]
    targets: [local]
YAML
C=(-c "$WORK/cairn.yaml")

step "cairn service list"
"$CAIRN" "${C[@]}" service list
step "cairn backup notes (the repository is created on first use)"
"$CAIRN" "${C[@]}" backup notes
FIRST=$("$CAIRN" "${C[@]}" backups notes --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["points"][-1]["id"])')

step "changing the service: 500 notes deleted, one attachment replaced"
sqlite3 "$DB" "DELETE FROM notes WHERE id > 19500"
head -c 100000 /dev/urandom > "$FILES/scan-1.bin"
notes
step "cairn backup notes (only the changed data is stored)"
"$CAIRN" "${C[@]}" backup notes
step "cairn backups notes"
"$CAIRN" "${C[@]}" backups notes

step "cairn restore notes $FIRST --mode new-instance (the original stays as it is)"
"$CAIRN" "${C[@]}" restore notes "$FIRST" --mode new-instance --as notes-restored.db
sqlite3 "$WORK/service/notes-restored.db" "select 'new instance: ' || count(*) || ' notes' from notes"
notes

step "cairn restore notes $FIRST --mode overwrite --yes (a safety backup is taken first)"
"$CAIRN" "${C[@]}" restore notes "$FIRST" --mode overwrite --yes
notes
step "cairn backups notes (the safety point holds the replaced state)"
"$CAIRN" "${C[@]}" backups notes

step "cairn check --read-data"
"$CAIRN" "${C[@]}" check --read-data

step "the daemon: a 5 s schedule for notes, then cairn serve"
cat >> "$WORK/cairn.yaml" <<YAML
    schedule: {every: 5s}
server:
  data_dir: daemon
YAML
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
"$CAIRN" "${C[@]}" serve --listen "127.0.0.1:$PORT" > "$WORK/serve.log" 2>&1 &
SERVE=$!
trap 'kill $SERVE 2>/dev/null || true' EXIT
TOKEN=$("$CAIRN" "${C[@]}" token create demo --role operate | tail -n 1)
# GET or POST the API and print what the demo needs of the answer.
api() {
  python3 - "$PORT" "$TOKEN" "$@" <<'PY'
import json, sys, time, urllib.request
port, token, method, path, show = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
def call(m, p):
    req = urllib.request.Request("http://127.0.0.1:%s%s" % (port, p), method=m, data=b"{}" if m == "POST" else None,
                                 headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        body = r.read().decode()
        return json.loads(body) if body.startswith("{") else body
for _ in range(100):  # the daemon may still be starting
    try:
        out = call(method, path)
        break
    except OSError:
        time.sleep(0.1)
if show == "services":
    for s in out["services"]:
        h = s["health"]
        print("%-8s %-8s last backup %s (%s), next run %s; recent: %s" % (
            s["name"], h["state"], s["last_backup"]["time"] if s["last_backup"] else "-",
            s["last_job"]["trigger"] if s["last_job"] else "-", s["next_run"], h["recent"]["detail"]))
elif show == "jobs":
    for j in out["jobs"]:
        print("job %-3d %-7s %-9s %-9s %s" % (j["id"], j["kind"], j["trigger"], j["status"], j["point_id"] or ""))
elif show == "job":
    while True:
        j = call("GET", "/api/v1/jobs/%d" % out["job_id"])
        if j["status"] not in ("queued", "running"):
            break
        time.sleep(0.2)
    print("job %d (%s): %s, point %s, %d bytes read, %d new" % (j["id"], j["trigger"], j["status"], j["point_id"],
                                                              j["bytes_read"], j["bytes_added"]))
else:
    print("\n".join(l for l in out.splitlines() if l.startswith(("cairn_backup_last_status", "cairn_restore_points", "cairn_jobs_total"))))
PY
}
sleep 7
echo "listening on http://127.0.0.1:$PORT (dashboard; admin password in $WORK/daemon/initial-admin-password)"
step "GET /api/v1/services (the scheduled backups ran by themselves)"
api GET /api/v1/services services
step "POST /api/v1/services/notes/backups (back up now)"
api POST /api/v1/services/notes/backups job
step "GET /api/v1/jobs"
api GET "/api/v1/jobs?limit=6" jobs
step "GET /metrics"
api GET /metrics metrics
step "stopping the daemon"
kill -TERM $SERVE
wait $SERVE || true
trap - EXIT
tail -n 1 "$WORK/serve.log"
printf '\ndemo finished; everything is in %s (configuration: %s)\n' "$WORK" "$WORK/cairn.yaml"
