#!/usr/bin/env bash
# Installs every Debian package Cairn needs to build, run, test and benchmark,
# then builds it in Release. Idempotent and non-interactive; safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  # toolchain
  build-essential cmake pkg-config git ca-certificates
  # libraries the binary links (see docs/dependencies.md for why each)
  libssl-dev libcurl4-openssl-dev libsodium-dev libzstd-dev libsqlite3-dev
  nlohmann-json3-dev libcli11-dev libyaml-cpp-dev
  # the HTTP server of `cairn serve` (a compiled library; brings zlib and brotli headers)
  libcpp-httplib-dev
  # time zone rules for cron schedules (read from /usr/share/zoneinfo)
  tzdata
  # fuzzing (scripts/fuzz.sh): clang with libFuzzer and the sanitizer runtimes
  clang libclang-rt-14-dev
  # tests and benchmarks
  googletest libgtest-dev libgmock-dev libbenchmark-dev
  attr acl python3 time restic borgbackup
  # the SMTP server the email notification test sends to (src/daemon/testing/smtp_sink.py)
  python3-aiosmtpd
  # S3 driver tests: rclone as an independent client, openssl for a TLS test
  # certificate; the S3 test server is an npm package (needs node + npm)
  rclone openssl
  # real services for the service tests (started by the tests on loopback,
  # never as system services) and sshd for Borg-over-SSH
  postgresql mariadb-server mariadb-backup redis-server sqlite3 openssh-server
  # the dashboard's browser tests (tests/browser: playwright-core drives it)
  chromium fonts-dejavu-core
)
command -v npm >/dev/null 2>&1 || PACKAGES+=(nodejs npm)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The web dashboard (web/, docs/dashboard.md): built before the binary, which
# embeds web/dist (scripts/embed_web_assets.py; without it the binary carries a
# placeholder page). npm ci only when the lock file changed, the build only when
# a source did.
npm_ci_if_needed() {
  local dir=$1
  if [ ! -f "$dir/node_modules/.package-lock.json" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}
npm_ci_if_needed web
if [ ! -f web/dist/index.html ] ||
   [ -n "$(find web/src web/public web/index.html web/vite.config.ts web/tsconfig.json web/package-lock.json -newer web/dist/index.html -print -quit)" ]; then
  (cd web && nice npm run build --silent)
fi
npm_ci_if_needed tests/browser

BUILD_DIR=${CAIRN_BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"
