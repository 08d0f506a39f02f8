#!/usr/bin/env bash
# bench/run.sh — the benchmark (make bench; never part of make test).
#
# Starts a throwaway redis-server (its own temporary directory, loopback, a
# free port, AOF appendfsync everysec as in production), then for each
# scenario a fresh database, psw-receiver, psw-scheduler and psw-worker
# (release build), runs the scenario with a time bound, prints its numbers
# and the command that reruns it alone, and at the end one table.
#
# usage: bench/run.sh [--scenario LIST] [--events N]
#   --scenario 1,3,7   run only these (default: all, 1-10 and ordered; 2 and the
#                      percentages of 5 use scenario 1's result when it ran)
#   --events N         events of scenario 1 (default 200000)
# Environment: BENCH_BIN (programs, default bin/), BENCH_TOOLS (psw-bench and
# psw-receiver, default BENCH_BIN), BENCH_REDIS_ARGS (extra redis-server
# options, e.g. "--appendonly no"), BENCH_WORKERS (worker.processes, 2),
# BENCH_CONCURRENCY (worker.concurrency, 64), BENCH_KEEP=1 keeps the
# directory with every log, BENCH_CONFIG adds lines to every scenario's
# configuration (e.g. $'endpoint.max_in_flight: 0'), BENCH_PERF=1 records a
# perf profile of scenario 1 (Redis, worker children, receiver), BENCH_SLOWLOG=1
# logs every Redis command of scenario 1 and prints the time per script.
#
# Scenarios (see docs/performance.md for what each one means):
#   1 throughput   N events to one fast endpoint, as fast as possible
#   2 ceiling      wrk against the same receiver, same body, keep-alive
#   3 latency      1,000 events/s for 30 s: publish -> receive p50/p99/max
#   4 fan-out      1,000 endpoints of one account (different paths), 200 events
#   5 isolation    20 endpoints, one hangs until the request timeout
#   6 retry        10,000 deliveries failing once, 1 s retry: lag after due time
#   1d             psw publish of an NDJSON file while the workers run, against 1's rate
#                  (BENCH_PUBLISH=0 skips it, BENCH_PUBLISH_EVENTS: 50,000)
#   1e             HTTPS: scenario 1 over TLS (keep-alive) to psw-receiver with a
#                  self-signed certificate made here, trusted through http.ca_file;
#                  its rate next to 1's (BENCH_HTTPS=0 skips it, BENCH_HTTPS_EVENTS:
#                  100,000)
#   1b, 1c         right after 1: the BullMQ peer (bench/peers/bullmq/) on the same
#                  receiver with the same events; ratio = ours / BullMQ (BENCH_PEER=0
#                  skips it, BENCH_PEER_EVENTS changes its event count)
#   7 cost         Redis commands/round trips/CPU per delivery (from scenario 1's
#                  run when it ran), memory per stored delivery, worker child RSS
#                  with 64 requests in flight
#   8 scaling      two psw-worker processes against one Redis: rate, Redis CPU share
#   10 batches     BENCH_BATCH_EVENTS (100,000) events to one endpoint, drained one
#                  request per event, then in batches of 100: events/s and Redis CPU
#                  per event of both
#   ordered        what `ordered: true` costs: events/s to one endpoint whose
#                  receiver answers after 1 ms, unordered then ordered, same run
#                  (BENCH_ORD_EVENTS: 20,000 unordered, a tenth of it ordered)
#   9 api          bench/api.sh (its own Redis and psw-api): POST /v1/events vs
#                  psw_publish_many, a delivery-log page of 1,000,000 deliveries,
#                  the same with 200 idle keep-alive clients (BENCH_API_ARGS: its options)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=${BENCH_BIN:-$root/bin}
tools=${BENCH_TOOLS:-$bin}
workers=${BENCH_WORKERS:-2}
concurrency=${BENCH_CONCURRENCY:-64}
publishers=${BENCH_PUBLISHERS:-2}
only="1,2,3,4,5,6,7,8,9,10,ordered"
s1_events=200000
secret="whsec_bench_secret_0123456789abcdef"

while [ $# -gt 0 ]; do
    case "$1" in
    --scenario) only=$2; shift 2 ;;
    --events) s1_events=$2; shift 2 ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "bench/run.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
