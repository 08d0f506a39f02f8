# bench/lib/apistack.sh — what bench/api.sh and bench/dashboard.sh share:
# a throwaway redis-server (temporary directory, loopback, free port, no
# persistence) and the release psw-api in front of it, both stopped and the
# directory removed on exit. Sourced, not run.
#
#   stack_start NAME [API_YAML_LINES]
#       makes $dir, starts redis ($rport, R ...), writes $dir/psw.yaml (the
#       extra lines go under `api:`), defines psw ..., sets $aport and $base.
#   stack_api         starts psw-api and waits for /readyz (exits if it fails)
#   stack_token [ACCOUNT]  prints a new token (admin when no account)
#   stack_on_exit CMD      runs CMD first when the script exits
# Needs $bin (the programs). BENCH_KEEP=1 keeps the directory.

pids=()
stack_exit_hook=:
stack_on_exit() { stack_exit_hook=$1; }

stack_cleanup() {
    local p
    eval "$stack_exit_hook" || true
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "kept $dir"; else rm -rf "$dir"; fi
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
R() { redis-cli -p "$rport" "$@"; }
psw() { "$bin/psw" --config "$dir/psw.yaml" "$@"; }

stack_start() {
    local name=$1 api_lines=${2:-}
    dir=$(mktemp -d "${TMPDIR:-/tmp}/$name.XXXXXX")
    trap stack_cleanup EXIT
    trap 'exit 130' INT TERM
    rport=$(free_port)
    redis-server --port "$rport" --bind 127.0.0.1 --dir "$dir" --save '' --appendonly no \
        --logfile "$dir/redis.log" --daemonize no &
    pids+=($!)
    for _ in $(seq 100); do R ping >/dev/null 2>&1 && break; sleep 0.05; done
    aport=$(free_port)
    base="http://127.0.0.1:$aport"
    {
        printf 'redis:\n  url: redis://127.0.0.1:%s/0\n' "$rport"
        printf 'api:\n  listen: 127.0.0.1:%s\n  rate_limit: 0\n' "$aport"
        [ -z "$api_lines" ] || printf '%s\n' "$api_lines"
        printf 'http:\n  allow_private_networks: true\nlog:\n  level: warn\n'
    } >"$dir/psw.yaml"
}

stack_api() {
    "$bin/psw-api" --config "$dir/psw.yaml" >"$dir/api.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 200); do curl -sf "$base/readyz" >/dev/null 2>&1 && break; sleep 0.05; done
    curl -sf "$base/readyz" >/dev/null ||
        { echo "$0: psw-api did not start:" >&2; cat "$dir/api.log" >&2; exit 1; }
}

stack_token() {
    local acct=()
    [ -z "${1:-}" ] || acct=(--account "$1")
    psw --json token create --name bench "${acct[@]}" |
        sed -n 's/.*"token": *"\(psw_[^"]*\)".*/\1/p'
}
