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

# shellcheck source=bench/lib/apistack.sh
. "$root/bench/lib/apistack.sh"
stack_start psw-dash-bench

ep=$(psw --json endpoint create --account acct_perf --url http://127.0.0.1:9/hooks |
    sed -n 's/.*"id": *"\(ep_[0-9A-Z]*\)".*/\1/p' | head -n 1)
token=$(stack_token acct_perf)
[ -n "$ep" ] && [ -n "$token" ] || { echo "dashboard.sh: could not create the endpoint or token" >&2; exit 1; }

t0=$(date +%s%3N)
fill_deliveries "$rport" "$ep" "$n"
echo "filled $(R zcard "psw:endpoint:$ep:deliveries") deliveries of $ep in $(( $(date +%s%3N) - t0 )) ms;" \
     "redis used_memory $(R info memory | sed -n 's/^used_memory_human:\(.*\)\r$/\1/p')"

stack_api

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