want() { case ",$only," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
rerun() { echo "bench/run.sh --scenario $1${2:+ $2}"; }

for p in psw psw-scheduler psw-worker; do
    [ -x "$bin/$p" ] || { echo "bench/run.sh: $bin/$p missing (run make)" >&2; exit 1; }
done
for p in psw-bench psw-receiver; do
    [ -x "$tools/$p" ] || { echo "bench/run.sh: $tools/$p missing (run make)" >&2; exit 1; }
done
for p in redis-server redis-cli curl jq; do
    command -v "$p" >/dev/null || { echo "bench/run.sh: $p missing (scripts/deps.sh bench)" >&2; exit 1; }
done
ulimit -n 65536 2>/dev/null || ulimit -n 4096 2>/dev/null || true

tmp=$(mktemp -d /tmp/psw-bench.XXXXXX)
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

# ---- redis -------------------------------------------------------------------

# start_redis -> sets rport and rpid: a redis-server in $tmp/DIR on a free port
start_redis() {
    local dir=$tmp/$1 p
    mkdir -p "$dir"
    rport=""
    for _ in $(seq 1 20); do
        p=$((20000 + RANDOM % 20000))
        # shellcheck disable=SC2086
        redis-server --port "$p" --bind 127.0.0.1 --dir "$dir" --appendonly yes \
            --appendfsync everysec --save "" --maxmemory-policy noeviction \
            --logfile "$dir/redis.log" ${BENCH_REDIS_ARGS:-} &
        rpid=$!
        for _ in $(seq 1 50); do
            if redis-cli -p "$p" info server 2>/dev/null | grep -q "^process_id:$rpid"; then
                rport=$p
                break
            fi
            kill -0 "$rpid" 2>/dev/null || break
            sleep 0.1
        done
        if [ -n "$rport" ]; then pids+=("$rpid"); return 0; fi
        kill "$rpid" 2>/dev/null || true
        wait "$rpid" 2>/dev/null || true
    done
    say "no free port for redis-server"; exit 1
}
start_redis redis
port=$rport
redis_pid=$rpid
rcli() { redis-cli -p "$port" "$@"; }
rinfo() { rcli info "$1" | tr -d '\r'; }
info_field() { rinfo "$1" | sed -n "s/^$2:\\(.*\\)/\\1/p"; }
redis_cpu_us() { rinfo cpu | awk -F: '/^used_cpu_(user|sys):/ { s += $2 } END { printf "%.0f", s * 1e6 }'; }
fresh() {
    rcli flushall >/dev/null
    rcli config resetstat >/dev/null
    rcli slowlog reset >/dev/null
}

# ---- processes -----------------------------------------------------------------

# write_config NAME [key: value lines...] -> $tmp/NAME.yaml; a later line
# replaces an earlier one of the same key (the loader refuses duplicates)
write_config() {
    local name=$1; shift
    {
        echo "redis.url: redis://127.0.0.1:$port/0"
        echo "worker.processes: $workers"
        echo "worker.concurrency: $concurrency"
        echo "worker.shutdown_grace: 2s"
        echo "http.allow_private_networks: true"
        echo "http.timeout: 2s"
        echo "http.connect_timeout: 1s"
        echo "limits.max_endpoints_per_account: 5000"
        echo "log.level: warn"
        for l in "$@"; do echo "$l"; done
        if [ -n "${BENCH_CONFIG:-}" ]; then printf '%s\n' "$BENCH_CONFIG"; fi
    } | awk -F: '{ if (!($1 in v)) order[++n] = $1; v[$1] = $0 }
                 END { for (i = 1; i <= n; i++) print v[order[i]] }' >"$tmp/$name.yaml"
    cfg=$tmp/$name.yaml
}

rx_pid=""
rx_url=""
# start_receiver NAME args...
start_receiver() {
    local name=$1; shift
    "$tools/psw-receiver" --port 0 --quiet "$@" >"$tmp/rx-$name.log" 2>&1 &
    rx_pid=$!
    pids+=("$rx_pid")
    for _ in $(seq 1 50); do
        rx_url=$(sed -n 's|.*listening on \(https\{0,1\}://[^ ]*\)/ .*|\1|p' "$tmp/rx-$name.log")
        [ -n "$rx_url" ] && return 0
        sleep 0.1
    done
    say "psw-receiver did not start"; cat "$tmp/rx-$name.log" >&2; exit 1
}
stop_receiver() {
    kill -TERM "$rx_pid" 2>/dev/null || true
    wait "$rx_pid" 2>/dev/null || true
}
rx_ca=""  # the HTTPS receiver's certificate (scenario 1e), for curl
rx_stats() { curl -s --max-time 5 ${rx_ca:+--cacert "$rx_ca"} "$rx_url/stats"; }
rx_reset() { curl -s --max-time 5 ${rx_ca:+--cacert "$rx_ca"} -X DELETE "$rx_url/stats" >/dev/null; }

wpid=""; spid=""
# start_service NAME: scheduler + worker master with $cfg
start_service() {
    local name=$1
    PSW_CONFIG=$cfg "$bin/psw-scheduler" >"$tmp/sched-$name.log" 2>&1 &
    spid=$!
    PSW_CONFIG=$cfg "$bin/psw-worker" >"$tmp/worker-$name.log" 2>&1 &
    wpid=$!
    pids+=("$spid" "$wpid")
    # every child has heartbeated
    for _ in $(seq 1 100); do
        [ "$(rcli zcard psw:workers)" -ge "$workers" ] && return 0
        sleep 0.1
    done
    say "workers did not start"; cat "$tmp/worker-$name.log" >&2; exit 1
}
stop_service() {
    kill -TERM "$wpid" "$spid" 2>/dev/null || true
    wait "$wpid" "$spid" 2>/dev/null || true
}

# wait_rx FIELD N TIMEOUT_S: until the receiver's FIELD >= N, or no progress
# for 15 s, or the timeout. Returns 1 when N was not reached.
wait_rx() {
    local field=$1 n=$2 limit=$(( $(ms_now) + $3 * 1000 )) last=-1 since
    since=$(ms_now)
    while :; do
        local v
        v=$(rx_stats | jq -r ".$field")
        [ "$v" -ge "$n" ] && return 0
        [ "$v" != "$last" ] && { last=$v; since=$(ms_now); }
        if [ $(( $(ms_now) - since )) -gt 15000 ] || [ "$(ms_now)" -gt "$limit" ]; then
            say "  stopped waiting: $field=$v of $n"
            return 1
        fi
        sleep 0.2
    done
}

# rate over first -> last receive: (n - 1) / (last - first)
rx_rate() { rx_stats | jq -r --argjson n "$1" \
    'if .last_ms > .first_ms then (($n - 1) * 1000 / (.last_ms - .first_ms)) | floor else 0 end'; }

# CPU seconds (user + sys) a process has used so far
cpu_s() { awk '{ printf "%.2f", ($14 + $15) / 100 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
children_cpu_s() { local t=0 c; for c in $(pgrep -P "$1"); do t=$(awk -v a="$t" -v b="$(cpu_s "$c")" 'BEGIN { print a + b }'); done; echo "$t"; }

kv() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2" | head -1; }
pctof() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.0f", 100 * a / b; else print "n/a" }'; }
div() { awk -v a="$1" -v b="$2" -v p="${3:-1}" 'BEGIN { if (b > 0) printf "%.*f", p, a / b; else print "n/a" }'; }

failures=0 # set when a scenario lost, duplicated or mis-signed deliveries
rows=()
row() { rows+=("$(printf '| %s | %s | %s | %s |' "$1" "$2" "$3" "$4")"); }

# Others' work on this machine skews every number: say how busy it was.
cpu_sample() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $5 + $6 }' /proc/stat; }
# busy_between "SAMPLE1" "SAMPLE2": % of all CPUs busy in between
busy_between() {
    awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " ");
        u = y[1] - x[1]; i = y[2] - x[2]; printf "%.0f", (u + i) ? 100 * u / (u + i) : 0 }'
}
busy_pct() {
    local a
    a=$(cpu_sample)
    sleep 1
    busy_between "$a" "$(cpu_sample)"
}
idle_busy=$(busy_pct)
if [ "$idle_busy" -gt 10 ]; then
    say "bench: WARNING: the machine is already ${idle_busy}% busy before the benchmark starts;" \
        "the numbers will be lower than this machine allows"
fi
say "bench: redis $(info_field server redis_version) on port $port (AOF everysec), $(nproc) CPUs," \
    "$workers worker children x $concurrency slots; logs in $tmp"

# ---- 1. throughput ------------------------------------------------------------------

