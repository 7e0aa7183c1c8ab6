#!/usr/bin/env bash
# Every test berth has: setup (idempotent), lint and format check, type check, unused code, unit tests,
# then system tests against the real Pulumi engine, Docker, the registry and HAProxy.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$here/setup.sh"
# shellcheck source=env.sh
source "$here/env.sh"
cd "$BERTH_ROOT"
say "lint and format (biome)"
biome check --error-on-warnings .
say "type check (tsc)"
tsc --noEmit -p tsconfig.json
say "unused files, exports and dependencies (knip)"
knip
say "tests (vitest)"
mkdir -p .berth-test
rm -f .berth-test/file-times.json .berth-test/stall.txt .berth-test/running.txt
status=0
# A run that stops making progress is stopped with what it was doing (scripts/lib/stall-watch.sh).
# shellcheck source=lib/stall-watch.sh
source "$here/lib/stall-watch.sh"
stall_watch .berth-test/vitest.log &
watcher=$!
# Its output goes to .berth-test/vitest.log too: when it fails, why is printed again after the table.
vitest run --reporter=default --reporter=json --outputFile.json=.berth-test/vitest.json \
  --reporter=./scripts/file-times-reporter.ts "$@" 2>&1 |
  tee .berth-test/vitest.log || status=$?
kill "$watcher" 2>/dev/null || true
if [ -s .berth-test/stall.txt ]; then say "the run was stopped: no test finished for ${BERTH_TEST_STALL_MINUTES:-20} minutes (what it was doing: .berth-test/stall.txt)"; fi
if [ -s .berth-test/file-times.json ]; then tsx scripts/test-times.ts .berth-test/file-times.json; fi
if [ "$status" -ne 0 ]; then tsx scripts/vitest-failure.ts .berth-test/vitest.log "$status"; fi
exit "$status"
