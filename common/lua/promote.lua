-- promote: move due retries from the scheduled set to ready, atomically.
-- ARGV: 1 prefix, 2 batch size, 3 scheduler id, 4 endpoint.max_in_flight
-- Returns {moved, more (1 when a full batch was due), earliest remaining due
--          time ('' if none), now}
--
-- ZRANGEBYSCORE and ZREM run in one script, so two schedulers never move
-- the same id: the second sees it gone. Ids whose delivery is no longer
-- 'scheduled' (replayed or expired meanwhile) are dropped, not moved. The
-- scheduler's heartbeat rides along (schedulers sorted set).
-- It also lets held-back deliveries in when their endpoint has free slots —
-- a safety net for the slot release in complete/recover, which normally does
-- this at once — and forgets slots whose delivery is no longer in flight.
local batch, sid, cap = tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local now = now_ms()
if sid ~= '' then redis.call('ZADD', K.schedulers, now, sid) end

local ids = redis.call('ZRANGEBYSCORE', K.scheduled, '-inf', now, 'LIMIT', 0, batch)
local moved = 0
for _, did in ipairs(ids) do
  redis.call('ZREM', K.scheduled, did)
  local dkey = K.delivery(did)
  if redis.call('HGET', dkey, 'state') == 'scheduled' then
    redis.call('HSET', dkey, 'state', 'pending')
    redis.call('LPUSH', K.ready, did)
    moved = moved + 1
  end
end

for _, ep in ipairs(redis.call('SRANDMEMBER', K.waiting, 10)) do
  local fk, wk = K.endpoint_inflight(ep), K.endpoint_waiting(ep)
  for _, did in ipairs(redis.call('SMEMBERS', fk)) do
    if redis.call('HGET', K.delivery(did), 'state') ~= 'in_flight' then
      redis.call('SREM', fk, did)
    end
  end
  if cap > 0 then
    unhold(ep, cap - redis.call('SCARD', fk))
  else
    unhold(ep, nil) -- the cap was lifted: nothing needs to wait
  end
end

local first = redis.call('ZRANGE', K.scheduled, 0, 0, 'WITHSCORES')
return {moved, #ids == batch and 1 or 0, first[2] or '', now}
