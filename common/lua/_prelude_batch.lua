-- Prelude: batches (an endpoint's batch option, docs/cli.md "Endpoint
-- options"; the keys in docs/redis.md; the design in docs/architecture.md
-- "Batches").
--
-- A batch is the unit of work of a batching endpoint: it is stored like a
-- delivery (psw:delivery:<bat_id>, attempts in psw:delivery:<bat_id>:attempts)
-- so the queues, in-flight lists and sets, the retry schedule, recovery,
-- the sweep and replay move it exactly as they move a delivery. Its events
-- are listed in psw:delivery:<bat_id>:events, one entry per event:
-- "<dlv_id> <account_id>/<event id>" (no id alphabet holds a space or '/'),
-- so the claim builds the body with one read per event and the end of the
-- batch writes each event's delivery hash once.
--
-- The events' own deliveries are in state 'batched' from publish until their
-- batch ends; then batch_end writes the batch's outcome into each. Nothing
-- else touches them.
--
-- An endpoint collects into one open batch (endpoint:<ep>:batch names it): a
-- batch in state 'scheduled' that has never been attempted, in
-- queue:scheduled at its first event's time + max_wait, so promote.lua sends
-- it off when the oldest has waited max_wait. A batch that reaches
-- max_events goes to ready at once. A batch id is its first event's
-- delivery id with the bat_ prefix: unique, and sorting by time like it.

local function is_batch(id)
  return string.sub(id, 1, 4) == 'bat_'
end

-- Adds entries (list of "<dlv_id> <acct>/<evt>", oldest first) of endpoint
-- ep (account acct, batch max_events max, max_wait wait ms) to its open
-- batch, opening new ones as needed. now: ms as a string. Returns the ids
-- of the batches this filled, in order (they are 'pending' now; the caller
-- queues them).
local function batch_add(ep, acct, max, wait, entries, now, ttl)
  local pk = K.endpoint_batch(ep)
  local bid = redis.call('GET', pk)
  local count = 0
  if bid then
    local b = redis.call('HMGET', K.delivery(bid), 'state', 'attempts', 'count')
    if b[1] == 'scheduled' and b[2] == '0' then
      count = tonumber(b[3] or '0') or 0
    else
      bid = nil -- sent off by its max_wait, or gone
    end
  end
  local full = {}
  local i = 1
  while i <= #entries do
    local bk
    if not bid or count >= max then
      bid = 'bat_' .. string.sub(string.match(entries[i], '^(%S+)'), 5)
      count = 0
      bk = K.delivery(bid)
      local due = int(tonumber(now) + wait)
      redis.call('HSET', bk, 'id', bid, 'endpoint_id', ep, 'account_id', acct,
                 'event_id', '', 'event_type', 'batch', 'state', 'scheduled',
                 'attempts', '0', 'count', '0', 'created_at', now,
                 'next_attempt_at', due, 'trigger', 'first')
      redis.call('PEXPIRE', bk, ttl)
      redis.call('ZADD', K.scheduled, due, bid)
      redis.call('SET', pk, bid, 'PX', ttl)
    else
      bk = K.delivery(bid)
    end
    local n = math.min(max - count, #entries - i + 1)
    local ek = K.batch_events(bid)
    redis.call('RPUSH', ek, unpack(entries, i, i + n - 1))
    if count == 0 then redis.call('PEXPIRE', ek, ttl) end
    count = count + n
    i = i + n
    if count >= max then
      redis.call('ZREM', K.scheduled, bid)
      redis.call('HSET', bk, 'count', int(count), 'state', 'pending', 'next_attempt_at', now)
      redis.call('DEL', pk)
      full[#full + 1] = bid
      bid = nil
    else
      redis.call('HSET', bk, 'count', int(count))
    end
  end
  return full
end

-- The request body of batch bid: {"type":"batch","events":[...]} with each
-- event's stored body, in the order they were published, and how many it
-- holds; false when every event expired. body_of(acct, evt) reads a body
-- (false when expired); an expired event is left out.
local function batch_body(bid, body_of)
  local parts = {}
  for _, e in ipairs(redis.call('LRANGE', K.batch_events(bid), '0', '-1')) do
    local acct, evt = string.match(e, '^%S+ ([^/]*)/(.+)$')
    local b = acct and body_of(acct, evt)
    if b then parts[#parts + 1] = b end
  end
  if #parts == 0 then return false, 0 end
  return '{"type":"batch","events":[' .. table.concat(parts, ',') .. ']}', #parts
end

-- Writes how batch bid ended into each of its events' deliveries, one HSET
-- of a few fields each: state ('delivered', 'failed' or 'skipped'),
-- batch_id, attempts (the batch's), and delivered_at, or failed_at +
-- failed_reason, or (skipped) last_error; the last status, error and the
-- attempt records stay on the batch (docs/redis.md). at: ms as a string.
-- Returns how many events the batch carried.
local function batch_end(bid, state, at, err, reason)
  local b = redis.call('HMGET', K.delivery(bid), 'attempts', 'trigger')
  local n = b[1] or '0'
  -- a replayed batch may have failed before: its events' failure is cleared
  local again = b[2] == 'replay'
  local entries = redis.call('LRANGE', K.batch_events(bid), '0', '-1')
  for _, e in ipairs(entries) do
    local dk = K.delivery(string.match(e, '^(%S+)'))
    if state == 'delivered' then
      if again then
        redis.call('HSET', dk, 'state', state, 'batch_id', bid, 'attempts', n,
                   'delivered_at', at, 'failed_reason', '', 'failed_at', '')
      else
        redis.call('HSET', dk, 'state', state, 'batch_id', bid, 'attempts', n,
                   'delivered_at', at)
      end
    elseif state == 'failed' then
      redis.call('HSET', dk, 'state', state, 'batch_id', bid, 'attempts', n,
                 'failed_at', at, 'failed_reason', reason or '')
    else
      redis.call('HSET', dk, 'state', state, 'batch_id', bid, 'attempts', n,
                 'last_error', err or '')
    end
  end
  return #entries
end

-- A replayed batch and its events get their retention back, like a
-- replayed delivery (replay.lua).
local function batch_renew(bid, ttl)
  local ek = K.batch_events(bid)
  for _, e in ipairs(redis.call('LRANGE', ek, '0', '-1')) do
    local did, acct, evt = string.match(e, '^(%S+) ([^/]*)/(.+)$')
    if did then
      redis.call('PEXPIRE', K.delivery(did), ttl)
      redis.call('PEXPIRE', K.event_of(acct, evt), ttl)
    end
  end
  redis.call('PEXPIRE', ek, ttl)
end

-- recover_worker (_prelude.lua) ends a batch that kept killing workers
-- through this: its events fail with it, and count as failed.
batch_crashed = function(bid, now, ep)
  local n = batch_end(bid, 'failed', now, nil, 'crashed')
  if n > 1 then
    redis.call('HINCRBY', K.stats, 'failed', int(n - 1))
    redis.call('HINCRBY', K.endpoint_stats(ep), 'failed', int(n - 1))
  end
end
