-- endpoint_window: an endpoint's deliveries created at or after a time (the
-- dashboard's "last 24 h", docs/dashboard.md).
-- ARGV: 1 prefix, 2 endpoint id, 3 lower score (ms), 4 how many of the newest
--       to read the state of, at most
-- Returns {created, looked, delivered, failed, skipped}: created counts every
-- index entry in the window (ZCOUNT, exact); the states are those of the
-- newest `looked` of them, so the work stays bounded however busy the
-- endpoint is. Entries whose delivery hash expired are passed over.
local idx = K.endpoint_deliveries(ARGV[2])
local lower, most = ARGV[3], tonumber(ARGV[4])
local created = redis.call('ZCOUNT', idx, lower, '+inf')
local ids = redis.call('ZREVRANGEBYSCORE', idx, '+inf', lower, 'LIMIT', 0, most)
local looked, delivered, failed, skipped = 0, 0, 0, 0
for i = 1, #ids do
  local st = redis.call('HGET', K.delivery(ids[i]), 'state')
  if st then
    looked = looked + 1
    if st == 'delivered' then delivered = delivered + 1
    elseif st == 'failed' then failed = failed + 1
    elseif st == 'skipped' then skipped = skipped + 1 end
  end
end
return {created, looked, delivered, failed, skipped}