s1_rate=""
if want 1 || want 7; then
    say ""
    say "   ($publishers publishing processes; default settings: the endpoint's in-flight limit"
    say "   adapts, up to endpoint.max_in_flight)"
    fresh
    write_config s1 "log.level: info"
    start_receiver s1 --secret "$secret"
    PSW_CONFIG=$cfg "$tools/psw-bench" endpoints --account acct_s1 --url "$rx_url/s1" \
        --secret "$secret" >/dev/null
    start_service s1
    rx_reset
    rcli config resetstat >/dev/null
    cpu0=$(redis_cpu_us)
    c_rx0=$(cpu_s "$rx_pid"); c_w0=$(children_cpu_s "$wpid"); c_s0=$(cpu_s "$spid")
    if [ "${BENCH_SLOWLOG:-0}" = 1 ]; then # every command into SLOWLOG: time per script
        rcli config set slowlog-log-slower-than 0 >/dev/null
        rcli config set slowlog-max-len 1000000 >/dev/null
    fi
    perf_pid=""
    if [ "${BENCH_PERF:-0}" = 1 ]; then # profile Redis, worker children, receiver
        perf record -F 499 -g -o "$tmp/perf.data" \
            -p "$redis_pid,$rx_pid,$(pgrep -P "$wpid" | paste -sd,)" >/dev/null 2>&1 &
        perf_pid=$!
        sleep 0.5
    fi
    t0=$(ms_now)
    m0=$(cpu_sample)
    /usr/bin/time -f "%U %S" -o "$tmp/s1-loadgen.time" \
        env PSW_CONFIG="$cfg" "$tools/psw-bench" publish --account acct_s1 --count "$s1_events" \
        --procs "$publishers" \
        >"$tmp/s1-publish.txt"
    pub=$(cat "$tmp/s1-publish.txt")
    wait_rx unique_events "$s1_events" 300 || true
    t1=$(ms_now)
    m1=$(cpu_sample)
    sleep 0.5 # completions of the last requests
    cpu1=$(redis_cpu_us)
    c_rx1=$(cpu_s "$rx_pid"); c_w1=$(children_cpu_s "$wpid"); c_s1=$(cpu_s "$spid")
    if [ -n "$perf_pid" ]; then
        kill -INT "$perf_pid"; wait "$perf_pid" || true
        say "  perf data: $tmp/perf.data (perf report -i $tmp/perf.data --no-children --sort comm,dso,sym)"
    fi
    st=$(rx_stats)
    rinfo commandstats >"$tmp/s1-commandstats.txt"
    rinfo stats >"$tmp/s1-stats.txt"
    delivered=$(rcli hget psw:stats delivered)
    stop_service s1
    if [ "${BENCH_SLOWLOG:-0}" = 1 ]; then
        PSW_CONFIG=$cfg "$tools/psw-bench" slowlog | sed 's/^/  /' >&2
        rcli config set slowlog-log-slower-than 10000 >/dev/null
        rcli slowlog reset >/dev/null
    fi
    grep -h 'round trips' "$tmp/worker-s1.log" | sed 's/^.*redis round trips/  worker child round trips/' >&2 || true
    uniq=$(jq -r .unique_events <<<"$st")
    dups=$(jq -r .duplicates <<<"$st")
    bad=$(jq -r .bad_signatures <<<"$st")
    s1_rate=$(rx_rate "$uniq")
    lost=$((s1_events - uniq))
    pub_rate=$(kv rate "$pub")
    e2e_rate=$(div $((uniq * 1000)) $((t1 - t0)) 0)
    say "  published $(kv published "$pub") events in $(kv ms "$pub") ms ($pub_rate events/s)"
    say "  received: $uniq unique, $dups duplicates, $bad bad signatures, $lost lost;" \
        "psw:stats delivered=$delivered"
    say "  deliveries/s first -> last receive: $s1_rate   (publish start -> last receive: $e2e_rate/s)"
    say "  CPU seconds used during the run ($(div $((t1 - t0)) 1000 1) s wall, 2 CPUs):" \
        "redis $(div $((cpu1 - cpu0)) 1000000 2), worker children $(awk -v a="$c_w0" -v b="$c_w1" 'BEGIN { print b - a }')," \
        "receiver $(awk -v a="$c_rx0" -v b="$c_rx1" 'BEGIN { print b - a }'), scheduler $(awk -v a="$c_s0" -v b="$c_s1" 'BEGIN { print b - a }')," \
        "load generator $(awk '{ print $1 + $2 }' "$tmp/s1-loadgen.time");" \
        "all CPUs $(busy_between "$m0" "$m1")% busy (kernel network work included)"
    # CPU per delivery by process, for the budget 1b prints (all CPUs busy,
    # kernel included, as the total)
    s1_busy=$(busy_between "$m0" "$m1")
    s1_us_all=$(awk -v p="$s1_busy" -v c="$(nproc)" -v ms=$((t1 - t0)) -v n="$uniq" \
        'BEGIN { printf "%.0f", n ? p / 100 * c * ms * 1000 / n : 0 }')
    s1_us_redis=$(div $((cpu1 - cpu0)) "$uniq" 0)
    s1_us_workers=$(awk -v a="$c_w0" -v b="$c_w1" -v n="$uniq" 'BEGIN { printf "%.0f", n ? (b - a) * 1e6 / n : 0 }')
    s1_us_rx=$(awk -v a="$c_rx0" -v b="$c_rx1" -v n="$uniq" 'BEGIN { printf "%.0f", n ? (b - a) * 1e6 / n : 0 }')
    s1_us_gen=$(awk -v n="$uniq" '{ printf "%.0f", n ? ($1 + $2) * 1e6 / n : 0 }' "$tmp/s1-loadgen.time")
    say "  rerun: $(rerun 1 "--events $s1_events")"
    verdict="ok"
    [ "$lost" -eq 0 ] && [ "$dups" -eq 0 ] && [ "$bad" -eq 0 ] || { verdict="LOST/DUP/BAD"; failures=1; }
    row "1 throughput" "$s1_rate deliveries/s; lost $lost, dup $dups, bad sig $bad ($verdict)" \
        ">= 10,000/s" "$(rerun 1)"

    # scenario 7's share of this run: Redis work per delivery
    evalsha=$(awk -F'[:=,]' '/^cmdstat_evalsha:/ { print $3 }' "$tmp/s1-commandstats.txt")
    blmove=$(awk -F'[:=,]' '/^cmdstat_blmove:/ { print $3 }' "$tmp/s1-commandstats.txt")
    total=$(awk -F'[:=,]' '/^cmdstat_/ && !/^cmdstat_(info|config|slowlog|zcard|hget)/ { s += $3 } END { print s }' \
        "$tmp/s1-commandstats.txt")
    reads=$(sed -n 's/^total_reads_processed:\(.*\)/\1/p' "$tmp/s1-stats.txt")
    s7_cmds=$(div "$total" "$uniq" 1)
    s7_scripts=$(div "$((evalsha + ${blmove:-0}))" "$uniq" 2)
    s7_reads=$(div "$reads" "$uniq" 2)
    s7_cpu=$(div $((cpu1 - cpu0)) "$uniq" 1)
    {
        echo "per delivery, scenario 1 ($uniq deliveries):"
        awk -F'[:=,]' -v n="$uniq" '/^cmdstat_/ && !/^cmdstat_(info|config|slowlog)/ {
            sub("cmdstat_", "", $1); printf "  %-22s %8.2f calls  %8.2f usec\n", $1, $3 / n, $5 / n }' \
            "$tmp/s1-commandstats.txt" | sort -k2 -n -r
    } >"$tmp/s7-breakdown.txt"
fi

# ---- 1d. psw publish -----------------------------------------------------------------------
# Publishing must never be what limits delivery: psw publish of an NDJSON file
# (the same events) while the workers deliver them, against scenario 1's rate.

