-- api_auth: the check psw-api makes for every authenticated request, in one
-- round trip: find the credential, refuse it when expired, record its last
-- use, and count the request against the per-second rate (docs/api.md).
-- ARGV: 1 prefix, 2 kind ('token' | 'session'), 3 SHA-256 hex of the
--       presented secret, 4 rate limit per second (0 = none)
-- Returns {1, 0, HGETALL…} (token hash, or session hash), {0} when unknown
-- or expired, {2, retry_after_ms} when over the rate.
local kind, h, limit = ARGV[2], ARGV[3], tonumber(ARGV[4])
local now = now_ms()
local fields, rate_id

local function get(hash, name)
  for i = 1, #hash, 2 do
    if hash[i] == name then return hash[i + 1] end
  end
  return nil
end

if kind == 'token' then
  local id = redis.call('GET', K.token_hash(h))
  if not id then return {0} end
  fields = redis.call('HGETALL', K.token(id))
  if #fields == 0 then return {0} end
  local exp = tonumber(get(fields, 'expires_at') or '0') or 0
  if exp > 0 and now >= exp then return {0} end
  rate_id = id
else
  fields = redis.call('HGETALL', K.session(h))
  if #fields == 0 then return {0} end
  local exp = tonumber(get(fields, 'expires_at') or '0') or 0
  if exp > 0 and now >= exp then return {0} end
  -- A session made from a token ends with the token.
  local tid = get(fields, 'token_id') or ''
  if tid ~= '' then
    local t = redis.call('HGETALL', K.token(tid))
    if #t == 0 then return {0} end
    local texp = tonumber(get(t, 'expires_at') or '0') or 0
    if texp > 0 and now >= texp then return {0} end
    rate_id = tid
  else
    rate_id = 'session:' .. string.sub(h, 1, 16)
  end
end

if limit > 0 then
  local sec = math.floor(now / 1000)
  local rk = K.rate(rate_id .. ':' .. int(sec))
  local c = redis.call('INCR', rk)
  if c == 1 then redis.call('PEXPIRE', rk, 2000) end
  if c > limit then return {2, int(1000 - now % 1000)} end
end

if kind == 'token' then
  redis.call('HSET', K.token(rate_id), 'last_used_at', int(now))
  for i = 1, #fields, 2 do
    if fields[i] == 'last_used_at' then fields[i + 1] = int(now) end
  end
end
local out = {1, 0}
for i = 1, #fields do out[#out + 1] = fields[i] end
return out
