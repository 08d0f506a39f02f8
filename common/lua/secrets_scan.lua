-- secrets_scan: one step of a walk over every endpoint's stored secrets
-- (psw secrets status and rekey, common/secrets.c).
-- ARGV: 1 prefix, 2 SSCAN cursor ('0' to start), 3 COUNT hint
-- Returns {next cursor ('0' = done), then per endpoint whose hash exists:
--   id, secret, secret_prev} — the values exactly as stored ('' when unset).
local r = redis.call('SSCAN', K.endpoints, ARGV[2], 'COUNT', ARGV[3])
local out = {r[1]}
for _, id in ipairs(r[2]) do
  local v = redis.call('HMGET', K.endpoint(id), 'id', 'secret', 'secret_prev')
  if v[1] then
    out[#out + 1] = id
    out[#out + 1] = v[2] or ''
    out[#out + 1] = v[3] or ''
  end
end
return out
