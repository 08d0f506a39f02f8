-- replay: deliver again now, as a new attempt cycle, atomically per call.
-- ARGV: 1 prefix, 2 retention (ms), 3 mode: 'ids' or 'range'
--   ids:   4… delivery ids
--          Returns {queued, then per id: result, endpoint id ('' if unknown)}
--   range: 4 endpoint id, 5 upper score (ms), 6 entries at the upper score
--          already seen (the cursor), 7 lower score (ms, or '-inf'),
--          8 states as ',s1,s2,', 9 index entries to look at at most
--          Returns {status, queued, matched, done, next upper score, next skip,
--          next lower score}: an ordered endpoint's range is walked upwards
--          (the lower score moves, the skip counts entries at it), any other
--          downwards (the upper score moves)
--          status: ok, notfound, endpoint_deleted or endpoint_disabled (then
--          nothing was looked at)
--
-- Per delivery, the result is one of
--   not_found          no such delivery (or it expired)
--   endpoint_deleted   its endpoint is deleted (or gone): nothing to send to
--   endpoint_disabled  its endpoint is disabled: the caller may enable it
--                      (psw_endpoint_enable) and call again
--   in_flight          a worker is sending it right now: left alone
--   pending            it already waits in ready (or in its endpoint's
--                      waiting list): left alone, it goes out anyway
--   queued             taken out of scheduled/failed if it was there, set
--                      pending with trigger 'replay' (so claim starts a new
--                      retry cycle and the attempt record says 'replay') and
--                      pushed to the front of ready (workers pop the right end)
-- Queued deliveries get their retention back (delivery, attempts, event), so
-- a replay of old history is not cut short by the old TTL.
--
-- Order: ids are pushed last to first and a range is walked newest to
-- oldest, so that of what one call queues, the first id (the oldest
-- delivery) ends up at the very front and goes out first. The caller sends
-- its chunks of ids in reverse for the same reason. An ordered endpoint's
-- range is the exception: see below.
local ttl = tonumber(ARGV[2])
local now = now_ms()
local queued = 0

