#!/usr/bin/env bash
# Round trip of a tree holding every kind of file through backup and restore,
# plus --include, dump, stdin backups, change detection (--json counters),
# --exclude, --tag/--host in `snapshots --json`, and check / check --read-data.
#
# Usage: bash test_roundtrip.sh /path/to/cairn      (needs root: mknod, chown)
source "$(dirname "$0")/lib.sh" "$@"

if [[ $(id -u) != 0 ]]; then
  die "this test needs root (device nodes, chown, setuid bits)"
fi

REPO="$TMP/repo"
SRC="$TMP/src"

# ---------------------------------------------------------------- build the tree
log "building source tree in $SRC"
mkdir -p "$SRC"
cd "$SRC"
: >empty0
printf 'x' >one
make_random random.bin $((1024 * 1024 + 123))
# 20 MiB of compressible text.
python3 - <<'EOF'
import itertools
with open("compressible.txt", "w") as f:
    n = 0
    for i in itertools.count():
        line = "line %08d: the quick brown fox jumps over the lazy dog %d\n" % (i, i % 97)
        f.write(line)
        n += len(line)
        if n >= 20 * 1024 * 1024:
            break
EOF
mkdir -p empty_dir nested/a/b/c nested/a/b/empty sub/deeper
echo "deep file" >nested/a/b/c/deep.txt
echo "inner" >sub/inner.txt
make_random sub/deeper/x.bin 65536
mkdir links
ln -s ../one links/rel
ln -s "$SRC/random.bin" links/abs
ln -s does/not/exist links/dangling
ln -s ../nested links/dirlink
# a group of 3 hardlinks across directories
mkdir hard
make_random hard/h1 100000
ln hard/h1 hard/h2
ln hard/h1 nested/h3
# special files
mkdir special
mkfifo special/fifo
mknod special/null c 1 3
mknod special/loopdev b 7 0
# 4 GiB sparse file with three data regions
truncate -s 4G sparse.img
dd if=/dev/urandom of=sparse.img bs=4096 count=1 conv=notrunc status=none
dd if=/dev/urandom of=sparse.img bs=1M count=1 seek=1024 conv=notrunc status=none
dd if=/dev/urandom of=sparse.img bs=1M count=1 seek=4095 conv=notrunc status=none
# odd names
mkdir names
echo utf8 >"names/ünïcödé-日本語-Ελληνικά.txt"
echo space >"names/with space.txt"
echo newline >"names/new"$'\n'"line"
echo dash >"names/-leading-dash"
echo tab >"names/tab"$'\t'"name"
echo quote >"names/quo'te\"s"
echo bs >"names/back\\slash"
echo long >"names/$(printf 'L%.0s' {1..250}).txt"
mkdir "names/dir with ümlaut"
# names that are not valid UTF-8 (Linux names are bytes)
echo latin1 >"names/caf"$'\xe9'".txt"
mkdir "names/dir"$'\xff\xfe' && echo inside >"names/dir"$'\xff\xfe'"/f"
echo inside >"names/dir with ümlaut/file"
# modes
mkdir modes
echo m0 >modes/m0000 && chmod 0000 modes/m0000
echo m755 >modes/m0755 && chmod 0755 modes/m0755
echo suid >modes/suid4755 && chmod 4755 modes/suid4755
echo sgid >modes/sgid2755 && chmod 2755 modes/sgid2755
mkdir modes/sticky1777 && chmod 1777 modes/sticky1777
echo in-sticky >modes/sticky1777/f
mkdir modes/d0700 && chmod 0700 modes/d0700
# directories whose mode forbids writing: restore must fill them before chmod
mkdir modes/d0000 && echo "in 0000 dir" >modes/d0000/f && chmod 0000 modes/d0000
mkdir modes/d0555 && echo "in 0555 dir" >modes/d0555/f && chmod 0555 modes/d0555
# owners
mkdir owners
echo numeric >owners/numeric && chown 12345:54321 owners/numeric
echo named >owners/nobody && chown nobody:nogroup owners/nobody
mkdir owners/dir12345 && chown 12345:54321 owners/dir12345
ln -s numeric owners/link12345 && chown -h 12345:54321 owners/link12345
# suid bit must be set after chown (chown clears it)
echo suid-other >owners/suid-other && chown 12345:54321 owners/suid-other && chmod 4750 owners/suid-other
# readable only by root
mkdir secret && chmod 0700 secret
echo "root only" >secret/root-only && chmod 0400 secret/root-only
# user xattrs (file, dir, binary value, empty value)
mkdir xattr
echo x >xattr/file
setfattr -n user.comment -v "hello world" xattr/file
setfattr -n user.binary -v 0x00ff10 xattr/file
setfattr -n user.empty xattr/file
setfattr -n user.dirattr -v "on a dir" xattr
# POSIX ACLs are system.posix_acl_* xattrs; compare_trees compares them too
if command -v setfacl >/dev/null; then
  echo acl >xattr/acl-file && setfacl -m u:nobody:r,g:12345:rw xattr/acl-file
  mkdir xattr/acl-dir && setfacl -d -m u:nobody:rx xattr/acl-dir
