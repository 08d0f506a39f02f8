#!/usr/bin/env bash
# bench/cluster.sh — delivery rate and Redis CPU per delivery on a Redis
# Cluster of 1, 2 and 3 primaries (redis.cluster, docs/operations.md "Redis
# Cluster"). Not part of `make bench`; run it alone on an idle machine.
#
# For each size: n redis-server --cluster-enabled yes (loopback, free ports,
# no persistence) joined into one cluster, 16 logical shards, 32 accounts with
# one endpoint each on psw-receiver, EVENTS events published first (spread
# over the accounts), then psw-scheduler and psw-worker started and timed
# until every delivery is recorded. Reported: deliveries/s, the Redis CPU
# (used_cpu_user + used_cpu_sys over all nodes, during the drain) per
# delivery, and each primary's share of that CPU.
#
# usage: bench/cluster.sh [--events N] [--sizes "1 2 3"]
# Environment: BENCH_BIN (programs, default build/rel/bin), BENCH_WORKERS
# (worker.processes, 2), BENCH_CONCURRENCY (64), BENCH_KEEP=1 keeps the logs.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=${BENCH_BIN:-$root/build/rel/bin}
workers=${BENCH_WORKERS:-2}
concurrency=${BENCH_CONCURRENCY:-64}
events=20000
sizes="1 2 3"
accounts=32
while [ $# -gt 0 ]; do
    case "$1" in
    --events) events=$2; shift 2 ;;
    --sizes) sizes=$2; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "bench/cluster.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
for p in psw-bench psw-receiver psw-scheduler psw-worker; do
    [ -x "$bin/$p" ] || { echo "bench/cluster.sh: $bin/$p missing (make)" >&2; exit 1; }
done
for p in redis-server redis-cli curl; do
    command -v "$p" >/dev/null || { echo "bench/cluster.sh: $p not found" >&2; exit 1; }
done

tmp=$(mktemp -d /tmp/psw-cluster-bench.XXXXXX)
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "logs kept in $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
say() { printf '%s\n' "$*" >&2; }
ms_now() { date +%s%3N; }

ports=()
# start_nodes N: N cluster-enabled servers on free ports (< 55535, bus port +10000)
start_nodes() {
    local n=$1 i p dir
    ports=()
    for i in $(seq 1 "$n"); do
        for _ in $(seq 1 20); do
            p=$((20000 + RANDOM % 20000))
            dir=$tmp/n$n-$i
            mkdir -p "$dir"
            redis-server --port "$p" --bind 127.0.0.1 --dir "$dir" --cluster-enabled yes \
                --cluster-config-file nodes.conf --appendonly no --save "" \
                --logfile "$dir/redis.log" &
            local pid=$!
            local up=0
            for _ in $(seq 1 50); do
                if redis-cli -p "$p" ping 2>/dev/null | grep -q PONG; then up=1; break; fi
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
            if [ "$up" = 1 ]; then pids+=("$pid"); ports+=("$p"); break; fi
            kill "$pid" 2>/dev/null || true
        done
    done
    [ "${#ports[@]}" = "$n" ] || { say "could not start $n nodes"; exit 1; }
    case "$n" in
    1) redis-cli -p "${ports[0]}" cluster addslotsrange 0 16383 >/dev/null ;;
    2) redis-cli -p "${ports[0]}" cluster addslotsrange 0 8191 >/dev/null
       redis-cli -p "${ports[1]}" cluster addslotsrange 8192 16383 >/dev/null
       redis-cli -p "${ports[1]}" cluster meet 127.0.0.1 "${ports[0]}" >/dev/null ;;
    *) local addrs=()
       for p in "${ports[@]}"; do addrs+=("127.0.0.1:$p"); done
       redis-cli --cluster create "${addrs[@]}" --cluster-replicas 0 --cluster-yes \
           >"$tmp/create-$n.log" 2>&1 ;;
    esac
    for _ in $(seq 1 200); do
        local ok=1
        for p in "${ports[@]}"; do
            redis-cli -p "$p" cluster info | grep -q "cluster_state:ok" || ok=0
        done
        [ "$ok" = 1 ] && return 0
        sleep 0.1
    done
    say "cluster of $n did not reach cluster_state:ok"; exit 1
}
node_cpu_us() { redis-cli -p "$1" info cpu | tr -d '\r' |
    awk -F: '/^used_cpu_(user|sys):/ { s += $2 } END { printf "%.0f", s * 1e6 }'; }

