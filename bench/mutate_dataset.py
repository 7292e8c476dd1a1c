#!/usr/bin/env python3
"""Deterministic ~1% mutation of a dataset tree made by gen_dataset.py.

Applied to a pristine tree with the same --seed, it makes exactly the same
changes every time:

* overwrites a few small regions (1..64 KiB) in place in 3 of the largest files;
* appends text to 5 text files (~40% of the change budget);
* adds new files: a new directory with ~20 files and ~30 small files scattered
  over existing directories (~50% of the budget; fewer small ones on trees
  smaller than 1 GiB);
* rewrites the content of ~0.5% of the small files;
* deletes 10 files (<= 1 MiB each) and one small leaf directory;
* touches (mtime only, content unchanged) ~2% of the small files.

The budget is --percent (default 1) of the tree's bytes.  Every change is
printed; -v also lists touched and rewritten small files.  Changed files get
fixed, deterministic mtimes.  Meant to be applied once to a fresh copy of the
generated tree (applying it twice changes the tree again).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_dataset import BASE_MTIME, KIB, MIB, YEAR, TextGen  # noqa: E402

MUT_MTIME = BASE_MTIME + 2 * YEAR  # 2025-01-01, later than any generated mtime
TEXT_SUFFIXES = (".txt", ".md", ".log", ".csv", ".json", ".xml", ".html", ".cfg", ".c", ".h", ".py", ".rs", ".go")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("target", help="dataset directory to mutate in place")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("--percent", type=float, default=1.0, help="share of tree bytes to change (default 1)")
    ap.add_argument("-v", "--verbose", action="store_true", help="list every touched/rewritten small file")
    a = ap.parse_args()

    root = os.path.abspath(a.target)
    if not os.path.isdir(root):
        print(f"mutate_dataset: {root} is not a directory", file=sys.stderr)
        return 2
    if not os.path.exists(os.path.join(root, "DATASET.txt")):
        print(f"mutate_dataset: warning: {root}/DATASET.txt missing; not a gen_dataset.py tree?", file=sys.stderr)

    files: list[tuple[str, int]] = []
    dirs: list[str] = []
    for dp, dn, fn in os.walk(root):
        dn.sort()
        rel_dir = os.path.relpath(dp, root)
        if rel_dir != ".":
            dirs.append(rel_dir)
        for f in fn:
            rel = f if rel_dir == "." else f"{rel_dir}/{f}"
            st = os.lstat(os.path.join(root, rel))
            files.append((rel, st.st_size))
    files.sort()
    dirs.sort()
    files = [(p, s) for p, s in files if p != "DATASET.txt"]
    if len(files) < 50:
        print("mutate_dataset: tree too small (need at least 50 files)", file=sys.stderr)
        return 2
    total = sum(s for _, s in files)
    budget = int(total * a.percent / 100)
    seed = str(a.seed)
    r = random.Random(f"{seed}:mutate")
    tg = TextGen(seed)
    tick = [0]
    touched_dirs: set[str] = set()

    def mtime() -> int:
        tick[0] += 1
        return MUT_MTIME + tick[0] * 7

    def stamp(rel: str) -> None:
        t = mtime()
        os.utime(os.path.join(root, rel), (t, t))

    changed = {"inplace": 0, "appended": 0, "new": 0, "rewritten": 0, "deleted": 0}
    counts = {"modified": 0, "appended": 0, "new": 0, "rewritten": 0, "deleted": 0, "touched": 0}
    reserved: set[str] = set()

    # 1. in-place overwrites in 3 of the 20 largest files
    largest = sorted(files, key=lambda x: (-x[1], x[0]))[:20]
    for rel, size in r.sample(largest, 3):
        reserved.add(rel)
        regions = []
        with open(os.path.join(root, rel), "r+b") as f:
            for _ in range(4):
                k = min(size, r.randint(1 * KIB, 64 * KIB))
                off = r.randrange(0, size - k + 1)
                f.seek(off)
                f.write(r.randbytes(k))
                regions.append(f"{k}@{off}")
                changed["inplace"] += k
        stamp(rel)
        counts["modified"] += 1
        print(f"modify   {rel}  ({size} bytes; overwrote {', '.join(regions)})")

    # 2. appends to 5 text files bigger than 64 KiB
    cands = [(p, s) for p, s in files if p.endswith(TEXT_SUFFIXES) and s > 64 * KIB and p not in reserved]
    per = max(1, int(budget * 0.4) // 5)
    for rel, size in r.sample(cands, min(5, len(cands))):
        reserved.add(rel)
        k = r.randint(per // 2, per * 3 // 2)
        with open(os.path.join(root, rel), "ab") as f:
            f.write(tg.bytes(r, k))
        stamp(rel)
        changed["appended"] += k
        counts["appended"] += 1
        print(f"append   {rel}  (+{k} bytes to {size})")

    # 3. new files: one new directory plus scattered small files
    new_budget = int(budget * 0.5)
    parent = r.choice([d for d in dirs if d.count("/") <= 2])
    newdir = f"{parent}/new-{tg.words[r.randrange(len(tg.words))]}"
    os.makedirs(os.path.join(root, newdir), exist_ok=True)
    touched_dirs.update([newdir, parent])
    new_files: list[tuple[str, bytes]] = []
    big = new_budget // 2
    new_files.append((f"{newdir}/blob.bin", r.randbytes(big)))
    for i in range(4):
        new_files.append((f"{newdir}/notes-{i}.txt", tg.bytes(r, new_budget // 12)))
    frac = min(1.0, total / (1 << 30))  # fewer small new files on smaller trees
    n_dir_small = max(3, round(15 * frac))
    n_scatter = max(5, round(30 * frac))
    for i in range(n_dir_small):
        new_files.append((f"{newdir}/file-{i:02d}.txt", tg.bytes(r, r.randint(200, 8 * KIB))))
    for i in range(n_scatter):
        d = r.choice(dirs)
        touched_dirs.add(d)
        ext = r.choice([".txt", ".md", ".json", ".bin"])
        data = r.randbytes(r.randint(100, 16 * KIB)) if ext == ".bin" else tg.bytes(r, r.randint(100, 16 * KIB))
        new_files.append((f"{d}/added-{i:02d}{ext}", data))
    for rel, data in new_files:
        with open(os.path.join(root, rel), "wb") as f:
            f.write(data)
        os.chmod(os.path.join(root, rel), 0o644)
        stamp(rel)
        reserved.add(rel)
        changed["new"] += len(data)
        counts["new"] += 1
    print(f"new      {counts['new']} files, {changed['new']} bytes ({len(new_files) - n_scatter} in new dir {newdir}/, "
          f"{n_scatter} scattered as added-NN.*)")

    # 4. rewrite ~0.5% of small files, touch ~2% of them
    small = [(p, s) for p, s in files if s <= 16 * KIB and p not in reserved]
    picks = r.sample(small, max(2, len(small) // 40))
    nrewrite = max(1, len(picks) // 5)
    for rel, size in picks[:nrewrite]:
        full = os.path.join(root, rel)
        k = max(1, size + r.randint(-size // 4, size // 4))
        data = tg.bytes(r, k) if rel.endswith(TEXT_SUFFIXES) else r.randbytes(k)
        with open(full, "wb") as f:
            f.write(data)
        stamp(rel)
        reserved.add(rel)
        changed["rewritten"] += k
        counts["rewritten"] += 1
        if a.verbose:
            print(f"rewrite  {rel}  ({size} -> {k} bytes)")
    for rel, _ in picks[nrewrite:]:
        stamp(rel)
        reserved.add(rel)
        counts["touched"] += 1
        if a.verbose:
            print(f"touch    {rel}")
    print(f"rewrite  {counts['rewritten']} small files ({changed['rewritten']} bytes)")
    print(f"touch    {counts['touched']} small files (mtime only)")

    # 5. delete 10 files and one small leaf directory
    deletable = [(p, s) for p, s in files if p not in reserved and s <= MIB]
    for rel, size in r.sample(deletable, 10):
        os.unlink(os.path.join(root, rel))
        touched_dirs.add(os.path.dirname(rel))
        changed["deleted"] += size
        counts["deleted"] += 1
        print(f"delete   {rel}  ({size} bytes)")
    has_sub = {os.path.dirname(d) for d in dirs}
    leaves = []
    for d in dirs:
        if d in has_sub or d in touched_dirs or not os.path.isdir(os.path.join(root, d)):
            continue
        names = os.listdir(os.path.join(root, d))
        if 2 <= len(names) <= 10 and not any(f"{d}/{n}" in reserved for n in names):
            leaves.append(d)
    if leaves:
        d = r.choice(leaves)
        n = len(os.listdir(os.path.join(root, d)))
        sz = sum(os.lstat(os.path.join(root, d, x)).st_size for x in os.listdir(os.path.join(root, d)))
        shutil.rmtree(os.path.join(root, d))
        touched_dirs.add(os.path.dirname(d))
        changed["deleted"] += sz
        counts["deleted"] += n
        print(f"rmdir    {d}/  ({n} files, {sz} bytes)")

    for d in sorted(touched_dirs):
        full = os.path.join(root, d)
        if os.path.isdir(full):
            os.utime(full, (MUT_MTIME, MUT_MTIME))

    written = changed["inplace"] + changed["appended"] + changed["new"] + changed["rewritten"]
    print(f"summary: {counts['modified']} modified in place ({changed['inplace']} B), "
          f"{counts['appended']} appended ({changed['appended']} B), {counts['new']} new ({changed['new']} B), "
          f"{counts['rewritten']} rewritten ({changed['rewritten']} B), {counts['deleted']} deleted "
          f"({changed['deleted']} B), {counts['touched']} touched; "
          f"{written} bytes written = {100.0 * written / total:.2f}% of {total} tree bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