fi
# mtimes with nanoseconds, old and future; symlink mtime; dir mtimes last
touch -d "2001-02-03 04:05:06.123456789" random.bin
touch -d "1970-01-02 00:00:01.5" one
touch -d "2099-12-31 23:59:59.999999999" compressible.txt
touch -h -d "2005-05-05 05:05:05.555555555" links/rel
touch -d "2010-10-10 10:10:10.101010101" nested/a/b/c
touch -d "2011-11-11 11:11:11.111111111" nested/a/b nested/a nested empty_dir
cd /

# Counts used by the --json checks. Regular-file paths (hardlinks count per
# path) and all non-directory entries; a tool may count either as "files".
N_REG=$(find "$SRC" -type f -printf x | wc -c)      # (one name has a newline: count chars, not lines)
N_NONDIR=$(find "$SRC" ! -type d -printf x | wc -c)
log "tree: $N_REG regular file paths, $N_NONDIR non-directory entries"

files_count_ok() {  # files_count_ok VALUE -> VALUE is one of the acceptable counts
  [[ $1 == "$N_REG" || $1 == "$N_NONDIR" ]]
}

# ---------------------------------------------------------------- init + first backup
must_ok "repo init" repo init --repo "$REPO"
for f in config keys; do
  assert_exists "$REPO/$f" "repo layout after init has $f"
done

cx repo backup --repo "$REPO" --json --tag itest --tag second-tag --host itest-host "$SRC"
[[ $RC == 0 ]] || die "first backup (--json) of the full tree" "$(_rc_detail)"
ok "first backup (--json) of the full tree"
BK1=$OUT
if is_json "$BK1" && [[ $(json 'type(d).__name__' <<<"$BK1") == dict ]]; then
  ok "backup --json prints one JSON object"
else
  die "backup --json prints one JSON object" "got stdout:
$(_short "$BK1" 10)"
fi
for k in snapshot_id files_new files_changed files_unmodified bytes_read bytes_added; do
  assert_eq true "$(json "'$k' in d" <<<"$BK1")" "backup --json has field $k"
done
SNAP1=$(json 'd["snapshot_id"]' <<<"$BK1")
assert_match '^[0-9a-f]{64}$' "$SNAP1" "snapshot_id is 64 hex chars"
v=$(json 'd["files_new"]' <<<"$BK1")
if files_count_ok "$v"; then ok "first backup: files_new ($v) == number of files"; else
  fail "first backup: files_new == number of files" "expected $N_REG (regular) or $N_NONDIR (non-dir), got $v"; fi
