#!/usr/bin/env python3
"""Deterministic benchmark dataset generator for Cairn / restic / borg comparisons.

Writes a tree of about --size-mib MiB (default 1024) into an empty or missing
target directory.  With the same --size-mib and --seed the tree is byte-for-byte
identical on every run and machine (content, names, modes and mtimes); the
"tree digest" printed at the end lets you check that.

What the tree holds (figures for the default 1 GiB, everything scales with
--size-mib):

* ~68k small files (64 B .. 16 KiB, log-uniform) in ~3.4k nested directories
  up to 5 levels deep; ~80% text-like, ~20% random bytes;
* text-like medium files (16 KiB .. 4 MiB) and a few large ones (12/24/40 MiB);
  the text is word-based and compresses about 3.5-4x with zstd -3 (less for
  small files), about 1.5x with lz4;
* incompressible medium binaries (16 KiB .. 8 MiB) and large ones (40/64/100 MiB);
* exact duplicates: ~2% of the small files copied elsewhere, a whole directory
  copied, a dozen medium files and the 24 MiB text file duplicated;
* files sharing large regions with other files: a 20 MiB image and a copy with
  4 KiB inserted at the start and 3 KiB in the middle, a rotated log pair, and
  a text document with a few dozen small edits.

Text is produced by mapping random 16-bit values onto a fixed table of phrases
(block reuse), so generation runs at >100 MiB/s without per-word Python loops.
Every random choice comes from random.Random seeded with a string derived
from --seed (seeding with str is stable across platforms and Python >= 3.2;
randbytes needs Python >= 3.9).
"""

from __future__ import annotations

import argparse
import array
import hashlib
import math
import os
import random
import sys
import time

BASE_MTIME = 1672531200  # 2023-01-01T00:00:00Z
YEAR = 365 * 86400
CHUNK = 4 << 20  # write large files in 4 MiB pieces
MIB = 1 << 20
KIB = 1 << 10

TEXT_EXT = [".txt", ".md", ".c", ".h", ".py", ".json", ".csv", ".xml", ".html", ".cfg", ".rs", ".go"]
BIN_EXT = [".bin", ".dat", ".jpg", ".png", ".gz", ".zip", ".o", ".pdf", ".mp3", ".db"]
TOP_DIRS = ["home", "projects", "media", "docs", "var", "archive", "shared", "build"]
MAX_DEPTH = 5


