-- token: creating and revoking API tokens (common/token.c), each one atomic
-- so a token is never findable by hash without its metadata or the reverse.
-- ARGV: 1 prefix, 2 op
--   'create': 3 id, 4 sha256 hex, 5 name, 6 account_id ('' = admin),
--             7 expires_at (ms, '0' = never). Returns created_at.
--   'revoke': 3 id. Returns the token's HGETALL (empty when unknown).
local op = ARGV[2]
if op == 'create' then
  local id, h = ARGV[3], ARGV[4]
  local now = int(now_ms())
  redis.call('HSET', K.token(id), 'id', id, 'hash', h, 'name', ARGV[5], 'account_id', ARGV[6],
             'created_at', now, 'expires_at', ARGV[7], 'last_used_at', '0')
  redis.call('SET', K.token_hash(h), id)
  redis.call('SADD', K.tokens, id)
  return now
elseif op == 'revoke' then
  local id = ARGV[3]
  local t = redis.call('HGETALL', K.token(id))
  if #t == 0 then return t end
  for i = 1, #t, 2 do
    if t[i] == 'hash' then redis.call('DEL', K.token_hash(t[i + 1])) end
  end
  redis.call('DEL', K.token(id))
  redis.call('SREM', K.tokens, id)
  return t
end
return redis.error_reply('token: unknown op ' .. tostring(op))
