#!/usr/bin/env bash
# bench/dashboard.sh — how fast the dashboard's endpoint screen opens on an
# endpoint with a million deliveries (docs/performance.md, "Dashboard").
#
# Starts a throwaway redis-server (temporary directory, loopback, free port,
# no persistence), creates one endpoint with psw, fills its delivery log with
# N deliveries written in the real key layout (docs/redis.md) by a Lua script
# in batches, starts psw-api (release build), then:
#   - times the API calls the screen makes (curl, 20 runs each, median);
#   - opens the endpoint screen in chromium (tests/browser/dashboard.mjs perf)
#     and times navigation -> first page of deliveries on screen, and ->
#     a delivery's attempts opened, 5 runs.
# Everything it started is stopped at the end; nothing is left on disk.
#
# usage: bench/dashboard.sh [N]     (default 1000000)
# Environment: BENCH_BIN (programs, default bin/), BENCH_KEEP=1 keeps the directory.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=${BENCH_BIN:-$root/bin}
n=${1:-1000000}
batch=100000

command -v redis-server >/dev/null && command -v redis-cli >/dev/null && command -v curl >/dev/null ||
    { echo "dashboard.sh: needs redis-server, redis-cli and curl (scripts/deps.sh bench)" >&2; exit 1; }
[ -x /usr/bin/chromium ] && [ -d "$root/tests/browser/node_modules/playwright-core" ] ||
    { echo "dashboard.sh: needs chromium and tests/browser's node_modules (scripts/deps.sh test)" >&2; exit 1; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/psw-dash-bench.XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "kept $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

rport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --dir "$dir" --save '' --appendonly no \
    --logfile "$dir/redis.log" --daemonize no &
pids+=($!)
R() { redis-cli -p "$rport" "$@"; }
for _ in $(seq 100); do R ping >/dev/null 2>&1 && break; sleep 0.05; done

aport=$(free_port)
cat > "$dir/psw.yaml" <<EOF
redis:
  url: redis://127.0.0.1:$rport/0
api:
  listen: 127.0.0.1:$aport
  rate_limit: 0
http:
  allow_private_networks: true
log:
  level: warn
EOF
psw() { "$bin/psw" --config "$dir/psw.yaml" "$@"; }

ep=$(psw --json endpoint create --account acct_perf --url http://127.0.0.1:9/hooks |
    sed -n 's/.*"id": *"\(ep_[0-9A-Z]*\)".*/\1/p' | head -n 1)
token=$(psw --json token create --name bench --account acct_perf |
    sed -n 's/.*"token": *"\(psw_[^"]*\)".*/\1/p')
[ -n "$ep" ] && [ -n "$token" ] || { echo "dashboard.sh: could not create the endpoint or token" >&2; exit 1; }

# One batch: deliveries i0+1 .. i0+count, one every 10 ms back from now, every
# tenth failed, the rest delivered; the newest 100 with an event and an attempt
# record so the screen's Details have something to open.
fill='
local P, ep, i0, count, now = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local idx = P .. "endpoint:" .. ep .. ":deliveries"
local z = {}
for i = i0 + 1, i0 + count do
  local id = string.format("dlv_0%025d", i)
  local evt = string.format("evt_0%025d", i)
  local at = now - i * 10
  local failed = (i % 10 == 0)
  redis.call("HSET", P .. "delivery:" .. id, "id", id, "event_id", evt, "endpoint_id", ep,
    "account_id", "acct_perf", "event_type", "email.delivered",
    "state", failed and "failed" or "delivered", "attempts", "1", "created_at", at,
    "first_attempt_at", at + 5, "last_attempt_at", at + 5,
    "delivered_at", failed and "" or (at + 17), "last_status", failed and "500" or "200",
    "last_error", failed and "http: status 500" or "", "last_latency_ms", "12",
    "failed_reason", failed and "exhausted" or "", "trigger", "first")
  if i <= 100 then
    redis.call("HSET", P .. "event:" .. evt, "id", evt, "type", "email.delivered",
      "account_id", "acct_perf", "domain", "mail.example.com", "created_at", at,
      "body", "{\"id\":\"" .. evt .. "\",\"type\":\"email.delivered\"}", "published_at", at,
      "deliveries", "1")
    redis.call("RPUSH", P .. "delivery:" .. id .. ":attempts",
      "{\"n\":1,\"at\":" .. (at + 5) .. ",\"ended_at\":" .. (at + 17) ..
      ",\"trigger\":\"first\",\"request\":{\"url\":\"http://127.0.0.1:9/hooks\",\"headers\":{}}," ..
      "\"response\":{\"status\":200,\"headers\":{},\"body\":\"ok\",\"body_bytes\":2,\"body_truncated\":false}," ..
      "\"status\":200,\"latency_ms\":12,\"error\":null}")
  end
  z[#z + 1] = at
  z[#z + 1] = id
  if #z >= 2000 then redis.call("ZADD", idx, unpack(z)) z = {} end
end
if #z > 0 then redis.call("ZADD", idx, unpack(z)) end
return count
'
now=$(( $(date +%s%3N) ))
t0=$(date +%s%3N)
for (( i0 = 0; i0 < n; i0 += batch )); do
    c=$(( n - i0 < batch ? n - i0 : batch ))
    R eval "$fill" 0 "psw:" "$ep" "$i0" "$c" "$now" >/dev/null
done
echo "filled $(R zcard "psw:endpoint:$ep:deliveries") deliveries of $ep in $(( $(date +%s%3N) - t0 )) ms;" \
     "redis used_memory $(R info memory | sed -n 's/^used_memory_human:\(.*\)\r$/\1/p')"

"$bin/psw-api" --config "$dir/psw.yaml" >"$dir/api.log" 2>&1 &
pids+=($!)
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$aport/readyz" >/dev/null 2>&1 && break; sleep 0.05; done

median_ms() { # url: median of 20 timed GETs
    local url=$1 t=()
    for _ in $(seq 20); do
        t+=("$(curl -s -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $token" "$url")")
    done
    printf '%s\n' "${t[@]}" | sort -n | sed -n 10p | awk '{printf "%.1f", $1 * 1000}'
}
base="http://127.0.0.1:$aport"
echo "API, median of 20:"
echo "  GET /v1/endpoints/{id}                         $(median_ms "$base/v1/endpoints/$ep") ms"
echo "  GET /v1/endpoints/{id}/deliveries?limit=50     $(median_ms "$base/v1/endpoints/$ep/deliveries?limit=50") ms"
echo "  GET /v1/endpoints/{id}/deliveries?state=failed $(median_ms "$base/v1/endpoints/$ep/deliveries?limit=50&state=failed") ms"
echo "  GET /v1/endpoints/{id}/stats                   $(median_ms "$base/v1/endpoints/$ep/stats") ms"

PSW_API=$base PSW_TOKEN=$token PSW_EP=$ep PSW_ACCOUNT=acct_perf PSW_OUT="$dir/perf.json" \
    node "$root/tests/browser/dashboard.mjs" perf
python3 - "$dir/perf.json" <<'EOF'
import json, sys, statistics
r = json.load(open(sys.argv[1]))
i = [x["interactive_ms"] for x in r["runs"]]
d = [x["details_ms"] for x in r["runs"]]
print(f"browser, endpoint screen ({len(i)} runs): first page of {r['rows']} deliveries on screen "
      f"median {statistics.median(i):.0f} ms (max {max(i)}), a delivery's attempts open "
      f"median {statistics.median(d):.0f} ms (max {max(d)})")
EOF
