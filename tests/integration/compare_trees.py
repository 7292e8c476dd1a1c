#!/usr/bin/env python3
"""Compare two directory trees for a faithful backup/restore round trip.

Usage: compare_trees.py [options] SRC DST

For every path under SRC and DST (including the roots themselves) checks:
type, permission bits (incl. setuid/setgid/sticky), uid/gid, mtime (ns),
size, content, symlink target, rdev of device nodes, extended attributes, and
that hardlink groups (paths sharing an inode) are the same on both sides.

Content of regular files is compared by a hole-aware canonical digest: the
file is cut into fixed 64 KiB blocks on a global grid, all-zero blocks are
skipped and every other block is hashed with its offset. SEEK_DATA/SEEK_HOLE
let us jump over holes, so a 4 GiB sparse file costs only its data regions,
and the digest is the same whatever the hole layout on either side.

Options:
  --sparse REL      REL (relative to the roots) must be sparse in DST: its
                    allocated bytes must be < 1% of its size (and < 64 MiB).
  --ignore REL      skip REL (and everything under it) on both sides.
  --no-root-meta    do not compare the metadata of the two roots themselves.
  --skip FIELD      do not compare FIELD (mode, owner, mtime, mtime_symlink,
                    mtime_dir, xattrs, hardlinks, rdev).
  --max-report N    print at most N mismatches (default 60).

Exit 0 when identical, 1 on any mismatch (each printed on stdout as
'MISMATCH <path>: <what>: expected <src> got <dst>'), 2 on usage errors.
"""
import argparse
import errno
import hashlib
import os
import stat
import sys

BLOCK = 64 * 1024
ZERO = bytes(BLOCK)


def kind(mode):
    for test, name in ((stat.S_ISREG, "file"), (stat.S_ISDIR, "dir"), (stat.S_ISLNK, "symlink"),
                       (stat.S_ISFIFO, "fifo"), (stat.S_ISCHR, "chardev"), (stat.S_ISBLK, "blockdev"),
                       (stat.S_ISSOCK, "socket")):
        if test(mode):
            return name
    return "unknown"