if want 1 && [ "${BENCH_PUBLISH:-1}" = 1 ]; then
    pub_events=${BENCH_PUBLISH_EVENTS:-50000}
    say ""
    say "== 1d. psw publish: $pub_events events of NDJSON from a file, workers delivering meanwhile"
    fresh
    write_config s1d
    start_receiver s1d --secret "$secret"
    PSW_CONFIG=$cfg "$tools/psw-bench" endpoints --account acct_s1 --url "$rx_url/s1d" \
        --secret "$secret" >/dev/null
    "$tools/psw-bench" events --account acct_s1 --count "$pub_events" >"$tmp/s1d-events.ndjson"
    start_service s1d
    rx_reset
    t0=$(ms_now)
    /usr/bin/time -f "%U %S" -o "$tmp/s1d.time" \
        env PSW_CONFIG="$cfg" "$bin/psw" publish "$tmp/s1d-events.ndjson" >/dev/null
    t1=$(ms_now)
    wait_rx unique_events "$pub_events" 300 || true
    stop_service s1d
    stop_receiver
    s1d_rate=$(div $((pub_events * 1000)) $((t1 - t0)) 0)
    s1d_x=$(div "$s1d_rate" "$s1_rate" 2)
    say "  $pub_events events in $((t1 - t0)) ms = $s1d_rate events/s = ${s1d_x}x scenario 1's" \
        "delivery rate; psw publish used $(awk '{ print $1 + $2 }' "$tmp/s1d.time") CPU s"
    row "1d psw publish (NDJSON file)" "$s1d_rate events/s = ${s1d_x}x scenario 1" ">= 2x" "$(rerun 1)"
fi

# ---- 1e. HTTPS -------------------------------------------------------------------------
# What TLS costs: the same as scenario 1, but the receiver speaks HTTPS with
# keep-alive (a certificate for 127.0.0.1 made now by openssl, trusted by the
# worker through http.ca_file), its rate next to scenario 1's plain HTTP.

if want 1 && [ "${BENCH_HTTPS:-1}" = 1 ]; then
    tls_events=${BENCH_HTTPS_EVENTS:-100000}
    say ""
    say "== 1e. HTTPS: $tls_events events to one endpoint over TLS (keep-alive), default settings"
    mkdir -p "$tmp/tls"
    if ! openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes             -subj /CN=127.0.0.1 -addext "subjectAltName=IP:127.0.0.1" -days 1             -keyout "$tmp/tls/key.pem" -out "$tmp/tls/cert.pem" >"$tmp/tls/openssl.log" 2>&1; then
        say "  openssl req failed:"; cat "$tmp/tls/openssl.log" >&2; exit 1
    fi
    fresh
    write_config s1e "http.ca_file: $tmp/tls/cert.pem"
    start_receiver s1e --secret "$secret" --tls-cert "$tmp/tls/cert.pem" --tls-key "$tmp/tls/key.pem"
    rx_ca=$tmp/tls/cert.pem
    PSW_CONFIG=$cfg "$tools/psw-bench" endpoints --account acct_s1e --url "$rx_url/s1e" \
        --secret "$secret" >/dev/null
    start_service s1e
    rx_reset
    c_rx0=$(cpu_s "$rx_pid"); c_w0=$(children_cpu_s "$wpid")
    t0=$(ms_now)
    PSW_CONFIG=$cfg "$tools/psw-bench" publish --account acct_s1e --count "$tls_events" \
        --procs "$publishers" >"$tmp/s1e-publish.txt"
    wait_rx unique_events "$tls_events" 300 || true
    t1=$(ms_now)
    c_rx1=$(cpu_s "$rx_pid"); c_w1=$(children_cpu_s "$wpid")
    st=$(rx_stats)
    stop_service s1e
    stop_receiver
    rx_ca=""
    uniq=$(jq -r .unique_events <<<"$st")
    dups=$(jq -r .duplicates <<<"$st")
    bad=$(jq -r .bad_signatures <<<"$st")
    s1e_rate=$(jq -r 'if .last_ms > .first_ms then ((.unique_events - 1) * 1000 / (.last_ms - .first_ms)) | floor else 0 end' <<<"$st")
    lost=$((tls_events - uniq))
    w_us=$(awk -v a="$c_w0" -v b="$c_w1" -v n="$uniq" 'BEGIN { if (n > 0) printf "%.1f", (b - a) * 1e6 / n; else print "n/a" }')
    rx_us=$(awk -v a="$c_rx0" -v b="$c_rx1" -v n="$uniq" 'BEGIN { if (n > 0) printf "%.1f", (b - a) * 1e6 / n; else print "n/a" }')
    say "  received: $uniq unique, $dups duplicates, $bad bad signatures, $lost lost"
    say "  HTTPS $s1e_rate deliveries/s; plain HTTP (scenario 1, this run) ${s1_rate:-n/a}/s;" \
        "HTTPS = $(pctof "$s1e_rate" "${s1_rate:-0}")% of it"
    say "  CPU per delivery: worker children $w_us us, receiver $rx_us us"
    verdict="ok"
    [ "$lost" -eq 0 ] && [ "$dups" -eq 0 ] && [ "$bad" -eq 0 ] || { verdict="LOST/DUP/BAD"; failures=1; }
    row "1e HTTPS (TLS, keep-alive)" "$s1e_rate deliveries/s = $(pctof "$s1e_rate" "${s1_rate:-0}")% of scenario 1's plain HTTP; worker children $w_us us CPU per delivery; lost $lost, dup $dups, bad sig $bad ($verdict)" \
        "" "$(rerun 1)"
fi

# ---- 1b/1c. the BullMQ peer -------------------------------------------------------------
# The same events to the same kind of receiver, sent by a BullMQ webhook sender
# (bench/peers/bullmq/) with its own redis-server (same options), N worker processes
# like worker.processes: once at 50 jobs per process (how such a sender is usually
# set up) and once with the same in-flight total as ours (workers x concurrency).

