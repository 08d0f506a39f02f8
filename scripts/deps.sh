#!/bin/sh
# Installs the Debian packages the build, the tests or `make run` need, and only
# those that are missing: `dpkg -s` decides, `apt-get install -y` acts. Safe to run
# any number of times; a machine that has everything never touches apt.
#
# usage: scripts/deps.sh [build|test|run|bench|fuzz]...   (default: build)
set -eu

pkgs_build="pkg-config libhiredis-dev libcurl4-openssl-dev libssl-dev libyaml-dev libjson-c-dev libmicrohttpd-dev libidn2-dev"
pkgs_test="$pkgs_build redis-server redis-sentinel redis-tools libcmocka-dev libmicrohttpd-dev nodejs python3 php-cli docker-compose faketime openssl prometheus chromium"
pkgs_run="$pkgs_build redis-server redis-tools curl"
pkgs_bench="$pkgs_build redis-server redis-tools libmicrohttpd-dev wrk curl jq procps time nodejs openssl chromium"
pkgs_fuzz="$pkgs_build clang libclang-rt-14-dev"

want=""
npm_dirs="" # folders whose package-lock.json pins what their tests run (npm ci)
[ $# -eq 0 ] && set -- build
for what in "$@"; do
    case "$what" in
    build) want="$want $pkgs_build" ;;
    test)  want="$want $pkgs_test"; npm_dirs="$npm_dirs tests/node tests/browser tests/node-receivers" ;;
    run)   want="$want $pkgs_run" ;;
    bench) want="$want $pkgs_bench"; npm_dirs="$npm_dirs tests/browser bench/peers/bullmq" ;;
    fuzz)  want="$want $pkgs_fuzz" ;;
    *) echo "deps.sh: unknown set '$what' (build, test, run, bench, fuzz)" >&2; exit 2 ;;
    esac
done

# npm ci again only when the lockfile changed since the last install.
npm_ci() {
    root=$(cd "$(dirname "$0")/.." && pwd)
    for d in $npm_dirs; do
        lock="$root/$d/package-lock.json"
        [ -f "$lock" ] || continue
        [ "$root/$d/node_modules/.package-lock.json" -nt "$lock" ] && continue
        echo "deps.sh: npm ci in $d"
        (cd "$root/$d" && npm ci --ignore-scripts --no-audit --no-fund --silent)
    done
}

missing=""
for p in $want; do
    case " $missing " in *" $p "*) continue ;; esac
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
# Debian's nodejs comes without npm (NodeSource's includes it): the pinned npm
# packages need the command, from whichever package provides it.
if [ -n "$npm_dirs" ] && ! command -v npm >/dev/null 2>&1; then
    case " $missing " in *" nodejs "*) ;; *) dpkg -s nodejs >/dev/null 2>&1 || missing="$missing nodejs" ;; esac
    missing="$missing npm"
fi
[ -z "$missing" ] && { npm_ci; exit 0; }

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
npm_ci
