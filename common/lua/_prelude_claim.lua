-- Prelude: claim_work(wid, want, cap, floor, adopt) is what claim.lua does (its
-- header says the rules and the reply); complete.lua uses it too, to claim
-- for the slots its completions freed within the same call.
--   wid    worker id
--   want   how many to take at most, adopted ids included
--   cap    endpoint.max_in_flight (0 = no cap)
--   floor  the adaptive limit's floor, nil when the cap is fixed (parse_cap)
--   adopt  ids in the worker's in-flight list it does not hold, taken first
-- Returns claim.lua's reply as a table.
--
-- Rate limit (an endpoint's rate_limit N > 0, docs/cli.md "Endpoint
-- options"): endpoint:<ep>:rate lists the start times of its last N
-- requests, newest first, whoever made them. A request may start when
-- fewer than N started within the last RATE_WINDOW ms; otherwise the
-- delivery goes back to queue:scheduled (state 'scheduled') for the moment
-- a start leaves the window, so it holds no worker slot while it waits.
-- The k-th delivery deferred by one call gets the k-th such moment, so a
-- backlog is spread over the coming seconds instead of all coming back at
-- once. The window is a second plus RATE_MARGIN: requests start on the
-- Redis clock but arrive a few ms later, and not all equally late.
local RATE_MARGIN = 100
-- a hash field's value when it holds one, else nil (absent and '' alike)
local function given(v) return v ~= nil and v ~= '' and v or nil end
local RATE_WINDOW = 1000 + RATE_MARGIN
local function claim_work(wid, want, cap, floor, adopt)
  local ik = K.inflight(wid)
  local now = now_ms()
  local now_s = int(now)
  local H, J = R.at.claim_head, R.at.claim_job
  local out = {}
  for i = 1, #R.claim_head do out[i] = 0 end
  out[H.now] = now
  local claimed, skipped, held, failed, deferred = 0, 0, 0, 0, 0
  local eps, order = {}, {}   -- endpoint id -> what this call knows of it
  local bodies = {}           -- account/event id -> body (false: the event expired)
  local finished = {}         -- {endpoint, id} of ordered heads finished here

  local function endpoint(ep)
    local e = eps[ep]
    if not e then
      local f = redis.call('HMGET', K.endpoint(ep), 'status', 'url', 'secret',
                           'secret_prev', 'secret_prev_until', 'signing', 'signing_key',
                           'headers', 'rate_limit', 'ordered', 'ordered_head')
      e = {status = f[1], url = f[2], secret = f[3], prev = '', slots = {}, held = {},
           skipped = 0, stale_prev = false, signing = f[6] or '', signing_key = f[7] or '',
           headers = f[8] or '', rate = tonumber(f[9] or '') or 0}
      if e.rate > 0 and e.status == 'enabled' then
        -- starts, oldest first: the window as it stands, then this call's
        local r = redis.call('LRANGE', K.endpoint_rate(ep), '0', int(e.rate - 1))
        e.starts = {}
        for i = #r, 1, -1 do e.starts[#e.starts + 1] = tonumber(r[i]) end
        e.first = 1          -- e.starts[first..] are the last N starts
        e.new_starts = {}
        e.deferred = 0
      end
      if f[4] and f[4] ~= '' then
        if (tonumber(f[5] or '0') or 0) > now then
          e.prev = f[4]
        else -- the grace is over: dropped for good when a request starts
          e.stale_prev = true
        end
      end
      if cap > 0 and e.status == 'enabled' then
        e.count = redis.call('SCARD', K.endpoint_inflight(ep))
        e.limit = limit_of(ep, cap, floor)
      end
      -- ordered: one at a time, its head (the in-flight cap does not apply)
      e.head = f[11] or ''
      if f[10] == '1' and e.status == 'enabled' then
        e.ordered, e.count = true, nil
      end
      eps[ep] = e
      order[#order + 1] = ep
    end
    return e
  end

  local function body_of(acct, evt)
    local k = (acct or '') .. '/' .. evt
    local b = bodies[k]
    if b == nil then
      b = event_body(acct or '', evt)
      bodies[k] = b
    end
    return b
  end

  -- Decides about one id (already in our in-flight list). Returns true when
  -- it was claimed, i.e. stays in the list.
  local function take(did, adopted)
    local dkey = K.delivery(did)
    local d = redis.call('HMGET', dkey, 'state', 'endpoint_id', 'event_id',
                         'event_type', 'trigger', 'cycle_started_at',
                         'cycle_attempts', 'first_attempt_at', 'worker', 'attempts',
                         'account_id', 'last_attempt_at', 'next_attempt_at')
    local ep = d[2]
    if adopted and d[1] == 'in_flight' and d[9] == wid then
      -- our own claim whose reply never arrived: start that attempt again
      if redis.call('SREM', K.endpoint_inflight(ep), did) == 1 and eps[ep] and eps[ep].count then
        eps[ep].count = eps[ep].count - 1
      end
      d[1] = 'pending'
    end
    if d[1] ~= 'pending' then return false end -- expired, or finished meanwhile: stale
    local e = endpoint(ep)
    if e.status ~= 'enabled' then
      redis.call('HSET', dkey, 'state', 'skipped', 'next_attempt_at', '',
                 'last_error', 'endpoint ' .. (e.status or 'deleted') .. ': not sent')
      local n = 1
      if is_batch(did) then -- its events are skipped with it
        n = batch_end(did, 'skipped', now_s, 'endpoint ' .. (e.status or 'deleted') .. ': not sent')
      end
      skipped = skipped + n
      if e.status then e.skipped = e.skipped + n end
      if did == e.head then finished[#finished + 1] = {ep, did} end
      return false
    end
    if e.ordered and did ~= e.head then
      -- not its turn: in line behind the others (ordered_next)
      e.held[#e.held + 1] = did
      held = held + 1
      return false
    end
    if e.count and e.count >= e.limit then
      e.held[#e.held + 1] = did
      held = held + 1
      return false
    end
    local body, nbatch
    if is_batch(did) then body, nbatch = batch_body(did, event_body) else body = body_of(d[11], d[3]) end
    if not body then
      redis.call('HSET', dkey, 'state', 'failed', 'failed_reason', 'event_expired',
                 'next_attempt_at', '')
      redis.call('ZADD', K.failed, now_s, did)
      failed = failed + 1
      if is_batch(did) then
        failed = failed - 1 + batch_end(did, 'failed', now_s, nil, 'event_expired')
      end
      if did == e.head then finished[#finished + 1] = {ep, did} end
      return false
    end
    if e.starts then
      local live = #e.starts - e.first + 1
      local oldest = e.starts[e.first]
      if live >= e.rate and oldest > now - RATE_WINDOW then
        -- the k-th deferral (0-based) waits for the (k mod N)-th oldest
        -- start to leave the window, one window later per full round
        local k = e.deferred
        local at = e.starts[e.first + (k % e.rate)] + RATE_WINDOW * (1 + math.floor(k / e.rate))
        e.deferred = k + 1
        redis.call('HSET', dkey, 'state', 'scheduled', 'next_attempt_at', int(at))
        redis.call('ZADD', K.scheduled, int(at), did)
        deferred = deferred + 1
        return false
      end
      e.starts[#e.starts + 1] = now
      if live >= e.rate then e.first = e.first + 1 end
      e.new_starts[#e.new_starts + 1] = int(now)
    end
    e.slots[#e.slots + 1] = did
    if e.count then e.count = e.count + 1 end
    if e.stale_prev then
      redis.call('HSET', K.endpoint(ep), 'secret_prev', '', 'secret_prev_until', '')
      e.stale_prev = false
    end
    -- The cycle fields are not written for the first attempt of a new
    -- delivery (docs/redis.md, "Delivery hash fields"): its cycle started at
    -- first_attempt_at and has 1 attempt; the next claim writes them out.
    local trigger = d[5] or 'first'
    local n = (tonumber(d[10] or '0') or 0) + 1
    local first = given(d[8]) or given(d[12]) -- d[12]: at most one attempt so far
    -- a retry goes on with its cycle; the first cycle, never written out,
    -- began at the first attempt and had one attempt; anything else starts one
    local cstart, cattempts = now_s, 1
    if trigger == 'retry' and given(d[6]) then
      cstart, cattempts = d[6], (tonumber(d[7] or '') or 0) + 1
    elseif trigger == 'retry' and first then
      cstart, cattempts = first, 2
    end
    local f = {'state', 'in_flight', 'worker', wid, 'attempts', int(n), 'last_attempt_at', now_s}
    if given(d[13]) then f[#f + 1] = 'next_attempt_at'; f[#f + 1] = '' end
    if not given(d[8]) then f[#f + 1] = 'first_attempt_at'; f[#f + 1] = first or now_s end
    if n > 1 or trigger ~= 'first' then
      f[#f + 1] = 'cycle_started_at'; f[#f + 1] = cstart
      f[#f + 1] = 'cycle_attempts'; f[#f + 1] = int(cattempts)
    end
    redis.call('HSET', dkey, unpack(f))
    local o = #out
    out[o + J.id] = did
    out[o + J.event_id] = nbatch and int(nbatch) or d[3] -- a batch: how many events
    out[o + J.event_type] = d[4]
    out[o + J.endpoint_id] = ep
    out[o + J.url] = e.url
    out[o + J.attempt] = n
    out[o + J.trigger] = trigger
    out[o + J.cycle_started_at] = cstart
    out[o + J.cycle_attempts] = cattempts
    out[o + J.secret] = e.secret
    out[o + J.secret_prev] = e.prev
    out[o + J.body] = body
    out[o + J.signing] = e.signing
    out[o + J.signing_key] = e.signing_key
    out[o + J.headers] = e.headers
    claimed = claimed + 1
    return true
  end

  for _, did in ipairs(adopt) do
    if redis.call('LPOS', ik, did) then
      if not take(did, true) then redis.call('LREM', ik, '1', did) end
    end
    -- else: no longer in our list: the scheduler handed it back to ready
    -- while this worker was stalled (its BLMOVE answer came late); not ours
    want = want - 1
  end

  local drained = 0
  if want > 0 then
    local ids = redis.call('RPOP', K.ready, int(want)) or {}
    if #ids < want then drained = 1 end
    if #ids > 0 then
      -- the same order as one LMOVE ready -> inflight (RIGHT, LEFT) per id
      variadic('LPUSH', ik, ids)
      local keep, dropped = {}, false
      for _, did in ipairs(ids) do
        if take(did, false) then keep[#keep + 1] = did else dropped = true end
      end
      if dropped then -- they are the newest #ids entries, at the head
        redis.call('LPOP', ik, int(#ids))
        variadic('LPUSH', ik, keep)
      end
    end
  end

  for _, ep in ipairs(order) do
    local e = eps[ep]
    variadic('SADD', K.endpoint_inflight(ep), e.slots)
    -- attempts are counted where they start, as in the delivery hash: one
    -- cut off by a dead worker counts as much as one that got its answer
    if #e.slots > 0 then redis.call('HINCRBY', K.endpoint_stats(ep), 'attempts', int(#e.slots)) end
    if #e.held > 0 then
      variadic('RPUSH', K.endpoint_waiting(ep), e.held)
      redis.call('SADD', K.waiting, ep)
    end
    if e.skipped > 0 then redis.call('HINCRBY', K.endpoint_stats(ep), 'skipped', int(e.skipped)) end
    if e.new_starts and #e.new_starts > 0 then
      local rk = K.endpoint_rate(ep)
      variadic('LPUSH', rk, e.new_starts)
      redis.call('LTRIM', rk, '0', int(e.rate - 1))
      redis.call('PEXPIRE', rk, int(RATE_WINDOW * 2))
    end
  end
  -- ordered endpoints: a finished head passes the turn; one without a head
  -- gives it to the oldest waiting (those held above included)
  for _, x in ipairs(finished) do ordered_done(x[1], {x[2]}) end
  for _, ep in ipairs(order) do
    if eps[ep].ordered and eps[ep].head == '' then ordered_next(ep) end
  end
  if skipped > 0 then redis.call('HINCRBY', K.stats, 'skipped', int(skipped)) end
  if claimed > 0 then redis.call('HINCRBY', K.stats, 'attempts', int(claimed)) end
  if failed > 0 then redis.call('HINCRBY', K.stats, 'failed', int(failed)) end

  out[H.claimed], out[H.skipped], out[H.held], out[H.drained] = claimed, skipped, held + deferred, drained
  return out
end
