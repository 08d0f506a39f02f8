-- endpoint_disable: an operator turns an endpoint off.
-- ARGV: 1 prefix, 2 endpoint id, 3 reason, 4 who (e.g. 'cli')
-- Returns {'ok', HGETALL}, {'notfound'} or {'deleted'}.
-- Unlike disable_endpoint() in the prelude (the worker's automatic disable)
-- this raises no alert and counts nothing: the operator knows. An endpoint
-- already disabled keeps its original reason, time and author. Deliveries
-- held back for it go back to ready, where claim records them 'skipped'.
local id = ARGV[2]
local ek = K.endpoint(id)
local st = redis.call('HGET', ek, 'status')
if not st then return {'notfound'} end
if st == 'deleted' then return {'deleted'} end
if st ~= 'disabled' then
  local now = now_ms()
  redis.call('HSET', ek, 'status', 'disabled', 'disabled_reason', ARGV[3],
             'disabled_at', now, 'disabled_by', ARGV[4], 'updated_at', now)
  flush_waiting(id)
end
return {'ok', redis.call('HGETALL', ek)}