if want 1 && [ "${BENCH_PEER:-1}" = 1 ]; then
    peer_dir=$root/bench/peers/bullmq
    if ! command -v node >/dev/null || [ ! -d "$peer_dir/node_modules/bullmq" ]; then
        say ""
        say "== 1b. BullMQ peer: not installed (scripts/deps.sh bench runs npm ci in $peer_dir)"
        row "1b BullMQ peer" "not installed" "" "$(rerun 1)"
    else
        peer_events=${BENCH_PEER_EVENTS:-$s1_events}
        "$tools/psw-bench" events --count "$peer_events" --normalized >"$tmp/peer-events.ndjson"
        saved_port=$port
        start_redis peer-redis
        peer_port=$rport
        peer_rpid=$rpid
        # run_peer LABEL CONCURRENCY -> peer_rate, peer_line
        run_peer() {
            local label=$1 c=$2 ppid cpu_a cpu_b st u d b
            port=$peer_port
            fresh
            cpu_a=$(redis_cpu_us)
            start_receiver "peer-$label" --secret "$secret"
            rx_reset
            node "$peer_dir/peer.js" --redis "redis://127.0.0.1:$peer_port" --url "$rx_url/peer" \
                --secret "$secret" --events "$tmp/peer-events.ndjson" --procs "$workers" \
                --concurrency "$c" >"$tmp/peer-$label.out" 2>"$tmp/peer-$label.err" &
            ppid=$!
            pids+=("$ppid")
            # node and BullMQ take a while to start on a busy machine: the
            # no-progress bound of wait_rx starts with the first arrival
            for _ in $(seq 1 600); do
                [ "$(rx_stats | jq -r .unique_events)" -gt 0 ] && break
                kill -0 "$ppid" 2>/dev/null || break
                sleep 0.2
            done
            wait_rx unique_events "$peer_events" 900 || true
            st=$(rx_stats)
            cpu_b=$(redis_cpu_us)
            kill -TERM "$ppid" 2>/dev/null || true
            wait "$ppid" 2>/dev/null || true
            stop_receiver
            port=$saved_port
            u=$(jq -r .unique_events <<<"$st")
            d=$(jq -r .duplicates <<<"$st")
            b=$(jq -r .bad_signatures <<<"$st")
            peer_rate=$(jq -r 'if .last_ms > .first_ms then ((.unique_events - 1) * 1000 / (.last_ms - .first_ms)) | floor else 0 end' <<<"$st")
            peer_line="$peer_rate deliveries/s ($u of $peer_events, dup $d, bad sig $b; its Redis $(div $((cpu_b - cpu_a)) "$u" 1) us CPU per delivery)"
        }
        ratio() { div "$s1_rate" "$1" 2; }
        say ""
        say "== 1b. BullMQ peer, as usually set up: $workers processes x 50 concurrent jobs" \
            "($((workers * 50)) in flight), $peer_events events"
        run_peer 50 50
        say "  $peer_line"
        say "  ratio = ours / BullMQ = $(ratio "$peer_rate")  (ours: scenario 1, $s1_rate/s)"
        # What 5x this peer asks of the whole machine: every process (the
        # receiver and the load generator too) and the kernel's network work
        # share these CPUs (docs/performance.md, "The CPU budget of 5×")
        if [ "$peer_rate" -gt 0 ] && [ "${s1_us_all:-0}" -gt 0 ]; then
            say "  budget: 5x this peer = $((peer_rate * 5)) deliveries/s = at most" \
                "$(div "$(($(nproc) * 1000000))" "$((peer_rate * 5))" 0) us of CPU per delivery on" \
                "$(nproc) CPUs, all processes and the kernel together; scenario 1 used" \
                "$s1_us_all us (redis $s1_us_redis, worker children $s1_us_workers," \
                "receiver $s1_us_rx, load generator $s1_us_gen, the rest kernel and others)"
        fi
        row "1b BullMQ peer, 50 per process" "$peer_line; ratio = ours / BullMQ = $(ratio "$peer_rate")" \
            ">= 5" "$(rerun 1)"
        same=$concurrency
        say ""
        say "== 1c. BullMQ peer, same in-flight total as ours: $workers processes x $same" \
            "($((workers * same)) in flight), $peer_events events"
        run_peer same "$same"
        say "  $peer_line"
        say "  ratio = ours / BullMQ = $(ratio "$peer_rate")"
        row "1c BullMQ peer, same in flight as ours ($((workers * same)))" \
            "$peer_line; ratio = ours / BullMQ = $(ratio "$peer_rate")" "" "$(rerun 1)"
        kill -TERM "$peer_rpid" 2>/dev/null || true
        wait "$peer_rpid" 2>/dev/null || true
    fi
fi

# ---- 2. ceiling with wrk -------------------------------------------------------------

if want 2; then
    say ""
    say "== 2. ceiling: wrk against psw-receiver (same body, valid signature, keep-alive)"
    if ! command -v wrk >/dev/null; then
        say "  wrk not installed (scripts/deps.sh bench)"
        row "2 ceiling" "wrk missing" "" "$(rerun 2)"
    else
        start_receiver s2 --secret "$secret"
        "$tools/psw-bench" body >"$tmp/body.json"
        sig=$("$tools/psw-bench" sign --secret "$secret" --body-file "$tmp/body.json")
        evt=$(jq -r .id "$tmp/body.json")
        cat >"$tmp/wrk.lua" <<EOF