class TextGen:
    """Word-based pseudo-text, compressible about 3.5-4x with zstd -3."""

    def __init__(self, seed: str):
        r = random.Random(f"{seed}:vocab")
        cons = "b c d f g h k l m n p r s t v w th st ch sh tr pr gr br".split()
        vows = "a e i o u ea ou io ai".split()
        tails = ["", "", "n", "s", "r", "t", "l", "nd", "st"]
        seen: set[str] = set()
        words: list[str] = []
        while len(words) < 4000:
            ns = r.choice([1, 1, 2, 2, 2, 3, 3, 4])
            w = "".join(r.choice(cons) + r.choice(vows) for _ in range(ns)) + r.choice(tails)
            if w not in seen:
                seen.add(w)
                words.append(w)
        keyed = [(len(w) + r.random() * 6, w) for w in words]
        keyed.sort()
        words = [w for _, w in keyed]
        self.words = words
        cum, acc = [], 0.0
        for i in range(len(words)):
            acc += 1.0 / (i + 1)
            cum.append(acc)
        phrases: list[bytes] = []
        for _ in range(40000):
            ph = r.choices(words, cum_weights=cum, k=r.randint(1, 6))
            x = r.random()
            end = ". " if x < 0.12 else ".\n" if x < 0.18 else ", " if x < 0.30 else " "
            phrases.append((" ".join(ph) + end).encode())
        cum2, acc = [], 0.0
        for i in range(len(phrases)):
            acc += 1.0 / (i + 1) ** 0.6
            cum2.append(acc)
        self.table = r.choices(phrases, cum_weights=cum2, k=65536)
        self.avg = sum(map(len, self.table)) / len(self.table)
        self.swap = sys.byteorder == "big"

    def _piece(self, rng: random.Random, n: int) -> bytes:
        """About n bytes (at least n) of text."""
        count = int(n / self.avg * 1.05) + 8
        idx = array.array("H")
        idx.frombytes(rng.randbytes(2 * count))
        if self.swap:
            idx.byteswap()
        out = b"".join(map(self.table.__getitem__, idx))
        while len(out) < n:  # rare: short draw
            out += self._piece(rng, n - len(out))
        return out

    def bytes(self, rng: random.Random, n: int) -> bytes:
        return self._piece(rng, n)[:n]

    def chunks(self, rng: random.Random, n: int):
        left = n
        while left > 0:
            k = min(CHUNK, left)
            yield self.bytes(rng, k)
            left -= k

    def log_lines(self, rng: random.Random, n: int, start_ts: int) -> bytes:
        """Log-like lines with increasing timestamps, exactly n bytes."""
        levels = ["INFO", "INFO", "INFO", "DEBUG", "DEBUG", "WARN", "ERROR"]
        comps = self.words[:40]
        out: list[bytes] = []
        size, ts = 0, start_ts
        while size < n:
            ts += rng.randrange(0, 4000)
            body = self.table[rng.getrandbits(16)] + self.table[rng.getrandbits(16)]
            line = b"%d.%03d %s [%s] %s\n" % (
                ts // 1000, ts % 1000, levels[rng.getrandbits(16) % len(levels)].encode(),
                comps[rng.getrandbits(16) % len(comps)].encode(), body.strip())
            out.append(line)
            size += len(line)
        return b"".join(out)[:n]


def random_chunks(rng: random.Random, n: int):
    left = n
    while left > 0:
        k = min(CHUNK, left)
        yield rng.randbytes(k)
        left -= k


def log_uniform(rng: random.Random, lo: int, hi: int) -> int:
    return int(math.exp(rng.uniform(math.log(lo), math.log(hi))))


