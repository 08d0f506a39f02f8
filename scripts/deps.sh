#!/bin/sh
# Installs the Debian packages the build, the tests or `make run` need, and only
# those that are missing: `dpkg -s` decides, `apt-get install -y` acts. Safe to run
# any number of times; a machine that has everything never touches apt.
#
# usage: scripts/deps.sh [build|test|run|bench|fuzz]...   (default: build)
set -eu

pkgs_build="pkg-config libhiredis-dev libcurl4-openssl-dev libssl-dev libyaml-dev libjson-c-dev libmicrohttpd-dev"
pkgs_test="$pkgs_build redis-server libcmocka-dev libmicrohttpd-dev nodejs python3 php-cli docker-compose faketime openssl"
pkgs_run="$pkgs_build redis-server redis-tools"
pkgs_bench="$pkgs_build redis-server redis-tools libmicrohttpd-dev wrk curl jq procps time"
pkgs_fuzz="$pkgs_build clang libclang-rt-14-dev"

# The Node.js packages the tests' receivers use (tests/node-receivers), exactly
# as package-lock.json pins them; npm ci runs again only when the lock changed.
node_receivers() {
    d=$(dirname "$0")/../tests/node-receivers
    [ -f "$d/node_modules/.package-lock.json" ] && cmp -s "$d/package-lock.json" "$d/node_modules/.lock-installed" && return 0
    (cd "$d" && npm ci --no-audit --no-fund --loglevel=error >/dev/null && cp package-lock.json node_modules/.lock-installed)
}

want=""
npm_test=0
[ $# -eq 0 ] && set -- build
for what in "$@"; do
    case "$what" in
    build) want="$want $pkgs_build" ;;
    test)  want="$want $pkgs_test"; npm_test=1 ;;
    run)   want="$want $pkgs_run" ;;
    bench) want="$want $pkgs_bench" ;;
    fuzz)  want="$want $pkgs_fuzz" ;;
    *) echo "deps.sh: unknown set '$what' (build, test, run, bench, fuzz)" >&2; exit 2 ;;
    esac
done

missing=""
for p in $want; do
    case " $missing " in *" $p "*) continue ;; esac
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -z "$missing" ]; then
    [ "$npm_test" -eq 0 ] || node_receivers
    exit 0
fi

echo "deps.sh: installing:$missing"
if [ "$(id -u)" -eq 0 ]; then
    sudo=""
elif command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
else
    echo "deps.sh: need root (or sudo) to install:$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# A fresh machine has no package lists yet; refresh once, then install. Another
# install running at the same time (a parallel make, a second checkout) holds
# dpkg's lock: wait for it instead of failing.
$sudo apt-get -o DPkg::Lock::Timeout=600 update -qq
# shellcheck disable=SC2086
$sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $missing >/dev/null
[ "$npm_test" -eq 0 ] || node_receivers