local f = io.open("$tmp/body.json", "rb")
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["User-Agent"] = "PostStack-Webhooks/bench"
wrk.headers["X-PostStack-Event-Id"] = "$evt"
wrk.headers["X-PostStack-Event-Type"] = "email.delivered"
wrk.headers["X-PostStack-Delivery-Id"] = "dlv_wrk"
wrk.headers["X-PostStack-Attempt"] = "1"
wrk.headers["X-PostStack-Signature"] = "$sig"
EOF
        out=$(wrk -t2 -c"$((workers * concurrency))" -d10s -s "$tmp/wrk.lua" "$rx_url/s2" 2>&1)
        st=$(rx_stats)
        stop_receiver
        echo "$out" >"$tmp/wrk.out"
        wrk_rate=$(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' <<<"$out" | cut -d. -f1)
        bad=$(jq -r .bad_signatures <<<"$st")
        ok2=$(jq -r .answered_2xx <<<"$st")
        say "  wrk -t2 -c$((workers * concurrency)) -d10s: $wrk_rate requests/s ($ok2 answered 2xx," \
            "$bad bad signatures)"
        share="n/a"
        [ -n "$s1_rate" ] && share=$(pctof "$s1_rate" "$wrk_rate")
        say "  scenario 1 = $share% of it"
        say "  rerun: $(rerun 1,2) (the percentage needs scenario 1)"
        row "2 ceiling (wrk)" "$wrk_rate requests/s; scenario 1 = $share%" "" "$(rerun 1,2)"
    fi
fi

# ---- 3. latency ------------------------------------------------------------------------

if want 3; then
    say ""
    say "== 3. latency: 1,000 events/s for 30 s, publish -> receive"
    fresh
    write_config s3
    start_receiver s3 --secret "$secret"
    PSW_CONFIG=$cfg "$tools/psw-bench" endpoints --account acct_s3 --url "$rx_url/s3" \
        --secret "$secret" >/dev/null
    start_service s3
    rx_reset
    pub=$(PSW_CONFIG=$cfg "$tools/psw-bench" publish --account acct_s3 --count 30000 --rate 1000)
    wait_rx unique_events 30000 60 || true
    st=$(rx_stats)
    stop_service s3
    stop_receiver
    lat() { jq -r ".latency_us.$1" <<<"$st" | awk '{ printf "%.1f", $1 / 1000 }'; }
    uniq=$(jq -r .unique_events <<<"$st")
    say "  published $(kv published "$pub") in $(kv ms "$pub") ms ($(kv rate "$pub")/s); received $uniq"
    say "  latency ms: p50 $(lat p50)  p90 $(lat p90)  p99 $(lat p99)  p99.9 $(lat p999)  max $(lat max)" \
        "(mean $(lat mean), n=$(jq -r .latency_us.count <<<"$st"))"
    say "  rerun: $(rerun 3)"
    row "3 latency @1,000/s" "p50 $(lat p50) ms, p99 $(lat p99) ms, max $(lat max) ms ($uniq received)" \
        "p99 < 25 ms" "$(rerun 3)"
fi

# ---- 4. fan-out ---------------------------------------------------------------------------

if want 4; then
    say ""
    say "== 4. fan-out: 1,000 endpoints of one account (different paths), 200 events"
    fresh
    write_config s4
    start_receiver s4 --secret "$secret" --per-path
    PSW_CONFIG=$cfg "$tools/psw-bench" endpoints --account acct_s4 --url "$rx_url" \
        --path-prefix /s4/ep/ --count 1000 --secret "$secret" >/dev/null
    start_service s4
    rx_reset
    t0=$(ms_now)
    pub=$(PSW_CONFIG=$cfg "$tools/psw-bench" publish --account acct_s4 --count 200 --batch 10)
    wait_rx unique_events 200000 240 || true
    t1=$(ms_now)
    st=$(rx_stats)
    stop_service s4
    stop_receiver
    uniq=$(jq -r .unique_events <<<"$st")
    dups=$(jq -r .duplicates <<<"$st")
    [ "$uniq" -eq 200000 ] && [ "$dups" -eq 0 ] && [ "$(jq -r .bad_signatures <<<"$st")" -eq 0 ] ||
        failures=1
    rate=$(jq -r 'if .last_ms > .first_ms then ((.unique_events - 1) * 1000 / (.last_ms - .first_ms)) | floor else 0 end' <<<"$st")
    say "  published 200 events = $(kv deliveries "$pub") deliveries in $(kv ms "$pub") ms"
    say "  received $uniq unique, $dups duplicates; $rate deliveries/s first -> last receive" \
        "($(div $((uniq * 1000)) $((t1 - t0)) 0)/s from publish start)"
    say "  rerun: $(rerun 4)"
    row "4 fan-out 1,000 endpoints" "$rate deliveries/s; $uniq of 200,000, dup $dups" "" "$(rerun 4)"
fi

# ---- 5. isolation ---------------------------------------------------------------------------

if want 5; then
    s5_events=${BENCH_S5_EVENTS:-5000}
    say ""
    say "== 5. isolation: 20 endpoints, one hangs until the 2 s timeout; $s5_events events"
    fresh
    write_config s5 "endpoint.disable_after_failures: 100000"
    start_receiver s5 --secret "$secret" --per-path --hang-path /s5/hang --hang-ms 30000
    PSW_CONFIG=$cfg "$tools/psw-bench" endpoints --account acct_s5 --url "$rx_url" \
        --path-prefix /s5/fast/ --count 19 --secret "$secret" >/dev/null
    PSW_CONFIG=$cfg "$tools/psw-bench" endpoints --account acct_s5 --url "$rx_url" \
        --path-prefix /s5/hang/ --count 1 --secret "$secret" >/dev/null
    start_service s5
    rx_reset
    pub=$(PSW_CONFIG=$cfg "$tools/psw-bench" publish --account acct_s5 --count "$s5_events")
    want_fast=$((s5_events * 19))
    wait_rx unique_events "$want_fast" 240 || true
    st=$(rx_stats)
    hang_ep=$(rcli --raw smembers psw:endpoints | while read -r e; do
        if [ "$(rcli hget "psw:endpoint:$e" url)" = "$rx_url/s5/hang/0" ]; then echo "$e"; fi; done)
    inflight_max=$(rcli scard "psw:endpoint:$hang_ep:inflight")
    hang_limit=$(rcli hget "psw:endpoint:$hang_ep:stats" limit)
    stop_service s5
    stop_receiver
    uniq=$(jq -r .unique_events <<<"$st")
    hung=$(jq -r .hung <<<"$st")
    rate=$(jq -r 'if .last_ms > .first_ms then ((.unique_events - 1) * 1000 / (.last_ms - .first_ms)) | floor else 0 end' <<<"$st")
    share="n/a"
    [ -n "$s1_rate" ] && share=$(pctof "$rate" "$s1_rate")
    say "  fast endpoints: $uniq of $want_fast delivered, $rate deliveries/s = $share% of scenario 1"
    say "  hanging endpoint: $hung requests started (its adaptive limit at the end: ${hang_limit:-none}; in flight at the end: $inflight_max)"
    say "  rerun: $(rerun 1,5) (the percentage needs scenario 1)"
    row "5 isolation (1 of 20 hangs)" "fast: $rate deliveries/s = $share% of scenario 1; hung requests $hung" \
        ">= 80%" "$(rerun 1,5)"
fi

# ---- 6. retry precision -----------------------------------------------------------------------

if want 6; then
    say ""
    # run_s6 RATE -> the retry-lag line (RATE 0 = all 10,000 at once)
    run_s6() {
        fresh
        write_config s6 "retry.schedule: [1s, 5s]" "endpoint.disable_after_failures: 100000"
        start_receiver s6 --secret "$secret" --fail-attempts 1
        PSW_CONFIG=$cfg "$tools/psw-bench" endpoints --account acct_s6 --url "$rx_url/s6" \
            --secret "$secret" >/dev/null
        start_service s6
        rx_reset
        PSW_CONFIG=$cfg "$tools/psw-bench" publish --account acct_s6 --count 10000 --rate "$1" \
            >/dev/null
        wait_rx unique_events 10000 60 >&2 || true
        sleep 0.5
        PSW_CONFIG=$cfg "$tools/psw-bench" retry-lag --account acct_s6 --delay-ms 1000
        stop_service s6
        stop_receiver
    }
    say "== 6. retry precision: 10,000 deliveries to one endpoint failing once, retry.schedule 1s;"
    say "   published at 2,000/s (below capacity: the scheduler's own lag), then all at once"
    say "   (retries also wait behind the backlog of first attempts)"
    lag=$(run_s6 2000)
    say "  steady: $lag"
    lag0=$(run_s6 0)
    say "  burst:  $lag0"
    say "  rerun: $(rerun 6)"
    row "6 retry precision" "lag p50 $(kv lag_p50_ms "$lag") ms, p99 $(kv lag_p99_ms "$lag") ms, max $(kv lag_max_ms "$lag") ms ($(kv retried "$lag") retried, published at 2,000/s); all at once: p50 $(kv lag_p50_ms "$lag0") ms, p99 $(kv lag_p99_ms "$lag0") ms" \
        "p99 < 150 ms" "$(rerun 6)"
fi

# ---- 7. cost ------------------------------------------------------------------------------------

if want 7; then
    say ""
    say "== 7. cost"
    say "  Redis work per delivery in scenario 1 ($s1_events events, 1 endpoint):"
    say "    commands (scripts' inner commands included): $s7_cmds; script calls (EVALSHA + BLMOVE): $s7_scripts"
    say "    client round trips (Redis total_reads_processed / delivery): $s7_reads"
    say "    Redis CPU (used_cpu_user + sys): $s7_cpu us"
    sed 's/^/    /' "$tmp/s7-breakdown.txt" | head -25 >&2

    # memory: N events with 1 endpoint, then with 4, all delivered
    mem_n=20000
    mem_run() { # endpoints -> bytes per event (used_memory delta / events)
        fresh
        write_config s7m
        start_receiver s7m --secret "$secret" --per-path
        PSW_CONFIG=$cfg "$tools/psw-bench" endpoints --account acct_s7 --url "$rx_url" \
            --path-prefix /s7/ --count "$1" --secret "$secret" >/dev/null
        start_service s7m
        sleep 1.2
        local m0 m1
        m0=$(info_field memory used_memory)
        PSW_CONFIG=$cfg "$tools/psw-bench" publish --account acct_s7 --count "$mem_n" >/dev/null
        wait_rx unique_events $((mem_n * $1)) 120 || true
        sleep 0.5
        stop_service s7m
        stop_receiver
        sleep 1.2 # the AOF buffer is written out once a second
        m1=$(info_field memory used_memory)
        echo $(((m1 - m0) / mem_n))
    }
    m1=$(mem_run 1)
    m4=$(mem_run 4)
    per_dlv=$(( (m4 - m1) / 3 ))
    say "  Redis memory: $m1 bytes per event with one delivered delivery and its attempt record;"
    say "    each further delivery with its attempt: $per_dlv bytes (20,000 events x 1 and x 4 endpoints)"
    # time per script: every command into SLOWLOG, 5,000 events to one endpoint
    fresh
    write_config s7s
    start_receiver s7s --secret "$secret"
    PSW_CONFIG=$cfg "$tools/psw-bench" endpoints --account acct_s7s --url "$rx_url/s7s" \
        --secret "$secret" >/dev/null
    start_service s7s
    rcli config set slowlog-log-slower-than 0 >/dev/null
    rcli config set slowlog-max-len 500000 >/dev/null
    PSW_CONFIG=$cfg "$tools/psw-bench" publish --account acct_s7s --count 5000 >/dev/null
    wait_rx unique_events 5000 60 || true
    sleep 0.5
    stop_service s7s
    stop_receiver
    PSW_CONFIG=$cfg "$tools/psw-bench" slowlog >"$tmp/s7-slowlog.txt"
    rcli config set slowlog-log-slower-than 10000 >/dev/null
    rcli slowlog reset >/dev/null
    say "  time per script call and per delivery (SLOWLOG with every command logged, which"
    say "  slows Redis down; 5,000 events to one endpoint, endpoint.max_in_flight 32):"
    awk '/\.lua/ { split($2, n, "="); split($3, c, "="); split($4, u, "="); split($5, p, "=");
                    sub("share=", "", $6);
                    printf "    %-14s %6d calls %9.1f us/call %6.1f us/delivery  %s of script time\n",
                           n[2], c[2], p[2], u[2] / 5000, $6 }' "$tmp/s7-slowlog.txt" >&2

    # worker child RSS with 64 requests in flight
    fresh
    saved_workers=$workers
    workers=1
    write_config s7r "worker.concurrency: 64" "endpoint.max_in_flight: 64" "http.timeout: 30s" \
        "worker.shutdown_grace: 1s"
    start_receiver s7r --secret "$secret" --hang-path / --hang-ms 60000
    PSW_CONFIG=$cfg "$tools/psw-bench" endpoints --account acct_s7r --url "$rx_url/s7r" \
        --secret "$secret" >/dev/null
    start_service s7r
    workers=$saved_workers
    child=$(pgrep -P "$wpid" | head -1)
    rss_idle=$(awk '/^VmRSS:/ { print $2 }' "/proc/$child/status")
    PSW_CONFIG=$cfg "$tools/psw-bench" publish --account acct_s7r --count 200 >/dev/null
    wait_rx hung 64 20 || true
    sleep 0.5
    rss_busy=$(awk '/^VmRSS:/ { print $2 }' "/proc/$child/status")
    hung=$(rx_stats | jq -r .hung)
    stop_service s7r
    stop_receiver
    say "  worker child RSS: $rss_idle KiB idle, $rss_busy KiB with $hung requests in flight"
    say "  rerun: $(rerun 1,7) (per-delivery numbers come from scenario 1)"
    row "7 cost" "$s7_cmds Redis commands, $s7_scripts script calls, $s7_reads round trips, $s7_cpu us Redis CPU per delivery; $m1 B/event+delivery, +$per_dlv B/extra delivery; child RSS $rss_busy KiB @64 in flight" \
        "" "$(rerun 1,7)"
