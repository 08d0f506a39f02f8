#!/usr/bin/env bash
# `make run`: the whole service on this machine, no Docker. Installs what is
# missing, builds, starts an embedded redis-server (unless PSW_REDIS_URL points
# at one), psw-scheduler, psw-worker and a demo psw-receiver, creates the demo
# endpoint, publishes one sample event of each type, waits until they arrive,
# prints them and how to look around, then stays in the foreground. Ctrl-C
# (SIGINT) or SIGTERM stops everything it started, in order: worker (lets
# requests in flight finish), scheduler, receiver, Redis (last, so every result
# is written; it fsyncs its AOF on the way out).
#
# usage: scripts/run.sh            run in the foreground (Ctrl-C stops)
#        scripts/run.sh --detach   start, show the demo, return; `make stop` stops
#        scripts/run.sh --stop     stop a run started elsewhere (make stop)
#
# Layout under PSW_RUN_DIR (default ./var): redis/ (data dir, AOF), log/
# (redis, scheduler, worker, receiver; the previous run's as *.log.1), run/
# (one PID file per process, run.pid for this script, ports.env), psw.yaml (the
# configuration of the run, rewritten each time).
#
# Environment:
#   PSW_RUN_DIR        see above
#   PSW_REDIS_URL      use this Redis instead of starting one
#   PSW_REDIS_PORT     port of the embedded Redis (default: first free from 6390)
#   PSW_RECEIVER_PORT  port of the demo receiver (default: any free port)
#   PSW_DEMO_SECRET    the demo endpoint's signing secret
#   PSW_BIN            use the programs in this directory; skips installing and building
#
# Every process is started with setsid, so a Ctrl-C in the terminal reaches
# only this script, which then stops the others by PID in the order above.
set -Eeuo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
run_dir=${PSW_RUN_DIR:-$root/var}
log_dir=$run_dir/log
pid_dir=$run_dir/run
redis_dir=$run_dir/redis
conf=$run_dir/psw.yaml
secret=${PSW_DEMO_SECRET:-whsec_demo_secret_not_for_production}
grace_s=5                      # worker.shutdown_grace of the run
names="api worker scheduler receiver redis"   # stop order

say() { printf 'run.sh: %s\n' "$*"; }
die() { printf 'run.sh: %s\n' "$*" >&2; exit 1; }

# The program a PID file's process must be running, so a stale file never
# gets an unrelated process (a reused PID) killed.
prog_of() {
    case "$1" in
    redis) echo redis-server ;;
    receiver) echo psw-receiver ;;
    run) echo run.sh ;;
    *) echo "psw-$1" ;;
    esac
}

# Prints the PID recorded for $1 when that process is alive and is what we
# started; prints nothing otherwise.
live_pid() {
    local f=$pid_dir/$1.pid pid
    [ -r "$f" ] || return 0
    pid=$(cat "$f" 2>/dev/null) || return 0
    case "$pid" in '' | *[!0-9]*) return 0 ;; esac
    [ -r "/proc/$pid/cmdline" ] || return 0
    grep -qa -- "$(prog_of "$1")" "/proc/$pid/cmdline" 2>/dev/null || return 0
    # a zombie is as good as gone
    [ "$(sed -n 's/^[^)]*) \(.\).*/\1/p' "/proc/$pid/stat" 2>/dev/null)" = Z ] && return 0
    echo "$pid"
}

# Sends TERM to $1 (a name) and waits up to $2 seconds, then KILL. Works for
# our own children (reaped with wait) and for processes of an earlier run.
stop_one() {
    local name=$1 limit=$2 pid i=0
    pid=$(live_pid "$name")
    if [ -z "$pid" ]; then
        rm -f "$pid_dir/$name.pid"
        return 0
    fi
    printf 'run.sh: stopping %s (pid %s) ...' "$(prog_of "$name")" "$pid"
    kill -TERM "$pid" 2>/dev/null || true
    while [ -n "$(live_pid "$name")" ]; do
        if [ $i -ge $((limit * 10)) ]; then
            printf ' still running after %ss, killing' "$limit"
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.2
            break
        fi
        sleep 0.1
        i=$((i + 1))
    done
    wait "$pid" 2>/dev/null || true   # reaps it when it is our child
    rm -f "$pid_dir/$name.pid"
    printf ' stopped\n'
}

