-- queue_info: a consistent snapshot of the queues and of who works them,
-- on Redis's clock. Reads only.
-- ARGV: 1 prefix, 2 liveness window (scheduler.worker_timeout, ms)
-- Returns {now, ready, scheduled, failed, waiting, in_flight,
--          next_attempt_at of the next delivery to be taken ('' if none),
--          earliest scheduled due time ('' if none),
--          {worker id, last heartbeat, LLEN of its in-flight list, HGETALL of
--           its info hash}..., {scheduler id, last tick}...}
-- Live = seen within the window; workers that stopped heartbeating are left
-- out (recover.lua will requeue what they hold).
local window = tonumber(ARGV[2])
local now = now_ms()
local since = now - window

local waiting = 0
for _, ep in ipairs(redis.call('SMEMBERS', K.waiting)) do
  waiting = waiting + redis.call('LLEN', K.endpoint_waiting(ep))
end

local head = ''
local next_id = redis.call('LINDEX', K.ready, -1)
if next_id then
  head = redis.call('HGET', K.delivery(next_id), 'next_attempt_at') or ''
end

local first = redis.call('ZRANGE', K.scheduled, 0, 0, 'WITHSCORES')
local due = first[2] and tonumber(first[2]) or ''

local workers, inflight = {}, 0
local w = redis.call('ZRANGEBYSCORE', K.workers, since, '+inf', 'WITHSCORES')
for i = 1, #w, 2 do
  local n = redis.call('LLEN', K.inflight(w[i]))
  inflight = inflight + n
  workers[#workers + 1] = {w[i], tonumber(w[i + 1]), n,
                           redis.call('HGETALL', K.worker(w[i]))}
end

local scheds = {}
local s = redis.call('ZRANGEBYSCORE', K.schedulers, since, '+inf', 'WITHSCORES')
for i = 1, #s, 2 do scheds[#scheds + 1] = {s[i], tonumber(s[i + 1])} end

return {now, redis.call('LLEN', K.ready), redis.call('ZCARD', K.scheduled),
        redis.call('ZCARD', K.failed), waiting, inflight, head, due, workers, scheds}
