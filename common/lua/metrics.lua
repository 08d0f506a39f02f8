-- metrics: everything /metrics shows, in one consistent snapshot on Redis's
-- clock (common/metrics.c renders it). Reads only.
-- ARGV: 1 prefix, 2 liveness window (scheduler.worker_timeout, ms)
-- Returns {HGETALL stats, HGETALL stats:attempts, ready, scheduled, failed,
--          waiting, in_flight, live workers, live schedulers,
--          {status, count, status, count, ...} of the endpoints}
-- Live and in-flight are counted as queue_info.lua counts them (psw queue).
-- The endpoint count reads every endpoint's status: one HGET per endpoint.
local window = tonumber(ARGV[2])
local since = now_ms() - window

local waiting = 0
for _, ep in ipairs(redis.call('SMEMBERS', K.waiting)) do
  waiting = waiting + redis.call('LLEN', K.endpoint_waiting(ep))
end

local workers = redis.call('ZRANGEBYSCORE', K.workers, since, '+inf')
local inflight = 0
for _, w in ipairs(workers) do inflight = inflight + redis.call('LLEN', K.inflight(w)) end

local by_status, statuses = {}, {}
for _, ep in ipairs(redis.call('SMEMBERS', K.endpoints)) do
  local st = redis.call('HGET', K.endpoint(ep), 'status')
  if st then
    if not by_status[st] then by_status[st] = 0; statuses[#statuses + 1] = st end
    by_status[st] = by_status[st] + 1
  end
end
local eps = {}
for _, st in ipairs(statuses) do eps[#eps + 1] = st; eps[#eps + 1] = by_status[st] end

return {redis.call('HGETALL', K.stats), redis.call('HGETALL', K.attempt_stats),
        redis.call('LLEN', K.ready), redis.call('ZCARD', K.scheduled),
        redis.call('ZCARD', K.failed), waiting, inflight, #workers,
        redis.call('ZCOUNT', K.schedulers, since, '+inf'), eps}