stop_all() {
    stop_one api 10
    stop_one worker $((grace_s + 10))
    stop_one scheduler 10
    stop_one receiver 5
    stop_one redis 15
}

# ---- make stop -----------------------------------------------------------------
if [ "${1:-}" = --stop ]; then
    [ -d "$pid_dir" ] || { say "nothing is running (no $pid_dir)"; exit 0; }
    pid=$(live_pid run)
    if [ -n "$pid" ]; then
        say "asking the run in the foreground (pid $pid) to stop"
        kill -TERM "$pid"
        for _ in $(seq 1 $(((grace_s + 45) * 10))); do
            [ -z "$(live_pid run)" ] && break
            sleep 0.1
        done
    fi
    stop_all          # a detached run, or what a killed run.sh left behind
    rm -f "$pid_dir/run.pid" "$pid_dir/ports.env"
    say "stopped"
    exit 0
fi

detach=0
case "${1:-}" in
"") ;;
--detach) detach=1 ;;
-h | --help) sed -n '2,/^set -Eeuo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
*) die "unknown argument \"$1\" (--detach, --stop, --help)" ;;
esac

for n in run $names; do
    [ -z "$(live_pid "$n")" ] || die "already running ($(prog_of "$n") pid $(live_pid "$n")); stop it with: make stop"
done

# ---- install and build ---------------------------------------------------------
if [ -z "${PSW_BIN:-}" ]; then
    "$root/scripts/deps.sh" run
    make -C "$root" --no-print-directory all
    bin=$root/bin
else
    bin=$(cd "$PSW_BIN" && pwd)
fi
for p in psw psw-scheduler psw-worker psw-api psw-receiver; do
    [ -x "$bin/$p" ] || die "$bin/$p is missing (make)"
done

mkdir -p "$log_dir" "$pid_dir" "$redis_dir"
for n in $names demo; do
    if [ -f "$log_dir/$n.log" ]; then mv -f "$log_dir/$n.log" "$log_dir/$n.log.1"; fi
done
echo $$ >"$pid_dir/run.pid"

# Signals only set a flag; whatever way the script ends (signal, an error
# under set -e, a child that died), the EXIT trap stops what was started.
stopping=0
cleaned=0
# shellcheck disable=SC2317  # invoked by the trap
on_signal() { stopping=1; }
cleanup() {
    [ $cleaned -eq 0 ] || return 0
    cleaned=1
    trap '' INT TERM HUP
    echo
    stop_all
    rm -f "$pid_dir/run.pid" "$pid_dir/ports.env"
}
trap on_signal INT TERM HUP
trap cleanup EXIT

# start NAME LOG CMD... : in its own session (no terminal signals), PID recorded.
start() {
    local name=$1 log=$2
    shift 2
    setsid "$@" >>"$log" 2>&1 </dev/null &
    echo $! >"$pid_dir/$name.pid"
}

# ---- Redis -------------------------------------------------------------------------
if [ -n "${PSW_REDIS_URL:-}" ]; then
    redis_url=$PSW_REDIS_URL
    redis_port=""
    say "using Redis at $redis_url (PSW_REDIS_URL)"
else
    command -v redis-server >/dev/null || die "redis-server is not installed (scripts/deps.sh run)"
    if [ -n "${PSW_REDIS_PORT:-}" ]; then ports=$PSW_REDIS_PORT; else ports=$(seq 6390 6409); fi
    redis_port=""
    for port in $ports; do
        cat >"$redis_dir/redis.conf" <<EOF
