-- endpoint_update: change an endpoint's routing or description, atomically.
-- ARGV: 1 prefix, 2 endpoint id, 3 account_id the caller named ('' = none),
--       4.. field, value pairs; fields: url, domain, events, description,
--       signing, rate_limit, ordered ('1'/'0'), headers (sealed),
--       signing_key + public_key (a
--       new Ed25519 key pair, stored only if the endpoint has none, so
--       switching back and forth keeps the key receivers already trust),
--       batch_max_events, batch_max_wait (ms; see the end)
-- Returns {'ok', HGETALL}, {'notfound'}, {'deleted'}, {'account', the
-- endpoint's account} when ARGV[3] names another account, or {'batch_off'}
-- for a batch_max_wait alone on an endpoint that does not batch.
--
-- publish.lua reads domain and events at fan-out time, so the next event
-- published already routes by the new values.
local ek = K.endpoint(ARGV[2])
local cur = redis.call('HMGET', ek, 'status', 'account_id')
if not cur[1] then return {'notfound'} end
if cur[1] == 'deleted' then return {'deleted'} end
if ARGV[3] ~= '' and ARGV[3] ~= cur[2] then return {'account', cur[2] or ''} end

local allowed = {url = true, domain = true, events = true, description = true,
                 signing = true, rate_limit = true, headers = true, ordered = true,
                 signing_key = true, public_key = true,
                 batch_max_events = true, batch_max_wait = true}
local has_key = (redis.call('HGET', ek, 'public_key') or '') ~= ''
local was_ordered = redis.call('HGET', ek, 'ordered') == '1'
local args = {}
for i = 4, #ARGV - 1, 2 do
  local f = ARGV[i]
  if not allowed[f] then
    return redis.error_reply('endpoint_update: field ' .. f .. ' cannot be updated')
  end
  if not (has_key and (f == 'signing_key' or f == 'public_key')) then
    args[#args + 1] = f
    args[#args + 1] = ARGV[i + 1]
  end
end
-- batch: a max_wait needs batching on (given now or stored); batching
-- turned on with no max_wait stored gets 1000 ms (PSW_BATCH_WAIT_DEFAULT_MS
-- in common/endpoint.h); an open batch keeps going out at its own time
do
  local given = {}
  for i = 1, #args, 2 do given[args[i]] = args[i + 1] end
  if given.batch_max_events or given.batch_max_wait then
    local cur = redis.call('HMGET', ek, 'batch_max_events', 'batch_max_wait')
    local ev = tonumber(given.batch_max_events or cur[1] or '') or 0
    local wait = tonumber(given.batch_max_wait or cur[2] or '') or 0
    if (tonumber(given.batch_max_wait or '0') or 0) > 0 and ev <= 0 then return {'batch_off'} end
    if ev > 0 and wait <= 0 then
      args[#args + 1] = 'batch_max_wait'
      args[#args + 1] = '1000'
    end
  end
end
args[#args + 1] = 'updated_at'
args[#args + 1] = now_ms()
redis.call('HSET', ek, unpack(args))
-- ordered switched on or off: nothing may be left waiting for a turn that
-- no longer comes (docs/cli.md "Endpoint options")
local is_ordered = redis.call('HGET', ek, 'ordered') == '1'
if was_ordered and not is_ordered then
  redis.call('HSET', ek, 'ordered_head', '')
  flush_waiting(ARGV[2])
elseif is_ordered and not was_ordered then
  redis.call('HSET', ek, 'ordered_head', '')
  ordered_next(ARGV[2])
end
return {'ok', redis.call('HGETALL', ek)}
