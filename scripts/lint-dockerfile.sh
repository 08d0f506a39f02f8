#!/bin/sh
# A small Dockerfile linter for what Debian offers (hadolint is not packaged):
# it parses the file the way the builder does (continuation lines, comments,
# parser directives) and checks what can be checked without a Docker engine.
#
#   - every instruction is a known one (MAINTAINER, deprecated, is refused);
#   - the first instruction is FROM (or ARG); stage names are unique;
#   - base images carry an explicit tag that is not "latest";
#   - COPY/ADD --from=X names an earlier stage (by name or index);
#   - COPY/ADD sources without --from exist in the build context;
#   - exec-form (JSON) arguments of CMD, ENTRYPOINT, SHELL and HEALTHCHECK CMD
#     are arrays of strings;
#   - HEALTHCHECK has only known options and CMD or NONE;
#   - a RUN that installs with apt-get also updates, uses
#     --no-install-recommends and removes /var/lib/apt/lists;
#   - the final stage sets a non-root USER, a HEALTHCHECK and a CMD/ENTRYPOINT.
#
# usage: scripts/lint-dockerfile.sh [DOCKERFILE [CONTEXT_DIR]]
#        (default deploy/Dockerfile, context = the repository root)
# Prints "FILE:LINE: problem" per problem; exit 0 when clean, 1 otherwise, 2 on usage.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
file=${1:-$root/deploy/Dockerfile}
ctx=${2:-$root}
[ -r "$file" ] || { echo "lint-dockerfile: cannot read $file" >&2; exit 2; }
[ -d "$ctx" ] || { echo "lint-dockerfile: no context directory $ctx" >&2; exit 2; }