fi

# ---- 8. two psw-worker processes -------------------------------------------------------------

if want 8; then
    s8_events=${BENCH_S8_EVENTS:-100000}
    say ""
    say "== 8. scaling: two psw-worker processes (as on two hosts, $workers children each)" \
        "against one Redis; $s8_events events to one endpoint"
    fresh
    write_config s8
    start_receiver s8 --secret "$secret"
    PSW_CONFIG=$cfg "$tools/psw-bench" endpoints --account acct_s8 --url "$rx_url/s8" \
        --secret "$secret" >/dev/null
    start_service s8
    PSW_CONFIG=$cfg "$bin/psw-worker" >"$tmp/worker-s8b.log" 2>&1 &
    wpid2=$!
    pids+=("$wpid2")
    for _ in $(seq 1 100); do
        [ "$(rcli zcard psw:workers)" -ge $((2 * workers)) ] && break
        sleep 0.1
    done
    rx_reset
    cpu0=$(redis_cpu_us)
    t0=$(ms_now)
    PSW_CONFIG=$cfg "$tools/psw-bench" publish --account acct_s8 --count "$s8_events" \
        --procs "$publishers" >/dev/null
    wait_rx unique_events "$s8_events" 300 || true
    t1=$(ms_now)
    cpu1=$(redis_cpu_us)
    st=$(rx_stats)
    kill -TERM "$wpid2" 2>/dev/null || true
    wait "$wpid2" 2>/dev/null || true
    stop_service s8
    stop_receiver
    uniq=$(jq -r .unique_events <<<"$st")
    rate=$(jq -r 'if .last_ms > .first_ms then ((.unique_events - 1) * 1000 / (.last_ms - .first_ms)) | floor else 0 end' <<<"$st")
    share=$(div $(( (cpu1 - cpu0) / 10 )) $((t1 - t0)) 0)
    say "  $uniq of $s8_events delivered, $rate deliveries/s first -> last receive" \
        "(scenario 1, one psw-worker: ${s1_rate:-n/a}/s)"
    say "  Redis used $(div $((cpu1 - cpu0)) 1000000 2) CPU s in $(div $((t1 - t0)) 1000 1) s" \
        "= ${share}% of one CPU ($(div $((cpu1 - cpu0)) "$uniq" 1) us per delivery)"
    say "  rerun: $(rerun 1,8)"
    row "8 two psw-workers" "$rate deliveries/s ($uniq of $s8_events); Redis ${share}% of one CPU" \
        "" "$(rerun 1,8)"
fi

# ---- ordered: what one request at a time costs ------------------------------------------------
# The same receiver (1 ms before each answer, enough threads that it never
# queues) and the same worker pool; first an unordered endpoint, then an
# ordered one, one after the other so that they do not share the workers.

