-- Prelude: prepended at build time to every script in this folder (see
-- scripts/embed-lua.sh). Every script takes the key prefix as ARGV[1] and
-- builds key names only through K, the Lua twin of common/keys.c: the two
-- must name the same keys (tests/unit/test_keys.c checks they do).
-- Times are unix milliseconds from Redis's own clock, so processes on hosts
-- with different clocks agree on what is due.
local P = ARGV[1]
local K = {
  endpoints = P .. 'endpoints',
  stats = P .. 'stats',
  attempt_stats = P .. 'stats:attempts',
  ready = P .. 'queue:ready',
  scheduled = P .. 'queue:scheduled',
  failed = P .. 'queue:failed',
  waiting = P .. 'queue:waiting',
  workers = P .. 'workers',
  schedulers = P .. 'schedulers',
  alerts = P .. 'alerts',
  tokens = P .. 'tokens',
  audit = P .. 'audit',
}
function K.endpoint(id) return P .. 'endpoint:' .. id end
function K.endpoint_deliveries(id) return P .. 'endpoint:' .. id .. ':deliveries' end
function K.endpoint_stats(id) return P .. 'endpoint:' .. id .. ':stats' end
function K.endpoint_inflight(id) return P .. 'endpoint:' .. id .. ':inflight' end
function K.endpoint_waiting(id) return P .. 'endpoint:' .. id .. ':waiting' end
function K.endpoint_rate(id) return P .. 'endpoint:' .. id .. ':rate' end
function K.account_endpoints(a) return P .. 'account:' .. a .. ':endpoints' end
function K.event(id) return P .. 'event:' .. id end
-- Event ids are unique per account (docs/redis.md): an event's hash is
-- event:<account_id>/<event id> ('/' is in neither alphabet, so no two
-- pairs share a key). K.event(id) alone names a hash stored before that.
function K.event_of(acct, evt) return K.event(acct .. '/' .. evt) end
function K.delivery(id) return P .. 'delivery:' .. id end
function K.delivery_attempts(id) return P .. 'delivery:' .. id .. ':attempts' end
function K.inflight(w) return P .. 'queue:inflight:' .. w end
function K.worker(w) return P .. 'worker:' .. w end
function K.token(id) return P .. 'token:' .. id end
function K.token_hash(h) return P .. 'token_hash:' .. h end
function K.session(h) return P .. 'session:' .. h end
function K.login_link(h) return P .. 'login_link:' .. h end
function K.rate(id) return P .. 'rate:' .. id end
-- batches (_prelude_batch.lua)
function K.endpoint_batch(id) return P .. 'endpoint:' .. id .. ':batch' end
function K.batch_events(id) return P .. 'delivery:' .. id .. ':events' end

-- The body of account acct's event evt, or false when it expired. An event
-- stored before ids were per account sits under its bare id; it is used
-- only when it belongs to the same account.
local function event_body(acct, evt)
  local b = redis.call('HGET', K.event_of(acct, evt), 'body')
  if b then return b end
  local f = redis.call('HMGET', K.event(evt), 'body', 'account_id')
  if f[1] and f[2] == acct then return f[1] end
  return false
end

-- Reply fields C reads by position, declared once (common/replies.h is the
-- C twin; tests/unit/test_keys.c checks the two lists agree). R.<reply> is
-- the ordered list of names; R.at.<reply>.<name> its 1-based position.
local R = {
  claim_head = {'now', 'claimed', 'skipped', 'held', 'drained'},
  claim_job = {'id', 'event_id', 'event_type', 'endpoint_id', 'url', 'attempt', 'trigger',
               'cycle_started_at', 'cycle_attempts', 'secret', 'secret_prev', 'body',
               'signing', 'signing_key', 'headers'},
  complete_reply = {'results', 'claim'},
  complete_result = {'outcome', 'alert', 'reason'},
  kind = {'receiver', 'receiver_gone', 'local'},
  at = {},
}
for name, list in pairs(R) do
  if name ~= 'at' then
    local m = {}
    for i, f in ipairs(list) do m[f] = i end
    R.at[name] = m
  end
end

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- An integer as the string Redis gets. Numbers given to redis.call are
-- formatted with %.17g by Redis, which costs far more than the command that
-- receives them: every script passes strings on its hot paths.
local function int(n)
  return string.format('%d', n)
end

-- endpoint.max_in_flight as workers and the scheduler pass it: 'N' is a
-- fixed cap of N (0 = none); 'N/F' an adaptive limit between the floor F and
-- the ceiling N (docs/architecture.md, "Adaptive in-flight limit").
-- Returns cap, floor (floor nil when the cap is fixed).
local function parse_cap(s)
  local c, f = string.match(s or '', '^(%d+)/(%d+)$')
  if not c then return tonumber(s) or 0, nil end
  c, f = tonumber(c), tonumber(f)
  if c <= 0 then return 0, nil end
  if f > c then f = c end
  if f < 1 then f = 1 end
  return c, f
