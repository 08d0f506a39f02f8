-- endpoint_delete: retire an endpoint, keeping its history until retention.
-- ARGV: 1 prefix, 2 endpoint id, 3 retention (ms)
-- Returns {'ok'}, {'notfound'} or {'deleted'} (deleted before).
--
-- The endpoint leaves both sets, so publish no longer fans out to it; the
-- hash stays (status 'deleted', secrets wiped) so deliveries already made
-- can still be shown, and expires with them. Deliveries held back for it go
-- back to ready, where claim records them 'skipped'. The stats hash is
-- created if missing, so that a later skip counted into it by claim finds it
-- already carrying a TTL instead of creating a key that never expires.
local id, ttl = ARGV[2], tonumber(ARGV[3])
local ek = K.endpoint(id)
local cur = redis.call('HMGET', ek, 'status', 'account_id')
if not cur[1] then return {'notfound'} end
if cur[1] == 'deleted' then return {'deleted'} end

local now = now_ms()
redis.call('SREM', K.endpoints, id)
if cur[2] then redis.call('SREM', K.account_endpoints(cur[2]), id) end
redis.call('HSET', ek, 'status', 'deleted', 'deleted_at', now, 'updated_at', now,
           'secret', '', 'secret_prev', '', 'secret_prev_until', '',
           'signing_key', '', 'headers', '')
flush_waiting(id)
redis.call('HINCRBY', K.endpoint_stats(id), 'skipped', 0)
redis.call('PEXPIRE', ek, ttl)
redis.call('PEXPIRE', K.endpoint_deliveries(id), ttl)
redis.call('PEXPIRE', K.endpoint_stats(id), ttl)
redis.call('PEXPIRE', K.endpoint_inflight(id), ttl)
return {'ok'}
