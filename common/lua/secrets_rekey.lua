-- secrets_rekey: replace one endpoint's sealed values with their re-encrypted
-- form, but only if none changed since they were read (compare-and-set:
-- a rotation, a deletion, an update of the options or the end of a rotation
-- grace in between wins, and the caller reads again). updated_at is left
-- alone: the values are the same.
-- ARGV: 1 prefix, 2 endpoint id, 3..6 secret, secret_prev, signing_key,
--       headers as read, 7..10 their new stored forms
-- Returns status 'ok', 'changed' or 'notfound'.
local fields = {'secret', 'secret_prev', 'signing_key', 'headers'}
local ek = K.endpoint(ARGV[2])
local cur = redis.call('HMGET', ek, 'id', unpack(fields))
if not cur[1] then return {ok = 'notfound'} end
for i = 1, #fields do
  if (cur[i + 1] or '') ~= ARGV[2 + i] then return {ok = 'changed'} end
end
local args = {}
for i = 1, #fields do
  args[#args + 1] = fields[i]
  args[#args + 1] = ARGV[6 + i]
end
redis.call('HSET', ek, unpack(args))
return {ok = 'ok'}
