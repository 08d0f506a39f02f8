#!/usr/bin/env bash
# bench/dashboard.sh — how fast the dashboard's endpoint screen opens on an
# endpoint with a million deliveries (docs/performance.md, "Dashboard").
#
# Starts a throwaway redis-server (temporary directory, loopback, free port,
# no persistence), creates one endpoint with psw, fills its delivery log with
# N deliveries written in the real key layout (docs/redis.md) by bench/lib/fill.sh
# (shared with bench/api.sh), starts psw-api (release build), then:
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
# shellcheck source=bench/lib/fill.sh
. "$root/bench/lib/fill.sh"

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

t0=$(date +%s%3N)
fill_deliveries "$rport" "$ep" "$n"
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