end

-- How many requests endpoint ep may have in flight right now: the cap, or
-- its adaptive limit (kept in its stats hash by complete.lua; an endpoint
-- without one starts at the floor), whole requests, within floor and cap.
local function limit_of(ep, cap, floor)
  if cap <= 0 or not floor then return cap end
  local l = tonumber(redis.call('HGET', K.endpoint_stats(ep), 'limit') or '') or floor
  l = math.floor(l)
  if l < floor then l = floor elseif l > cap then l = cap end
  return l
end

-- cmd key v1 v2 … with every value of list, in order (in slices: unpack
-- has a stack limit). Nothing is sent for an empty list.
local function variadic(cmd, key, list)
  for i = 1, #list, 1000 do
    redis.call(cmd, key, unpack(list, i, math.min(i + 999, #list)))
  end
end

-- Moves the n longest-waiting deliveries held back for ep (all when n is
-- nil) to the front of ready, oldest frontmost, and forgets the endpoint in
-- queue:waiting once its list is empty. Returns how many moved.
local function unhold(ep, n)
  local wk = K.endpoint_waiting(ep)
  local ids
  if n then
    if n <= 0 then return 0 end
    -- an ordered endpoint lets the next one in when its head is finished,
    -- not when a slot frees (ordered_next below)
    if redis.call('HGET', K.endpoint(ep), 'ordered') == '1' then return 0 end
    ids = redis.call('LPOP', wk, int(n))
  else
    ids = redis.call('LRANGE', wk, '0', '-1')
    redis.call('DEL', wk)
  end
  ids = ids or {}
  local back = {} -- pushed newest first, so the oldest ends up frontmost
  for i = #ids, 1, -1 do back[#back + 1] = ids[i] end
  variadic('RPUSH', K.ready, back)
  if redis.call('LLEN', wk) == 0 then redis.call('SREM', K.waiting, ep) end
  return #ids
end

-- Puts every delivery held back for ep in front of ready again (used when
-- the endpoint stops taking requests: they will be skipped at claim).
local function flush_waiting(ep)
  unhold(ep, nil)
end

-- Ordered endpoints (docs/cli.md "Endpoint options", docs/redis.md). An
-- endpoint with ordered = '1' lets one delivery at a time out of its waiting
-- list: its head, named by the endpoint's field ordered_head. The head is in
-- ready, in a worker's hands, in flight or scheduled for a retry; every
-- other delivery of the endpoint waits in endpoint:<ep>:waiting ('pending'),
-- in publish order (publish.lua appends there; a claim appends any other it
-- meets). The turn passes only when the head is finished — delivered,
-- failed for good or skipped (ordered_done) — never when it is scheduled for
-- a retry, and freed in-flight slots do not let anyone in (unhold above).

-- Gives ep's turn to the oldest delivery in its waiting list when nobody
-- holds it: that one becomes the head and goes to the front of ready. Ids
-- that are no longer pending (expired, or delivered by a late answer) are
-- dropped. An endpoint that stopped taking requests gets its whole list
-- back in ready, to be skipped at claim.
local function ordered_next(ep)
  local ek = K.endpoint(ep)
  local f = redis.call('HMGET', ek, 'ordered', 'ordered_head', 'status')
  if f[1] ~= '1' or (f[2] or '') ~= '' then return end
  if f[3] ~= 'enabled' then
    flush_waiting(ep)
    return
  end
  local wk = K.endpoint_waiting(ep)
  local did = redis.call('LPOP', wk)
  while did do
    if redis.call('HGET', K.delivery(did), 'state') == 'pending' then
      redis.call('HSET', ek, 'ordered_head', did)
      redis.call('RPUSH', K.ready, did)
      break
    end
    did = redis.call('LPOP', wk)
  end
  if redis.call('LLEN', wk) == 0 then redis.call('SREM', K.waiting, ep) end
end

-- The deliveries in ids (of endpoint ep) are finished: if one of them is
-- ep's head, the turn passes to the next.
local function ordered_done(ep, ids)
  local ek = K.endpoint(ep)
  local h = redis.call('HGET', ek, 'ordered_head')
  if not h or h == '' then return end
  for _, did in ipairs(ids) do
    if did == h then
      redis.call('HSET', ek, 'ordered_head', '')
      ordered_next(ep)
      return
    end
  end
end

-- The scheduler's safety net for ordered endpoint ep (promote.lua): a head
-- that is finished or gone without having passed the turn (hand edits, an
-- expired delivery) passes it now, and a head found back in the waiting
-- list goes to the front of ready. Returns false when ep is not ordered.
local function ordered_check(ep)
  local ek = K.endpoint(ep)
  local f = redis.call('HMGET', ek, 'ordered', 'ordered_head')
  if f[1] ~= '1' then return false end
  local h = f[2] or ''
  if h ~= '' then
    local s = redis.call('HGET', K.delivery(h), 'state')
    local wk = K.endpoint_waiting(ep)
    if s == 'pending' and redis.call('LPOS', wk, h) then
      redis.call('LREM', wk, '1', h)
      redis.call('RPUSH', K.ready, h)
    elseif s ~= 'pending' and s ~= 'in_flight' and s ~= 'scheduled' then
      redis.call('HSET', ek, 'ordered_head', '')
    end
  end
  ordered_next(ep)
  return true
end

-- A freed in-flight slot of endpoint ep lets its longest-waiting delivery
-- back in at the front of ready (the end workers pop from), so a delivery
-- held back by endpoint.max_in_flight keeps its place in line.
local function release_slot(ep, did)
  redis.call('SREM', K.endpoint_inflight(ep), did)
  unhold(ep, 1)
end

-- Set by _prelude_batch.lua (a later prelude): ends a crashed batch's events.
local batch_crashed

-- Hands back worker w's in-flight list (the worker died or is stopping).
-- For each delivery w was requesting (state in_flight, worker = w): its
-- endpoint slot is freed, an attempt record with `note` is added (the
-- request's outcome is unknown), and cut(did, d) decides what happens next
-- (d = {state, endpoint_id, worker, attempts, trigger}). Ids w had moved but
-- not yet claimed (pending) go back to the front of ready. Then the list
-- and w's heartbeat entry are deleted. Returns how many ids were pending.
local function hand_back(w, note, ttl, now, cut)
  local ik = K.inflight(w)
  local pending = 0
  for _, did in ipairs(redis.call('LRANGE', ik, 0, -1)) do
    local dkey = K.delivery(did)
    local d = redis.call('HMGET', dkey, 'state', 'endpoint_id', 'worker', 'attempts', 'trigger')
    if d[1] == 'in_flight' and d[3] == w then
      release_slot(d[2], did)
      local ak = K.delivery_attempts(did)
      redis.call('RPUSH', ak, cjson.encode({
        n = tonumber(d[4]), at = now, trigger = d[5] or 'first', error = note}))
      cut(did, d)
    elseif d[1] == 'pending' then
      redis.call('RPUSH', K.ready, did)
      pending = pending + 1
    end
  end
  redis.call('DEL', ik, K.worker(w))
  redis.call('ZREM', K.workers, w)
  return pending
end

-- Hands back the in-flight list of worker w, which is dead (its heartbeat
-- stopped, or its master saw it exit): each delivery it was requesting gets
-- an attempt record saying the result is unknown and goes back to the front
-- of ready, or is failed ('crashed') once recovered more than maxrec times.
-- Returns how many were requeued and how many failed.
local function recover_worker(w, ttl, now, maxrec)
  local requeued, crashed = 0, 0
  local pending = hand_back(w, 'worker ' .. w .. ' stopped during the attempt; result unknown',
                            ttl, now, function(did, d)
    local dkey = K.delivery(did)
    local rec = redis.call('HINCRBY', dkey, 'recoveries', 1)
    redis.call('HSET', dkey, 'worker', '', 'last_error', 'worker lost during the attempt')
    if rec > maxrec then
      redis.call('HSET', dkey, 'state', 'failed', 'failed_reason', 'crashed',
                 'failed_at', now, 'next_attempt_at', '')
      redis.call('ZADD', K.failed, now, did)
      redis.call('HINCRBY', K.stats, 'failed', 1)
      redis.call('HINCRBY', K.endpoint_stats(d[2]), 'failed', 1)
      if batch_crashed and string.sub(did, 1, 4) == 'bat_' then batch_crashed(did, now, d[2]) end
      ordered_done(d[2], {did})
      crashed = crashed + 1
    else
      redis.call('HSET', dkey, 'state', 'pending', 'next_attempt_at', now)
      redis.call('RPUSH', K.ready, did)
      redis.call('HINCRBY', K.stats, 'recovered', 1)
      requeued = requeued + 1
    end
  end)
  return requeued + pending, crashed
end

-- Disables an endpoint that is enabled, adds one alert and counts it.
-- Returns the alert's stream id, or false when it was not enabled.
local function disable_endpoint(ep, reason, now, who)
  local ek = K.endpoint(ep)
  if redis.call('HGET', ek, 'status') ~= 'enabled' then return false end
  redis.call('HSET', ek, 'status', 'disabled', 'disabled_reason', reason,
             'disabled_at', now, 'disabled_by', who, 'updated_at', now)
  flush_waiting(ep)
  redis.call('HINCRBY', K.stats, 'endpoints_disabled', '1')
  local acct = redis.call('HGET', ek, 'account_id') or ''
  return redis.call('XADD', K.alerts, 'MAXLEN', '~', '100000', '*',
                    'type', 'endpoint_disabled', 'endpoint_id', ep,
                    'account_id', acct, 'reason', reason, 'at', now)
end
