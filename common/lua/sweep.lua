-- sweep: find deliveries whose state no list backs, and requeue them.
-- ARGV: 1 prefix, 2 retention (ms), 3 longest ready list to search,
--       4… delivery ids (the scheduler's bounded SCAN of delivery keys)
-- Returns {checked, requeued, deleted}
--
-- Retention (docs/redis.md): delivery hashes and attempt lists carry no TTL
-- of their own, so publishing and recording an attempt cost one PEXPIRE
-- less each. This sweep, which visits every delivery key in turn, deletes a
-- delivery created more than the retention ago together with its attempt
-- list, unless it has a TTL (a replay gave it one, or an older version wrote
-- it): Redis expires those. An attempt list whose delivery hash is gone is
-- deleted too (ids ending in ':attempts').
--
-- Every move is one script, so a delivery is always in the list its state
-- names (docs/architecture.md). One that is not was stranded by a defect
-- (complete.lua once removed a new claim's in-flight entry when a completion
-- was resent) or by hand edits, and nothing else would ever move it on:
--   pending    in ready, its endpoint's waiting list, or a live worker's
--              in-flight list (moved by a BLMOVE, not yet claimed);
--   in_flight  in the in-flight list of the worker it names;
--   scheduled  in queue:scheduled.
-- A stranded pending or in_flight delivery goes to the front of ready (an
-- in_flight one frees its endpoint slot and gets an attempt record saying
-- its outcome is unknown); a scheduled one goes back into queue:scheduled
-- at its due time. Each is counted in psw:stats stranded_requeued.
-- Pending deliveries are not checked while ready is longer than ARGV[3]:
-- searching it (LPOS) would hold Redis too long; the next sweep looks again.
local ttl, maxready = tonumber(ARGV[2]), tonumber(ARGV[3])
local now = now_ms()
local ready_searchable = redis.call('LLEN', K.ready) <= maxready
local workers
local checked, requeued = 0, 0

local function in_a_worker_list(did, w)
  if w and w ~= '' and redis.call('LPOS', K.inflight(w), did) then return true end
  workers = workers or redis.call('ZRANGE', K.workers, '0', '-1')
  for _, x in ipairs(workers) do
    if redis.call('LPOS', K.inflight(x), did) then return true end
  end
  return false
end

local deleted = 0
local cut = now - ttl

-- true when did (with hash fields d) is past the retention and was deleted
local function expire(did, d)
  if not d[7] or (tonumber(d[7]) or now) >= cut then return false end
  local dkey = K.delivery(did)
  if redis.call('PTTL', dkey) ~= -1 then return false end -- Redis expires it
  redis.call('DEL', dkey, K.delivery_attempts(did))
  deleted = deleted + 1
  return true
end

-- Checks one delivery (see the header).
local function sweep_one(did)
  local dkey = K.delivery(did)
  local d = redis.call('HMGET', dkey, 'state', 'endpoint_id', 'worker', 'attempts', 'trigger',
                       'next_attempt_at', 'created_at')
  local state, ep = d[1], d[2] or ''
  checked = checked + 1
  if expire(did, d) then return end
  local stranded = false
  if state == 'pending' and ready_searchable then
    stranded = not redis.call('LPOS', K.ready, did) and
               not redis.call('LPOS', K.endpoint_waiting(ep), did) and
               not in_a_worker_list(did, d[3])
    if stranded then redis.call('RPUSH', K.ready, did) end
  elseif state == 'in_flight' then
    stranded = not (d[3] and d[3] ~= '' and redis.call('LPOS', K.inflight(d[3]), did))
    if stranded then
      release_slot(ep, did)
      local ak = K.delivery_attempts(did)
      redis.call('RPUSH', ak, cjson.encode({n = tonumber(d[4]), at = now,
        trigger = d[5] or 'first',
        error = 'no worker held the delivery (stranded); requeued, result unknown'}))
      redis.call('HSET', dkey, 'state', 'pending', 'worker', '', 'next_attempt_at', now,
                 'completed_attempt', d[4] or '0')
      redis.call('RPUSH', K.ready, did)
    end
  elseif state == 'scheduled' then
    stranded = not redis.call('ZSCORE', K.scheduled, did)
    if stranded then
      local due = tonumber(d[6] or '') or now
      redis.call('ZADD', K.scheduled, string.format('%d', due), did)
    end
  end
  if stranded then requeued = requeued + 1 end
end

for i = 4, #ARGV do
  local base = string.match(ARGV[i], '^(.*):attempts$')
  if not base then
    sweep_one(ARGV[i])
  elseif redis.call('EXISTS', K.delivery(base)) == 0 then -- its hash is gone
    redis.call('DEL', K.delivery_attempts(base))
    deleted = deleted + 1
  end
end
if requeued > 0 then redis.call('HINCRBY', K.stats, 'stranded_requeued', int(requeued)) end
return {checked, requeued, deleted}
