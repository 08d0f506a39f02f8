-- endpoint_rotate: replace an endpoint's signing secret.
-- ARGV: 1 prefix, 2 endpoint id, 3 new secret (as stored), 4 grace (ms)
-- Returns {'ok', HGETALL}, {'notfound'} or {'deleted'}.
-- The current secret becomes secret_prev, valid until now + grace (claim
-- signs with both until then); grace 0 keeps none. Whatever secret_prev held
-- before is dropped, so at most two secrets are valid at any time.
local ek = K.endpoint(ARGV[2])
local cur = redis.call('HMGET', ek, 'status', 'secret')
if not cur[1] then return {'notfound'} end
if cur[1] == 'deleted' then return {'deleted'} end
local grace = tonumber(ARGV[4])
local now = now_ms()
if grace > 0 and cur[2] and cur[2] ~= '' then
  redis.call('HSET', ek, 'secret_prev', cur[2],
             'secret_prev_until', string.format('%d', now + grace))
else
  redis.call('HSET', ek, 'secret_prev', '', 'secret_prev_until', '')
end
redis.call('HSET', ek, 'secret', ARGV[3], 'updated_at', now)
return {'ok', redis.call('HGETALL', ek)}
