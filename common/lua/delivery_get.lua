-- delivery_get: one delivery, its event body and its attempt log, read in
-- one step so the three agree (no attempt recorded between the reads).
-- ARGV: 1 prefix, 2 delivery id
-- Returns {'notfound'} or {'ok', HGETALL, {attempt record...}, body or nil}
-- The body is nil when the event hash has expired before the delivery.
local did = ARGV[2]
local h = redis.call('HGETALL', K.delivery(did))
if #h == 0 then return {'notfound'} end
local evt, acct = nil, ''
for i = 1, #h, 2 do
  if h[i] == 'event_id' then evt = h[i + 1] end
  if h[i] == 'account_id' then acct = h[i + 1] end
end
local body = false
if evt and evt ~= '' then body = event_body(acct, evt) end
if is_batch(did) then body = batch_body(did, event_body) end -- what its attempts send
return {'ok', h, redis.call('LRANGE', K.delivery_attempts(did), 0, -1), body}
