-- recover: hand back the in-flight work of worker children that stopped
-- heartbeating, atomically per call.
-- ARGV: 1 prefix, 2 scheduler.worker_timeout (ms), 3 scheduler.max_recoveries,
--       4 at most this many workers per call, 5 retention (ms),
--       6… worker ids whose in-flight list exists (found by the scheduler's
--          SCAN); those with no entry in psw:workers are orphans
-- Returns {workers, requeued, crashed, now}
--
-- A delivery that was in flight gets an attempt record saying the worker was
-- lost, and goes back to the front of ready — unless it has now been
-- recovered more than max_recoveries times: a job that keeps killing workers
-- is failed with reason 'crashed' instead of being retried forever. Ids that
-- were moved but not yet claimed ('pending') simply go back.
local timeout, maxrec, limit = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local ttl = tonumber(ARGV[5])
local now = now_ms()
local dead = redis.call('ZRANGEBYSCORE', K.workers, '-inf', now - timeout, 'LIMIT', 0, limit)
local requeued, crashed = 0, 0

-- An in-flight list whose worker has no heartbeat entry is an orphan: the
-- worker was recovered or released, and then a late BLMOVE or claim of that
-- (stalled, not dead) worker wrote into its list again. Nobody else would
-- ever look at it.
for i = 6, #ARGV do
  if not redis.call('ZSCORE', K.workers, ARGV[i]) then dead[#dead + 1] = ARGV[i] end
end

for _, w in ipairs(dead) do
  local r, c = recover_worker(w, ttl, now, maxrec)
  requeued, crashed = requeued + r, crashed + c
end
return {#dead, requeued, crashed, now}
