#!/usr/bin/env python3
"""bench/cgself.py — where a callgrind profile's instructions go, per unit.

usage: bench/cgself.py FILE N [TOP] [--obj] [--fn NAME]...

FILE is a callgrind output (PROFILE_KEEP=1 bench/profile.sh keeps them), N the
number of units (deliveries) to divide by. Prints the TOP (default 45)
functions by self cost; --obj adds the self cost per object file (libcurl,
libc, ...: the system libraries have no debug symbols, so their functions
show as addresses); --fn NAME (a function name or an address such as
0x0000000000047d60, repeatable) prints that function's self cost, its callers
and its callees with inclusive cost and calls per unit, which is how unnamed
library functions are told apart.
"""
import collections
import re
import sys


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    path, n = argv[1], int(argv[2])
    rest = argv[3:]
    top = 45
    if rest and rest[0].isdigit():
        top = int(rest.pop(0))
    names, obnames = {}, {}
    self_cost = collections.Counter()
    obj_cost = collections.Counter()
    calls_in = collections.defaultdict(collections.Counter)
    calls_out = collections.defaultdict(collections.Counter)
    ncalls = collections.Counter()
    fnob = {}
    cur = curob = cfn = None
    pending = None

    def name(table, s):
        m = re.match(r'\((\d+)\)(?: (.*))?', s)
        if not m:
            return s
        if m.group(2):
            table[m.group(1)] = m.group(2)
        return table.get(m.group(1), s)

    with open(path) as f:
        for line in f:
            line = line.rstrip('\n')
            if line.startswith('ob='):
                curob = name(obnames, line[3:])
            elif line.startswith('cob='):
                name(obnames, line[4:])
            elif line.startswith('fn='):
                cur = name(names, line[3:])
                fnob[cur] = curob
            elif line.startswith('cfn='):
                cfn = name(names, line[4:])
            elif line.startswith('calls='):
                pending = int(line[6:].split()[0])
            elif line and (line[0].isdigit() or line[0] in '+-*'):
                parts = line.split()
                if len(parts) < 2:
                    continue
                cost = int(parts[1])
                if pending is not None:  # the line after calls=: inclusive cost of the call
                    calls_in[cfn][cur] += cost
                    calls_out[cur][cfn] += cost
                    ncalls[(cur, cfn)] += pending
                    pending = None
                elif cur:
                    self_cost[cur] += cost
                    obj_cost[curob] += cost

    total = sum(self_cost.values())
    print(f'total {total} per unit {total // n}')
    for fn, cost in self_cost.most_common(top):
        print(f'{cost // n:>9} {100 * cost / total:5.1f}% {fn}')
    if '--obj' in rest:
        print('-- self cost per object file')
        for ob, cost in obj_cost.most_common():
            print(f'{cost // n:>9} {100 * cost / total:5.1f}% {ob}')
    for i, arg in enumerate(rest):
        if arg != '--fn' or i + 1 >= len(rest):
            continue
        want = rest[i + 1]
        for fn in sorted({k for k in list(self_cost) + list(calls_in) if k == want or k.endswith(want)}):
            print(f'-- {fn} [{fnob.get(fn)}] self {self_cost[fn] // n}')
            for caller, cost in calls_in[fn].most_common(8):
                print(f'   <- {cost // n:>8} {caller} ({ncalls[(caller, fn)] / n:.2f} calls)')
            for callee, cost in calls_out[fn].most_common(25):
                print(f'   -> {cost // n:>8} {callee} ({ncalls[(fn, callee)] / n:.2f} calls)')


if __name__ == '__main__':
    main(sys.argv)