results=()
for n in $sizes; do
    say "== $n primar$([ "$n" = 1 ] && echo y || echo ies), $events events"
    start_nodes "$n"
    "$bin/psw-receiver" --port 0 --quiet >"$tmp/rx-$n.log" 2>&1 &
    rx_pid=$!; pids+=("$rx_pid")
    rx_url=""
    for _ in $(seq 1 50); do
        rx_url=$(sed -n 's|.*listening on \(http://[^ ]*\)/ .*|\1|p' "$tmp/rx-$n.log")
        [ -n "$rx_url" ] && break
        sleep 0.1
    done
    [ -n "$rx_url" ] || { say "psw-receiver did not start"; exit 1; }
    cfg=$tmp/c$n.yaml
    cat >"$cfg" <<YAML
redis.url: redis://127.0.0.1:${ports[0]}/0
redis.cluster: true
redis.shards: 16
worker.processes: $workers
worker.concurrency: $concurrency
http.allow_private_networks: true
http.timeout: 2s
log.level: warn
YAML
    per=$(( events / accounts ))
    for a in $(seq 0 $((accounts - 1))); do
        PSW_CONFIG=$cfg "$bin/psw-bench" endpoints --account "acct_$a" --url "$rx_url/a$a" \
            --count 1 >/dev/null
        PSW_CONFIG=$cfg "$bin/psw-bench" publish --account "acct_$a" --count "$per" >/dev/null
    done
    total=$(( per * accounts ))
    declare -A before=()
    for p in "${ports[@]}"; do before[$p]=$(node_cpu_us "$p"); done
    t0=$(ms_now)
    PSW_CONFIG=$cfg "$bin/psw-scheduler" >"$tmp/sched-$n.log" 2>&1 &
    spid=$!; pids+=("$spid")
    PSW_CONFIG=$cfg "$bin/psw-worker" >"$tmp/worker-$n.log" 2>&1 &
    wpid=$!; pids+=("$wpid")
    delivered=0
    limit=$(( $(ms_now) + 300000 ))
    while [ "$(ms_now)" -lt "$limit" ]; do
        # the receiver counts: asking psw stats would add Redis work of its own
        delivered=$(curl -s --max-time 5 "$rx_url/stats" | sed -n 's/.*"unique_events": *\([0-9]*\).*/\1/p')
        [ "${delivered:-0}" -ge "$total" ] && break
        sleep 0.2
    done
    t1=$(ms_now)
    cpu_total=0; shares=""
    declare -A used=()
    for p in "${ports[@]}"; do
        used[$p]=$(( $(node_cpu_us "$p") - ${before[$p]} ))
        cpu_total=$(( cpu_total + ${used[$p]} ))
    done
    for p in "${ports[@]}"; do
        shares="$shares $(awk -v u="${used[$p]}" -v t="$cpu_total" 'BEGIN { printf "%.0f%%", t ? 100 * u / t : 0 }')"
    done
    kill -TERM "$wpid" "$spid" "$rx_pid" 2>/dev/null || true
    wait "$wpid" "$spid" "$rx_pid" 2>/dev/null || true
    rate=$(awk -v d="$delivered" -v ms=$((t1 - t0)) 'BEGIN { printf "%.0f", d * 1000 / ms }')
    per_dlv=$(awk -v c="$cpu_total" -v d="$delivered" 'BEGIN { printf "%.1f", d ? c / d : 0 }')
    line="primaries=$n delivered=$delivered/$total seconds=$(awk -v ms=$((t1 - t0)) 'BEGIN { printf "%.1f", ms / 1000 }') rate=$rate/s redis_cpu_us_per_delivery=$per_dlv shares=[${shares# }]"
    say "$line"
    results+=("$line")
    for p in "${ports[@]}"; do redis-cli -p "$p" shutdown nosave >/dev/null 2>&1 || true; done
    sleep 0.5
    unset before used
done
echo
printf '%s\n' "${results[@]}"
