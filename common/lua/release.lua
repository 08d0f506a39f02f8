-- release: a worker child that is stopping hands back what it holds.
-- ARGV: 1 prefix, 2 worker id, 3 retention (ms)
-- Returns {released}
--
-- Called after the child finished (or gave up on) its requests. Ids still in
-- its in-flight list were either never started ('pending', moved by a parked
-- BLMOVE) or cut off at the end of the shutdown grace ('in_flight'); both
-- go back to the front of ready. A cut-off attempt gets a record saying so.
local wid, ttl = ARGV[2], tonumber(ARGV[3])
local ik = K.inflight(wid)
local now = now_ms()
local released = 0
for _, did in ipairs(redis.call('LRANGE', ik, 0, -1)) do
  local dkey = K.delivery(did)
  local d = redis.call('HMGET', dkey, 'state', 'endpoint_id', 'worker', 'attempts', 'trigger')
  if d[1] == 'in_flight' and d[3] == wid then
    release_slot(d[2], did)
    local ak = K.delivery_attempts(did)
    redis.call('RPUSH', ak, cjson.encode({
      n = tonumber(d[4]), at = now, trigger = d[5] or 'first',
      error = 'worker stopped before the answer came; requeued'}))
    redis.call('PEXPIRE', ak, ttl)
    redis.call('HSET', dkey, 'state', 'pending', 'worker', '',
               'completed_attempt', d[4], 'next_attempt_at', now)
    redis.call('RPUSH', K.ready, did)
    released = released + 1
  elseif d[1] == 'pending' then
    redis.call('RPUSH', K.ready, did)
    released = released + 1
  end
end
redis.call('DEL', ik, K.worker(wid))
redis.call('ZREM', K.workers, wid)
return {released}
