#!/bin/sh
# Runs every test binary of one build flavour and prints cmocka's summary for
# each, then a total. usage: tests/run.sh build/asan [name-filter]
# PSW_BIN points the black-box tests at the programs of the same build.
set -u
dir=${1:?usage: tests/run.sh BUILD_DIR [FILTER]}
filter=${2:-}
PSW_BIN=$(cd "$dir/bin" && pwd)
PSW_SRC=$(pwd)
export PSW_BIN PSW_SRC
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=""
count=0
start=$(date +%s)
for t in "$dir"/tests/unit/test_* "$dir"/tests/e2e/test_*; do
    [ -x "$t" ] || continue
    case "$t" in *.d|*.o) continue ;; esac
    [ -n "$filter" ] && case "$t" in *"$filter"*) ;; *) continue ;; esac
    name=${t#"$dir"/tests/}
    echo "=== $name"
    t0=$(date +%s)
    if ! "$t"; then
        failed="$failed $name"
    fi
    echo "=== $name: $(( $(date +%s) - t0 ))s"
    count=$((count + 1))
done
echo
echo "ran $count test programs in $(( $(date +%s) - start ))s"
if [ -n "$failed" ]; then
    echo "FAILED:$failed"
    exit 1
fi
echo "all test programs passed"
