-- release: a worker child that is stopping hands back what it holds.
-- ARGV: 1 prefix, 2 worker id, 3 retention (ms)
-- Returns {released}
--
-- Called after the child finished (or gave up on) its requests. Ids still in
-- its in-flight list were either never started ('pending', moved by a parked
-- BLMOVE) or cut off at the end of the shutdown grace ('in_flight'); both
-- go back to the front of ready. A cut-off attempt gets a record saying so.
local wid, ttl = ARGV[2], tonumber(ARGV[3])
local now = now_ms()
local cut = 0
local pending = hand_back(wid, 'worker stopped before the answer came; requeued', ttl, now,
                          function(did, d)
  redis.call('HSET', K.delivery(did), 'state', 'pending', 'worker', '',
             'completed_attempt', d[4], 'next_attempt_at', now)
  redis.call('RPUSH', K.ready, did)
  cut = cut + 1
end)
return {pending + cut}
