-- publish: store validated events and fan them out, atomically, in order.
-- ARGV: 1 prefix, 2 retention (ms), then 7 per event:
--       event id, type, account_id, domain, created_at (ms), body,
--       first delivery id ("dlv_" + 26)
-- Returns one array per event, in order:
--   {'created', deliveries, skipped, dlv_id...}
--   or {'duplicate', deliveries} when the account already published an
--   event with this id (nothing written). Ids are unique per account: the
--   same id from another account is another event (docs/redis.md).
--
-- Endpoints match when their domain is empty or equal to the event's, and
-- their events list is '*' or names the type. Delivery ids are the given id
-- and its successors (random part + 1 each), so one id from the caller's
-- RAND_bytes serves any fan-out width and the ids keep sorting by time.
--
-- A delivery for an endpoint that already has deliveries held back by
-- endpoint.max_in_flight (its waiting list is not empty) joins the end of
-- that list at once, still 'pending': a claim would only move it there
-- (the endpoint's slots are taken), and this way it cannot overtake the
-- ones waiting longer. Freed slots let them into ready in order. Every
-- delivery for an ordered endpoint joins that list, and the endpoint's turn
-- lets them out one at a time (ordered_next in _prelude.lua).
--
-- A new delivery hash holds the fields docs/redis.md lists, but no trigger
-- (absent = first, "Delivery hash fields"): every field written costs Redis
-- about as much as a small command, in the hash, the script bridge and the
-- AOF (docs/performance.md).
--
-- Several events per call cost less than one call each: an account's
-- endpoints are read once per call, the new ids go onto ready with one LPUSH
-- (the same order as one LPUSH per delivery) and into each endpoint's index
-- with one ZADD, and the counters are added once. The events of one call
-- share one publish time. An event id given twice in one call is a
-- duplicate the second time, as in two calls.
local ttl = ARGV[2]
local B32 = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'
local function id_next(id)
  local b = {string.byte(id, 1, -1)}
  local i = #b
  local stop = #b - 16 -- only the 16 random characters change
  while i > stop do
    local pos = string.find(B32, string.char(b[i]), 1, true)
    if pos < 32 then
      b[i] = string.byte(B32, pos + 1)
      return string.char(unpack(b))
    end
    b[i] = string.byte('0')
    i = i - 1
  end
  return string.char(unpack(b))
end

local now = int(now_ms())
local accounts = {}        -- account -> its endpoints {id, domain, events, status}
local ready = {}           -- enabled delivery ids, in creation order
local index, order = {}, {} -- endpoint -> {now, id, now, id …} for its deliveries index
local ep_skipped = {}
local waiting = {}         -- endpoint -> {ids} joining its waiting list
local batched, batched_order = {}, {} -- batching endpoint -> its new deliveries
local ordered_eps = {}     -- endpoint -> true when ordered (all its deliveries wait)
local published, created_total, skipped_total = 0, 0, 0
local out = {}

local function endpoints_of(acct)
  local list = accounts[acct]
  if not list then
    list = {}
    local ids = redis.call('SMEMBERS', K.account_endpoints(acct))
    table.sort(ids)
    for _, ep in ipairs(ids) do
      local f = redis.call('HMGET', K.endpoint(ep), 'domain', 'events', 'status',
                           'batch_max_events', 'batch_max_wait', 'ordered')
      local ordered = f[3] == 'enabled' and f[6] == '1'
      if ordered then ordered_eps[ep] = true end
      list[#list + 1] = {id = ep, domain = f[1], events = f[2], status = f[3], ordered = ordered,
                         held = ordered or (f[3] == 'enabled' and
                                redis.call('LLEN', K.endpoint_waiting(ep)) > 0),
                         batch = tonumber(f[4] or '') or 0, wait = tonumber(f[5] or '') or 0}
    end
    accounts[acct] = list
  end
  return list
end

local function publish(evt, etype, acct, domain, created_at, body, did)
  local ekey = K.event_of(acct, evt)
  -- one EXISTS for both names: for a new id (the usual case) neither exists,
  -- and one command less per event is 2% of Redis's work per delivery
  -- (docs/performance.md)
  if redis.call('EXISTS', ekey, K.event(evt)) > 0 then
    if redis.call('EXISTS', ekey) == 1 then
      return {'duplicate', tonumber(redis.call('HGET', ekey, 'deliveries') or '0')}
    end
    -- stored under the bare id before ids were per account: the same
    -- account's is still a duplicate
    local old = redis.call('HMGET', K.event(evt), 'account_id', 'deliveries')
    if old[1] == acct then return {'duplicate', tonumber(old[2] or '0')} end
  end
  local type_pat = ',' .. etype .. ','
  local res = {'created', 0, 0}
  local created, skipped = 0, 0
  for _, ep in ipairs(endpoints_of(acct)) do
    local status = ep.status
    if status and (ep.domain == '' or ep.domain == domain) and
       (ep.events == '*' or string.find(',' .. ep.events .. ',', type_pat, 1, true)) then
      if created > 0 then did = id_next(did) end
      local dkey = K.delivery(did)
      created = created + 1
      res[#res + 1] = did
      if status == 'enabled' and ep.batch > 0 then
        -- batching endpoint (_prelude_batch.lua): the delivery waits in a
        -- batch, which is what the queues move
        redis.call('HSET', dkey, 'id', did, 'event_id', evt, 'endpoint_id', ep.id,
                   'event_type', etype, 'account_id', acct, 'state', 'batched',
                   'attempts', '0', 'created_at', now)
        local b = batched[ep.id]
        if not b then
          b = {ep = ep, acct = acct, entries = {}}
          batched[ep.id] = b
          batched_order[#batched_order + 1] = ep.id
        end
        b.entries[#b.entries + 1] = did .. ' ' .. acct .. '/' .. evt
      elseif status == 'enabled' then
        if ep.ordered then
          -- its place in the endpoint's line, for replays (replay.lua):
          -- deliveries created in the same ms have no other order
          redis.call('HSET', dkey, 'id', did, 'event_id', evt, 'endpoint_id', ep.id,
                     'event_type', etype, 'account_id', acct, 'state', 'pending',
                     'attempts', '0', 'created_at', now, 'next_attempt_at', now, 'seq',
                     int(redis.call('HINCRBY', K.endpoint(ep.id), 'ordered_seq', '1')))
        else
          redis.call('HSET', dkey, 'id', did, 'event_id', evt, 'endpoint_id', ep.id,
                     'event_type', etype, 'account_id', acct, 'state', 'pending',
                     'attempts', '0', 'created_at', now, 'next_attempt_at', now)
        end
        if ep.held then
          local w = waiting[ep.id]
          if not w then
            w = {}
            waiting[ep.id] = w
          end
          w[#w + 1] = did
        else
          ready[#ready + 1] = did
        end
      else
        redis.call('HSET', dkey, 'id', did, 'event_id', evt, 'endpoint_id', ep.id,
                   'event_type', etype, 'account_id', acct, 'state', 'skipped',
                   'attempts', '0', 'created_at', now, 'last_error', 'endpoint ' .. status .. ': not sent')
        ep_skipped[ep.id] = (ep_skipped[ep.id] or 0) + 1
        skipped = skipped + 1
      end
      -- (no TTL of its own: the scheduler's sweep deletes it after the
      -- retention, which saves a PEXPIRE per delivery, docs/redis.md)
      local z = index[ep.id]
      if not z then
        z = {}
        index[ep.id] = z
        order[#order + 1] = ep.id
      end
      z[#z + 1] = now
      z[#z + 1] = did
    end
  end
  redis.call('HSET', ekey, 'id', evt, 'type', etype, 'account_id', acct,
             'domain', domain, 'created_at', created_at, 'body', body,
             'published_at', now, 'deliveries', int(created))
  redis.call('PEXPIRE', ekey, ttl)
  published = published + 1
  created_total = created_total + created
  skipped_total = skipped_total + skipped
  res[2], res[3] = created, skipped
  return res
end

for i = 3, #ARGV, 7 do
  out[#out + 1] = publish(ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4],
                          ARGV[i + 5], ARGV[i + 6])
end

-- events of batching endpoints join their open batches; full ones are queued
-- like new deliveries (behind a waiting list the endpoint has)
for _, epid in ipairs(batched_order) do
  local b = batched[epid]
  local wait = b.ep.wait > 0 and b.ep.wait or 1000
  for _, bid in ipairs(batch_add(epid, b.acct, b.ep.batch, wait, b.entries, now, ttl)) do
    if b.ep.held then
      redis.call('RPUSH', K.endpoint_waiting(epid), bid)
      redis.call('SADD', K.waiting, epid)
    else
      ready[#ready + 1] = bid
    end
  end
end
variadic('LPUSH', K.ready, ready)
for _, ep in ipairs(order) do
  if waiting[ep] then
    variadic('RPUSH', K.endpoint_waiting(ep), waiting[ep])
    redis.call('SADD', K.waiting, ep)
  end
  if ordered_eps[ep] then ordered_next(ep) end
  variadic('ZADD', K.endpoint_deliveries(ep), index[ep])
  if ep_skipped[ep] then
    redis.call('HINCRBY', K.endpoint_stats(ep), 'skipped', int(ep_skipped[ep]))
  end
end
if published > 0 then redis.call('HINCRBY', K.stats, 'events_published', int(published)) end
if created_total > 0 then
  redis.call('HINCRBY', K.stats, 'deliveries_created', int(created_total))
end
if skipped_total > 0 then redis.call('HINCRBY', K.stats, 'skipped', int(skipped_total)) end
return out
