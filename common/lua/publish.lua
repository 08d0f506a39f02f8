-- publish: store one validated event and fan it out, atomically.
-- ARGV: 1 prefix, 2 event id, 3 type, 4 account_id, 5 domain,
--       6 created_at (ms), 7 body, 8 first delivery id ("dlv_" + 26),
--       9 retention (ms)
-- Returns {'created', deliveries, skipped, dlv_id...}
--      or {'duplicate', deliveries} when the event id exists (nothing written).
--
-- Endpoints match when their domain is empty or equal to the event's, and
-- their events list is '*' or names the type. Delivery ids are the given id
-- and its successors (random part + 1 each), so one id from the caller's
-- RAND_bytes serves any fan-out width and the ids keep sorting by time.
local evt, etype, acct, domain = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local ttl = tonumber(ARGV[9])
local ekey = K.event(evt)

if redis.call('EXISTS', ekey) == 1 then
  return {'duplicate', tonumber(redis.call('HGET', ekey, 'deliveries') or '0')}
end

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

local now = now_ms()
local eps = redis.call('SMEMBERS', K.account_endpoints(acct))
table.sort(eps)
local type_pat = ',' .. etype .. ','
local did = ARGV[8]
local ids, created, skipped = {}, 0, 0

for _, ep in ipairs(eps) do
  local f = redis.call('HMGET', K.endpoint(ep), 'domain', 'events', 'status')
  local ep_domain, ep_events, status = f[1], f[2], f[3]
  if status and (ep_domain == '' or ep_domain == domain) and
     (ep_events == '*' or string.find(',' .. ep_events .. ',', type_pat, 1, true)) then
    if created > 0 then did = id_next(did) end
    local dkey = K.delivery(did)
    created = created + 1
    ids[#ids + 1] = did
    if status == 'enabled' then
      redis.call('HSET', dkey, 'id', did, 'event_id', evt, 'endpoint_id', ep,
                 'event_type', etype, 'account_id', acct, 'state', 'pending',
                 'attempts', 0, 'created_at', now, 'next_attempt_at', now,
                 'trigger', 'first')
      redis.call('LPUSH', K.ready, did)
    else
      redis.call('HSET', dkey, 'id', did, 'event_id', evt, 'endpoint_id', ep,
                 'event_type', etype, 'account_id', acct, 'state', 'skipped',
                 'attempts', 0, 'created_at', now, 'trigger', 'first',
                 'last_error', 'endpoint ' .. status .. ': not sent')
      redis.call('HINCRBY', K.endpoint_stats(ep), 'skipped', 1)
      skipped = skipped + 1
    end
    redis.call('PEXPIRE', dkey, ttl)
    redis.call('ZADD', K.endpoint_deliveries(ep), now, did)
  end
end

redis.call('HSET', ekey, 'id', evt, 'type', etype, 'account_id', acct,
           'domain', domain, 'created_at', ARGV[6], 'body', ARGV[7],
           'published_at', now, 'deliveries', created)
redis.call('PEXPIRE', ekey, ttl)
redis.call('HINCRBY', K.stats, 'events_published', 1)
if created > 0 then
  redis.call('HINCRBY', K.stats, 'deliveries_created', created)
end
if skipped > 0 then
  redis.call('HINCRBY', K.stats, 'skipped', skipped)
end

local out = {'created', created, skipped}
for i = 1, #ids do out[#out + 1] = ids[i] end
return out
