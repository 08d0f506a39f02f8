#!/usr/bin/env bash
# bench/profile.sh — instructions per delivery, counted by valgrind's
# callgrind: exact and repeatable, unlike CPU time on a shared machine.
#
# Runs redis-server and one worker child (worker.processes 1, concurrency 64)
# under callgrind, with psw-receiver and psw-bench native. Counters are zeroed
# once everything is idle, then N events to one endpoint are published and
# delivered, and both profiles are dumped: Redis's instructions then cover
# publish, claim and completion of exactly N deliveries, the child's its
# claims, requests and completions.
#
# usage: bench/profile.sh [N]        (default 3000)
# Environment: BENCH_BIN, BENCH_TOOLS as for bench/run.sh; PROFILE_CONFIG adds
# configuration lines; PROFILE_REDIS_ARGS adds redis-server options (the
# default is AOF appendfsync everysec, as in production); PROFILE_KEEP=1 keeps
# the callgrind files (callgrind_annotate FILE); PROFILE_STATS=1 prints the
# Redis commands per delivery by name (INFO commandstats). Afterwards, psw publish of an
# NDJSON file of N events runs under callgrind too: the publisher's own
# instructions per event. Last, the floor: the same Redis commands replayed
# without scripts (PROFILE_FLOOR=0 skips it; see floor() below).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=${BENCH_BIN:-$root/bin}
tools=${BENCH_TOOLS:-$bin}
n=${1:-3000}
secret="whsec_bench_secret_0123456789abcdef"
for p in valgrind callgrind_control callgrind_annotate redis-server redis-cli; do
    command -v "$p" >/dev/null || { echo "bench/profile.sh: $p missing" >&2; exit 1; }
done

tmp=$(mktemp -d /tmp/psw-profile.XXXXXX)
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    if [ "${PROFILE_KEEP:-0}" = 1 ]; then echo "files kept in $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

# redis_callgrind PORT DIR NAME: redis-server under callgrind on PORT, its
# data in DIR, its files DIR/NAME.cg, .log and .vg; its pid in cg_pid once
# it answers
redis_callgrind() {
    # shellcheck disable=SC2086
    valgrind --tool=callgrind --callgrind-out-file="$2/$3.cg" \
        redis-server --port "$1" --bind 127.0.0.1 --dir "$2" --appendonly yes \
        --appendfsync everysec --save "" --logfile "$2/$3.log" \
        ${PROFILE_REDIS_ARGS:-} >"$2/$3.vg" 2>&1 &
    cg_pid=$!
    pids+=("$cg_pid")
    for _ in $(seq 1 300); do
        redis-cli -p "$1" ping >/dev/null 2>&1 && break
        sleep 0.1
    done
}

port=$((20000 + RANDOM % 20000))
redis_callgrind "$port" "$tmp" redis
rpid=$cg_pid
rcli() { redis-cli -p "$port" "$@"; }

"$tools/psw-receiver" --port 0 --quiet --secret "$secret" >"$tmp/rx.log" 2>&1 &
pids+=($!)
sleep 0.5
rx=$(sed -n 's|.*listening on \(http://[^ ]*\)/ .*|\1|p' "$tmp/rx.log")
{
    echo "redis.url: redis://127.0.0.1:$port/0"
    echo "redis.command_timeout: 60s"
    echo "worker.processes: 1"
    echo "worker.concurrency: 64"
    echo "http.allow_private_networks: true"
    echo "log.level: warn"
    if [ -n "${PROFILE_CONFIG:-}" ]; then printf '%s\n' "$PROFILE_CONFIG"; fi
} | awk -F: '{ if (!($1 in v)) order[++n] = $1; v[$1] = $0 }
             END { for (i = 1; i <= n; i++) print v[order[i]] }' >"$tmp/psw.yaml"
export PSW_CONFIG=$tmp/psw.yaml
"$tools/psw-bench" endpoints --account acct_p --url "$rx/p" --secret "$secret" >/dev/null

valgrind --tool=callgrind --trace-children=yes --callgrind-out-file="$tmp/worker.cg.%p" \
    "$bin/psw-worker" >"$tmp/worker.log" 2>&1 &
wpid=$!
pids+=("$wpid")
for _ in $(seq 1 600); do
    [ "$(rcli zcard psw:workers)" -ge 1 ] && break
    sleep 0.1
