#!/bin/sh
# The demo's one-shot: makes sure the demo account has an endpoint pointing at
# the demo receiver with the demo secret, then publishes one sample event of
# each of the eight types. Used by the compose "demo" profile (inside the
# image), by `make run` (scripts/run.sh) and by tests/e2e/test_deploy.c.
#
# Running it again reuses the endpoint (its URL is updated and it is enabled
# again, in case an earlier run left it disabled) and publishes eight new
# events: the sample events carry no id, so each run gets fresh ones.
#
# Environment:
#   PSW_DEMO_URL     receiver URL            (default http://receiver:8080/webhooks)
#   PSW_DEMO_SECRET  endpoint signing secret (required; the receiver's --secret)
#   PSW_DEMO_EVENTS  NDJSON sample events    (default: demo-events.ndjson next to this script)
#   PSW_CLI          the psw program         (default: psw on PATH)
#   PSW_CONFIG, PSW_REDIS_URL                as for every psw program
# Prints "demo endpoint: ep_…" and psw publish's output. Exit 0, or psw's status.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
url=${PSW_DEMO_URL:-http://receiver:8080/webhooks}
secret=${PSW_DEMO_SECRET:?PSW_DEMO_SECRET must be set to the receiver\'s secret}
events=${PSW_DEMO_EVENTS:-$here/demo-events.ndjson}
psw=${PSW_CLI:-psw}
account=acct_demo

# The first endpoint of the demo account, if there is one. psw's JSON output
# is one key per line, so a sed is enough to pick the first id.
list=$("$psw" endpoint list --account "$account" --json)
ep=$(printf '%s\n' "$list" | sed -n 's/^ *"id": *"\(ep_[^"]*\)".*/\1/p' | head -n 1)

if [ -n "$ep" ]; then
    "$psw" endpoint update "$ep" --url "$url" >/dev/null
    "$psw" endpoint enable "$ep" >/dev/null
else
    created=$("$psw" endpoint create --account "$account" --url "$url" --events '*' \
        --secret "$secret" --description "demo receiver" --json)
    ep=$(printf '%s\n' "$created" | sed -n 's/^ *"id": *"\(ep_[^"]*\)".*/\1/p' | head -n 1)
    if [ -z "$ep" ]; then
        echo "demo.sh: psw endpoint create printed no endpoint id:" >&2
        printf '%s\n' "$created" >&2
        exit 1
    fi
fi
echo "demo endpoint: $ep -> $url"
"$psw" publish "$events"
