-- endpoint_list: every endpoint of one account, or of all, in one call.
-- ARGV: 1 prefix, 2 account_id ('' = every account)
-- Returns one HGETALL array per endpoint in the set, in no particular order
-- (the caller sorts). An id whose hash is gone is left out.
local set = K.endpoints
if ARGV[2] ~= '' then set = K.account_endpoints(ARGV[2]) end
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', set)) do
  local h = redis.call('HGETALL', K.endpoint(id))
  if #h > 0 then out[#out + 1] = h end
end
return out
