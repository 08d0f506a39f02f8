#!/usr/bin/env bash
# Measures what PostStack Webhooks costs Redis, for the sizing numbers in
# docs/operations.md: used_memory per event, per delivery and per attempt,
# and Redis CPU per delivered webhook. Starts its own redis-server (AOF on,
# fsync every second, as in production) in a temporary directory on a free
# loopback port, and its own psw-worker, psw-scheduler and psw-receiver.
#
# usage: scripts/measure-redis.sh [N]     N events per scenario (default 20000)
# Needs: make (bin/), redis-server, redis-cli. PSW_BIN overrides bin/;
# PSW_MEASURE_REDIS_ARGS adds redis-server options (e.g. "--hash-max-listpack-value 1024").
#
# Scenarios (Redis emptied before each; memory read after the work is done):
#   A  N events, no endpoint                 -> the event alone
#   B  N events, 1 endpoint, no worker        -> event + 1 pending delivery
#   C  N events, 4 endpoints, no worker       -> event + 4 pending deliveries
#   D  N events, 1 endpoint, receiver 200     -> event + delivered delivery + 1 attempt
#   E  N events, 1 endpoint, receiver 500,    -> event + failed delivery + 4 attempts
#      retry.schedule [10ms, 10ms, 10ms]
# The sample events are deploy/demo-events.ndjson (bodies of 270-360 bytes).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=${PSW_BIN:-$root/bin}
n=${1:-20000}
tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT

port=""
for p in $(seq 6490 6520); do
    # shellcheck disable=SC2086
    redis-server --port "$p" --bind 127.0.0.1 --dir "$tmp" --appendonly yes \
        --appendfsync everysec --save "" --maxmemory-policy noeviction \
        --logfile "$tmp/redis.log" ${PSW_MEASURE_REDIS_ARGS:-} &  # split on purpose
    rpid=$!
    for _ in $(seq 1 50); do
        if redis-cli -p "$p" info server 2>/dev/null | grep -q "^process_id:$rpid"; then
            port=$p
            break
        fi
        kill -0 "$rpid" 2>/dev/null || break
        sleep 0.1
    done
    if [ -n "$port" ]; then pids+=("$rpid"); break; fi
    kill "$rpid" 2>/dev/null || true
    wait "$rpid" 2>/dev/null || true
done
[ -n "$port" ] || { echo "no free port for redis-server" >&2; exit 1; }
rcli() { redis-cli -p "$port" "$@"; }

"$bin/psw-receiver" --port 0 --quiet >"$tmp/rx-ok.log" 2>&1 &
pids+=($!)
"$bin/psw-receiver" --port 0 --quiet --fail-rate 1 >"$tmp/rx-fail.log" 2>&1 &
pids+=($!)
sleep 0.3
rx_ok=$(sed -n 's|.*listening on \(http://[^ ]*\)/ .*|\1|p' "$tmp/rx-ok.log")
rx_fail=$(sed -n 's|.*listening on \(http://[^ ]*\)/ .*|\1|p' "$tmp/rx-fail.log")

cat >"$tmp/psw.yaml" <<EOF
redis.url: redis://127.0.0.1:$port/0
worker.processes: 2
worker.shutdown_grace: 2s
http.allowed_networks: [127.0.0.1/32]
retry.schedule: [10ms, 10ms, 10ms]
endpoint.disable_after_failures: 100000
endpoint.max_in_flight: 0
EOF
export PSW_CONFIG=$tmp/psw.yaml

# N events of the eight sample types, for account $1, without ids.
events() {
    local reps=$(((n + 7) / 8))
    for _ in $(seq 1 "$reps"); do sed "s/acct_demo/$1/" "$root/deploy/demo-events.ndjson"; done |
        head -n "$n"
}
events acct_m >"$tmp/events.ndjson"
events acct_none >"$tmp/events-none.ndjson"

