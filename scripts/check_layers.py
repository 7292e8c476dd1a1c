#!/usr/bin/env python3
"""Refuses an #include that points up the layer stack (docs/architecture.md).

Every source folder under src/ is a layer and every public header in
include/cairn/ belongs to one. A file may include headers of its own layer
and of the layers it is allowed to see (below it). Unit tests (*_test.cc),
fuzzers (*_fuzz.cc) and test helpers (*/testing/) may include anything: a
test of a lower layer may drive it through a higher one.

Usage: check_layers.py [SOURCE_DIR]; exit 1 with one line per violation.
"""
import os
import re
import sys

# layer -> layers it may include (besides itself); the closure is taken below.
ALLOWED = {
    "util": [],
    "crypto": ["util"],
    "chunker": ["util"],
    "storage": ["util"],
    "repo": ["storage", "crypto", "chunker", "policy"],
    "policy": ["util"],
    "engine": ["repo"],
    "sources": ["util", "crypto"],
    "targets": ["engine", "repo", "policy", "sources"],
    "config": ["targets", "sources", "policy"],
    "ops": ["config", "targets", "sources", "engine"],
    "daemon": ["ops"],
    "server": ["daemon", "ops"],
    "cli": ["server", "daemon", "ops"],
}

# Public headers and the layer that owns each.
HEADER_OWNER = {
    "status.h": "util", "bytes.h": "util", "system.h": "util", "context.h": "util", "clock.h": "util",
    "crypto.h": "crypto",
    "chunker.h": "chunker",
    "storage.h": "storage", "forwarding_storage.h": "storage",
    "repository.h": "repo", "format.h": "repo", "maintenance.h": "repo", "repair.h": "repo",
    "retention.h": "policy",
    "engine.h": "engine",
    "service.h": "sources",
    "target.h": "targets",
    "config.h": "config",
    "service_jobs.h": "ops", "ops.h": "ops", "progress.h": "util", "part.h": "util",
}


def closure(layer, seen=None):
    seen = seen if seen is not None else set()
    for dep in ALLOWED[layer]:
        if dep not in seen:
            seen.add(dep)
            closure(dep, seen)
    return seen


def owner_of_include(path):
    if path.startswith("cairn/"):
        return HEADER_OWNER.get(path[len("cairn/"):], "?")
    top = path.split("/")[0]
    return top if top in ALLOWED else None


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    include_re = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
    problems = []
    files = []
    for base, _, names in os.walk(os.path.join(root, "src")):
        for name in names:
            if name.endswith((".cc", ".h")):
                files.append(os.path.join(base, name))
    for name in os.listdir(os.path.join(root, "include", "cairn")):
        files.append(os.path.join(root, "include", "cairn", name))
    for path in sorted(files):
        rel = os.path.relpath(path, root)
        if rel.endswith(("_test.cc", "_fuzz.cc")) or "/testing/" in rel:
            continue
        if rel.startswith("include/"):
            layer = HEADER_OWNER.get(os.path.basename(rel))
            if layer is None:
                problems.append(f"{rel}: public header not assigned to a layer in scripts/check_layers.py")
                continue
        else:
            layer = rel.split("/")[1]
            if layer not in ALLOWED:
                problems.append(f"{rel}: folder src/{layer} is not a layer in scripts/check_layers.py")
                continue
        visible = closure(layer) | {layer}
        with open(path, encoding="utf-8", errors="replace") as f:
            for number, line in enumerate(f, 1):
                m = include_re.match(line)
                if not m:
                    continue
                target = owner_of_include(m.group(1))
                if target is None:
                    continue
                if target == "?":
                    problems.append(f"{rel}:{number}: includes {m.group(1)}, a public header with no layer")
                elif target not in visible:
                    problems.append(f"{rel}:{number}: layer {layer} includes {m.group(1)} of layer {target}, "
                                    f"which it may not see")
    for p in problems:
        print(p)
    if problems:
        print(f"check_layers: {len(problems)} violation(s)")
        return 1
    print(f"check_layers: {len(files)} files, no upward includes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