if want ordered; then
    so_events=${BENCH_ORD_EVENTS:-20000}
    so_ord=$((so_events / 10))
    say ""
    say "== ordered: events/s to one endpoint whose receiver answers after 1 ms;" \
        "$so_events unordered, then $so_ord ordered"
    fresh
    write_config so
    start_receiver so --secret "$secret" --delay-ms 1 --threads 256 --per-path
    PSW_CONFIG=$cfg "$tools/psw-bench" endpoints --account acct_su --url "$rx_url/su" \
        --secret "$secret" >/dev/null
    PSW_CONFIG=$cfg "$bin/psw" endpoint create --account acct_so --url "$rx_url/so" \
        --secret "$secret" --ordered >/dev/null
    start_service so
    rx_reset
    PSW_CONFIG=$cfg "$tools/psw-bench" publish --account acct_su --count "$so_events" \
        --procs "$publishers" >/dev/null
    wait_rx unique_events "$so_events" 300 || true
    st_u=$(rx_stats)
    rx_reset
    PSW_CONFIG=$cfg "$tools/psw-bench" publish --account acct_so --count "$so_ord" >/dev/null
    wait_rx unique_events "$so_ord" 300 || true
    st_o=$(rx_stats)
    stop_service so
    stop_receiver
    rate_of() { jq -r 'if .last_ms > .first_ms then ((.unique_events - 1) * 1000 / (.last_ms - .first_ms)) | floor else 0 end' <<<"$1"; }
    u_rate=$(rate_of "$st_u"); o_rate=$(rate_of "$st_o")
    u_n=$(jq -r .unique_events <<<"$st_u"); o_n=$(jq -r .unique_events <<<"$st_o")
    o_dup=$(jq -r .duplicates <<<"$st_o")
    per=$(div 1000 "$o_rate" 2)
    say "  unordered: $u_n of $so_events delivered, $u_rate deliveries/s"
    say "  ordered:   $o_n of $so_ord delivered, $o_rate deliveries/s = one every $per ms" \
        "(1 ms of it the receiver's); $o_dup duplicates"
    say "  rerun: $(rerun ordered)"
    [ "$u_n" -eq "$so_events" ] && [ "$o_n" -eq "$so_ord" ] && [ "$o_dup" -eq 0 ] || failures=1
    row "ordered, receiver 1 ms" "ordered $o_rate deliveries/s (one per $per ms) vs unordered $u_rate/s" \
        "" "$(rerun ordered)"
fi

# ---- 9. the HTTP API ------------------------------------------------------------------------
# bench/api.sh runs on its own redis-server (no persistence) and psw-api.

if want 9; then
    say ""
    say "== 9. HTTP API (bench/api.sh)"
    # shellcheck disable=SC2086
    if BENCH_BIN=$bin "$root/bench/api.sh" ${BENCH_API_ARGS:-} >"$tmp/api.txt" 2>&1; then
        sed '$d' "$tmp/api.txt" >&2
        a=$(tail -n 1 "$tmp/api.txt")
        row "9a POST /v1/events, batches of 100" "1 connection $(kv api_rate1 "$a") events/s = $(kv ratio "$a")x psw_publish_many ($(kv cli_rate "$a")/s); 4 connections $(kv api_rate "$a")/s = $(kv ratio4 "$a")x" ">= 0.8x" "bench/api.sh"
        row "9b delivery-log page, $(kv deliveries "$a") deliveries" "p50 $(kv page_p50 "$a") ms, p99 $(kv page_p99 "$a") ms" "p99 < 20 ms" "bench/api.sh"
        row "9c the same, 200 idle keep-alive clients" "p99 $(kv idle_p99 "$a") ms" "p99 < 20 ms" "bench/api.sh"
    else
        cat "$tmp/api.txt" >&2
        row "9 HTTP API" "bench/api.sh failed (see above)" "" "bench/api.sh"
    fi
fi

# ---- 10. batches ----------------------------------------------------------------------------------

# One endpoint, BENCH_BATCH_EVENTS events (100,000) published while no worker
# runs, then drained: once one request per event, once in batches of 100
# (docs/cli.md "Endpoint options"), each on a fresh database. Rate = events
# first -> last receive; Redis CPU = used_cpu_user + used_cpu_sys, per event,
# for publishing and for delivering.
if want 10; then
    say ""
    say "== 10. batches: one endpoint, events one per request vs batches of 100"
    bn=${BENCH_BATCH_EVENTS:-100000}
    declare -A b_rate b_pub b_drain b_req
    for mode in single batch; do
        fresh
        write_config "s10$mode"
        start_receiver "s10$mode" --secret "$secret"
        bargs=()
        [ "$mode" = batch ] && bargs=(--batch-max-events 100)
        PSW_CONFIG=$cfg "$tools/psw-bench" endpoints --account acct_s10 --url "$rx_url/s10" \
            --secret "$secret" "${bargs[@]}" >/dev/null
        if [ "${BENCH_SLOWLOG:-0}" = 1 ]; then # every command into SLOWLOG: time per script
            rcli config set slowlog-log-slower-than 0 >/dev/null
            rcli config set slowlog-max-len 1000000 >/dev/null
        fi
        c0=$(redis_cpu_us)
        PSW_CONFIG=$cfg "$tools/psw-bench" publish --account acct_s10 --count "$bn" \
            --procs "$publishers" >"$tmp/s10-$mode-publish.txt"
        c1=$(redis_cpu_us)
        m0=$(cpu_sample)
        start_service "s10$mode"
        wait_rx unique_events "$bn" 300 || true
        sleep 0.5 # completions of the last requests
        c2=$(redis_cpu_us)
        m1=$(cpu_sample)
        st=$(rx_stats)
        rinfo commandstats >"$tmp/s10-$mode-commandstats.txt"
        stop_service "s10$mode"
        if [ "${BENCH_SLOWLOG:-0}" = 1 ]; then
            PSW_CONFIG=$cfg "$tools/psw-bench" slowlog | sed "s/^/  $mode: /" >&2
            rcli config set slowlog-log-slower-than 10000 >/dev/null
            rcli slowlog reset >/dev/null
        fi
        stop_receiver
        uniq=$(jq -r .unique_events <<<"$st")
        dups=$(jq -r .duplicates <<<"$st")
        bad=$(jq -r .bad_signatures <<<"$st")
        b_req[$mode]=$(jq -r .requests <<<"$st")
        b_rate[$mode]=$(jq -r --argjson n "$uniq" \
            'if .last_ms > .first_ms then (($n - 1) * 1000 / (.last_ms - .first_ms)) | floor else 0 end' <<<"$st")
        b_pub[$mode]=$(div $((c1 - c0)) "$bn" 1)
        b_drain[$mode]=$(div $((c2 - c1)) "$bn" 1)
        say "  $mode: $uniq events in ${b_req[$mode]} requests, $dups duplicates, $bad bad signatures;" \
            "${b_rate[$mode]} events/s; Redis CPU per event: publish ${b_pub[$mode]} us," \
            "delivery ${b_drain[$mode]} us; all CPUs $(busy_between "$m0" "$m1")% busy while delivering"
        if [ "$uniq" -ne "$bn" ] || [ "$dups" -ne 0 ] || [ "$bad" -ne 0 ]; then failures=1; fi
    done
    ratio=$(div "${b_rate[batch]}" "${b_rate[single]}" 1)
    say "  batched / unbatched: ${ratio}x; rerun: $(rerun 10)"
    row "10 batches of 100, one endpoint" "${b_rate[batch]} events/s vs ${b_rate[single]} unbatched (${ratio}x); Redis CPU per event ${b_pub[batch]} + ${b_drain[batch]} us vs ${b_pub[single]} + ${b_drain[single]} us (publish + delivery)" ">= 5x" "$(rerun 10)"
fi

# ---- the table ------------------------------------------------------------------------------------

echo
echo "PostStack Webhooks benchmark — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)), redis $(info_field server redis_version); machine ${idle_busy}% busy before the start"
echo
echo "| scenario | result | target | rerun |"
echo "|---|---|---|---|"
for r in "${rows[@]}"; do echo "$r"; done
if [ "$failures" -ne 0 ]; then
    echo
    echo "bench: deliveries were lost, duplicated or badly signed (see above)" >&2
    exit 1
fi
