-- heartbeat: a worker child says it is alive, on Redis's clock.
-- ARGV: 1 prefix, 2 worker id, 3 host, 4 pid, 5 started_at (ms),
--       6 requests in flight, 7 concurrency, 8 expiry of the info hash (ms)
-- Returns now (ms).
local now = now_ms()
redis.call('ZADD', K.workers, now, ARGV[2])
local wk = K.worker(ARGV[2])
redis.call('HSET', wk, 'id', ARGV[2], 'host', ARGV[3], 'pid', ARGV[4],
           'started_at', ARGV[5], 'in_flight', ARGV[6], 'concurrency', ARGV[7],
           'seen_at', now)
redis.call('PEXPIRE', wk, ARGV[8])
return now
