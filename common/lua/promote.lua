-- promote: move due retries from the scheduled set to ready, atomically.
-- ARGV: 1 prefix, 2 batch size, 3 scheduler id, 4 endpoint.max_in_flight,
--       5 '0' to skip the waiting-list check below (the scheduler runs it
--         once per scheduler.tick, however often due retries make it call;
--         absent = run it)
-- Returns {moved, more (1 when a full batch was due), earliest remaining due
--          time ('' if none), now}
--
-- ZRANGEBYSCORE and ZREM run in one script, so two schedulers never move
-- the same id: the second sees it gone. Ids whose delivery is no longer
-- 'scheduled' (replayed or expired meanwhile) are dropped, not moved; the
-- others go to the back of ready, the earliest due first. The scheduler's
-- heartbeat rides along (schedulers sorted set).
-- It also lets held-back deliveries in when their endpoint has free slots —
-- a safety net for the slot release in complete/recover, which normally does
-- this at once — and forgets slots whose delivery is no longer in flight.
-- For an ordered endpoint the net is ordered_check (_prelude.lua).
local batch, sid = tonumber(ARGV[2]), ARGV[3]
local cap, floor = parse_cap(ARGV[4])
local net = ARGV[5] ~= '0'
local now = now_ms()
local now_s = int(now)
if sid ~= '' then redis.call('ZADD', K.schedulers, now_s, sid) end

local ids = redis.call('ZRANGEBYSCORE', K.scheduled, '-inf', now_s, 'LIMIT', '0', ARGV[2])
local due = {}
local heads = {} -- retries of ordered endpoints' heads (they have a seq)
variadic('ZREM', K.scheduled, ids)
for _, did in ipairs(ids) do
  local dkey = K.delivery(did)
  local f = redis.call('HMGET', dkey, 'state', 'seq')
  if f[1] == 'scheduled' then
    redis.call('HSET', dkey, 'state', 'pending')
    if f[2] then heads[#heads + 1] = did else due[#due + 1] = did end
  end
end
variadic('LPUSH', K.ready, due) -- one LPUSH per id, in this order, would do the same
-- an ordered endpoint's whole line waits on its head: its retry goes to
-- the front, not behind the backlog of other endpoints
variadic('RPUSH', K.ready, heads)
local moved = #due + #heads

if net then
  for _, ep in ipairs(redis.call('SRANDMEMBER', K.waiting, '10')) do
    local fk = K.endpoint_inflight(ep)
    for _, did in ipairs(redis.call('SMEMBERS', fk)) do
      if redis.call('HGET', K.delivery(did), 'state') ~= 'in_flight' then
        redis.call('SREM', fk, did)
      end
    end
    if ordered_check(ep) then
      -- ordered: its head's end, not free slots, lets the next one in
    elseif cap > 0 then
      unhold(ep, limit_of(ep, cap, floor) - redis.call('SCARD', fk))
    else
      unhold(ep, nil) -- the cap was lifted: nothing needs to wait
    end
  end
end

local first = redis.call('ZRANGE', K.scheduled, '0', '0', 'WITHSCORES')
return {moved, #ids == batch and 1 or 0, first[2] or '', now}
