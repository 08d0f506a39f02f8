#!/usr/bin/env bash
# bench/api.sh — the HTTP API's numbers (docs/performance.md, "HTTP API");
# run alone or as scenario 9 of bench/run.sh. Never part of make test.
#
# Starts a throwaway redis-server (temporary directory, loopback, free port,
# no persistence) and the release psw-api (api.threads 4, api.rate_limit 0),
# no workers: deliveries stay queued. Then:
#   1. publish: E events of ~1 KB to one endpoint, first with `psw publish`
#      of an NDJSON file (psw_publish_many, pipelined), then, on a flushed
#      database, POST /v1/events with batches of 100 of the same events
#      (wrk, 1 connection like psw publish, then 4, D seconds each); events/s
#      of each and the ratios.
#   2. page: an endpoint holding N deliveries (bench/lib/fill.sh), one client
#      GETting /v1/endpoints/{id}/deliveries?limit=50 for D seconds (wrk
#      --latency): p50/p99.
#   3. idle: the same with 200 more keep-alive connections open to psw-api,
#      each having made one request and then idle (python3).
# The last line sums it up as key=value pairs for bench/run.sh.
#
# usage: bench/api.sh [--deliveries N] [--events E] [--duration D]
#        (defaults 1000000, 50000, 10)
# Environment: BENCH_BIN (programs, default bin/), BENCH_KEEP=1 keeps the directory.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=${BENCH_BIN:-$root/bin}
n=1000000
events=50000
dur=10
idle_clients=200
while [ $# -gt 0 ]; do
    case "$1" in
    --deliveries) n=$2; shift 2 ;;
    --events) events=$2; shift 2 ;;
    --duration) dur=$2; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "bench/api.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
# shellcheck source=bench/lib/fill.sh
. "$root/bench/lib/fill.sh"

for p in redis-server redis-cli curl wrk python3; do
    command -v "$p" >/dev/null || { echo "bench/api.sh: $p missing (scripts/deps.sh bench)" >&2; exit 1; }
done
for p in psw psw-api psw-bench; do
    [ -x "$bin/$p" ] || { echo "bench/api.sh: $bin/$p missing (run make)" >&2; exit 1; }
done

# shellcheck source=bench/lib/apistack.sh
. "$root/bench/lib/apistack.sh"
stack_start psw-api-bench "  threads: 4
  connection_timeout: 10m"
stack_on_exit 'touch "$dir/idle.stop"'
ms_now() { date +%s%3N; }
div() { awk -v a="$1" -v b="$2" -v p="${3:-0}" 'BEGIN { if (b > 0) printf "%.*f", p, a / b; else print "n/a" }'; }

# setup -> ep, token: one endpoint of acct_perf (every event becomes one
# queued delivery), an account token (reads) and an admin token (publishing
# needs one: docs/api.md)
setup() {
    ep=$(psw --json endpoint create --account acct_perf --url http://127.0.0.1:9/hooks |
        sed -n 's/.*"id": *"\(ep_[0-9A-Z]*\)".*/\1/p' | head -n 1)
    token=$(stack_token acct_perf)
    admin=$(stack_token)
    [ -n "$ep" ] && [ -n "$token" ] && [ -n "$admin" ] || { echo "bench/api.sh: could not create the endpoint or token" >&2; exit 1; }
}

stack_api
redis_pid=${pids[0]} api_pid=${pids[1]}

echo "bench/api.sh — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start"

# ---- 1. publish ------------------------------------------------------------------------
# psw-bench's events padded to ~1 KB each; the same lines as NDJSON for psw
# publish and as {"events":[...]} bodies of 100 for wrk.
"$bin/psw-bench" events --account acct_perf --count "$events" | python3 -c '
import json, sys
out, bodies, batch = open(sys.argv[1], "w"), open(sys.argv[2], "w"), []
for line in sys.stdin:
    ev = json.loads(line)
    ev["data"]["pad"] = ""
    s = json.dumps(ev, separators=(",", ":"))
    ev["data"]["pad"] = "x" * max(0, 1024 - len(s))
    s = json.dumps(ev, separators=(",", ":"))
    out.write(s + "\n")
    batch.append(s)
    if len(batch) == 100:
        bodies.write("{\"events\":[" + ",".join(batch) + "]}\n")
        batch = []