def content_digest(path, size):
    """Hole-aware canonical digest of a regular file's logical content."""
    h = hashlib.sha256()
    h.update(b"size:%d\n" % size)
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        pos = 0
        while pos < size:
            try:
                data = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError as e:
                if e.errno == errno.ENXIO:  # only a hole remains
                    break
                if e.errno == errno.EINVAL:  # SEEK_DATA unsupported: read everything
                    data = pos
                else:
                    raise
            try:
                hole = os.lseek(fd, data, os.SEEK_HOLE)
            except OSError:
                hole = size
            start = (data // BLOCK) * BLOCK
            end = min(size, -(-hole // BLOCK) * BLOCK)
            off = start
            while off < end:
                n = min(BLOCK, size - off)
                buf = os.pread(fd, n, off)
                if len(buf) != n:
                    raise OSError(errno.EIO, "short read at %d of %s" % (off, path))
                if buf != ZERO[:n]:
                    h.update(b"@%d:" % off)
                    h.update(buf)
                off += BLOCK
            pos = max(end, pos + 1)
    finally:
        os.close(fd)
    return h.hexdigest()


def xattrs(path):
    out = {}
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError as e:
        if e.errno in (errno.ENOTSUP, errno.EPERM):
            return out
        raise
    for n in names:
        if n == "security.selinux":
            continue
        try:
            out[n] = os.getxattr(path, n, follow_symlinks=False)
        except OSError as e:
            out[n] = "<error %s>" % e.strerror
    return out


def walk(root, ignore):
    """Return {relpath: lstat} for root and everything under it."""
    entries = {}

    def rec(rel):
        full = os.path.join(root, rel) if rel else root
        st = os.lstat(full)
        entries[rel or "."] = st
        if stat.S_ISDIR(st.st_mode):
            for name in sorted(os.listdir(full)):
                child = os.path.join(rel, name) if rel else name
                if any(child == i or child.startswith(i + "/") for i in ignore):
                    continue
                rec(child)

    rec("")
    return entries


def hardlink_groups(root, entries):
    groups = {}
    for rel, st in entries.items():
        if stat.S_ISDIR(st.st_mode):
            continue
        groups.setdefault((st.st_dev, st.st_ino), []).append(rel)
    return sorted(sorted(g) for g in groups.values() if len(g) > 1)


def main():
    ap = argparse.ArgumentParser(add_help=True)
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--sparse", action="append", default=[])
    ap.add_argument("--ignore", action="append", default=[])
    ap.add_argument("--skip", action="append", default=[])
    ap.add_argument("--no-root-meta", action="store_true")
    ap.add_argument("--max-report", type=int, default=60)
    args = ap.parse_args()
    skip = set(args.skip)
    ignore = [i.strip("/") for i in args.ignore]

    for d in (args.src, args.dst):
        if not os.path.isdir(d):
            print("MISMATCH %s: not a directory" % d)
            return 1

    src = walk(args.src, ignore)
    dst = walk(args.dst, ignore)
    problems = []

    def bad(rel, what, exp, got):
        problems.append("MISMATCH %r: %s: expected %r got %r" % (rel, what, exp, got))

    for rel in sorted(set(src) - set(dst)):
        problems.append("MISMATCH %r: missing in restored tree (type %s)" % (rel, kind(src[rel].st_mode)))
    for rel in sorted(set(dst) - set(src)):
        problems.append("MISMATCH %r: unexpected extra path in restored tree (type %s)" % (rel, kind(dst[rel].st_mode)))

    checked = 0
    for rel in sorted(set(src) & set(dst)):
        a, b = src[rel], dst[rel]
        pa = os.path.join(args.src, rel)
        pb = os.path.join(args.dst, rel)
        ka, kb = kind(a.st_mode), kind(b.st_mode)
        checked += 1
        if ka != kb:
            bad(rel, "type", ka, kb)
            continue
        is_root = rel == "."
        if not (is_root and args.no_root_meta):
            if "mode" not in skip and ka != "symlink" and stat.S_IMODE(a.st_mode) != stat.S_IMODE(b.st_mode):
                bad(rel, "mode", oct(stat.S_IMODE(a.st_mode)), oct(stat.S_IMODE(b.st_mode)))
            if "owner" not in skip and (a.st_uid, a.st_gid) != (b.st_uid, b.st_gid):
                bad(rel, "uid:gid", "%d:%d" % (a.st_uid, a.st_gid), "%d:%d" % (b.st_uid, b.st_gid))
            want_mtime = "mtime" not in skip
            if ka == "symlink" and "mtime_symlink" in skip:
                want_mtime = False
            if ka == "dir" and "mtime_dir" in skip:
                want_mtime = False
            if want_mtime and a.st_mtime_ns != b.st_mtime_ns:
                bad(rel, "mtime_ns", a.st_mtime_ns, b.st_mtime_ns)
            if "xattrs" not in skip:
                xa, xb = xattrs(pa), xattrs(pb)
                if xa != xb:
                    bad(rel, "xattrs", xa, xb)
        if ka == "file":
            if a.st_size != b.st_size:
                bad(rel, "size", a.st_size, b.st_size)
            else:
                da, db = content_digest(pa, a.st_size), content_digest(pb, b.st_size)
                if da != db:
                    bad(rel, "content digest", da[:16], db[:16])
        elif ka == "symlink":
            ta, tb = os.readlink(pa), os.readlink(pb)
            if ta != tb:
                bad(rel, "symlink target", ta, tb)
        elif ka in ("chardev", "blockdev") and "rdev" not in skip:
            if a.st_rdev != b.st_rdev:
                bad(rel, "rdev", "%d:%d" % (os.major(a.st_rdev), os.minor(a.st_rdev)),
                    "%d:%d" % (os.major(b.st_rdev), os.minor(b.st_rdev)))

    if "hardlinks" not in skip:
        ga, gb = hardlink_groups(args.src, src), hardlink_groups(args.dst, dst)
        if ga != gb:
            problems.append("MISMATCH hardlink groups: expected %r got %r" % (ga, gb))

    for rel in args.sparse:
        rel = rel.strip("/")
        p = os.path.join(args.dst, rel)
        try:
            st = os.lstat(p)
        except OSError as e:
            problems.append("MISMATCH %r: sparse file missing in restored tree (%s)" % (rel, e.strerror))
            continue
        alloc = st.st_blocks * 512
        if not (alloc * 100 < st.st_size and alloc < 64 * 1024 * 1024):
            problems.append("MISMATCH %r: restored file is not sparse: %d bytes allocated for size %d"
                            % (rel, alloc, st.st_size))

    for line in problems[: args.max_report]:
        print(line)
    if len(problems) > args.max_report:
        print("... and %d more mismatches" % (len(problems) - args.max_report))
    if problems:
        print("compare_trees: %d mismatches (%d paths compared)" % (len(problems), checked))
        return 1
    print("compare_trees: identical (%d paths compared)" % checked)
    return 0


if __name__ == "__main__":
    sys.exit(main())
