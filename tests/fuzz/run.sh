#!/bin/sh
# Runs every libFuzzer harness of one build for a bounded time and prints a
# summary line each (executions, exec/s, coverage). `make fuzz` calls it.
#
# usage: tests/fuzz/run.sh BUILD_DIR [NAME...]     (default: every harness)
#   FUZZ_SECONDS   time per harness (default 60)
#   FUZZ_ARGS      extra libFuzzer flags (e.g. -jobs=2, -seed=1)
#
# Inputs: tests/fuzz/corpus/NAME (seeds) and tests/fuzz/regressions/NAME
# (crashes found before), read only; what the fuzzer learns goes into
# BUILD_DIR/fuzz-corpus/NAME, kept between runs. A crash, leak, timeout or
# failed property leaves its input in BUILD_DIR/fuzz-artifacts/NAME/ and makes
# the script exit 1: minimize it (-minimize_crash=1), fix the bug, and keep
# the input in tests/fuzz/regressions/NAME/ so `make test` replays it.
set -u
dir=${1:?usage: tests/fuzz/run.sh BUILD_DIR [NAME...]}
shift
secs=${FUZZ_SECONDS:-60}
case "$secs" in ''|*[!0-9]*) echo "run.sh: FUZZ_SECONDS must be a number" >&2; exit 2 ;; esac
if [ $# -eq 0 ]; then
    for f in tests/fuzz/fuzz_*.c; do
        n=${f#tests/fuzz/fuzz_}
        set -- "$@" "${n%.c}"
    done
fi
# UBSan reports are fatal, so libFuzzer counts them as crashes.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}

failed=""
for name in "$@"; do
    bin=$dir/tests/fuzz/fuzz_$name
    [ -x "$bin" ] || { echo "run.sh: no harness $bin" >&2; exit 2; }
    work=$dir/fuzz-corpus/$name
    art=$dir/fuzz-artifacts/$name
    log=$dir/fuzz-logs/$name.log
    mkdir -p "$work" "$art" "$dir/fuzz-logs"
    set --
    dict=tests/fuzz/$name.dict
    [ -f "$dict" ] && set -- "$@" "-dict=$dict"
    seeds=""
    for s in tests/fuzz/corpus/$name tests/fuzz/regressions/$name; do
        [ -d "$s" ] && seeds="$seeds $s"
    done
    echo "=== fuzz_$name: ${secs}s"
    # shellcheck disable=SC2086 # FUZZ_ARGS and seeds are word lists
    "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
        -print_final_stats=1 -artifact_prefix="$art/" "$@" ${FUZZ_ARGS:-} \
        "$work" $seeds >"$log" 2>&1
    rc=$?
    # The last status line ("#N DONE cov: ... ft: ... exec/s: ...") and totals.
    last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    echo "    ${last:-no status line}"
    echo "    executions: ${runs:-?}  exec/s: ${eps:-?}  corpus: $(ls "$work" | wc -l) files  log: $log"
    if [ $rc -ne 0 ]; then
        failed="$failed $name"
        grep -E '^(==[0-9]+==ERROR|SUMMARY|fuzz:|.*runtime error)' "$log" | head -n 8 | sed 's/^/    /'
        echo "    input: $(ls -t "$art" | head -n 1 | sed "s|^|$art/|")"
    fi
done
echo
if [ -n "$failed" ]; then
    echo "fuzz: FAILED:$failed"
    exit 1
fi
echo "fuzz: every harness ran ${secs}s without a crash"