' "$dir/events.ndjson" "$dir/bodies.txt"
ev_bytes=$(( $(wc -c <"$dir/events.ndjson") / events ))

setup
t0=$(ms_now)
psw publish "$dir/events.ndjson" >/dev/null
t1=$(ms_now)
cli_rate=$(div $((events * 1000)) $((t1 - t0)))
echo "1. publish, $events events of $ev_bytes bytes to one endpoint, no workers (deliveries stay queued)"
echo "   psw publish (NDJSON file, psw_publish_many):  $events events in $((t1 - t0)) ms = $cli_rate events/s"

# fresh: an empty database, a new endpoint and admin token, post.lua for them.
# Every measurement starts from here, so that the later one does not publish
# into a database the earlier one filled (a bigger keyspace, rehashing).
fresh() {
    R flushall >/dev/null
    setup
    cat > "$dir/post.lua" <<EOF
-- POST the bodies of $dir/bodies.txt in turn; one line = one batch of 100
local bodies, i = {}, 0
for l in io.lines("$dir/bodies.txt") do bodies[#bodies + 1] = l end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $admin"
request = function()
  i = i % #bodies + 1
  return wrk.format(nil, "/v1/events", nil, bodies[i])
end
done = function(summary, latency, requests)
  io.write(string.format("wrk requests=%d duration_us=%d non2xx=%d errors=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
EOF
}
fresh
# one batch by curl first, so that a refused body shows its answer
head -n 1 "$dir/bodies.txt" >"$dir/one.json"
code=$(curl -s -o "$dir/one.out" -w '%{http_code}' -H "Authorization: Bearer $admin" \
    -H 'Content-Type: application/json' --data-binary @"$dir/one.json" "$base/v1/events")
case "$code" in 2*) ;; *) echo "bench/api.sh: POST /v1/events answered $code:" >&2; cat "$dir/one.out" >&2; exit 1 ;; esac
kv() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2" | head -1; }
# post C: wrk with C connections for D seconds -> api_rate
# cpu_ms PID: user + system CPU time of a process so far, in ms
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{ print int(($14 + $15) * 1000 / hz) }' "/proc/$1/stat"; }
post() {
    local c=$1 out reqs r0 a0
    fresh
    r0=$(cpu_ms "$redis_pid") a0=$(cpu_ms "$api_pid")
    out=$(wrk -t1 -c"$c" -d"${dur}s" --timeout 10s -s "$dir/post.lua" "$base/v1/events" | grep '^wrk ')
    reqs=$(kv requests "$out")
    api_rate=$(div $((reqs * 100 * 1000000)) "$(kv duration_us "$out")")
    echo "   POST /v1/events, batches of 100, wrk -c$c, ${dur} s: $((reqs * 100)) events = $api_rate events/s" \
         "= $(div "$api_rate" "$cli_rate" 2)x psw publish (p50 $(div "$(kv p50_us "$out")" 1000 1) ms," \
         "p99 $(div "$(kv p99_us "$out")" 1000 1) ms per batch; non-2xx $(kv non2xx "$out"), socket errors $(kv errors "$out"))"
    echo "     CPU per event: redis-server $(div $(( ($(cpu_ms "$redis_pid") - r0) * 1000 )) $((reqs * 100)) 1) us," \
         "psw-api $(div $(( ($(cpu_ms "$api_pid") - a0) * 1000 )) $((reqs * 100)) 1) us"
}
# one connection against psw publish's one connection, then 4 (api.threads)
post 1
api_rate1=$api_rate
echo "   $(R eval "return #redis.call('KEYS', 'psw:event:*')" 0) events stored by the API by 1 connection"
post 4
echo "   $(R eval "return #redis.call('KEYS', 'psw:event:*')" 0) events stored by the API by 4 connections"
ratio=$(div "$api_rate1" "$cli_rate" 2)
ratio4=$(div "$api_rate" "$cli_rate" 2)
echo "   ratio API / psw_publish_many: $ratio with one connection each, $ratio4 with 4 (goal >= 0.8)"

# ---- 2. a delivery-log page of an endpoint with N deliveries --------------------------
R flushall >/dev/null
setup
t0=$(ms_now)
fill_deliveries "$rport" "$ep" "$n"
echo "2. delivery-log page: filled $(R zcard "psw:endpoint:$ep:deliveries") deliveries of one endpoint" \
     "in $(( $(ms_now) - t0 )) ms (redis used_memory $(R info memory | sed -n 's/^used_memory_human:\(.*\)\r$/\1/p'))"

page_url="$base/v1/endpoints/$ep/deliveries?limit=50"
cat > "$dir/get.lua" <<EOF
wrk.headers["Authorization"] = "Bearer $token"
done = function(summary, latency, requests)
  io.write(string.format("wrk requests=%d duration_us=%d non2xx=%d errors=%d p50_us=%d p99_us=%d max_us=%d\n",
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
EOF
rows=$(curl -sf -H "Authorization: Bearer $token" "$page_url" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["data"]))' 2>/dev/null || echo "?")
page() { # label
    local o
    o=$(wrk -t1 -c1 -d"${dur}s" --timeout 10s -s "$dir/get.lua" "$page_url" | grep '^wrk ')
    p50=$(div "$(kv p50_us "$o")" 1000 2)
    p99=$(div "$(kv p99_us "$o")" 1000 2)
    echo "   $1: $(kv requests "$o") requests in ${dur} s, p50 $p50 ms, p99 $p99 ms," \
         "max $(div "$(kv max_us "$o")" 1000 1) ms (non-2xx $(kv non2xx "$o"), socket errors $(kv errors "$o"))"
}
page "GET /v1/endpoints/{id}/deliveries?limit=50 ($rows rows), one client (wrk -c1)"
page_p50=$p50 page_p99=$p99

# ---- 3. the same with 200 idle keep-alive clients -------------------------------------
python3 - "$aport" "$idle_clients" "$dir/idle.stop" >"$dir/idle.out" 2>&1 <<'EOF' &
import socket, sys, time, os, errno
port, n, stop = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
socks = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n")
    got = b""
    while b"\r\n\r\n" not in got:
        got += s.recv(4096)
    socks.append(s)
print("ready", len(socks), flush=True)
deadline = time.time() + 600
while not os.path.exists(stop) and time.time() < deadline:
    time.sleep(0.1)
still = 0
for s in socks:
    s.setblocking(False)
    try:
        still += 1 if s.recv(4096) else 0   # data would be unexpected; b"" = closed
    except OSError as e:
        still += 1 if e.errno in (errno.EAGAIN, errno.EWOULDBLOCK) else 0
print("open", still, flush=True)
EOF
idle_pid=$!
pids+=("$idle_pid")
for _ in $(seq 200); do grep -q '^ready' "$dir/idle.out" && break; sleep 0.05; done
grep -q '^ready' "$dir/idle.out" || { echo "bench/api.sh: idle clients failed:" >&2; cat "$dir/idle.out" >&2; exit 1; }
page "the same with $idle_clients idle keep-alive connections open"
idle_p99=$p99
touch "$dir/idle.stop"
wait "$idle_pid" || true
echo "   idle connections still open at the end: $(sed -n 's/^open //p' "$dir/idle.out") of $idle_clients"
echo "   load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "api cli_rate=$cli_rate api_rate1=$api_rate1 ratio=$ratio api_rate=$api_rate ratio4=$ratio4 deliveries=$n page_p50=$page_p50 page_p99=$page_p99 idle_p99=$idle_p99"
