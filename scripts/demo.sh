#!/usr/bin/env bash
# The main job on embedded defaults: create a local repository, back up a
# sample tree, list snapshots, restore, compare, and check the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
CAIRN=${CAIRN:-$PWD/build/cairn}
WORK=${CAIRN_DEMO_DIR:-$(mktemp -d /tmp/cairn-demo.XXXXXX)}
export CAIRN_PASSWORD=${CAIRN_PASSWORD:-cairn-demo-password}
REPO=$WORK/repository
SRC=$WORK/sample

step() { printf '\n== %s\n' "$*"; }

step "preparing a sample tree in $SRC"
mkdir -p "$SRC/docs" "$SRC/data/nested" "$SRC/empty"
for i in $(seq 1 50); do printf 'line %d of a small text file\n' $(seq 1 200) > "$SRC/docs/note-$i.txt"; done
head -c 5000000 /dev/urandom > "$SRC/data/random.bin"
cp "$SRC/data/random.bin" "$SRC/data/nested/duplicate.bin"
ln -sf ../docs/note-1.txt "$SRC/data/link-to-note"
du -sh "$SRC"

step "cairn repo init"
"$CAIRN" repo init --repo "$REPO"
step "cairn repo backup (first)"
"$CAIRN" repo backup --repo "$REPO" --tag demo "$SRC"
echo "one more line" >> "$SRC/docs/note-1.txt"
step "cairn repo backup (after a change: only new data is stored)"
"$CAIRN" repo backup --repo "$REPO" --tag demo "$SRC"
step "cairn repo snapshots"
"$CAIRN" repo snapshots --repo "$REPO"
step "cairn repo restore latest"
"$CAIRN" repo restore --repo "$REPO" latest --target "$WORK/restored"
diff -r "$SRC" "$WORK/restored$SRC" && echo "restored tree is identical to the source"
step "cairn repo check --read-data"
"$CAIRN" repo check --repo "$REPO" --read-data
step "cairn repo stats"
"$CAIRN" repo stats --repo "$REPO"
printf '\ndemo finished; everything is in %s\n' "$WORK"