# awk does the parsing and the checks; it prints problems as "E <line> <text>"
# and the sources to look up in the context as "S <line> <path>".
out=$(awk '
function problem(l, msg) { printf "E %d %s\n", l, msg }
function is_json_array(s) {
    return s ~ /^\[[ \t]*"([^"\\]|\\.)*"([ \t]*,[ \t]*"([^"\\]|\\.)*")*[ \t]*\]$/ ||
           s ~ /^\[[ \t]*\]$/
}
function finish(l,    kw, rest, rest2, n, w, i, opt, from, img, name) {
    kw = toupper(cur); sub(/[ \t].*/, "", kw)
    rest = cur; sub(/^[^ \t]+[ \t]*/, "", rest)
    ninstr++
    if (!(kw in known)) { problem(l, "unknown instruction " kw); return }
    if (kw == "MAINTAINER") { problem(l, "MAINTAINER is deprecated: use LABEL"); return }
    if (ninstr_real == 0 && kw != "FROM" && kw != "ARG")
        problem(l, "the first instruction must be FROM (or ARG), got " kw)
    if (kw != "ARG" || nstages > 0) ninstr_real++
    if (kw == "FROM") {
        n = split(rest, w, /[ \t]+/)
        i = 1
        while (i <= n && w[i] ~ /^--/) i++
        img = w[i]
        if (img == "") { problem(l, "FROM without an image"); return }
        if (n >= i + 2 && toupper(w[i + 1]) == "AS") {
            name = tolower(w[i + 2])
            if (name in stage_index) problem(l, "stage name \"" name "\" used twice")
            stage_index[name] = nstages
        } else if (n > i) {
            problem(l, "FROM: expected \"image [AS name]\"")
        }
        if (!(tolower(img) in stage_index) && img != "scratch") {
            if (img !~ /:[^\/]+$/ && img !~ /@sha256:/)
                problem(l, "FROM " img ": pin a tag (e.g. debian:12-slim)")
            else if (img ~ /:latest$/)
                problem(l, "FROM " img ": do not use the latest tag")
        }
        nstages++
        user[nstages] = ""; health[nstages] = 0; cmd[nstages] = 0
        return
    }
    if (nstages == 0) { problem(l, kw " before the first FROM"); return }
    if (kw == "COPY" || kw == "ADD") {
        n = split(rest, w, /[ \t]+/)
        from = ""
        i = 1
        while (i <= n && w[i] ~ /^--/) {
            if (w[i] ~ /^--from=/) { from = w[i]; sub(/^--from=/, "", from) }
            i++
        }
        if (w[i] ~ /^\[/) return  # JSON form: rare here, not checked further
        if (n - i + 1 < 2) { problem(l, kw " needs a source and a destination"); return }
        if (from != "") {
            if (from ~ /^[0-9]+$/) {
                if (from + 0 >= nstages - 1) problem(l, kw " --from=" from ": no earlier stage with that index")
            } else if (!(tolower(from) in stage_index) || stage_index[tolower(from)] >= nstages - 1) {
                problem(l, kw " --from=" from ": no earlier stage of that name")
            }
        } else {
            for (; i < n; i++) if (w[i] !~ /^https?:\/\//) printf "S %d %s\n", l, w[i]
        }
        return
    }
    if (kw == "CMD" || kw == "ENTRYPOINT" || kw == "SHELL") {
        if (rest == "") problem(l, kw " without arguments")
        else if (rest ~ /^\[/ && !is_json_array(rest)) problem(l, kw ": malformed JSON array")
        else if (kw == "SHELL" && rest !~ /^\[/) problem(l, "SHELL must use the JSON form")
        if (kw != "SHELL") cmd[nstages] = 1
        return
    }
    if (kw == "HEALTHCHECK") {
        n = split(rest, w, /[ \t]+/)
        i = 1
        while (i <= n && w[i] ~ /^--/) {
            opt = w[i]; sub(/=.*/, "", opt)
            if (opt != "--interval" && opt != "--timeout" && opt != "--start-period" &&
                opt != "--retries" && opt != "--start-interval")
                problem(l, "HEALTHCHECK: unknown option " opt)
            i++
        }
        if (toupper(w[i]) == "NONE") { health[nstages] = 1; return }
        if (toupper(w[i]) != "CMD") { problem(l, "HEALTHCHECK: expected CMD or NONE"); return }
        rest2 = rest; sub(/^.*[Cc][Mm][Dd][ \t]+/, "", rest2)
        if (rest2 ~ /^\[/ && !is_json_array(rest2)) problem(l, "HEALTHCHECK CMD: malformed JSON array")
        health[nstages] = 1
        return
    }
    if (kw == "USER") { user[nstages] = rest; return }
    if (kw == "RUN" && rest ~ /apt-get[ \t]+(-[^ \t]+[ \t]+)*install/) {
        if (rest !~ /apt-get[ \t]+(-[^ \t]+[ \t]+)*update/)
            problem(l, "RUN apt-get install without apt-get update in the same RUN")
        if (rest !~ /--no-install-recommends/)
            problem(l, "RUN apt-get install without --no-install-recommends")
        if (rest !~ /rm -rf \/var\/lib\/apt\/lists/)
            problem(l, "RUN apt-get install without rm -rf /var/lib/apt/lists/*")
    }
}
BEGIN {
    split("FROM RUN CMD LABEL MAINTAINER EXPOSE ENV ADD COPY ENTRYPOINT VOLUME USER " \
          "WORKDIR ARG ONBUILD STOPSIGNAL HEALTHCHECK SHELL", k, " ")
    for (i in k) known[k[i]] = 1
    nstages = 0; ninstr = 0; ninstr_real = 0; cur = ""
}
{
    line = $0
    sub(/\r$/, "", line)
    if (cur == "") {
        if (line ~ /^[ \t]*#/) next  # comments, and parser directives (# syntax=…)
        if (line ~ /^[ \t]*$/) next
        sub(/^[ \t]+/, "", line)
        start = NR
    } else if (line ~ /^[ \t]*#/ || line ~ /^[ \t]*$/) {
        next  # comments and empty lines inside a continued instruction are dropped
    }
    if (line ~ /\\[ \t]*$/) {
        sub(/\\[ \t]*$/, "", line)
        cur = cur line " "
        next
    }
    cur = cur line
    finish(start)
    cur = ""
}
END {
    if (cur != "") { problem(start, "the file ends inside a continued instruction"); finish(start) }
    if (nstages == 0) { problem(1, "no FROM instruction"); exit }
    if (user[nstages] == "") problem(NR, "the final stage runs as root: add USER")
    else if (user[nstages] ~ /^(root|0)(:|$)/) problem(NR, "the final stage runs as root (USER " user[nstages] ")")
    if (!health[nstages]) problem(NR, "the final stage has no HEALTHCHECK")
    if (!cmd[nstages]) problem(NR, "the final stage has no CMD or ENTRYPOINT")
}' "$file")

status=0
while IFS= read -r rec; do
    [ -n "$rec" ] || continue
    kind=${rec%% *}; rest=${rec#* }; line=${rest%% *}; what=${rest#* }
    case "$kind" in
    E) echo "$file:$line: $what"; status=1 ;;
    S)
        # Globs are expanded like the builder does; a source must match something.
        found=0
        for p in "$ctx"/$what; do [ -e "$p" ] && found=1 && break; done
        if [ $found -eq 0 ]; then
            echo "$file:$line: COPY source \"$what\" is not in the build context $ctx"
            status=1
        fi
        ;;
    esac
done <<EOF
$out
EOF
[ $status -eq 0 ] && echo "$file: ok"
exit $status