class Tree:
    def __init__(self, root: str, seed: str, scale: float, textgen: TextGen):
        self.root = root
        self.seed = seed
        self.tg = textgen
        self.rng = random.Random(f"{seed}:tree")
        self.dirs: list[tuple[str, int]] = []  # (relpath, depth)
        self.used: set[str] = set()
        self.files: dict[str, int] = {}  # relpath -> size
        self.digests: dict[str, bytes] = {}
        self.stats: dict[str, list[int]] = {}
        self._build_dirs(scale)

    # ---- names and directories -------------------------------------------------
    def word(self, r: random.Random) -> str:
        return self.tg.words[r.randrange(len(self.tg.words))]

    def _build_dirs(self, scale: float) -> None:
        r = self.rng
        for d in TOP_DIRS:
            self.dirs.append((d, 1))
            self.used.add(d)
        ndirs = max(len(TOP_DIRS) * 3, int(3400 * scale))
        while len(self.dirs) < ndirs:
            parent, depth = self.dirs[r.randrange(len(self.dirs))]
            if depth >= MAX_DEPTH:
                continue
            name = self.word(r)
            if r.random() < 0.3:
                name += "_" + self.word(r)
            path = f"{parent}/{name}"
            if path in self.used:
                continue
            self.used.add(path)
            self.dirs.append((path, depth + 1))
        for d, _ in self.dirs:
            os.makedirs(os.path.join(self.root, d), exist_ok=True)

    def new_path(self, r: random.Random, ext: str, dirpath: str | None = None) -> str:
        if dirpath is None:
            dirpath = self.dirs[r.randrange(len(self.dirs))][0]
        base = self.word(r)
        if r.random() < 0.5:
            base += r.choice(["_", "-", "."]) + self.word(r)
        path = f"{dirpath}/{base}{ext}"
        k = 1
        while path in self.used:
            k += 1
            path = f"{dirpath}/{base}-{k}{ext}"
        self.used.add(path)
        return path

    # ---- writing -----------------------------------------------------------------
    def write(self, rel: str, pieces, category: str, r: random.Random, mode: int = 0o644) -> int:
        full = os.path.join(self.root, rel)
        h = hashlib.sha256()
        n = 0
        with open(full, "wb") as f:
            for p in pieces:
                f.write(p)
                h.update(p)
                n += len(p)
        os.chmod(full, mode)
        mt = BASE_MTIME + r.randrange(YEAR)
        os.utime(full, (mt, mt))
        self.files[rel] = n
        self.digests[rel] = h.digest()
        st = self.stats.setdefault(category, [0, 0])
        st[0] += 1
        st[1] += n
        return n

    def read(self, rel: str) -> bytes:
        with open(os.path.join(self.root, rel), "rb") as f:
            return f.read()

    def copy(self, src: str, dst: str, category: str, r: random.Random) -> None:
        data = self.read(src)
        self.write(dst, [data], category, r)

    def finish_dirs(self) -> None:
        r = random.Random(f"{self.seed}:dirtimes")
        for d, _ in sorted(self.dirs, key=lambda x: -x[1]):
            full = os.path.join(self.root, d)
            os.chmod(full, 0o755)
            mt = BASE_MTIME + YEAR + r.randrange(86400)
            os.utime(full, (mt, mt))
        os.chmod(self.root, 0o755)
        os.utime(self.root, (BASE_MTIME + YEAR + 86400,) * 2)

    def tree_digest(self) -> str:
        h = hashlib.sha256()
        for rel in sorted(self.digests):
            h.update(rel.encode() + b"\0" + self.digests[rel])
        return h.hexdigest()


