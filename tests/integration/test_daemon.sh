#!/usr/bin/env bash
# `cairn serve` end to end (tests/integration/daemon_test.py): the REST API
# with every role against real PostgreSQL, SQLite and volume services,
# schedules, catch-up, cancel, kill -9, partial runs, malformed requests.
set -euo pipefail
exec python3 -u "$(dirname "$0")/daemon_test.py" "$1"