# written by scripts/run.sh: loopback only, AOF on (fsync once a second)
bind 127.0.0.1
protected-mode yes
port $port
dir $redis_dir
appendonly yes
appendfsync everysec
save ""
maxmemory-policy noeviction
daemonize no
logfile $log_dir/redis.log
EOF
        start redis "$log_dir/redis.log" redis-server "$redis_dir/redis.conf"
        pid=$(cat "$pid_dir/redis.pid")
        for _ in $(seq 1 50); do
            if ! kill -0 "$pid" 2>/dev/null || [ -z "$(live_pid redis)" ]; then break; fi
            # PONG from *our* server: another one may hold the port while ours fails.
            if redis-cli -h 127.0.0.1 -p "$port" info server 2>/dev/null |
                grep -q "^process_id:$pid"; then
                redis_port=$port
                break
            fi
            sleep 0.1
        done
        [ -n "$redis_port" ] && break
        # Port taken (or another failure): reap it and try the next port.
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        rm -f "$pid_dir/redis.pid"
    done
    if [ -z "$redis_port" ]; then
        tail -n 5 "$log_dir/redis.log" >&2 || true
        die "could not start redis-server on port(s) $(echo "$ports" | tr '\n' ' ')"
    fi
    redis_url=redis://127.0.0.1:$redis_port/0
    say "redis-server on 127.0.0.1:$redis_port, data in $redis_dir (AOF, fsync every second)"
fi

# ---- the receiver, the configuration, the daemons ----------------------------------
start receiver "$log_dir/receiver.log" "$bin/psw-receiver" --port "${PSW_RECEIVER_PORT:-0}" \
    --secret "$secret"
rx_port=""
for _ in $(seq 1 50); do
    rx_port=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$log_dir/receiver.log" | head -n 1)
    [ -n "$rx_port" ] && break
    [ -n "$(live_pid receiver)" ] || break
    sleep 0.1
done
if [ -z "$rx_port" ]; then
    cat "$log_dir/receiver.log" >&2 || true
    die "psw-receiver did not start"
fi
rx_url=http://127.0.0.1:$rx_port/webhooks

cat >"$conf" <<EOF
# Written by scripts/run.sh for \`make run\` (rewritten at each run).
# Every other key has its default: docs/config.md.
redis.url: $redis_url
worker.processes: 2
worker.shutdown_grace: ${grace_s}s
# the demo receiver listens on 127.0.0.1; every other private address stays refused
http.allowed_networks: [127.0.0.1/32]
# psw-api (docs/api.md); PSW_API_PORT picks the port, else a free one
api.listen: 127.0.0.1:${PSW_API_PORT:-0}
EOF
export PSW_CONFIG=$conf
printf 'PSW_CONFIG=%s\nREDIS_PORT=%s\nRECEIVER_PORT=%s\n' "$conf" "$redis_port" "$rx_port" \
    >"$pid_dir/ports.env"

start scheduler "$log_dir/scheduler.log" "$bin/psw-scheduler" --config "$conf"
start worker "$log_dir/worker.log" "$bin/psw-worker" --config "$conf"
say "psw-scheduler (pid $(cat "$pid_dir/scheduler.pid")), psw-worker (pid $(cat "$pid_dir/worker.pid")), psw-receiver on $rx_url"

start api "$log_dir/api.log" "$bin/psw-api" --config "$conf"
api_url=""
for _ in $(seq 1 50); do
    api_url=$(sed -n 's|.*listening on \(http://127\.0\.0\.1:[0-9]*\).*|\1|p' "$log_dir/api.log" | head -n 1)
    [ -n "$api_url" ] && break
    [ -n "$(live_pid api)" ] || break
    sleep 0.1
done
[ -n "$api_url" ] || { cat "$log_dir/api.log" >&2 || true; die "psw-api did not start"; }
api_token=$("$bin/psw" --config "$conf" token create --name "make run admin" 2>/dev/null |
    sed -n 's/^token  *\(psw_[^ ]*\)$/\1/p')
say "psw-api on $api_url (admin token: $api_token)"

# ---- the demo --------------------------------------------------------------------
if ! PSW_CLI=$bin/psw PSW_DEMO_URL=$rx_url PSW_DEMO_SECRET=$secret \
    "$root/deploy/demo.sh" >"$log_dir/demo.log" 2>&1; then
    cat "$log_dir/demo.log" >&2
    die "the demo setup failed (above)"
