#!/usr/bin/env python3
"""bench/lib/floor.py — used by bench/profile.sh, not run alone.

usage: floor.py AOF START END WRITES_OUT READS_OUT

Bytes START to END of the append-only file AOF are what Redis wrote to it
while the profiled deliveries ran: exactly the write commands the scripts
made (Redis logs a script's effects, each script call wrapped in
MULTI/EXEC). WRITES_OUT gets them, READS_OUT the reads the scripts make for every delivery, as plain commands against the
same keys:

  publish.lua   EXISTS of the event's key and its pre-account name
  claim.lua     HMGET of the delivery's 13 fields, HGET of the event's body
  complete.lua  HMGET of the delivery's 6 fields

(reads made once per script call, such as an endpoint's hash, are left out,
so the sum is a floor). The writes, then these reads, sent to a fresh
redis-server with redis-cli --pipe, cost what the key layout and the AOF cost on their own, with no script
around them (docs/performance.md, "What the key layout costs on its own").
Prints the number of deliveries the slice created.
"""
import sys

CLAIM_FIELDS = ('state endpoint_id event_id event_type trigger cycle_started_at '
                'cycle_attempts first_attempt_at worker attempts account_id '
                'last_attempt_at next_attempt_at').split()
COMPLETE_FIELDS = 'endpoint_id completed_attempt state worker failed_reason attempts'.split()


def commands(data):
    """Yields each RESP array of data as a list of bytes."""
    i = 0
    while i < len(data):
        if data[i:i + 1] != b'*':
            sys.exit(f'floor.py: not a RESP array at byte {i}')
        j = data.index(b'\r\n', i)
        n, i = int(data[i + 1:j]), j + 2
        args = []
        for _ in range(n):
            j = data.index(b'\r\n', i)
            size, i = int(data[i + 1:j]), j + 2
            args.append(data[i:i + size])
            i += size + 2
        yield args


def resp(args):
    return b'*%d\r\n' % len(args) + b''.join(b'$%d\r\n%s\r\n' % (len(a), a) for a in args)


def main(argv):
    if len(argv) != 6:
        sys.exit(__doc__.split('\n\n')[1])
    start, end = int(argv[2]), int(argv[3])
    with open(argv[1], 'rb') as f:
        f.seek(start)
        data = f.read(end - start)
    with open(argv[4], 'wb') as f:
        f.write(data)
    reads = []
    for args in commands(data):
        # a new delivery hash: HSET psw:delivery:<id> id <id> … (publish.lua)
        if (len(args) > 2 and args[0].upper() == b'HSET' and args[2] == b'id'
                and args[1].startswith(b'psw:delivery:')):
            fields = dict(zip(args[2::2], args[3::2]))
            acct, evt = fields.get(b'account_id', b''), fields[b'event_id']
            event = b'psw:event:' + acct + b'/' + evt
            reads.append(resp([b'EXISTS', event, b'psw:event:' + evt]))
            reads.append(resp([b'HMGET', args[1]] + [f.encode() for f in CLAIM_FIELDS]))
            reads.append(resp([b'HGET', event, b'body']))
            reads.append(resp([b'HMGET', args[1]] + [f.encode() for f in COMPLETE_FIELDS]))
    with open(argv[5], 'wb') as f:
        f.write(b''.join(reads))
    print(len(reads) // 4)


if __name__ == '__main__':
    main(sys.argv)
