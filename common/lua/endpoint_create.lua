-- endpoint_create: store a new endpoint and index it, atomically.
-- ARGV: 1 prefix, 2 endpoint id, 3 account_id, 4 domain ('' = account
--       level), 5 url, 6 events, 7 secret (as stored), 8 description,
--       9 limits.max_endpoints_per_account, 10 signing, 11 signing_key
--       (sealed Ed25519 private key or ''), 12 public_key, 13 headers
--       (sealed), 14 rate_limit, 15 batch_max_events (0 = off), 16
--       batch_max_wait (ms), 17 ordered ('1' or '0')
-- Returns {'ok', HGETALL of the endpoint}, {'limit', endpoints the account
-- has} when the account is full, or {'exists'} on an id collision.
--
-- The limit is checked here, not in C, so that two concurrent creates cannot
-- both slip under it. Every field is written, unset ones as '', so readers
-- (claim, publish, redis-cli users) never need to tell absent from empty.
local id, acct = ARGV[2], ARGV[3]
local ek, ak = K.endpoint(id), K.account_endpoints(acct)
local limit = tonumber(ARGV[9])

local have = redis.call('SCARD', ak)
if have >= limit then return {'limit', have} end
if redis.call('EXISTS', ek) == 1 then return {'exists'} end

local now = now_ms()
redis.call('HSET', ek, 'id', id, 'account_id', acct, 'domain', ARGV[4],
           'url', ARGV[5], 'events', ARGV[6], 'status', 'enabled',
           'secret', ARGV[7], 'secret_prev', '', 'secret_prev_until', '',
           'consecutive_failures', 0, 'disabled_reason', '', 'disabled_at', '',
           'disabled_by', '', 'created_at', now, 'updated_at', now,
           'deleted_at', '', 'description', ARGV[8], 'signing', ARGV[10],
           'signing_key', ARGV[11], 'public_key', ARGV[12], 'headers', ARGV[13],
           'rate_limit', ARGV[14], 'batch_max_events', ARGV[15], 'batch_max_wait', ARGV[16],
           'ordered', ARGV[17], 'ordered_head', '')
redis.call('SADD', K.endpoints, id)
redis.call('SADD', ak, id)
return {'ok', redis.call('HGETALL', ek)}
