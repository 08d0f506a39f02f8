-- complete: record the outcomes of one or more attempts of one worker,
-- atomically, in the order given; then, optionally, claim new work.
-- ARGV: 1 prefix, 2 worker id, 3 endpoint.disable_after_failures,
--       4 how many to claim afterwards ('0' = no claim),
--       5 endpoint.max_in_flight ('N' or 'N/F', see parse_cap: for the claim
--         and the adaptive limit), then 11 per attempt:
--       delivery id, attempt number, '1' success / '0' failure,
--       HTTP status ('0' = none), error, latency ms, attempt record (JSON),
--       attempt end (ms), next attempt (ms, '' = none),
--       give-up reason ('' = none), kind (R.kind): 'receiver' = the receiver
--       answered or failed, 'receiver_gone' = it said 410 Gone, 'local' =
--       the worker failed before making a request (a secret it cannot open
--       …): counted as a failed attempt and retried, but not held against
--       the endpoint. Any other kind is an error (nothing is written).
-- Returns {results, claim} (R.complete_reply): results holds 3 per attempt
-- (R.complete_result): outcome, alert id or '', alert reason or ''; the
-- outcome is one of delivered, scheduled,
-- failed, recorded (a late result of a delivery that was requeued
-- meanwhile), duplicate (this attempt was recorded before), gone (the
-- delivery expired). claim is claim.lua's reply, or empty without a claim.
--
-- The claim rides in the same call, not in a second script of the same
-- round trip: deliveries let back in from waiting lists by these
-- completions go to the front of ready, and Redis would hand the first of
-- them to another worker's parked BLMOVE between two scripts. Here the
-- worker whose slots were freed takes them, and BLMOVEs wait for new work.
--
-- Repeating a call is harmless (completed_attempt guards each attempt), so
-- a worker may resend completions after a lost connection. A success always
-- wins: it marks the delivery delivered whatever a concurrent copy is doing.
-- A failure moves the delivery on only if this worker still owns it (it is
-- still in its in-flight list and in state in_flight).
--
-- One call for many attempts is what a pipeline of one call per attempt
-- would do, with less work: counters are added up and written once per
-- call (global) or per endpoint; an endpoint's existence is read once; a
-- reset of its consecutive failures is written once, before any later
-- failure of the same call counts, so thresholds are reached exactly as one
-- by one. The freed in-flight slots leave
-- the endpoint's slot set in one SREM at the end (nothing in this script
-- reads that set), and as many deliveries held back by
-- endpoint.max_in_flight as slots were freed go to the front of ready,
-- the longest-waiting frontmost (unhold).
local wid, limit = ARGV[2], tonumber(ARGV[3])
local want = tonumber(ARGV[4])
local cap, floor = parse_cap(ARGV[5])
local ik = K.inflight(wid)
local out = {}
-- (attempts are counted by the claim that starts them, not here)
local G = {delivered = 0, failed_attempts = 0, retries_scheduled = 0, failed = 0}
local eps, order = {}, {}
local finished = {}  -- endpoint -> ids delivered or failed for good here (ordered_done)
local function finish(ep, did)
  local l = finished[ep]
  if not l then
    l = {}
    finished[ep] = l
  end
  l[#l + 1] = did
end

local function endpoint(ep)
  local e = eps[ep]
  if not e then
    e = {exists = redis.call('EXISTS', K.endpoint(ep)) == 1, freed = {},
         delivered = 0, failed_attempts = 0, failed = 0,
         reset = false, lat = {}, hard = false}
    eps[ep] = e
    order[#order + 1] = ep
  end
  return e
end

local function one(did, n_s, ok, status, err, latency, record, ended, next_at, reason, kind)
  local n = tonumber(n_s)
  local dkey = K.delivery(did)
  local d = redis.call('HMGET', dkey, 'endpoint_id', 'completed_attempt', 'state', 'worker',
                       'failed_reason', 'attempts')
  local ep = d[1]
  if not ep then
    redis.call('LREM', ik, '-1', did) -- a stale entry of an expired delivery
    return 'gone', '', ''
  end
  -- The duplicate check comes before the id leaves the in-flight list: a
  -- completion resent after this worker claimed the delivery again must not
  -- take the new claim's entry with it (the delivery would be left in_flight
  -- in no list, which nothing recovers).
  if tonumber(d[2] or '0') >= n then return 'duplicate', '', '' end
  -- A late result: a newer attempt has started since this one (this worker
  -- was taken for dead and the delivery handed back, then claimed again,
  -- maybe by this worker while the old request was still open). The entry
  -- in the in-flight list, if any, is the newer attempt's: it stays, and
  -- the state is the newer attempt's to move (only a success still wins).
  local late = (tonumber(d[6] or '0') or 0) > n
  local owned = not late and redis.call('LREM', ik, '-1', did) > 0
  local state = d[3]
  local e = endpoint(ep)
  if owned then e.freed[#e.freed + 1] = did end

  -- No TTL: the attempt list goes with its delivery hash (the scheduler's
  -- sweep deletes both after the retention, docs/redis.md)
  redis.call('RPUSH', K.delivery_attempts(did), record)
  e.last_status = status

  -- what the adaptive limit learns: a success's latency; 429, 503 and
  -- timeouts are the endpoint asking for less (other failures say nothing
  -- about its load; the worker's own failures nothing about the endpoint)
  if ok then
    e.lat[#e.lat + 1] = tonumber(latency) or 0
  elseif kind ~= 'local' and (status == '429' or status == '503' or
                              string.sub(err, 1, 8) == 'timeout:') then
    e.hard = true
  end

  if ok then
    e.last_success_at = ended
    if e.exists then e.reset = true end
    if state ~= 'delivered' then
      -- fields already empty are not written again (the claim emptied
      -- next_attempt_at of a delivery in flight; failed_reason is set only
      -- by a failure)
      local f = {'completed_attempt', n_s, 'last_status', status, 'last_error', err,
                 'last_latency_ms', latency, 'state', 'delivered', 'delivered_at', ended}
      if state ~= 'in_flight' then
        f[#f + 1] = 'next_attempt_at'; f[#f + 1] = ''
      end
      if (d[5] or '') ~= '' then
        f[#f + 1] = 'failed_reason'; f[#f + 1] = ''
      end
      redis.call('HSET', dkey, unpack(f))
      -- only a scheduled or failed delivery can be in these sets
      if state ~= 'in_flight' and state ~= 'pending' then
        redis.call('ZREM', K.scheduled, did)
        redis.call('ZREM', K.failed, did)
      end
      G.delivered = G.delivered + 1
      e.delivered = e.delivered + 1
      if is_batch(did) then -- its events are delivered with it (_prelude_batch.lua)
        local more = batch_end(did, 'delivered', ended) - 1
        G.delivered = G.delivered + more
        e.delivered = e.delivered + more
      end
      finish(ep, did)
      return 'delivered', '', ''
    end
    redis.call('HSET', dkey, 'completed_attempt', n_s, 'last_status', status,
               'last_error', err, 'last_latency_ms', latency)
    return 'recorded', '', ''
  end

  G.failed_attempts = G.failed_attempts + 1
  e.failed_attempts = e.failed_attempts + 1
  e.last_failure_at = ended
  local outcome, alert, why = 'recorded', '', ''
  local ek = K.endpoint(ep)
  -- Only the receiver's failures count toward disabling it: a worker that
  -- cannot open a secret must not get healthy endpoints disabled.
  if kind ~= 'local' and e.exists and redis.call('HGET', ek, 'status') == 'enabled' then
    if e.reset then -- an earlier success of this call comes first
      redis.call('HSET', ek, 'consecutive_failures', '0')
      e.reset = false
    end
    local cf = redis.call('HINCRBY', ek, 'consecutive_failures', '1')
    if kind == 'receiver_gone' then
      why = 'receiver answered 410 Gone'
    elseif cf >= limit then
      why = cf .. ' consecutive failed attempts'
    end
    if why ~= '' then
      alert = disable_endpoint(ep, why, ended, 'worker') or ''
      if alert == '' then why = '' end
    end
  end

  local f = {'completed_attempt', n_s, 'last_status', status, 'last_error', err,
             'last_latency_ms', latency}
  if owned and state == 'in_flight' and d[4] == wid then
    if next_at ~= '' then
      for _, v in ipairs({'state', 'scheduled', 'next_attempt_at', next_at,
                          'trigger', 'retry'}) do f[#f + 1] = v end
      redis.call('ZADD', K.scheduled, next_at, did)
      G.retries_scheduled = G.retries_scheduled + 1
      outcome = 'scheduled'
    else
      for _, v in ipairs({'state', 'failed', 'failed_reason', reason,
                          'failed_at', ended, 'next_attempt_at', ''}) do f[#f + 1] = v end
      redis.call('ZADD', K.failed, ended, did)
      G.failed = G.failed + 1
      e.failed = e.failed + 1
      if is_batch(did) then -- its events fail with it (_prelude_batch.lua)
        local more = batch_end(did, 'failed', ended, nil, reason) - 1
        G.failed = G.failed + more
        e.failed = e.failed + more
      end
      finish(ep, did)
      outcome = 'failed'
    end
  end
  redis.call('HSET', dkey, unpack(f))
  return outcome, alert, why
end

for i = 6, #ARGV, 11 do
  if not R.at.kind[ARGV[i + 10]] then
    return redis.error_reply('complete: unknown kind "' .. ARGV[i + 10] .. '"')
  end
end
local C = R.at.complete_result
for i = 6, #ARGV, 11 do
  local o, a, w = one(ARGV[i], ARGV[i + 1], ARGV[i + 2] == '1', ARGV[i + 3],
                      ARGV[i + 4], ARGV[i + 5], ARGV[i + 6], ARGV[i + 7], ARGV[i + 8],
                      ARGV[i + 9], ARGV[i + 10])
  local at = #out
  out[at + C.outcome], out[at + C.alert], out[at + C.reason] = o, a, w
end

-- The adaptive in-flight limit of endpoint ep after this call's attempts
-- (docs/architecture.md, "Adaptive in-flight limit"), in the spirit of TCP's
-- congestion window: from the floor, +1 per success (slow start) up to the
-- threshold, then +1/limit per success (+1 per limit's worth of requests);
-- on a 429/503/timeout the limit halves, on latency well above its long-run
-- level it shrinks by a tenth, once per call either way, and the threshold
-- becomes half the limit. It grows only while the endpoint uses at least half
-- of it, and stays within floor and cap. Latencies: a short (1/5) and a
-- long-run (1/50) moving average of successes, in ms; "well above" is
-- short > 2 x long + 5 ms. Returns the stats hash fields to write and by how
-- many whole requests the limit changed.
local function adapt(ep, e)
  local sk = K.endpoint_stats(ep)
  local st = redis.call('HMGET', sk, 'limit', 'limit_threshold', 'latency_short_ms',
                        'latency_long_ms')
  local l = tonumber(st[1] or '') or floor
  local thr = tonumber(st[2] or '') or cap
  local short, long = tonumber(st[3] or ''), tonumber(st[4] or '')
  if l < floor then l = floor elseif l > cap then l = cap end
  local before = math.floor(l)
  for _, x in ipairs(e.lat) do
    short = short and short + (x - short) / 5 or x
    long = long and long + (x - long) / 50 or x
  end
  local slow = short and long and short > 2 * long + 5
  if e.hard or slow then
    thr = math.max(floor, l / 2)
    l = l * (e.hard and 0.5 or 0.9)
    if slow then short = long end -- the next decrease needs new evidence
  elseif #e.lat > 0 and
         redis.call('SCARD', K.endpoint_inflight(ep)) * 2 >= l then
    for _ = 1, #e.lat do
      if l < thr then l = l + 1 else l = l + 1 / l end
    end
  end
  if l < floor then l = floor elseif l > cap then l = cap end
  local f = {'limit', string.format('%.3f', l), 'limit_threshold', string.format('%.3f', thr)}
  if short then
    f[#f + 1] = 'latency_short_ms'; f[#f + 1] = string.format('%.3f', short)
    f[#f + 1] = 'latency_long_ms'; f[#f + 1] = string.format('%.3f', long)
  end
  return f, math.floor(l) - before
end

for _, ep in ipairs(order) do
  local e = eps[ep]
  local lf, grown = nil, 0
  if floor and e.exists then lf, grown = adapt(ep, e) end
  if #e.freed > 0 then
    variadic('SREM', K.endpoint_inflight(ep), e.freed)
    -- as many held-back deliveries as slots came free, and as the limit grew
    unhold(ep, #e.freed + grown)
  end
  if e.reset then redis.call('HSET', K.endpoint(ep), 'consecutive_failures', '0') end
  local sk = K.endpoint_stats(ep)
  local f = {'last_status', e.last_status}
  if e.last_success_at then f[#f + 1] = 'last_success_at'; f[#f + 1] = e.last_success_at end
  if e.last_failure_at then f[#f + 1] = 'last_failure_at'; f[#f + 1] = e.last_failure_at end
  if lf then
    for _, v in ipairs(lf) do f[#f + 1] = v end
  end
  redis.call('HSET', sk, unpack(f))
  for _, k in ipairs({'delivered', 'failed_attempts', 'failed'}) do
    if e[k] > 0 then redis.call('HINCRBY', sk, k, int(e[k])) end
  end
end
-- an ordered endpoint's finished head passes its turn (before the claim
-- below, which then takes the next one at once)
for _, ep in ipairs(order) do
  if finished[ep] then ordered_done(ep, finished[ep]) end
end
for _, k in ipairs({'delivered', 'failed_attempts', 'retries_scheduled', 'failed'}) do
  if G[k] > 0 then redis.call('HINCRBY', K.stats, k, int(G[k])) end
end

-- Attempts by outcome and the latency histogram, for /metrics
-- (docs/redis.md, docs/metrics.md; common/metrics.c renders them). Every
-- attempt recorded above counts (not duplicates, not gone ones), added up
-- here and written with one HINCRBY per field that changed. The outcome
-- comes from the error's class (worker/http.c starts every error with it);
-- the bucket is the smallest upper bound (ms) that holds the latency, not
-- cumulative: the renderer sums them. These bounds and the renderer's must
-- be the same. A failure of the worker's own (kind 'local') made no
-- request: it counts as 'other' and has no latency.
do
  local bounds = {5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000}
  local bucket = {} -- bound -> its field name, made once per call, not per attempt
  for _, le in ipairs(bounds) do bucket[le] = 'duration_le_' .. le end
  bucket.inf = 'duration_le_inf'
  local classes = {timeout = 'timeout', connect = 'connect', connection = 'connect', dns = 'dns',
                   tls = 'tls', blocked = 'blocked'}
  local M, fields = {}, {}
  local function add(f, v)
    if not M[f] then M[f] = 0; fields[#fields + 1] = f end
    M[f] = M[f] + v
  end
  local k = 0
  for i = 6, #ARGV, 11 do
    k = k + 1
    local o = out[3 * k - 2]
    if o ~= 'duplicate' and o ~= 'gone' then
      local status, err, kind = tonumber(ARGV[i + 3]) or 0, ARGV[i + 4], ARGV[i + 10]
      local class = 'other'
      if ARGV[i + 2] == '1' then
        class = 'delivered'
      elseif kind ~= 'local' then
        local c = string.match(err, '^(%a+):')
        if c == 'http' and status >= 400 and status < 500 then class = 'http_4xx'
        elseif c == 'http' and status >= 500 and status < 600 then class = 'http_5xx'
        elseif classes[c] then class = classes[c] end
      end
      add('outcome_' .. class, 1)
      if kind ~= 'local' then
        local ms = tonumber(ARGV[i + 5]) or 0
        local b = 'inf'
        for _, le in ipairs(bounds) do
          if ms <= le then b = le; break end
        end
        add(bucket[b], 1)
        add('duration_ms_sum', ms)
        add('duration_count', 1)
      end
    end
  end
  for _, f in ipairs(fields) do redis.call('HINCRBY', K.attempt_stats, f, int(M[f])) end
end
local reply = {}
reply[R.at.complete_reply.results] = out
reply[R.at.complete_reply.claim] = want > 0 and claim_work(wid, want, cap, floor, {}) or {}
return reply
