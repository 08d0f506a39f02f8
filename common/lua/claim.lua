-- claim: a worker child takes up to N due deliveries, atomically.
-- ARGV: 1 prefix, 2 worker id, 3 N, 4 endpoint.max_in_flight (0 = no cap),
--       5… ids already in this worker's in-flight list that it does not hold
--         (moved by its parked BLMOVE, or claimed by a call whose reply was
--         lost with the connection); they are taken first
-- Returns {now, claimed, skipped, held, drained (1 = ready ran dry),
--   then 12 fields per claimed delivery:
--   id, event_id, event_type, endpoint_id, url, attempt, trigger,
--   cycle_started_at, cycle_attempts, secret, secret_prev, body}
--
-- Each id moves from ready into queue:inflight:<worker> first, so that it is
-- never outside a list Redis holds: if the worker dies, the scheduler finds
-- it there. The attempt is counted here, when the request starts, so a job
-- that crashes workers still uses up its attempts. A delivery whose endpoint
-- is disabled or deleted is recorded 'skipped' without a request. One over
-- its endpoint's in-flight cap waits in endpoint:<ep>:waiting, in order.
local wid, want, cap = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local ik = K.inflight(wid)
local now = now_ms()
local out = {now, 0, 0, 0, 0}
local claimed, skipped, held = 0, 0, 0

local function drop(did) redis.call('LREM', ik, 1, did) end

local function skip(did, ep, status)
  local dkey = K.delivery(did)
  redis.call('HSET', dkey, 'state', 'skipped', 'next_attempt_at', '',
             'last_error', 'endpoint ' .. (status or 'deleted') .. ': not sent')
  redis.call('HINCRBY', K.stats, 'skipped', 1)
  if status then redis.call('HINCRBY', K.endpoint_stats(ep), 'skipped', 1) end
  drop(did)
  skipped = skipped + 1
end

local function take(did, adopted)
  if adopted and not redis.call('LPOS', ik, did) then
    -- no longer in our list: the scheduler handed it back to ready while
    -- this worker was stalled (its BLMOVE answer came late); not ours
    return
  end
  local dkey = K.delivery(did)
  local d = redis.call('HMGET', dkey, 'state', 'endpoint_id', 'event_id',
                       'event_type', 'trigger', 'cycle_started_at',
                       'cycle_attempts', 'first_attempt_at', 'worker')
  if adopted and d[1] == 'in_flight' and d[9] == wid then
    -- our own claim whose reply never arrived: start that attempt again
    redis.call('SREM', K.endpoint_inflight(d[2]), did)
    d[1] = 'pending'
  end
  if d[1] ~= 'pending' then -- expired, or finished meanwhile: a stale entry
    drop(did)
    return
  end
  local ep = d[2]
  local e = redis.call('HMGET', K.endpoint(ep), 'status', 'url', 'secret',
                       'secret_prev', 'secret_prev_until')
  if e[1] ~= 'enabled' then
    skip(did, ep, e[1])
    return
  end
  if cap > 0 and redis.call('SCARD', K.endpoint_inflight(ep)) >= cap then
    drop(did)
    redis.call('RPUSH', K.endpoint_waiting(ep), did)
    redis.call('SADD', K.waiting, ep)
    held = held + 1
    return
  end
  local body = redis.call('HGET', K.event(d[3]), 'body')
  if not body then
    redis.call('HSET', dkey, 'state', 'failed', 'failed_reason', 'event_expired',
               'next_attempt_at', '')
    redis.call('ZADD', K.failed, now, did)
    redis.call('HINCRBY', K.stats, 'failed', 1)
    drop(did)
    return
  end
  redis.call('SADD', K.endpoint_inflight(ep), did)
  local trigger = d[5] or 'first'
  local cstart, cattempts = d[6], tonumber(d[7] or '0') or 0
  if trigger ~= 'retry' or not cstart or cstart == '' then
    cstart, cattempts = now, 0
  end
  cattempts = cattempts + 1
  local n = redis.call('HINCRBY', dkey, 'attempts', 1)
  redis.call('HSET', dkey, 'state', 'in_flight', 'worker', wid,
             'last_attempt_at', now, 'next_attempt_at', '',
             'cycle_started_at', cstart, 'cycle_attempts', cattempts)
  if not d[8] or d[8] == '' then
    redis.call('HSET', dkey, 'first_attempt_at', now)
  end
  local prev = ''
  if e[4] and e[4] ~= '' then
    if (tonumber(e[5] or '0') or 0) > now then
      prev = e[4]
    else -- the rotation grace is over: the old secret is dropped for good
      redis.call('HSET', K.endpoint(ep), 'secret_prev', '', 'secret_prev_until', '')
    end
  end
  out[#out + 1] = did
  out[#out + 1] = d[3]
  out[#out + 1] = d[4]
  out[#out + 1] = ep
  out[#out + 1] = e[2]
  out[#out + 1] = n
  out[#out + 1] = trigger
  out[#out + 1] = cstart
  out[#out + 1] = cattempts
  out[#out + 1] = e[3]
  out[#out + 1] = prev
  out[#out + 1] = body
  claimed = claimed + 1
end

local drained = 0
for i = 5, #ARGV do
  take(ARGV[i], true)
  want = want - 1
end
while want > 0 do
  local did = redis.call('LMOVE', K.ready, ik, 'RIGHT', 'LEFT')
  if not did then drained = 1 break end
  take(did, false)
  want = want - 1
end

out[2], out[3], out[4], out[5] = claimed, skipped, held, drained
return out
