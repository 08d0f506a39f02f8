-- complete: record the outcome of one attempt, atomically.
-- ARGV: 1 prefix, 2 worker id, 3 delivery id, 4 attempt number,
--       5 '1' success / '0' failure, 6 HTTP status ('0' = none), 7 error,
--       8 latency ms, 9 attempt record (JSON), 10 attempt end (ms),
--       11 next attempt (ms, '' = none), 12 give-up reason ('' = none),
--       13 '1' = the receiver said 410 Gone, 14 endpoint.disable_after_failures,
--       15 retention (ms)
-- Returns {outcome, alert id or '', alert reason or ''}; outcome is one of
-- delivered, scheduled,
-- failed, recorded (a late result of a delivery that was requeued meanwhile),
-- duplicate (this attempt was recorded before), gone (the delivery expired).
--
-- Repeating a call is harmless (completed_attempt guards it), so a worker may
-- resend completions after a lost connection. A success always wins: it marks
-- the delivery delivered whatever a concurrent copy is doing. A failure moves
-- the delivery on only if this worker still owns it (it is still in its
-- in-flight list and in state in_flight).
local wid, did, n = ARGV[2], ARGV[3], tonumber(ARGV[4])
local ok, status, err, latency = ARGV[5] == '1', ARGV[6], ARGV[7], ARGV[8]
local ended, next_at, reason = ARGV[10], ARGV[11], ARGV[12]
local ttl = tonumber(ARGV[15])
local dkey = K.delivery(did)

local owned = redis.call('LREM', K.inflight(wid), -1, did) > 0
local d = redis.call('HMGET', dkey, 'endpoint_id', 'completed_attempt', 'state',
                     'event_id', 'worker')
local ep = d[1]
if not ep then return {'gone', '', ''} end
if tonumber(d[2] or '0') >= n then return {'duplicate', '', ''} end
local state = d[3]
if owned then release_slot(ep, did) end

redis.call('HSET', dkey, 'completed_attempt', n, 'last_status', status,
           'last_error', err, 'last_latency_ms', latency)
local ak = K.delivery_attempts(did)
redis.call('RPUSH', ak, ARGV[9])
redis.call('PEXPIRE', ak, ttl)
redis.call('PEXPIRE', dkey, ttl)
if d[4] then redis.call('PEXPIRE', K.event(d[4]), ttl) end

local ek, sk = K.endpoint(ep), K.endpoint_stats(ep)
local ep_exists = redis.call('EXISTS', ek) == 1
redis.call('HINCRBY', K.stats, 'attempts', 1)
redis.call('HINCRBY', sk, 'attempts', 1)
redis.call('HSET', sk, 'last_status', status)

local outcome, alert, why = 'recorded', '', ''
if ok then
  redis.call('HSET', sk, 'last_success_at', ended)
  if ep_exists then redis.call('HSET', ek, 'consecutive_failures', 0) end
  if state ~= 'delivered' then
    redis.call('HSET', dkey, 'state', 'delivered', 'delivered_at', ended,
               'next_attempt_at', '', 'failed_reason', '')
    redis.call('ZREM', K.scheduled, did)
    redis.call('ZREM', K.failed, did)
    redis.call('HINCRBY', K.stats, 'delivered', 1)
    redis.call('HINCRBY', sk, 'delivered', 1)
    outcome = 'delivered'
  end
  return {outcome, '', ''}
end

redis.call('HINCRBY', K.stats, 'failed_attempts', 1)
redis.call('HINCRBY', sk, 'failed_attempts', 1)
redis.call('HSET', sk, 'last_failure_at', ended)
if ep_exists and redis.call('HGET', ek, 'status') == 'enabled' then
  local cf = redis.call('HINCRBY', ek, 'consecutive_failures', 1)
  local limit = tonumber(ARGV[14])
  if ARGV[13] == '1' then
    why = 'receiver answered 410 Gone'
  elseif cf >= limit then
    why = cf .. ' consecutive failed attempts'
  end
  if why ~= '' then
    alert = disable_endpoint(ep, why, ended, 'worker') or ''
    if alert == '' then why = '' end
  end
end

if owned and state == 'in_flight' and d[5] == wid then
  if next_at ~= '' then
    redis.call('HSET', dkey, 'state', 'scheduled', 'next_attempt_at', next_at,
               'trigger', 'retry')
    redis.call('ZADD', K.scheduled, next_at, did)
    redis.call('HINCRBY', K.stats, 'retries_scheduled', 1)
    outcome = 'scheduled'
  else
    redis.call('HSET', dkey, 'state', 'failed', 'failed_reason', reason,
               'failed_at', ended, 'next_attempt_at', '')
    redis.call('ZADD', K.failed, ended, did)
    redis.call('HINCRBY', K.stats, 'failed', 1)
    redis.call('HINCRBY', sk, 'failed', 1)
    outcome = 'failed'
  end
end
return {outcome, alert, why}
