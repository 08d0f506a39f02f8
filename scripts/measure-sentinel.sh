#!/usr/bin/env bash
# Measures what redis.min_replicas_acked costs publishing, for the numbers in
# docs/operations.md: events/s published through Sentinel with
# min_replicas_acked 0 and 1, in batches of 64 (psw publish, the API and
# psw_publish_many send 64 per round trip) and of 1 (a producer publishing
# events one by one), from 1 and 4 publishing processes.
#
# Starts its own primary (AOF everysec), replica and three sentinels on free
# loopback ports in a temporary directory, and creates one endpoint, so each
# event makes one pending delivery (no worker runs: only publishing is
# measured). The failover loss window is measured by tests/e2e/test_sentinel.c.
#
# usage: scripts/measure-sentinel.sh [N]   N events per run (default 20000)
# Needs: make (bin/), redis-server, redis-sentinel, redis-cli. PSW_BIN overrides bin/.
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

# start_on PROGRAM CONF_TEXT: runs PROGRAM on the first free port from 6530,
# with CONF_TEXT ("{port}" replaced) as its config file; sets $started.
next_port=6530
start_on() {
    local prog=$1 text=$2 p pid dir
    for _ in $(seq 1 30); do
        p=$next_port
        next_port=$((next_port + 1))
        dir="$tmp/$p"
        mkdir -p "$dir"
        printf '%s\n' "${text//\{port\}/$p}" | sed "s|{dir}|$dir|g" >"$dir/conf"
        "$prog" "$dir/conf" >"$dir/out" 2>&1 &
        pid=$!
        for _ in $(seq 1 50); do
            if redis-cli -p "$p" info server 2>/dev/null | grep -q "^process_id:$pid"; then
                pids+=("$pid")
                started=$p
                return 0
            fi
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    echo "no free port for $prog" >&2
    exit 1
}

node='port {port}
bind 127.0.0.1
dir {dir}
logfile {dir}/log
appendonly yes
appendfsync everysec
save ""
repl-diskless-sync-delay 0'
start_on redis-server "$node"
primary=$started
start_on redis-server "$node
replicaof 127.0.0.1 $primary"
replica=$started
for _ in $(seq 1 100); do
    redis-cli -p "$replica" info replication | grep -q master_link_status:up && break
    sleep 0.1
done
sentinels=""
for _ in 1 2 3; do
    start_on redis-sentinel "port {port}
bind 127.0.0.1
dir {dir}
logfile {dir}/log
sentinel monitor mymaster 127.0.0.1 $primary 2
sentinel down-after-milliseconds mymaster 10000
sentinel failover-timeout mymaster 30000"
    sentinels="$sentinels${sentinels:+, }127.0.0.1:$started"
done

cfg() {
    cat >"$tmp/psw-$1.yaml" <<EOF
redis.sentinels: [$sentinels]
redis.sentinel_master: mymaster
redis.min_replicas_acked: $1
http.allow_private_networks: true
log.level: warn
EOF
    echo "$tmp/psw-$1.yaml"
}
PSW_CONFIG=$(cfg 0) "$bin/psw-bench" endpoints --account acct_m --url http://127.0.0.1:9/m \
    --count 1 >/dev/null

echo "Redis $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/'), primary :$primary, replica :$replica," \
    "sentinels $sentinels; $n events per run, 1 endpoint"
printf '%-20s %6s %6s %12s\n' "min_replicas_acked" batch procs "events/s"
for batch in 64 1; do
    for procs in 1 4; do
        for acked in 0 1; do
            count=$n
            [ "$batch" -eq 1 ] && count=$((n / 4))
            out=$(PSW_CONFIG=$(cfg "$acked") "$bin/psw-bench" publish --account acct_m \
                --count "$count" --batch "$batch" --procs "$procs")
            rate=$(sed -n 's/.*rate=\([0-9]*\).*/\1/p' <<<"$out")
            failed=$(sed -n 's/.*failed=\([0-9]*\).*/\1/p' <<<"$out")
            printf '%-20s %6s %6s %12s%s\n' "$acked" "$batch" "$procs" "$rate" \
                "$([ "${failed:-0}" -gt 0 ] && echo "  ($failed failed)")"
        done
    done
done