fi
endpoint=$(sed -n 's/^demo endpoint: \(ep_[^ ]*\).*/\1/p' "$log_dir/demo.log")
events=$(sed -n 's/^line [0-9]*: \(evt_[^:]*\): published.*/\1/p' "$log_dir/demo.log")
nevents=$(printf '%s\n' "$events" | grep -c . || true)
say "demo endpoint $endpoint; published $nevents sample events"

# Arrived = the receiver answered 2xx to a validly signed request for the id.
arrived=0
for _ in $(seq 1 300); do
    arrived=0
    for e in $events; do
        grep -q "evt=$e .*sig=ok status=2" "$log_dir/receiver.log" && arrived=$((arrived + 1))
    done
    [ "$arrived" -eq "$nevents" ] && break
    [ $stopping -eq 1 ] && break
    sleep 0.1
done

echo
if [ "$arrived" -eq "$nevents" ] && [ "$nevents" -gt 0 ]; then
    say "$arrived of $nevents sample events arrived, signatures valid:"
else
    say "only $arrived of $nevents sample events arrived within 30 s; see $log_dir/worker.log"
fi
for e in $events; do grep -h "evt=$e " "$log_dir/receiver.log" | sed 's/^/  /'; done
dlv=$(grep -h "sig=ok" "$log_dir/receiver.log" | sed -n 's/.* dlv=\(dlv_[^ ]*\) .*/\1/p' | tail -n 1)
psw=${bin#"$PWD"/}/psw   # as the user would type it from here
ev=${root#"$PWD"/}/deploy/demo-events.ndjson
[ "$root" = "$PWD" ] && ev=deploy/demo-events.ndjson
# A single-use dashboard link (docs/dashboard.md) for the demo account: opening
# it logs straight in. Links last 10 minutes; `make run` again makes a new one.
dash=$(curl -sf -X POST -H "Authorization: Bearer $api_token" \
    "$api_url/v1/accounts/acct_demo/dashboard-links" | sed -n 's/.*"url": *"\([^"]*\)".*/\1/p') || dash=""
case "$dash" in /*) dash=$api_url$dash ;; esac
rcli="redis-cli -u $redis_url"
[ -n "$redis_port" ] && rcli="redis-cli -p $redis_port"
cat <<EOF

How to look (the configuration of this run is $conf):
  export PSW_CONFIG=$conf
  $psw endpoint list
  $psw deliveries --endpoint ${endpoint:-EP_ID}
  $psw delivery show ${dlv:-DLV_ID}
  $psw stats; $psw queue
  $psw publish $ev     # eight more
  $rcli HGETALL psw:delivery:${dlv:-DLV_ID}
  $rcli LRANGE psw:delivery:${dlv:-DLV_ID}:attempts 0 -1
  $rcli ZRANGE psw:workers 0 -1 WITHSCORES
  curl -H 'Authorization: Bearer $api_token' $api_url/v1/endpoints
  tail -f $log_dir/*.log
EOF
if [ -n "$dash" ]; then
    echo
    say "dashboard (this link logs in once, within 10 minutes): $dash"
else
    say "could not make a dashboard link; see $log_dir/api.log"
fi

if [ $detach -eq 1 ]; then
    cleaned=1   # leave everything running
    rm -f "$pid_dir/run.pid"
    echo
    say "running in the background; stop with: make stop"
    exit 0
fi
echo
say "running; Ctrl-C stops everything"

# ---- foreground: until a signal, or until a process dies -------------------------
died=""
while [ $stopping -eq 0 ]; do
    # Returns when a child exits or a trapped signal arrives.
    wait -n 2>/dev/null || true
    for n in $names; do
        [ -z "${redis_port}" ] && [ "$n" = redis ] && continue
        if [ -z "$(live_pid "$n")" ]; then
            died=$n
            break
        fi
    done
    [ -n "$died" ] && break
done
if [ -n "$died" ] && [ $stopping -eq 0 ]; then
    say "$(prog_of "$died") exited unexpectedly; its log: $log_dir/$died.log"
    tail -n 5 "$log_dir/$died.log" | sed 's/^/  /' >&2 || true
    exit 1
fi
cleanup
say "stopped"
exit 0