assert_eq 0 "$(json 'd["files_changed"]' <<<"$BK1")" "first backup: files_changed == 0"
assert_eq 0 "$(json 'd["files_unmodified"]' <<<"$BK1")" "first backup: files_unmodified == 0"
BA1=$(json 'd["bytes_added"]' <<<"$BK1")
assert_lt $((3 * 1024 * 1024)) "$BA1" "first backup: bytes_added > 3 MiB (random data present)"
assert_match '^[0-9]+$' "$(json 'd["bytes_read"]' <<<"$BK1")" "first backup: bytes_read is a number"
# 20 MiB compressible + ~3.3 MiB random + 4 GiB mostly-zero sparse file:
# compression and deduplication must keep the packs well below the raw size.
assert_lt "$(data_bytes "$REPO")" $((16 * 1024 * 1024)) "first backup: pack files < 16 MiB (text compressed, sparse zeros deduplicated)"
assert_exists "$REPO/snapshots/$SNAP1" "snapshot file is snapshots/<snapshot_id>"
assert_lt 0 "$(find "$REPO/data" -type f 2>/dev/null | wc -l)" "pack files exist under data/"
assert_lt 0 "$(find "$REPO/index" -type f 2>/dev/null | wc -l)" "index files exist under index/"

# every object file is named by the SHA-256 of its content
bad_names=$(cd "$REPO" && find data index snapshots -type f | while read -r f; do
  [[ $(sha256sum "$f" | cut -d' ' -f1) == "$(basename "$f")" ]] || echo "$f"
done)
assert_eq "" "$bad_names" "every file under data/ index/ snapshots/ is named by its SHA-256"
bad_dirs=$(cd "$REPO" && find data -type f | awk -F/ '{ if (substr($3,1,2) != $2) print }')
assert_eq "" "$bad_dirs" "pack files live in data/<first 2 hex of their id>/"

