-- endpoint_update: change an endpoint's routing or description, atomically.
-- ARGV: 1 prefix, 2 endpoint id, 3 account_id the caller named ('' = none),
--       4.. field, value pairs; fields: url, domain, events, description
-- Returns {'ok', HGETALL}, {'notfound'}, {'deleted'}, or {'account', the
-- endpoint's account} when ARGV[3] names another account.
--
-- publish.lua reads domain and events at fan-out time, so the next event
-- published already routes by the new values.
local ek = K.endpoint(ARGV[2])
local cur = redis.call('HMGET', ek, 'status', 'account_id')
if not cur[1] then return {'notfound'} end
if cur[1] == 'deleted' then return {'deleted'} end
if ARGV[3] ~= '' and ARGV[3] ~= cur[2] then return {'account', cur[2] or ''} end

local allowed = {url = true, domain = true, events = true, description = true}
local args = {}
for i = 4, #ARGV - 1, 2 do
  if not allowed[ARGV[i]] then
    return redis.error_reply('endpoint_update: field ' .. ARGV[i] .. ' cannot be updated')
  end
  args[#args + 1] = ARGV[i]
  args[#args + 1] = ARGV[i + 1]
end
args[#args + 1] = 'updated_at'
args[#args + 1] = now_ms()
redis.call('HSET', ek, unpack(args))
return {'ok', redis.call('HGETALL', ek)}
