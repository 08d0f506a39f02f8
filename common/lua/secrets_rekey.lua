-- secrets_rekey: replace one endpoint's stored secrets with their re-encrypted
-- form, but only if neither changed since they were read (compare-and-set:
-- a rotation, a deletion or the end of a rotation grace in between wins, and
-- the caller reads again). updated_at is left alone: the secrets are the same.
-- ARGV: 1 prefix, 2 endpoint id, 3 secret as read, 4 secret_prev as read,
--       5 new secret, 6 new secret_prev
-- Returns status 'ok', 'changed' or 'notfound'.
local ek = K.endpoint(ARGV[2])
local cur = redis.call('HMGET', ek, 'id', 'secret', 'secret_prev')
if not cur[1] then return {ok = 'notfound'} end
if (cur[2] or '') ~= ARGV[3] or (cur[3] or '') ~= ARGV[4] then
  return {ok = 'changed'}
end
redis.call('HSET', ek, 'secret', ARGV[5], 'secret_prev', ARGV[6])
return {ok = 'ok'}
