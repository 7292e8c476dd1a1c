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
  # tests and benchmarks
  googletest libgtest-dev libgmock-dev libbenchmark-dev
  attr acl python3 time restic borgbackup
  # S3 driver tests: rclone as an independent client, openssl for a TLS test
  # certificate; the S3 test server is an npm package (needs node + npm)
  rclone openssl
  # real services for the service tests (started by the tests on loopback,
  # never as system services) and sshd for Borg-over-SSH
  postgresql mariadb-server mariadb-backup redis-server sqlite3 openssh-server
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

# The dashboard is compiled into the binary (scripts/embed_web_assets.py);
# build it first so that the binary carries it, not the placeholder page.
if [ -f web/package.json ]; then
  (cd web && npm ci --no-audit --no-fund && npm run build)
fi

BUILD_DIR=${CAIRN_BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"
