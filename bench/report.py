#!/usr/bin/env python3
"""Turn the raw measurements of bench/compare.sh into a JSON results file and a
markdown table (stdout).  Medians over repetitions; Cairn's ratio against each
peer: time and CPU as peer/cairn (>1 = Cairn faster), peak RSS and repository
size as cairn/peer (<1 = Cairn smaller)."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys

STEPS = ["init", "backup-initial", "backup-unchanged", "backup-mutated", "restore"]
TABLE_STEPS = STEPS[1:]
STEP_LABEL = {
    "init": "init",
    "backup-initial": "initial backup",
    "backup-unchanged": "unchanged re-backup",
    "backup-mutated": "backup after 1% change",
    "restore": "full restore",
}


def machine_info() -> dict:
    info = {"kernel": platform.release(), "cpus": os.cpu_count(), "python": platform.python_version()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    info["mem_gib"] = round(int(line.split()[1]) / (1 << 20), 1)
                    break
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    info["os"] = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return info


def disturbed(r: dict) -> bool:
    """Another process used noticeable CPU while this step ran."""
    o = r.get("other_procs_cpu_s")
    return o is not None and o > 0.1 * r["wall_s"] + 0.3


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, digits=2):
    return "—" if x is None else f"{x:.{digits}f}"


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--raw", required=True)
    ap.add_argument("--extra", required=True)
    ap.add_argument("--meta", required=True)
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--tools", required=True)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--out", required=True)
    ap.add_argument("--all-runs", action="store_true",
                    help="take medians over all runs, including runs disturbed by other processes")
    a = ap.parse_args()

    tools = a.tools.split()
    runs: dict = {t: {s: [] for s in STEPS} for t in tools}
    with open(a.raw) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 8:
                continue
            tool, rep, step, wall, user, sys_, rss, repo = parts[:8]
            other = float(parts[8]) if len(parts) > 8 and parts[8] else None
            # BACKEND=s3: the S3 server's CPU, the bytes it received/sent and the requests it served.
            server = [float(x) if x else None for x in (parts[9:13] + ["", "", "", ""])[:4]]
            runs.setdefault(tool, {s: [] for s in STEPS}).setdefault(step, []).append({
                "run": int(rep),
                "wall_s": float(wall),
                "user_s": float(user),
                "sys_s": float(sys_),
                "cpu_s": round(float(user) + float(sys_), 2),
                "peak_rss_kib": int(rss),
                "repo_bytes": int(repo) if repo else None,
                "other_procs_cpu_s": other,
                "server_cpu_s": server[0],
                "bytes_up": int(server[1]) if server[1] is not None else None,
                "bytes_down": int(server[2]) if server[2] is not None else None,
                "requests": int(server[3]) if server[3] is not None else None,
            })
    extra: dict = {}
    with open(a.extra) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t", 3)
            if len(parts) < 4:
                continue
            tool, rep, key, value = parts
            try:
                val = json.loads(value) if value[:1] in "{[" else value
            except ValueError:
                val = value
            extra.setdefault(tool, {}).setdefault(rep, {})[key] = val
    meta = {}
    with open(a.meta) as f:
        for line in f:
            if "\t" in line:
                k, v = line.rstrip("\n").split("\t", 1)
                meta[k] = v
    with open(a.dataset) as f:
        dataset = json.load(f)

    results: dict = {}
    for t in tools:
        results[t] = {}
        for s in STEPS:
            rs = runs.get(t, {}).get(s, [])
            if not rs:
                continue
            for r in rs:
                r["disturbed"] = disturbed(r)
            # Medians over the undisturbed runs; over all runs if none (or --all-runs).
            sel = rs if a.all_runs else ([r for r in rs if not r["disturbed"]] or rs)
            results[t][s] = {
                "wall_s": median([r["wall_s"] for r in sel]),
                "cpu_s": median([r["cpu_s"] for r in sel]),
                "user_s": median([r["user_s"] for r in sel]),
                "sys_s": median([r["sys_s"] for r in sel]),
                "peak_rss_kib": median([r["peak_rss_kib"] for r in sel]),
                "repo_bytes": median([r["repo_bytes"] for r in sel]),
                "server_cpu_s": median([r["server_cpu_s"] for r in sel]),
                "bytes_up": median([r["bytes_up"] for r in sel]),
                "bytes_down": median([r["bytes_down"] for r in sel]),
                "requests": median([r["requests"] for r in sel]),
                "runs_used": len(sel),
                "runs_disturbed": sum(r["disturbed"] for r in rs),
                "runs": rs,
            }

    ratios: dict = {}
    if "cairn" in tools:
        c = results.get("cairn", {})
        for peer in tools:
            if peer == "cairn":
                continue
            p = results.get(peer, {})
            ratios[peer] = {}
            for s in TABLE_STEPS:
                if s not in c or s not in p:
                    continue
                ratios[peer][s] = {
                    "time_peer_over_cairn": ratio(p[s]["wall_s"], c[s]["wall_s"]),
                    "cpu_peer_over_cairn": ratio(p[s]["cpu_s"], c[s]["cpu_s"]),
                    "rss_cairn_over_peer": ratio(c[s]["peak_rss_kib"], p[s]["peak_rss_kib"]),
                    "repo_cairn_over_peer": ratio(c[s]["repo_bytes"], p[s]["repo_bytes"]),
                }

    out = {
        "generated": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "started": meta.get("started"),
        "machine": machine_info(),
        "versions": {k[len("version-"):]: v for k, v in meta.items() if k.startswith("version-")},
        "dataset": dataset,
        "repeat": a.repeat,
        "tools": tools,
        "method": "warm page cache (tree read once before each backup, repository read once before restore); "
                  "sync + drop_caches after deleting trees and before restore; /usr/bin/time %e %U %S %M; "
                  "repo size = du -sb after the step; medians over the runs not disturbed by other processes "
                  "(other_procs_cpu_s <= 0.1*wall_s + 0.3), or over all runs if none was undisturbed"
                  + (" (here: --all-runs, medians over all runs)" if a.all_runs else ""),
        "results": results,
        "ratios": ratios,
        "extra": extra,
    }
    tmp = a.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(out, f, indent=2)
        f.write("\n")
    os.replace(tmp, a.out)

    # ---- markdown ------------------------------------------------------------------------
    m = out["machine"]
    w = sys.stdout.write
    w(f"## Results ({'REPEAT=' + str(a.repeat) + ', medians' if a.repeat > 1 else 'single run'}, warm cache)\n\n")
    w(f"Dataset: {dataset['files']} files, {dataset['bytes'] / (1 << 20):.1f} MiB "
      f"(gen_dataset.py --size-mib {dataset['size_mib']} --seed {dataset['seed']}).  ")
    w(f"Machine: {m.get('cpus')} CPUs ({m.get('cpu_model', '?')}), {m.get('mem_gib', '?')} GiB RAM, "
      f"{m.get('os', '?')}, kernel {m.get('kernel')}.  ")
    w("Versions: " + "; ".join(f"{k}: {v}" for k, v in out["versions"].items()) + "\n\n")
    w("| step | tool | wall (s) | CPU user+sys (s) | peak RSS (MiB) | repo after step (MB) | runs used |\n")
    w("|---|---|---:|---:|---:|---:|---:|\n")
    for s in TABLE_STEPS:
        for t in tools:
            r = results.get(t, {}).get(s)
            if r is None:
                w(f"| {STEP_LABEL[s]} | {t} | failed | | | | |\n")
                continue
            rss = r["peak_rss_kib"] / 1024 if r["peak_rss_kib"] is not None else None
            repo = r["repo_bytes"] / 1e6 if r["repo_bytes"] is not None else None
            used = f"{r['runs_used']}/{len(r['runs'])}"
            if r["runs_disturbed"] and (a.all_runs or r["runs_disturbed"] == len(r["runs"])):
                used += " !"
            w(f"| {STEP_LABEL[s]} | {t} | {fmt(r['wall_s'])} | {fmt(r['cpu_s'])} | {fmt(rss, 0)} | {fmt(repo, 1)} "
              f"| {used} |\n")
    w("\n")
    if any(r.get("bytes_up") is not None for st in results.values() for r in st.values()):
        w("Object-store traffic and requests, counted by the S3 server on its TCP connections (TLS records, both "
          "directions), and the server's own CPU time, per step (medians):\n\n")
        w("| step | tool | sent to the server (MB) | received from the server (MB) | requests | S3 server CPU (s) |\n")
        w("|---|---|---:|---:|---:|---:|\n")
        for s in TABLE_STEPS:
            for t in tools:
                r = results.get(t, {}).get(s)
                if r is None or r.get("bytes_up") is None:
                    continue
                w(f"| {STEP_LABEL[s]} | {t} | {fmt(r['bytes_up'] / 1e6, 1)} | {fmt(r['bytes_down'] / 1e6, 1)} "
                  f"| {fmt(r['requests'], 0)} | {fmt(r['server_cpu_s'])} |\n")
        w("\n")
    if a.all_runs:
        w("Medians over all runs, including runs disturbed by other processes (marked !).\n\n")
    else:
        w("Medians over the runs not disturbed by other processes (\"runs used\"); "
          "! = every run of that step was disturbed, so the median is over all of them.\n\n")
    if any(ratios.values()):
        w("Cairn against each peer: time and CPU as peer/cairn (>1 means Cairn is faster); "
          "peak RSS and repository size as cairn/peer (<1 means Cairn is smaller).\n\n")
        w("| step | peer | wall (peer/cairn) | CPU (peer/cairn) | RSS (cairn/peer) | repo (cairn/peer) |\n")
        w("|---|---|---:|---:|---:|---:|\n")
        for s in TABLE_STEPS:
            for peer, rs in ratios.items():
                q = rs.get(s)
                if q is None:
                    continue
                w(f"| {STEP_LABEL[s]} | {peer} | {fmt(q['time_peer_over_cairn'])} | {fmt(q['cpu_peer_over_cairn'])} "
                  f"| {fmt(q['rss_cairn_over_peer'])} | {fmt(q['repo_cairn_over_peer'])} |\n")
        w("\n")
    notes = []
    busy = [(t, s_, r["run"], r["other_procs_cpu_s"], r["wall_s"]) for t, st in runs.items()
            for s_, rs in st.items() for r in rs if r.get("disturbed")]
    if busy:
        worst = max(busy, key=lambda b: b[3] / max(b[4], 0.01))
        notes.append(f"- WARNING: other processes used noticeable CPU during {len(busy)} timed step(s) "
                     f"(worst: {worst[0]} {worst[1]} run {worst[2]}: {worst[3]:.1f} s of other CPU in "
                     f"{worst[4]:.1f} s wall). The machine was not idle; see other_procs_cpu_s in the JSON.")
    for t in tools:
        for rep, kv in sorted(extra.get(t, {}).items()):
            bits = []
            if "failed" in kv:
                bits.append(f"FAILED ({kv['failed']})")
            if "verify" in kv:
                bits.append(f"restore verify: {kv['verify']}")
            if "restore-sync-seconds" in kv:
                bits.append(f"sync after restore: {kv['restore-sync-seconds']} s")
            if bits:
                notes.append(f"- {t} run {rep}: " + "; ".join(bits))
    if notes:
        w("\n".join(notes) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
