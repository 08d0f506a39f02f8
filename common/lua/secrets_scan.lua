-- secrets_scan: one step of a walk over every endpoint's stored secrets
-- (psw secrets status and rekey, common/secrets.c).
-- ARGV: 1 prefix, 2 SSCAN cursor ('0' to start), 3 COUNT hint
-- Returns {next cursor ('0' = done), then per endpoint whose hash exists:
--   id, secret, secret_prev, signing_key, headers} — the values exactly as
--   stored ('' when unset); the last two are the endpoint options sealed
--   like secrets (docs/cli.md, "Endpoint options").
local r = redis.call('SSCAN', K.endpoints, ARGV[2], 'COUNT', ARGV[3])
local out = {r[1]}
for _, id in ipairs(r[2]) do
  local v = redis.call('HMGET', K.endpoint(id), 'id', 'secret', 'secret_prev',
                       'signing_key', 'headers')
  if v[1] then
    out[#out + 1] = id
    for i = 2, 5 do out[#out + 1] = v[i] or '' end
  end
end
return out
