-- token: creating and revoking API tokens (common/token.c), each one atomic
-- so a token is never findable by hash without its metadata or the reverse.
-- ARGV: 1 prefix, 2 op
--   'create': 3 id, 4 sha256 hex, 5 name, 6 account_id ('' = admin),
--             7 expires_at (ms, '0' = never). Returns created_at.
--   'revoke': 3 id. Returns the token's HGETALL (empty when unknown).
--   'link': 3 sha256 of a dashboard link code, 4 account_id, 5 ttl (ms).
--           Returns expires_at.
--   'take': 3 sha256 of a link code. Returns its HGETALL and deletes it
--           (single use); empty when unknown or expired.
--   'session': 3 sha256 of the session id, 4 account_id ('' = admin),
--              5 actor, 6 token_id, 7 csrf token, 8 ttl (ms). Returns expires_at.
--   'end': 3 sha256 of the session id. Returns 1 when it existed.
local op = ARGV[2]
if op == 'create' then
  local id, h = ARGV[3], ARGV[4]
  local now = int(now_ms())
  redis.call('HSET', K.token(id), 'id', id, 'hash', h, 'name', ARGV[5], 'account_id', ARGV[6],
             'created_at', now, 'expires_at', ARGV[7], 'last_used_at', '0')
  redis.call('SET', K.token_hash(h), id)
  redis.call('SADD', K.tokens, id)
  return tonumber(now)
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
elseif op == 'link' then
  local exp = int(now_ms() + tonumber(ARGV[5]))
  redis.call('HSET', K.login_link(ARGV[3]), 'account_id', ARGV[4], 'expires_at', exp)
  redis.call('PEXPIRE', K.login_link(ARGV[3]), ARGV[5])
  return tonumber(exp)
elseif op == 'take' then
  local l = redis.call('HGETALL', K.login_link(ARGV[3]))
  redis.call('DEL', K.login_link(ARGV[3]))
  return l
elseif op == 'session' then
  local exp = int(now_ms() + tonumber(ARGV[8]))
  redis.call('HSET', K.session(ARGV[3]), 'account_id', ARGV[4], 'actor', ARGV[5],
             'token_id', ARGV[6], 'csrf', ARGV[7], 'expires_at', exp)
  redis.call('PEXPIRE', K.session(ARGV[3]), ARGV[8])
  return tonumber(exp)
elseif op == 'end' then
  return redis.call('DEL', K.session(ARGV[3]))
end
return redis.error_reply('token: unknown op ' .. tostring(op))