def generate(target: str, size_mib: int, seed: int, quiet: bool = False) -> dict:
    t0 = time.time()
    scale = size_mib / 1024.0
    total_target = size_mib * MIB
    s = str(seed)
    tg = TextGen(s)
    tree = Tree(target, s, scale, tg)

    def sc(nominal_mib: float) -> int:
        return max(64 * KIB, int(nominal_mib * MIB * scale))

    def log(msg: str) -> None:
        if not quiet:
            print(f"[{time.time() - t0:6.1f}s] {msg}", flush=True)

    # Marker/readme at the root (lets the harness find the tree inside restore dirs).
    rr = random.Random(f"{s}:readme")
    readme = (f"Cairn benchmark dataset\nsize_mib={size_mib}\nseed={seed}\n"
              "Generated by bench/gen_dataset.py; do not edit.\n").encode()
    tree.used.add("DATASET.txt")
    tree.write("DATASET.txt", [readme], "marker", rr)

    # 1. small files ----------------------------------------------------------------
    r = random.Random(f"{s}:small")
    nsmall = max(50, int(68200 * scale))
    small: list[str] = []
    for _ in range(nsmall):
        size = log_uniform(r, 64, 16 * KIB)
        if r.random() < 0.8:
            ext = r.choice(TEXT_EXT)
            rel = tree.new_path(r, ext)
            mode = 0o755 if ext == ".py" and r.random() < 0.3 else 0o644
            tree.write(rel, [tg.bytes(r, size)], "small-text", r, mode)
        else:
            rel = tree.new_path(r, r.choice(BIN_EXT))
            tree.write(rel, [r.randbytes(size)], "small-binary", r)
        small.append(rel)
    log(f"small files: {nsmall}")

    # 2. large files (fixed list, scaled) -------------------------------------------
    r = random.Random(f"{s}:large")
    large_text = []
    for nominal in (40, 24, 12):
        rel = tree.new_path(r, ".txt", r.choice(["docs", "archive", "shared"]))
        tree.write(rel, tg.chunks(r, sc(nominal)), "large-text", r)
        large_text.append(rel)
    large_bin = []
    for nominal in (100, 64, 40):
        rel = tree.new_path(r, r.choice([".iso", ".tar.zst", ".mkv"]), r.choice(["media", "archive", "var"]))
        tree.write(rel, random_chunks(r, sc(nominal)), "large-binary", r)
        large_bin.append(rel)
    log("large files")

    # 3. files sharing large regions with other files --------------------------------
    r = random.Random(f"{s}:shared")
    # 3a. image with insertions at the start and in the middle
    n = sc(20)
    blocks = []
    left = n
    while left > 0:  # mixed: 60% random, 40% text, in 1 MiB blocks
        k = min(MIB, left)
        blocks.append(r.randbytes(k) if r.random() < 0.6 else tg.bytes(r, k))
        left -= k
    img = b"".join(blocks)
    d = "var/images"
    tree.dirs.append((d, 2))
    tree.used.add(d)
    os.makedirs(os.path.join(target, d), exist_ok=True)
    tree.used.update([f"{d}/disk.img", f"{d}/disk-v2.img"])
    tree.write(f"{d}/disk.img", [img], "shared-region", r)
    mid = len(img) // 2
    tree.write(f"{d}/disk-v2.img", [r.randbytes(4 * KIB), img[:mid], r.randbytes(3 * KIB), img[mid:]],
               "shared-region", r)
    del img, blocks
    # 3b. rotated log: app.log.1 = old log; app.log = its last 3/4 plus new lines
    n = sc(16)
    old = tg.log_lines(r, n, 1672531200000)
    new = tg.log_lines(r, n // 4, 1700000000000)
    d = "var/log"
    tree.dirs.append((d, 2))
    tree.used.add(d)
    os.makedirs(os.path.join(target, d), exist_ok=True)
    tree.used.update([f"{d}/app.log.1", f"{d}/app.log"])
    tree.write(f"{d}/app.log.1", [old], "shared-region", r)
    tree.write(f"{d}/app.log", [old[n // 4:], new], "shared-region", r)
    del old, new
    # 3c. text document with a few dozen small scattered edits
    n = sc(8)
    doc = bytearray(tg.bytes(r, n))
    draft = tree.new_path(r, ".txt", "docs")
    final = draft[:-4] + "-final.txt"
    tree.used.add(final)
    tree.write(draft, [bytes(doc)], "shared-region", r)
    for _ in range(40):
        pos = r.randrange(len(doc))
        op = r.random()
        if op < 0.4:
            doc[pos:pos] = tg.bytes(r, r.randint(1, 200))
        elif op < 0.7:
            del doc[pos:pos + r.randint(1, 200)]
        else:
            k = r.randint(1, 200)
            doc[pos:pos + k] = tg.bytes(r, k)
    tree.write(final, [bytes(doc)], "shared-region", r)
    del doc
    log("shared-region files")

    # 4. exact duplicates ---------------------------------------------------------------
    r = random.Random(f"{s}:dups")
    for src in r.sample(small, max(5, len(small) // 50)):
        ext = os.path.splitext(src)[1]
        if r.random() < 0.5:  # same name, other directory
            dirpath = tree.dirs[r.randrange(len(tree.dirs))][0]
            dst = f"{dirpath}/{os.path.basename(src)}"
            if dst in tree.used:
                dst = tree.new_path(r, ext, dirpath)
            tree.used.add(dst)
        else:
            dst = tree.new_path(r, ext)
        tree.copy(src, dst, "duplicate-small", r)
    # a whole directory copied ("backup copy" of a folder)
    cands = sorted({os.path.dirname(p) for p in small})
    counts = {c: 0 for c in cands}
    for p in small:
        counts[os.path.dirname(p)] += 1
    want = max(3, int(40 * scale))
    srcdir = min(cands, key=lambda c: (abs(counts[c] - want), c))
    dstdir = srcdir + "-copy"
    tree.used.add(dstdir)
    tree.dirs.append((dstdir, srcdir.count("/") + 1))
    os.makedirs(os.path.join(target, dstdir), exist_ok=True)
    for p in sorted(x for x in small if os.path.dirname(x) == srcdir):
        dst = f"{dstdir}/{os.path.basename(p)}"
        tree.used.add(dst)
        tree.copy(p, dst, "duplicate-dir", r)
    tree.copy(large_text[1], tree.new_path(r, ".txt", "archive"), "duplicate-large", r)
    log("duplicates")

    # 5. medium files fill the remaining budget (60% text / 40% binary) ---------------
    used = sum(tree.files.values())
    dup_medium_budget = int(12 * MIB * scale)
    remaining = max(0, total_target - used - dup_medium_budget)
    r = random.Random(f"{s}:medium")
    medium: list[str] = []
    budget_text = int(remaining * 0.6)
    budget_bin = remaining - budget_text
    while budget_text > 0:
        size = min(budget_text, log_uniform(r, 16 * KIB, 4 * MIB))
        rel = tree.new_path(r, r.choice(TEXT_EXT + [".log", ".txt"]))
        tree.write(rel, tg.chunks(r, size), "medium-text", r)
        medium.append(rel)
        budget_text -= size
    while budget_bin > 0:
        size = min(budget_bin, log_uniform(r, 16 * KIB, 8 * MIB))
        rel = tree.new_path(r, r.choice(BIN_EXT))
        tree.write(rel, random_chunks(r, size), "medium-binary", r)
        medium.append(rel)
        budget_bin -= size
    # duplicates of medium files, up to their budget
    r = random.Random(f"{s}:dups-medium")
    budget = dup_medium_budget
    for src in r.sample(medium, len(medium)):
        if budget <= 0:
            break
        if tree.files[src] > budget:
            continue
        tree.copy(src, tree.new_path(r, os.path.splitext(src)[1]), "duplicate-medium", r)
        budget -= tree.files[src]
    log("medium files")

    tree.finish_dirs()
    total = sum(tree.files.values())
    info = {
        "target": target,
        "size_mib": size_mib,
        "seed": seed,
        "files": len(tree.files),
        "dirs": len(tree.dirs) + 1,
        "bytes": total,
        "tree_digest": tree.tree_digest(),
        "categories": {k: {"files": v[0], "bytes": v[1]} for k, v in sorted(tree.stats.items())},
        "seconds": round(time.time() - t0, 2),
    }
    return info


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("target", help="directory to create (must be missing or empty)")
    ap.add_argument("--size-mib", type=int, default=1024, help="approximate total size in MiB (default 1024)")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("--json", metavar="FILE", help="also write the summary as JSON to FILE")
    ap.add_argument("-q", "--quiet", action="store_true")
    a = ap.parse_args()
    if a.size_mib < 8:
        ap.error("--size-mib must be at least 8")
    if os.path.exists(a.target):
        if not os.path.isdir(a.target) or os.listdir(a.target):
            print(f"gen_dataset: {a.target} exists and is not an empty directory; refusing to write",
                  file=sys.stderr)
            return 2
    os.makedirs(a.target, exist_ok=True)
    old_umask = os.umask(0o022)
    try:
        info = generate(os.path.abspath(a.target), a.size_mib, a.seed, a.quiet)
    finally:
        os.umask(old_umask)
    print(f"dataset: {info['files']} files, {info['dirs']} dirs, {info['bytes']} bytes "
          f"({info['bytes'] / MIB:.1f} MiB) in {info['seconds']} s")
    for k, v in info["categories"].items():
        print(f"  {k:18s} {v['files']:7d} files {v['bytes'] / MIB:9.1f} MiB")
    print(f"tree digest: {info['tree_digest']}")
    if a.json:
        import json
        with open(a.json, "w") as f:
            json.dump(info, f, indent=2)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