# ---------------------------------------------------------------- snapshots --json
cx repo snapshots --repo "$REPO" --json
assert_rc 0 "snapshots --json"
SNAPS=$OUT
assert_eq 1 "$(json 'len(d)' <<<"$SNAPS")" "snapshots --json lists one snapshot"
assert_eq "$SNAP1" "$(json 'd[0]["id"]' <<<"$SNAPS")" "snapshots: id matches backup's snapshot_id"
sid=$(json 'd[0]["short_id"]' <<<"$SNAPS")
if [[ ${#sid} -ge 8 && $SNAP1 == "$sid"* ]]; then ok "snapshots: short_id is a prefix of id ($sid)"; else
  fail "snapshots: short_id is a prefix of id" "id $SNAP1, short_id $sid"; fi
assert_eq "[\"$SRC\"]" "$(json 'd[0]["paths"]' <<<"$SNAPS")" "snapshots: paths == [source absolute path]"
assert_eq true "$(json '"itest" in d[0]["tags"] and "second-tag" in d[0]["tags"]' <<<"$SNAPS")" "snapshots: --tag values present in tags"
assert_eq itest-host "$(json 'd[0]["host"]' <<<"$SNAPS")" "snapshots: --host value in host"
t=$(json 'd[0]["time"]' <<<"$SNAPS")
if python3 -c 'import sys,datetime; datetime.datetime.fromisoformat(sys.argv[1].replace("Z","+00:00"))' "$t" 2>/dev/null; then
  ok "snapshots: time is an ISO-8601 timestamp ($t)"; else fail "snapshots: time is an ISO-8601 timestamp" "got $t"; fi

# ---------------------------------------------------------------- full restore
R1="$TMP/restore1"
cx repo restore --repo "$REPO" "$SNAP1" --target "$R1"
assert_rc 0 "restore full snapshot to a fresh target"
if [[ -d $R1$SRC ]]; then
  ok "restore puts the tree at TARGET/<absolute source path>"
  compare_trees "restored tree is identical (type, mode, owner, mtime, content, links, rdev, xattrs, hardlinks, sparseness)" \
    "$SRC" "$R1$SRC" --sparse sparse.img
else
  fail "restore puts the tree at TARGET/<absolute source path>" "missing $R1$SRC; target has: $(cd "$R1" 2>/dev/null && find . -maxdepth 3 | head -20 | tr '\n' ' ')"
fi
rm -rf "$R1"

# ---------------------------------------------------------------- --include with an id prefix
R2="$TMP/restore2"
cx repo restore --repo "$REPO" "${SNAP1:0:8}" --target "$R2" --include "$SRC/sub"
assert_rc 0 "restore --include SUBPATH using an 8-char id prefix"
if [[ -d $R2$SRC/sub ]]; then
  compare_trees "--include: the subtree is restored identically" "$SRC/sub" "$R2$SRC/sub"
else
  fail "--include: the subtree is restored" "missing $R2$SRC/sub"
fi
others=$(cd "$R2$SRC" 2>/dev/null && find . -mindepth 1 -maxdepth 1 ! -name sub | head -5 | tr '\n' ' ' || true)
assert_eq "" "$others" "--include: nothing outside the subtree is restored"
rm -rf "$R2"

# ---------------------------------------------------------------- dump
for f in random.bin compressible.txt empty0 one "names/ünïcödé-日本語-Ελληνικά.txt" "names/new"$'\n'"line" modes/m0000; do
  cx_out "$TMP/dumped" repo dump --repo "$REPO" "$SNAP1" "$SRC/$f"
  if [[ $RC == 0 ]] && cmp -s "$TMP/dumped" "$SRC/$f"; then
    ok "dump $(printf %q "$f") equals the source"
  else
    fail "dump $(printf %q "$f") equals the source" "exit $RC, dumped $(stat -c %s "$TMP/dumped" 2>/dev/null) bytes, source $(stat -c %s "$SRC/$f") bytes
$(_short "$ERR")"
  fi
done
cx_out "$TMP/dumped" repo dump --repo "$REPO" latest "$SRC/hard/h2"
if [[ $RC == 0 ]] && cmp -s "$TMP/dumped" "$SRC/hard/h1"; then ok "dump latest of a hardlinked file"; else
  fail "dump latest of a hardlinked file" "$(_rc_detail)"; fi
rm -f "$TMP/dumped"

# ---------------------------------------------------------------- unchanged second backup
cx repo backup --repo "$REPO" --json --host itest-host "$SRC"
assert_rc 0 "second backup of the unchanged tree"
BK2=$OUT
if is_json "$BK2"; then
  v=$(json 'd["files_unmodified"]' <<<"$BK2")
  if files_count_ok "$v"; then ok "unchanged backup: files_unmodified ($v) == number of files"; else
    fail "unchanged backup: files_unmodified == number of files" "expected $N_REG (regular) or $N_NONDIR (non-dir), got $v; output: $BK2"; fi
  assert_eq 0 "$(json 'd["files_new"]' <<<"$BK2")" "unchanged backup: files_new == 0"
  assert_eq 0 "$(json 'd["files_changed"]' <<<"$BK2")" "unchanged backup: files_changed == 0"
  ba=$(json 'd["bytes_added"]' <<<"$BK2")
  assert_lt "$ba" $((256 * 1024)) "unchanged backup: bytes_added small (< 256 KiB), got $ba"
  SNAP2=$(json 'd["snapshot_id"]' <<<"$BK2")
  assert_ne "$SNAP1" "$SNAP2" "unchanged backup still creates a new snapshot"
else
  fail "second backup --json output is JSON" "$(_short "$BK2")"
fi

# ---------------------------------------------------------------- one changed file
cp "$SRC/random.bin" "$TMP/random.bin.v1"
python3 - "$SRC/random.bin" <<'EOF'
import os, sys
p = sys.argv[1]
with open(p, "r+b") as f:          # same inode, same size, new content
    f.write(os.urandom(os.path.getsize(p)))
EOF
cx repo backup --repo "$REPO" --json --host itest-host "$SRC"
assert_rc 0 "third backup after changing one file"
BK3=$OUT
if is_json "$BK3"; then
  assert_eq 1 "$(json 'd["files_changed"]' <<<"$BK3")" "after changing one file: files_changed == 1"
  assert_eq 0 "$(json 'd["files_new"]' <<<"$BK3")" "after changing one file: files_new == 0"
  v=$(json 'd["files_unmodified"]' <<<"$BK3")
  if [[ $v == $((N_REG - 1)) || $v == $((N_NONDIR - 1)) ]]; then ok "after changing one file: files_unmodified == files - 1 ($v)"; else
    fail "after changing one file: files_unmodified == files - 1" "expected $((N_REG - 1)) or $((N_NONDIR - 1)), got $v"; fi
  ba=$(json 'd["bytes_added"]' <<<"$BK3")
  assert_lt $((1024 * 1024)) "$ba" "after changing one file: bytes_added >= its 1 MiB of new random data (got $ba)"
  assert_lt "$ba" $((2 * 1024 * 1024)) "after changing one file: bytes_added < 2 MiB (rest deduplicated; got $ba)"
  SNAP3=$(json 'd["snapshot_id"]' <<<"$BK3")
  cx_out "$TMP/dumped" repo dump --repo "$REPO" "$SNAP3" "$SRC/random.bin"
  if [[ $RC == 0 ]] && cmp -s "$TMP/dumped" "$SRC/random.bin"; then ok "new snapshot has the new content"; else
    fail "new snapshot has the new content" "$(_rc_detail)"; fi
  cx_out "$TMP/dumped" repo dump --repo "$REPO" "$SNAP1" "$SRC/random.bin"
  if [[ $RC == 0 ]] && cmp -s "$TMP/dumped" "$TMP/random.bin.v1"; then ok "first snapshot still has the old content"; else
    fail "first snapshot still has the old content" "$(_rc_detail)"; fi
else
  fail "third backup --json output is JSON" "$(_short "$BK3")"
fi

# ---------------------------------------------------------------- --exclude
EX="$TMP/extree"
mkdir -p "$EX/dir/deeper"
echo keep >"$EX/keep.txt"
echo log >"$EX/top.log"
echo keep >"$EX/dir/c.txt"
echo log >"$EX/dir/b.log"
echo log >"$EX/dir/deeper/d.log"
echo notlog >"$EX/dir/deeper/d.log.txt"
cx repo backup --repo "$REPO" --exclude '*.log' "$EX"
assert_rc 0 "backup with --exclude '*.log'"
EXSNAP=$(grep -Eo '[0-9a-f]{64}' <<<"$OUT" | head -1 || true)
assert_match '^[0-9a-f]{64}$' "$EXSNAP" "plain backup prints the snapshot id"
R3="$TMP/restore3"
cx repo restore --repo "$REPO" "$EXSNAP" --target "$R3"
assert_rc 0 "restore the --exclude snapshot"
got=$(cd "$R3$EX" 2>/dev/null && find . -type f | sort | tr '\n' ' ' || true)
assert_eq "./dir/c.txt ./dir/deeper/d.log.txt ./keep.txt " "$got" "--exclude '*.log' left out every .log file and only those"
rm -rf "$R3"

# ---------------------------------------------------------------- path forms
# several paths in one snapshot, a single file as a path, a relative path
cx repo backup --repo "$REPO" --json "$SRC/sub" "$SRC/one" "$EX"
assert_rc 0 "backup of several paths (two dirs and a file) in one snapshot"
MSNAP=$(json 'd["snapshot_id"]' <<<"$OUT")
cx repo snapshots --repo "$REPO" --json
assert_eq "$(printf '%s\n' "$SRC/sub" "$SRC/one" "$EX" | sort | tr '\n' ' ')" \
  "$(json '[s["paths"] for s in d if s["id"] == "'"$MSNAP"'"][0]' <<<"$OUT" | python3 -c 'import json,sys; print(" ".join(sorted(json.load(sys.stdin))) + " ")')" \
  "snapshots: paths lists every backed-up path"
R4="$TMP/restore4"
cx repo restore --repo "$REPO" "$MSNAP" --target "$R4"
assert_rc 0 "restore the several-paths snapshot"
compare_trees "several paths: first dir restored identically" "$SRC/sub" "$R4$SRC/sub"
compare_trees "several paths: second dir restored identically" "$EX" "$R4$EX"
if cmp -s "$SRC/one" "$R4$SRC/one" && [[ $(stat -c '%a %Y' "$SRC/one") == $(stat -c '%a %Y' "$R4$SRC/one") ]]; then
  ok "several paths: the single file restored with content, mode and mtime"
else
  fail "several paths: the single file restored with content, mode and mtime" "$(ls -la "$R4$SRC/one" 2>&1)"
fi
others=$(cd "$R4$SRC" 2>/dev/null && find . -mindepth 1 -maxdepth 1 ! -name sub ! -name one | head -5 | tr '\n' ' ' || true)
assert_eq "" "$others" "several paths: nothing else from the source dir restored"
rm -rf "$R4"
cx_out "$TMP/dumped" repo dump --repo "$REPO" "$MSNAP" "$SRC/one"
if [[ $RC == 0 ]] && cmp -s "$TMP/dumped" "$SRC/one"; then ok "dump of a file backed up as a single-file path"; else
  fail "dump of a file backed up as a single-file path" "$(_rc_detail)"; fi
cx repo backup --repo "$REPO" --json "$SRC/sub" "$SRC/one" "$EX"
assert_rc 0 "repeat the several-paths backup"
assert_eq 0 "$(json 'd["files_new"] + d["files_changed"]' <<<"$OUT")" "repeat of the several-paths backup finds nothing new or changed"
(cd "$SRC" && "$CAIRN" repo backup --repo "$REPO" --json sub >"$TMP/rel.out" 2>"$TMP/rel.err") && rrc=0 || rrc=$?
if [[ $rrc == 0 ]]; then ok "backup of a relative path"; else fail "backup of a relative path" "exit $rrc: $(cat "$TMP/rel.err")"; fi
RSNAP=$(json 'd["snapshot_id"]' <"$TMP/rel.out")
cx repo snapshots --repo "$REPO" --json
assert_eq "[\"$SRC/sub\"]" "$(json '[s["paths"] for s in d if s["id"] == "'"$RSNAP"'"][0]' <<<"$OUT")" "a relative path is stored as an absolute path"
R5="$TMP/restore5"
cx repo restore --repo "$REPO" "$SNAP1" --target "$R5" --include "$SRC/sub/inner.txt"
assert_rc 0 "restore --include of a single file"
got=$(cd "$R5" 2>/dev/null && find . -type f | tr '\n' ' ' || true)
assert_eq ".$SRC/sub/inner.txt " "$got" "--include of a single file restores exactly that file"
rm -rf "$R5"

# ---------------------------------------------------------------- stdin backup
make_random "$TMP/db.sql" $((3 * 1024 * 1024 + 7))
cx_in "$TMP/db.sql" repo backup --repo "$REPO" --stdin-name db.sql
assert_rc 0 "backup from stdin (--stdin-name db.sql)"
STDSNAP=$(grep -Eo '[0-9a-f]{64}' <<<"$OUT" | head -1 || true)
cx_out "$TMP/dumped" repo dump --repo "$REPO" "$STDSNAP" db.sql
if [[ $RC == 0 ]] && cmp -s "$TMP/dumped" "$TMP/db.sql"; then ok "dump of the stdin snapshot equals the input"; else
  fail "dump of the stdin snapshot equals the input" "$(_rc_detail)"; fi
cx_out "$TMP/dumped" repo dump --repo "$REPO" latest db.sql
if [[ $RC == 0 ]] && cmp -s "$TMP/dumped" "$TMP/db.sql"; then ok "dump latest db.sql (the stdin snapshot is the newest)"; else
  fail "dump latest db.sql (the stdin snapshot is the newest)" "$(_rc_detail)"; fi
empty_in="$TMP/empty-stdin"; : >"$empty_in"
cx_in "$empty_in" repo backup --repo "$REPO" --stdin-name empty.bin
assert_rc 0 "backup of empty stdin"
ESNAP=$(grep -Eo '[0-9a-f]{64}' <<<"$OUT" | head -1 || true)
cx_out "$TMP/dumped" repo dump --repo "$REPO" "$ESNAP" empty.bin
if [[ $RC == 0 && ! -s $TMP/dumped ]]; then ok "dump of the empty stdin snapshot is empty"; else
  fail "dump of the empty stdin snapshot is empty" "$(_rc_detail)"; fi
rm -f "$TMP/dumped"
# through a real pipe (not seekable, arrives in pieces)
make_random "$TMP/piped.bin" $((20 * 1024 * 1024 + 5))
set +e
(cat "$TMP/piped.bin"; sleep 0.3; printf 'tail') | timeout 300 "$CAIRN" repo backup --repo "$REPO" --stdin-name piped.bin >"$TMP/pipe.out" 2>"$TMP/pipe.err"
prc=$?
set -e
printf 'tail' >>"$TMP/piped.bin"
if [[ $prc == 0 ]]; then ok "stdin backup through a pipe (20 MiB, with a pause)"; else
  fail "stdin backup through a pipe (20 MiB, with a pause)" "exit $prc: $(cat "$TMP/pipe.err")"; fi
PSNAP=$(grep -Eo '[0-9a-f]{64}' "$TMP/pipe.out" | head -1 || true)
cx_out "$TMP/dumped" repo dump --repo "$REPO" "${PSNAP:-latest}" piped.bin
if [[ $RC == 0 ]] && cmp -s "$TMP/dumped" "$TMP/piped.bin"; then ok "dump of the piped stdin snapshot equals the input"; else
  fail "dump of the piped stdin snapshot equals the input" "$(_rc_detail)"; fi
rm -f "$TMP/dumped" "$TMP/piped.bin"
assert_eq 10 "$(snapshot_count "$REPO")" "snapshots lists every snapshot made (10)"

# ---------------------------------------------------------------- check
expect_ok "check passes" repo check --repo "$REPO"
expect_ok "check --read-data passes" repo check --repo "$REPO" --read-data
expect_ok "check --read-data-subset 50% passes" repo check --repo "$REPO" --read-data-subset 50%

# a source path that is itself not valid UTF-8 (the snapshot's paths field)
ODD="$TMP/odd-"$'\xff'"-root"
mkdir -p "$ODD"
echo "in an odd root" >"$ODD/f"
cx repo backup --repo "$REPO" "$ODD"
assert_rc 0 "backup of a source path that is not valid UTF-8"
ODDSNAP=$(grep -Eo '[0-9a-f]{64}' <<<"$OUT" | head -1 || true)
if [[ $RC == 0 && -n $ODDSNAP ]]; then
  cx repo snapshots --repo "$REPO" --json
  if [[ $RC == 0 ]] && is_json "$OUT"; then ok "snapshots --json still works (valid JSON) with such a path"; else
    fail "snapshots --json still works (valid JSON) with such a path" "$(_rc_detail)"; fi
  cx_out "$TMP/dumped" repo dump --repo "$REPO" "${ODDSNAP:-latest}" "$ODD/f"
  if [[ $RC == 0 ]] && cmp -s "$TMP/dumped" "$ODD/f"; then ok "dump from the snapshot of a non-UTF-8 path"; else
    fail "dump from the snapshot of a non-UTF-8 path" "$(_rc_detail)"; fi
  cx repo restore --repo "$REPO" "${ODDSNAP:-latest}" --target "$TMP/restore-odd"
  assert_rc 0 "restore the snapshot of a non-UTF-8 path"
  compare_trees "non-UTF-8 root restored identically" "$ODD" "$TMP/restore-odd$ODD"
else
  log "skipping the dump/restore checks of the non-UTF-8 root: its backup failed"
fi
rm -f "$TMP/dumped"

# the repository holds no plaintext of the source
if grep -rqF "the quick brown fox jumps over the lazy dog" "$REPO"; then
  fail "repository contains no plaintext of the source" "found source text in $(grep -rlF 'the quick brown fox' "$REPO" | head -3)"
else
  ok "repository contains no plaintext of the source"
fi

finish