done
child=$(pgrep -P "$wpid" | head -1)
sleep 2 # idle: parked
# the AOF, for the floor below (none with PROFILE_REDIS_ARGS="--appendonly no")
aof=$(ls "$tmp"/appendonlydir/*.incr.aof 2>/dev/null || true)
aof0=$( [ -n "$aof" ] && stat -c %s "$aof" || echo 0)
callgrind_control -z "$rpid" >/dev/null
callgrind_control -z "$child" >/dev/null
rcli config resetstat >/dev/null

"$tools/psw-bench" publish --account acct_p --count "$n" >"$tmp/publish.txt"
for _ in $(seq 1 3000); do
    [ "$(rcli hget psw:stats delivered)" = "$n" ] && break
    sleep 0.2
done
delivered=$(rcli hget psw:stats delivered)
callgrind_control -d "$rpid" >/dev/null
callgrind_control -d "$child" >/dev/null
aof1=$( [ -n "$aof" ] && stat -c %s "$aof" || echo 0)
aof_now=$(ls "$tmp"/appendonlydir/*.incr.aof 2>/dev/null || true)
sleep 1
ir() { callgrind_annotate "$1" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }'; }
rfile=$(ls -t "$tmp"/redis.cg* | grep -v '\.cg$' | head -1)
wfile=$(ls -t "$tmp"/worker.cg."$child"* | grep -v "\\.$child\$" | head -1)
r_ir=$(ir "$rfile")
w_ir=$(ir "$wfile")
calls=$(rcli info commandstats | tr -d '\r' | awk -F'[:=,]' '/^cmdstat_/ && !/^cmdstat_(info|config|hget|zcard|ping)[:|]/ { s += $3 } END { print s }')
evalsha=$(rcli info commandstats | tr -d '\r' | awk -F'[:=,]' '/^cmdstat_evalsha:/ { print $3 }')
if [ "${PROFILE_STATS:-0}" = 1 ]; then # which commands, per delivery (scripts' included)
    # (hget also counts this script's polling, about 5 a second)
    rcli info commandstats | tr -d '\r' | awk -F'[:=,]' -v n="$n" '
        /^cmdstat_/ && !/^cmdstat_(info|config|zcard|ping)[:|]/ {
            sub("cmdstat_", "", $1); printf "  %-16s %6.2f per delivery\n", $1, $3 / n }' |
        sort -k2 -n -r >&2
fi
echo "delivered=$delivered redis_ir_per_delivery=$((r_ir / n)) worker_ir_per_delivery=$((w_ir / n))" \
     "redis_commands_per_delivery=$(awk -v a="$calls" -v b="$n" 'BEGIN { printf "%.1f", a / b }')" \
     "evalsha_per_delivery=$(awk -v a="$evalsha" -v b="$n" 'BEGIN { printf "%.2f", a / b }')"

# The publisher: psw publish of an NDJSON file of N events (parsing,
# normalizing, pipelining), its own instructions per event.
"$tools/psw-bench" events --account acct_p --count "$n" >"$tmp/events.ndjson"
valgrind --tool=callgrind --callgrind-out-file="$tmp/publish.cg" \
    "$bin/psw" publish "$tmp/events.ndjson" >"$tmp/psw-publish.out" 2>"$tmp/psw-publish.vg"
p_ir=$(ir "$tmp/publish.cg")
echo "publisher_ir_per_event=$((p_ir / n)) (psw publish of $n NDJSON events)"

# The floor the key layout sets (docs/performance.md, "What the key layout
# costs on its own"): the write commands the scripts made for the N
# deliveries, as Redis logged them in its AOF, and the reads the scripts make
# per delivery (bench/lib/floor.py), replayed as plain commands into a fresh
# redis-server under callgrind, with the same options as above. "commands" is what
# executing them and appending them to the AOF cost (processCommand), the
# total adds reading them off the socket.
floor() {
    local fport fpid d w r nd cw cr
    if [ -z "$aof" ]; then
        echo "floor: skipped (Redis kept no AOF to replay)" >&2
        return
    fi
    if [ "$aof_now" != "$aof" ] || [ "$aof1" -le "$aof0" ]; then
        echo "floor: skipped (Redis rewrote its AOF during the run)" >&2
        return
    fi
    nd=$(python3 "$root/bench/lib/floor.py" "$aof" "$aof0" "$aof1" "$tmp/floor-writes.aof" \
        "$tmp/floor-reads.resp")
    if [ "$nd" -eq 0 ]; then
        echo "floor: skipped (no new delivery in the AOF's part of the run)" >&2
        return
    fi
    d=$tmp/floor
    mkdir -p "$d"
    fport=$((port + 1))
    redis_callgrind "$fport" "$d" floor
    fpid=$cg_pid
    callgrind_control -z "$fpid" >/dev/null
    redis-cli -p "$fport" --pipe <"$tmp/floor-writes.aof" >"$d/writes.out"
    callgrind_control -d writes "$fpid" >/dev/null
    redis-cli -p "$fport" --pipe <"$tmp/floor-reads.resp" >"$d/reads.out"
    callgrind_control -d reads "$fpid" >/dev/null
    if ! grep -q 'errors: 0,' "$d/writes.out" || ! grep -q 'errors: 0,' "$d/reads.out"; then
        echo "floor: the replay had errors ($d)" >&2
        return
    fi
    w=$d/floor.cg.1 # callgrind numbers its dumps: writes, then reads
    r=$d/floor.cg.2
    incl() { callgrind_annotate --inclusive=yes "$1" 2>/dev/null |
             awk '/:processCommand / { gsub(",", "", $1); print $1; exit }'; }
    cw=$(incl "$w")
    cr=$(incl "$r")
    echo "floor_ir_per_delivery=$(( ($(ir "$w") + $(ir "$r")) / nd ))" \
         "floor_commands_ir_per_delivery=$(( (cw + cr) / nd ))" \
         "(writes $((cw / nd)) + reads $((cr / nd)); the same commands for $nd deliveries" \
         "sent plainly, no script)"
}
if [ "${PROFILE_FLOOR:-1}" = 1 ]; then floor; fi
if [ "${PROFILE_KEEP:-0}" = 1 ]; then
    cp "$tmp/publish.cg" "$tmp/publish.profile"
    cp "$rfile" "$tmp/redis.profile"
    cp "$wfile" "$tmp/worker.profile"
    echo "profiles: $tmp/redis.profile $tmp/worker.profile $tmp/publish.profile" >&2
fi
