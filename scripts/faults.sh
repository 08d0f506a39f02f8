#!/bin/sh
# Full-size fault runs (issue 7) on the release build: Redis SIGKILLed and
# restarted mid-load, Redis unreachable for 30 s (frozen with SIGSTOP, and
# killed: connections refused), 50,000 deliveries while worker children are
# SIGKILLed at random, a flapping receiver and skewed clocks. It is
# tests/e2e/test_faults.c with PSW_FAULTS_FULL=1 (make test runs the same
# program at scaled sizes); every scenario prints a "faults:" line with its
# numbers. Takes a few minutes; never part of make test.
#
# usage: scripts/faults.sh [FILTER]    FILTER: cmocka test names, e.g. "test_kill*"
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh test
make --no-print-directory BUILD=rel progs build/rel/tests/e2e/test_faults >/dev/null
start=$(date +%s)
PSW_FAULTS_FULL=1 PSW_TEST_FILTER=${1:-} tests/run.sh build/rel test_faults
echo "scripts/faults.sh: $(( $(date +%s) - start ))s"
