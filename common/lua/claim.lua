-- claim: a worker child takes up to N due deliveries, atomically.
-- ARGV: 1 prefix, 2 worker id, 3 N, 4 endpoint.max_in_flight (0 = no cap;
--         'N/F': adaptive between F and N, see parse_cap),
--       5… ids already in this worker's in-flight list that it does not hold
--         (moved by its parked BLMOVE, or claimed by a call whose reply was
--         lost with the connection); they are taken first
-- Returns {now, claimed, skipped, held (over the in-flight cap, or deferred
--   by the endpoint's rate limit), drained (1 = ready ran dry),
--   then 15 fields per claimed delivery:
--   id, event_id, event_type, endpoint_id, url, attempt, trigger,
--   cycle_started_at, cycle_attempts, secret, secret_prev, body,
--   signing, signing_key, headers (the endpoint options of docs/cli.md;
--   secrets, signing_key and headers as stored, sealed or not)}
--   A batch (id bat_…, _prelude_batch.lua) comes as one job whose event_id
--   is how many events it carries, event_type 'batch' and body
--   {"type":"batch","events":[...]}.
--
-- The ids taken from ready go into queue:inflight:<worker> first (one RPOP
-- and one LPUSH for the whole batch), so that none is ever outside a list
-- Redis holds, even if the script failed half-way: if the worker dies, the
-- scheduler finds them there. The attempt is counted here, when the request
-- starts, so a job that crashes workers still uses up its attempts. A
-- delivery whose endpoint is disabled or deleted is recorded 'skipped'
-- without a request. One over its endpoint's in-flight limit waits in
-- endpoint:<ep>:waiting, in order; one over its endpoint's rate limit goes
-- back to queue:scheduled (see _prelude_claim.lua).
--
-- Per call, not per delivery: an endpoint's hash and its in-flight count are
-- read once (the count then kept here), an event's body is read once, the
-- new slots are added with one SADD per endpoint, held-back ids with one
-- RPUSH per endpoint, counters with one HINCRBY each; ids not claimed leave
-- the in-flight list in one LPOP + LPUSH.
local adopt = {}
for i = 5, #ARGV do adopt[#adopt + 1] = ARGV[i] end
local cap, floor = parse_cap(ARGV[4])
return claim_work(ARGV[2], tonumber(ARGV[3]), cap, floor, adopt)