mem() {
    sleep 1.2   # the AOF buffer is written out once a second
    rcli info memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p'
}
cpu_us() { rcli info cpu | awk -F: '/^used_cpu_(user|sys):/ { s += $2 } END { printf "%.0f", s * 1e6 }'; }
fresh() { rcli flushall >/dev/null; rcli config resetstat >/dev/null; }
wait_stat() { # field value
    for _ in $(seq 1 1200); do
        [ "$(rcli hget psw:stats "$1")" = "$2" ] && return 0
        sleep 0.1
    done
    echo "timed out waiting for psw:stats $1 = $2 (have $(rcli hget psw:stats "$1"))" >&2
    return 1
}
endpoint() { "$bin/psw" endpoint create --account acct_m --url "$1" >/dev/null; }
start_workers() {
    "$bin/psw-worker" >"$tmp/worker.log" 2>&1 &
    wpid=$!
    "$bin/psw-scheduler" >"$tmp/scheduler.log" 2>&1 &
    spid=$!
}
stop_workers() {
    kill -TERM "$wpid" "$spid"
    wait "$wpid" "$spid" || true
}
per() { awk -v a="$1" -v b="$2" -v d="$3" 'BEGIN { printf "%.0f", (b - a) / d }'; }

echo "redis $(rcli info server | sed -n 's/^redis_version:\(.*\)\r$/\1/p'), $n events per scenario"

fresh; m0=$(mem)
"$bin/psw" publish "$tmp/events-none.ndjson" >/dev/null
mA=$(per "$m0" "$(mem)" "$n")
echo "A  event, no endpoint:                  $mA bytes/event"

fresh; endpoint "$rx_ok"; m0=$(mem)
c0=$(cpu_us)
"$bin/psw" publish "$tmp/events.ndjson" >/dev/null
c1=$(cpu_us)
mB=$(per "$m0" "$(mem)" "$n")
echo "B  event + 1 pending delivery:          $mB bytes/event"
echo "   Redis CPU (user+sys) to publish one event with one delivery: $(per 0 $((c1 - c0)) "$n") us"

fresh; for _ in 1 2 3 4; do endpoint "$rx_ok"; done; m0=$(mem)
"$bin/psw" publish "$tmp/events.ndjson" >/dev/null
mC=$(per "$m0" "$(mem)" "$n")
echo "C  event + 4 pending deliveries:        $mC bytes/event"
echo "   => one pending delivery:             $(per "$mA" "$mC" 4) bytes"

fresh; endpoint "$rx_ok"; m0=$(mem)
c0=$(cpu_us)
t0=$(date +%s%N)
start_workers
"$bin/psw" publish "$tmp/events.ndjson" >/dev/null
wait_stat delivered "$n"
t1=$(date +%s%N)
c1=$(cpu_us)
calls=$(rcli info commandstats | awk -F'[=,:]' '/^cmdstat_evalsha:/ { print $3 }')
evalsha_us=$(rcli info commandstats | awk -F'[=,:]' '/^cmdstat_evalsha:/ { print $5 }')
stop_workers
mD=$(per "$m0" "$(mem)" "$n")
echo "D  event + delivered delivery, 1 attempt: $mD bytes/event"
echo "   Redis CPU (user+sys) per delivered webhook: $(per 0 $((c1 - c0)) "$n") us" \
     "(EVALSHA: $calls calls, $(per 0 "$evalsha_us" "$n") us of script time per delivery)"
echo "   wall time publish -> all delivered: $(( (t1 - t0) / 1000000 )) ms" \
     "($(per 0 $((n * 1000)) $(( (t1 - t0) / 1000000 ))) deliveries/s, 2 worker children, this machine)"

fresh
"$bin/psw" endpoint create --account acct_m --url "$rx_fail" >/dev/null
m0=$(mem)
start_workers
"$bin/psw" publish "$tmp/events.ndjson" >/dev/null
wait_stat failed "$n"
stop_workers
mE=$(per "$m0" "$(mem)" "$n")
echo "E  event + failed delivery, 4 attempts: $mE bytes/event"
echo "   => one more attempt record:          $(per "$mD" "$mE" 3) bytes"
echo "   attempt record as stored (bytes):    $(rcli --raw lindex "psw:delivery:$(rcli --raw zrange psw:queue:failed 0 0):attempts" 1 | wc -c)"