-- line: nil, or a list that queued ids join instead of the front of ready
-- (an ordered endpoint's range, see below)
local function replay_one(did, line)
  local dkey = K.delivery(did)
  local d = redis.call('HMGET', dkey, 'state', 'endpoint_id', 'event_id', 'account_id',
                       'batch_id')
  if not d[1] then return 'not_found', '' end
  -- an event sent in a batch is replayed with its batch, as one unit
  -- (_prelude_batch.lua); one whose batch has not ended yet goes out anyway
  if d[5] and d[5] ~= '' and redis.call('EXISTS', K.delivery(d[5])) == 1 then
    return replay_one(d[5])
  end
  if d[1] == 'batched' then return 'pending', d[2] or '' end
  local ep = d[2] or ''
  local st = ep ~= '' and redis.call('HGET', K.endpoint(ep), 'status')
  if not st or st == 'deleted' then return 'endpoint_deleted', ep end
  if st ~= 'enabled' then return 'endpoint_disabled', ep end
  if d[1] == 'in_flight' then return 'in_flight', ep end
  if d[1] == 'pending' then return 'pending', ep end
  if d[1] == 'scheduled' then
    redis.call('ZREM', K.scheduled, did)
  elseif d[1] == 'failed' then
    redis.call('ZREM', K.failed, did)
  end
  redis.call('HSET', dkey, 'state', 'pending', 'trigger', 'replay',
             'next_attempt_at', now, 'failed_reason', '', 'failed_at', '',
             'worker', '')
  if line then line[#line + 1] = did else redis.call('RPUSH', K.ready, did) end
  redis.call('PEXPIRE', dkey, ttl)
  redis.call('PEXPIRE', K.delivery_attempts(did), ttl)
  if d[3] then
    redis.call('PEXPIRE', K.event_of(d[4] or '', d[3]), ttl)
    redis.call('PEXPIRE', K.event(d[3]), ttl) -- stored before ids were per account
  end
  if is_batch(did) then batch_renew(did, ttl) end
  redis.call('HINCRBY', K.stats, 'replayed', 1)
  queued = queued + 1
  return 'queued', ep
end

if ARGV[3] == 'ids' then
  local res = {}
  for i = #ARGV, 4, -1 do
    local r, ep = replay_one(ARGV[i])
    res[2 * (i - 3) - 1] = r
    res[2 * (i - 3)] = ep
  end
  local out = {queued}
  for i = 1, #res do out[#out + 1] = res[i] end
  return out
end

local ep, upper, skip = ARGV[4], ARGV[5], tonumber(ARGV[6])
local lower, states, scan = ARGV[7], ARGV[8], tonumber(ARGV[9])
local st, ordered = unpack(redis.call('HMGET', K.endpoint(ep), 'status', 'ordered'))
if not st then return {'notfound', 0, 0, 1, upper, skip} end
if st == 'deleted' then return {'endpoint_deleted', 0, 0, 1, upper, skip} end
if st ~= 'enabled' then return {'endpoint_disabled', 0, 0, 1, upper, skip} end

if ordered == '1' then
  -- An ordered endpoint's range goes out in creation order: walked oldest
  -- to newest (the cursor is the lower score and the entries seen at it),
  -- each call's ids appended to the endpoint's waiting list behind what
  -- waits already, so chunks of later calls come after earlier ones. A call
  -- never ends inside a score (ms): deliveries created in the same ms are
  -- put in order by their seq (their place in the endpoint's line, given by
  -- publish.lua), which needs all of them at once. The head keeps its turn
  -- (back to the front of ready).
  local zk = K.endpoint_deliveries(ep)
  local rows = redis.call('ZRANGEBYSCORE', zk, lower, upper, 'WITHSCORES', 'LIMIT', skip, scan)
  local done = #rows / 2 < scan and 1 or 0
  local cur, seen = tonumber(lower) or -math.huge, skip
  for i = 2, #rows, 2 do
    local score = tonumber(rows[i])
    if score == cur then seen = seen + 1 else cur, seen = score, 1 end
  end
  if done == 0 then -- the rest of the last ms
    local more = redis.call('ZRANGEBYSCORE', zk, rows[#rows], rows[#rows], 'WITHSCORES',
                            'LIMIT', seen, '-1')
    for _, v in ipairs(more) do rows[#rows + 1] = v end
    seen = seen + #more / 2
  end
  local picked = {}
  for i = 1, #rows, 2 do
    local f = redis.call('HMGET', K.delivery(rows[i]), 'state', 'seq')
    if f[1] and string.find(states, ',' .. f[1] .. ',', 1, true) then
      picked[#picked + 1] = {id = rows[i], score = tonumber(rows[i + 1]),
                             seq = tonumber(f[2] or '') or 0}
    end
  end
  table.sort(picked, function(a, b)
    if a.score ~= b.score then return a.score < b.score end
    if a.seq ~= b.seq then return a.seq < b.seq end
    return a.id < b.id
  end)
  local line = {}
  for _, p in ipairs(picked) do replay_one(p.id, line) end
  local head = redis.call('HGET', K.endpoint(ep), 'ordered_head')
  local tail = {}
  for _, did in ipairs(line) do
    if did == head then redis.call('RPUSH', K.ready, did) else tail[#tail + 1] = did end
  end
  if #tail > 0 then
    variadic('RPUSH', K.endpoint_waiting(ep), tail)
    redis.call('SADD', K.waiting, ep)
    ordered_next(ep)
  end
  return {'ok', queued, #picked, done, upper, seen,
          #rows > 0 and string.format('%.0f', cur) or lower}
end

local rows = redis.call('ZREVRANGEBYSCORE', K.endpoint_deliveries(ep), upper, lower,
                        'WITHSCORES', 'LIMIT', skip, scan)
local cur = tonumber(upper)
local seen, matched = skip, 0
for i = 1, #rows, 2 do
  local did, score = rows[i], tonumber(rows[i + 1])
  if score == cur then
    seen = seen + 1
  else
    cur, seen = score, 1
  end
  local s = redis.call('HGET', K.delivery(did), 'state')
  if s and string.find(states, ',' .. s .. ',', 1, true) then
    matched = matched + 1
    replay_one(did)
  end
end
local done = #rows / 2 < scan and 1 or 0
return {'ok', queued, matched, done, string.format('%.0f', cur), seen, lower}
