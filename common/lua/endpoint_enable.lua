-- endpoint_enable: an operator turns an endpoint back on.
-- ARGV: 1 prefix, 2 endpoint id
-- Returns {'ok', HGETALL}, {'notfound'} or {'deleted'}.
-- The failure count starts again from 0, so the endpoint gets the full
-- endpoint.disable_after_failures before it is disabled again. Deliveries
-- skipped meanwhile stay skipped (replay sends them).
local ek = K.endpoint(ARGV[2])
local st = redis.call('HGET', ek, 'status')
if not st then return {'notfound'} end
if st == 'deleted' then return {'deleted'} end
redis.call('HSET', ek, 'status', 'enabled', 'consecutive_failures', 0,
           'disabled_reason', '', 'disabled_at', '', 'disabled_by', '',
           'updated_at', now_ms())
return {'ok', redis.call('HGETALL', ek)}
